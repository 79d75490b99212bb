"""Output columns and argument types shared by the commands."""

import argparse
import json

from cliff import columns

from agentsched import formats

# cliff's json and yaml formatters encode control characters themselves
# (json: \u001b; yaml: "\e"), and must keep values exact for programs.
SELF_ESCAPING = ('json', 'yaml')


class AliveColumn(columns.FormattableColumn):
    """neutronclient's faces for people; -f json/yaml/value get the bool."""

    def human_readable(self):
        return ':-)' if self._value else 'XXX'


class StateColumn(columns.FormattableColumn):

    def human_readable(self):
        return 'UP' if self._value else 'DOWN'


class JSONColumn(columns.FormattableColumn):

    def human_readable(self):
        return json.dumps(self._value, indent=2, sort_keys=True)


class EscapedColumn(columns.FormattableColumn):
    """Another column, or a value, with control characters escaped in
    both forms (table uses the human one; value, csv and shell the
    machine one)."""

    def human_readable(self):
        value = self._value
        if isinstance(value, columns.FormattableColumn):
            # Our own columns' newlines are layout (JSONColumn's indent),
            # and their text is escaped already (json.dumps).
            return '\n'.join(
                formats.printable(line, double_backslash=False)
                for line in value.human_readable().split('\n'))
        return formats.printable(value)

    def machine_readable(self):
        value = self._value
        if isinstance(value, columns.FormattableColumn):
            value = value.machine_readable()
        return _escaped_document(value)


def _escaped_document(value):
    if isinstance(value, str):
        return formats.printable(value)
    if isinstance(value, dict):
        return {_escaped_document(k): _escaped_document(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_escaped_document(v) for v in value]
    return value


def escaped(value):
    """value as it may be printed: strings and columns escaped; numbers,
    booleans and None as they are."""
    if isinstance(value, (str, dict, list, tuple,
                          columns.FormattableColumn)):
        return EscapedColumn(value)
    return value


def escaped_name(name):
    """A column name (a key of the server's answer, for show) escaped."""
    return formats.printable(name)


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError('must be 1 or more')
    return value


def boolean(text):
    lowered = text.lower()
    if lowered in ('true', 'yes', '1'):
        return True
    if lowered in ('false', 'no', '0'):
        return False
    raise argparse.ArgumentTypeError('expected true or false')


def add_legacy_admin_state(parser, noun):
    """neutronclient's --admin-state-up <bool> / --admin-state-down."""
    state = parser.add_mutually_exclusive_group()
    state.add_argument('--admin-state-up', metavar='<true|false>',
                       type=boolean, help='Enable or disable the %s' % noun)
    state.add_argument('--admin-state-down', dest='admin_state_up',
                       action='store_const', const=False,
                       help='Disable the %s' % noun)
