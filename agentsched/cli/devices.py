"""Device commands over /v2.0/devices and /v2.0/agents/{id}/devices.

`device list|show|create|set|delete`, `device agent list` and
`agent device list|add|remove` follow python-openstackclient's style;
device-list, device-show, device-create, device-update, device-delete and
agent-device-list|add|remove are the neutronclient-style spellings.

Credentials are write-only: the API answers has_credentials, never the
credentials, and the commands here keep the values given to them out of
every error line and debug log.
"""

import argparse
import contextlib
import json
import re
import urllib.parse

from cliff import command
from cliff import lister
from cliff import show

from agentsched.cli import base
from agentsched.cli import client as api_client
from agentsched.cli import formats
from agentsched import constants

PATH = '/v2.0/devices'

LIST_COLUMNS = (
    ('id', 'ID'), ('name', 'Name'), ('device_type', 'Device Type'),
    ('service_type', 'Service Type'),
    ('availability_zone', 'Availability Zone'), ('health', 'Health'),
    ('admin_state_up', 'State'))
LONG_COLUMNS = (
    ('capacity', 'Capacity'), ('used', 'Used'), ('source', 'Source'),
    ('project_id', 'Project'), ('has_credentials', 'Has Credentials'),
    ('revision_number', 'Revision Number'), ('updated_at', 'Updated At'))
AGENT_COLUMNS = (
    ('id', 'ID'), ('agent_type', 'Agent Type'), ('host', 'Host'),
    ('alive', 'Alive'), ('admin_state_up', 'State'),
    ('device_missing', 'Device Missing'), ('device_health', 'Device Health'),
    ('device_load', 'Device Load'), ('assignment', 'Assignment'))
# An agent's devices: assigned by the server or pinned (an admin's link).
AGENT_DEVICE_COLUMNS = (('assignment', 'Assignment'),)

FORMATTERS = {'admin_state_up': formats.StateColumn,
              'alive': formats.AliveColumn,
              'capabilities': formats.JSONColumn,
              'physical_info': formats.JSONColumn}

# The documents KEY=VALUE options build: (API field, option stem).
DOCUMENTS = (('capabilities', 'capability'),
             ('physical_info', 'physical-info'),
             ('credentials', 'credential'))
_INTEGER = re.compile(r'^-?\d+$')
# Shorter values would mask ordinary words of a message, and are no secret.
_MIN_SECRET = 4
_MASK = '******'


def _row(item, fields):
    return tuple(FORMATTERS[f](item.get(f)) if f in FORMATTERS
                 else item.get(f) for f in fields)


def _quote(value):
    return urllib.parse.quote(value, safe='')


def _device_path(device_id):
    return '%s/%s' % (PATH, _quote(device_id))


def _agent_devices_path(agent_id, device_id=None):
    path = '/v2.0/agents/%s/devices' % _quote(agent_id)
    return path if device_id is None else '%s/%s' % (path, _quote(device_id))


# -- option values ---------------------------------------------------------
# Errors below never repeat the text given: for --credential it is a secret.

def _scalar(text):
    lowered = text.lower()
    if lowered in ('true', 'false'):
        return lowered == 'true'
    return int(text) if _INTEGER.match(text) else text


def _pair(text):
    key, sep, value = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError('expected KEY=VALUE')
    return key, _scalar(value)


def _json_object(text):
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError('not JSON: %s (line %d column %d)'
                                         % (exc.msg, exc.lineno, exc.colno))
    if not isinstance(document, dict):
        raise argparse.ArgumentTypeError('expected a JSON object')
    return document


def _count(text):
    if not _INTEGER.match(text) or int(text) < 0:
        raise argparse.ArgumentTypeError('must be 0 or more')
    return int(text)


def _document(parsed_args, field, base_document=None):
    """The document of field's --x-json and --x KEY=VALUE options (the pairs
    over the JSON, or over base_document when no JSON was given); None when
    neither was."""
    pairs = getattr(parsed_args, field + '_pairs')
    given = getattr(parsed_args, field + '_json')
    if given is None and not pairs:
        return None
    document = dict(given if given is not None else base_document or {})
    document.update(pairs or ())
    return document


def _secret_strings(document):
    if isinstance(document, dict):
        for value in document.values():
            yield from _secret_strings(value)
    elif isinstance(document, list):
        for value in document:
            yield from _secret_strings(value)
    elif document is not None and not isinstance(document, bool):
        yield str(document)


def secret_values(document):
    """The values of document worth masking, longest first (a shorter one
    may be part of a longer)."""
    return sorted({s for s in _secret_strings(document)
                   if len(s) >= _MIN_SECRET}, key=len, reverse=True)


def masked(message, secrets):
    """message with each of secrets (secret_values) masked."""
    for secret in secrets:
        # And as one_line() may have printed it: escaped, one line.
        escaped = api_client.one_line(secret, 10 * len(secret))
        for form in (secret, escaped):
            message = message.replace(form, _MASK)
    return message


@contextlib.contextmanager
def hiding(credentials):
    """Any failure inside as a CLIError whose message has the credential
    values masked (the server does not echo them; this makes sure)."""
    secrets = secret_values(credentials)
    try:
        yield
    except Exception as exc:
        if not secrets:
            raise
        message = str(exc) if isinstance(exc, api_client.CLIError) else \
            'Unexpected error: %s: %s' % (type(exc).__name__,
                                          api_client.one_line(exc))
        # from None: a --debug traceback would print the original message.
        raise api_client.CLIError(masked(message, secrets)) from None


def _add_document_options(parser):
    for field, stem in DOCUMENTS:
        parser.add_argument(
            '--%s' % stem, metavar='<key=value>', type=_pair,
            action='append', dest=field + '_pairs',
            help='Set a key of %s (repeat for more; true/false and digits '
                 'become booleans and integers)' % field)
        parser.add_argument(
            '--%s-json' % field.replace('_', '-'), metavar='<json>',
            type=_json_object, dest=field + '_json',
            help='All of %s as a JSON object, for nested values' % field)


def _add_common_options(parser):
    parser.add_argument('--capacity', metavar='<n>', type=_count,
                        help='Capacity units the device offers')
    parser.add_argument('--availability-zone', metavar='<zone>',
                        help='Availability zone of the device')
    _add_document_options(parser)


def _add_state_options(parser):
    state = parser.add_mutually_exclusive_group()
    state.add_argument('--enable', dest='admin_state_up',
                       action='store_const', const=True,
                       help='Let the scheduler place resources on it')
    state.add_argument('--disable', dest='admin_state_up',
                       action='store_const', const=False,
                       help='Keep new resources off it')


def _common_fields(parsed_args):
    return {name: getattr(parsed_args, name)
            for name in ('capacity', 'availability_zone', 'admin_state_up')
            if getattr(parsed_args, name) is not None}


# -- listing ---------------------------------------------------------------

class _DeviceLister(base.APICommand, lister.Lister):

    COLUMNS = LIST_COLUMNS

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--long', action='store_true',
                            help='Show more columns')
        parser.add_argument(
            '--limit', metavar='<n>', type=formats.positive_int,
            help='Fetch devices n at a time (all are still listed)')
        parser.add_argument(
            '--sort-key', metavar='<field>', action='append', default=[],
            help='Sort by this field; repeat for more keys')
        parser.add_argument(
            '--sort-dir', metavar='<asc|desc>', action='append', default=[],
            choices=('asc', 'desc'),
            help='Direction of the --sort-key at the same position')
        return parser

    def _list(self, path, parsed_args, params=()):
        params = list(params)
        if parsed_args.limit is not None:
            params.append(('limit', parsed_args.limit))
        params += [('sort_key', key) for key in parsed_args.sort_key]
        params += [('sort_dir', way) for way in parsed_args.sort_dir]
        devices = self.client.list_all(path, 'devices', params)
        chosen = self.COLUMNS + (LONG_COLUMNS if parsed_args.long else ())
        fields = [field for field, _ in chosen]
        return ([title for _, title in chosen],
                [_row(device, fields) for device in devices])


class ListDevice(_DeviceLister):
    """List devices (every page: --limit only sets the page size)."""

    FILTERS = (('device_type', '--device-type', None),
               ('service_type', '--service-type', constants.SERVICE_TYPES),
               ('health', '--health', constants.DEVICE_HEALTHS),
               ('source', '--source', constants.DEVICE_SOURCES),
               ('availability_zone', '--availability-zone', None),
               ('project_id', '--project', None))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        for field, option, choices in self.FILTERS:
            parser.add_argument(
                option, dest=field, choices=choices,
                # Upper-cased like the API's values, so lbaas users may type
                # --health ok.
                type=str.upper if choices and field != 'source' else None,
                metavar='<%s>' % ('|'.join(choices) if choices else 'value'),
                help='Only devices with this %s' % field)
        return parser

    def take_action(self, parsed_args):
        params = [(field, getattr(parsed_args, field))
                  for field, _, _ in self.FILTERS
                  if getattr(parsed_args, field) is not None]
        return self._list(PATH, parsed_args, params)


class ListAgentDevice(_DeviceLister):
    """List the devices an agent reaches, assigned or pinned."""

    COLUMNS = LIST_COLUMNS + AGENT_DEVICE_COLUMNS

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        return parser

    def take_action(self, parsed_args):
        return self._list(_agent_devices_path(parsed_args.agent), parsed_args)


class ListDeviceAgent(base.APICommand, lister.Lister):
    """List the agents that reach a device, and how they see it."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('device', metavar='<device-id>', help='Device ID')
        return parser

    def take_action(self, parsed_args):
        found = self.client.get(_device_path(parsed_args.device) + '/agents')
        fields = [field for field, _ in AGENT_COLUMNS]
        return ([title for _, title in AGENT_COLUMNS],
                [_row(agent, fields) for agent in found['agents']])


# -- one device ------------------------------------------------------------

def _shown(device):
    fields = sorted(device)
    return fields, _row(device, fields)


class ShowDevice(base.APICommand, show.ShowOne):
    """Show a device's fields (credentials only as has_credentials)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('device', metavar='<device-id>', help='Device ID')
        return parser

    def take_action(self, parsed_args):
        return _shown(self.client.get(
            _device_path(parsed_args.device))['device'])


class CreateDevice(base.APICommand, show.ShowOne):
    """Create a device."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('name', metavar='<name>', help='Device name')
        parser.add_argument('--device-type', metavar='<type>', required=True,
                            help='Device type, e.g. haproxy, strongswan')
        parser.add_argument(
            '--service-type', type=str.upper,
            choices=constants.SERVICE_TYPES,
            metavar='<%s>' % '|'.join(constants.SERVICE_TYPES),
            help="Service it serves (default: its type's first)")
        parser.add_argument(
            '--project', metavar='<project-id>',
            help="The project whose private device it is (an admin's "
                 "option; default: the caller's project, or a shared "
                 "device for an admin)")
        _add_common_options(parser)
        _add_state_options(parser)
        return parser

    def take_action(self, parsed_args):
        body = dict(_common_fields(parsed_args), name=parsed_args.name,
                    device_type=parsed_args.device_type)
        if parsed_args.service_type:
            body['service_type'] = parsed_args.service_type
        if parsed_args.project:
            body['project_id'] = parsed_args.project
        for field, _ in DOCUMENTS:
            document = _document(parsed_args, field)
            if document is not None:
                body[field] = document
        with hiding(body.get('credentials')):
            created = self.client.post(PATH, {'device': body},
                                       secret='credentials' in body)
        return _shown(created['device'])


class SetDevice(base.APICommand, command.Command):
    """Change a device (--capability etc. change keys; -json replaces)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('device', metavar='<device-id>', help='Device ID')
        parser.add_argument('--name', metavar='<name>', help='New name')
        _add_common_options(parser)
        parser.add_argument('--no-credentials', action='store_true',
                            help='Remove the credentials')
        parser.add_argument(
            '--if-revision', metavar='<n>', type=_count,
            help='Only if the device is still at revision n (else HTTP 412)')
        self._add_state_options(parser)
        return parser

    def _add_state_options(self, parser):
        _add_state_options(parser)

    def take_action(self, parsed_args):
        update_device(self.client, parsed_args)


def update_device(client, parsed_args):
    path = _device_path(parsed_args.device)
    body = _common_fields(parsed_args)
    if parsed_args.name is not None:
        body['name'] = parsed_args.name
    revision = parsed_args.if_revision
    current = {}
    if any(getattr(parsed_args, field + '_pairs') and
           getattr(parsed_args, field + '_json') is None
           for field in ('capabilities', 'physical_info')):
        current = client.get(path)['device']
        if revision is None:
            # The keys given are merged into what was just read: a change
            # made in between is refused (412), not overwritten.
            revision = current['revision_number']
    for field, _ in DOCUMENTS:
        document = _document(parsed_args, field, current.get(field))
        if document is not None:
            body[field] = document
    if parsed_args.no_credentials:
        if 'credentials' in body:
            raise api_client.CLIError(
                '--no-credentials and --credential(s-json) contradict')
        body['credentials'] = {}
    headers = {}
    if revision is not None:
        headers['If-Match'] = 'revision_number=%d' % revision
    # Sent even when empty: the API then still says whether it exists.
    with hiding(body.get('credentials')):
        return client.put(path, {'device': body}, headers=headers,
                          secret=bool(body.get('credentials')))


class UpdateDevice(SetDevice):
    """Update a device (neutronclient-style device-update)."""

    def _add_state_options(self, parser):
        formats.add_legacy_admin_state(parser, 'device')

    def take_action(self, parsed_args):
        update_device(self.client, parsed_args)
        self.app.stdout.write('Updated device: %s\n' % parsed_args.device)


class DeleteDevice(base.APICommand, command.Command):
    """Delete devices (one refused delete does not stop the others)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('devices', metavar='<device-id>', nargs='+',
                            help='Device ID(s)')
        return parser

    def take_action(self, parsed_args):
        base.delete_each(self, parsed_args.devices, _device_path, 'devices')


# -- an agent's devices ----------------------------------------------------

class _AgentDeviceCommand(base.APICommand, command.Command):
    # What the neutronclient-style spelling says once done; None: nothing,
    # as openstackclient's `network agent add router`.
    done = None

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        parser.add_argument('device', metavar='<device-id>', help='Device ID')
        return parser

    def take_action(self, parsed_args):
        self.change(parsed_args.agent, parsed_args.device)
        if self.done:
            self.app.stdout.write(self.done % (parsed_args.device,
                                               parsed_args.agent) + '\n')


class AddAgentDevice(_AgentDeviceCommand):
    """Let an agent reach a device."""

    def change(self, agent_id, device_id):
        self.client.post(_agent_devices_path(agent_id),
                         {'device_id': device_id})


class RemoveAgentDevice(_AgentDeviceCommand):
    """Stop an agent reaching a device."""

    def change(self, agent_id, device_id):
        self.client.delete(_agent_devices_path(agent_id, device_id))


class LegacyAddAgentDevice(AddAgentDevice):
    """Let an agent reach a device (neutronclient-style)."""

    done = 'Added device %s to agent %s'


class LegacyRemoveAgentDevice(RemoveAgentDevice):
    """Stop an agent reaching a device (neutronclient-style)."""

    done = 'Removed device %s from agent %s'
