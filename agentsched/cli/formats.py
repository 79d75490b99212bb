"""Output columns and argument types shared by the commands."""

import argparse
import json

from cliff import columns


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
