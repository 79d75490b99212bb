"""Resource commands: VIPs (/v2.0/lb/vips), VPN connections
(/v2.0/vpn/connections) and which agent hosts them.

`vip create|list|show|set|delete`, `vpn-connection create|...`,
`agent vip list|add|remove`, `agent vpn-connection list|add|remove` and
`vip agent show`, `vpn-connection agent show`; vip-create, vip-list,
vip-show, vip-update, vip-delete, agent-vip-list|add|remove, vip-agent-show
(and the vpn-connection-... ones) are the hyphenated spellings.

A VPN connection's psk is write-only: the API answers has_psk, and the
commands keep the value out of error lines and debug logs.
"""

import argparse
import json
import urllib.parse

from cliff import command
from cliff import lister
from cliff import show

from agentsched.cli import base
from agentsched.cli import devices as cli_devices
from agentsched.cli import formats

_COMMON_COLUMNS = (('id', 'ID'), ('name', 'Name'), ('status', 'Status'),
                   ('operating_status', 'Operating Status'),
                   ('project_id', 'Project'))
_LONG_COLUMNS = (('status_description', 'Status Description'),
                 ('flavor_id', 'Flavor'), ('created_at', 'Created At'))
_STATUSES = ('PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE', 'ACTIVE',
             'ERROR')


def _quote(value):
    return urllib.parse.quote(value, safe='')


def _json_object(text):
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError('not JSON: %s' % exc.msg)
    if not isinstance(document, dict):
        raise argparse.ArgumentTypeError('expected a JSON object')
    return document


def _pair(text):
    key, sep, value = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError('expected KEY=VALUE')
    lowered = value.lower()
    if lowered in ('true', 'false'):
        return key, lowered == 'true'
    return key, int(value) if value.lstrip('-').isdigit() else value


def _member(text):
    """ADDRESS:PORT[:WEIGHT]; an IPv6 address goes in brackets."""
    if text.startswith('['):
        address, _, rest = text[1:].partition(']')
        numbers = rest[1:].split(':') if rest.startswith(':') else []
    else:
        address, *numbers = text.split(':')
    if not address or len(numbers) not in (1, 2) or \
            not all(n.isdigit() for n in numbers):
        raise argparse.ArgumentTypeError('expected ADDRESS:PORT[:WEIGHT]')
    member = {'address': address, 'protocol_port': int(numbers[0])}
    if len(numbers) == 2:
        member['weight'] = int(numbers[1])
    return member


class Kind:
    """How one resource type shows in the API and on the command line.

    options: (flag, API field, argparse keywords); an 'append' option
    gives the whole list of its field.
    """

    def __init__(self, singular, plural, path, agent_segment, title,
                 columns, options, secrets=()):
        self.singular = singular
        self.plural = plural
        self.path = path
        self.agent_segment = agent_segment
        self.title = title
        self.columns = columns
        self.options = options
        self.secrets = secrets

    def item_path(self, resource_id):
        return '%s/%s' % (self.path, _quote(resource_id))

    def agent_path(self, agent_id, resource_id=None):
        path = '/v2.0/agents/%s/%s' % (_quote(agent_id), self.agent_segment)
        return path if resource_id is None else '%s/%s' % (
            path, _quote(resource_id))


VIP = Kind(
    'vip', 'vips', '/v2.0/lb/vips', 'vips', 'VIP',
    (('address', 'Address'), ('protocol', 'Protocol'),
     ('protocol_port', 'Port')),
    (('--address', 'address', {'metavar': '<ip>'}),
     ('--protocol', 'protocol', {'type': str.upper,
                                 'choices': ('HTTP', 'HTTPS', 'TCP'),
                                 'metavar': '<HTTP|HTTPS|TCP>'}),
     ('--protocol-port', 'protocol_port', {'type': int, 'metavar': '<port>'}),
     ('--connection-limit', 'connection_limit', {'type': int,
                                                 'metavar': '<n>'}),
     ('--member', 'members', {'type': _member, 'action': 'append',
                              'metavar': '<address:port[:weight]>'}),
     ('--health-monitor', 'health_monitor', {
         'type': _json_object, 'metavar': '<json>',
         'help': 'health_monitor of the VIP as a JSON object, e.g. '
                 '\'{"type": "HTTP", "delay": 5, "timeout": 3, '
                 '"max_retries": 3, "url_path": "/health"}\''})))

VPN_CONNECTION = Kind(
    'vpn_connection', 'vpn_connections', '/v2.0/vpn/connections',
    'vpn-connections', 'VPN connection',
    (('peer_address', 'Peer Address'), ('peer_id', 'Peer ID')),
    (('--peer-address', 'peer_address', {'metavar': '<address>'}),
     ('--peer-id', 'peer_id', {'metavar': '<id>'}),
     ('--peer-cidr', 'peer_cidrs', {'action': 'append', 'metavar': '<cidr>'}),
     ('--local-cidr', 'local_cidrs', {'action': 'append',
                                      'metavar': '<cidr>'}),
     ('--psk', 'psk', {'metavar': '<pre-shared-key>'}),
     ('--mtu', 'mtu', {'type': int, 'metavar': '<mtu>'}),
     ('--initiator', 'initiator', {'choices': ('bi-directional',
                                               'response-only')})),
    secrets=('psk',))


def _formatted(item, fields):
    return tuple(formats.JSONColumn(item.get(f))
                 if isinstance(item.get(f), (dict, list)) else item.get(f)
                 for f in fields)


def _shown(item):
    fields = sorted(item)
    return fields, _formatted(item, fields)


def _add_spec_options(parser, kind):
    for flag, field, keywords in kind.options:
        keywords = dict({'help': '%s of the %s' % (field, kind.title)},
                        **keywords)
        parser.add_argument(flag, dest='spec_' + field, **keywords)
    parser.add_argument('--spec-json', metavar='<json>', type=_json_object,
                        help='Spec fields as a JSON object (the options '
                             'above go over it)')


def _spec(parsed_args, kind):
    spec = dict(parsed_args.spec_json or {})
    for _flag, field, _keywords in kind.options:
        value = getattr(parsed_args, 'spec_' + field)
        if value is not None:
            spec[field] = value
    return spec


def _send(kind, body, send):
    """send(secret) inside the psk-hiding guard."""
    secrets = {name: body[name] for name in kind.secrets if name in body}
    with cli_devices.hiding(secrets or None):
        return send(bool(secrets))


# -- create, list, show, set, delete ---------------------------------------

class _KindCommand(base.APICommand):
    kind = None


class _Create(_KindCommand, show.ShowOne):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('name', metavar='<name>', help='Name')
        _add_spec_options(parser, self.kind)
        parser.add_argument('--device-type', metavar='<type>',
                            help='Requirement: the device type')
        parser.add_argument('--capability', metavar='<key=value>',
                            type=_pair, action='append',
                            help='Requirement: a device capability (repeat)')
        parser.add_argument('--availability-zone', metavar='<zone>',
                            help='Requirement: the availability zone')
        parser.add_argument('--requirements-json', metavar='<json>',
                            type=_json_object,
                            help='All requirements as a JSON object')
        parser.add_argument('--flavor', metavar='<flavor-id>',
                            help='A flavor instead of requirements')
        parser.add_argument('--project', metavar='<project-id>',
                            help='Owner project (admins only)')
        return parser

    def _requirements(self, parsed_args):
        requirements = dict(parsed_args.requirements_json or {})
        if parsed_args.device_type:
            requirements['device_type'] = parsed_args.device_type
        if parsed_args.availability_zone:
            requirements['availability_zone'] = \
                parsed_args.availability_zone
        if parsed_args.capability:
            requirements['capabilities'] = dict(
                requirements.get('capabilities') or {},
                **dict(parsed_args.capability))
        return requirements

    def take_action(self, parsed_args):
        body = dict(_spec(parsed_args, self.kind), name=parsed_args.name)
        requirements = self._requirements(parsed_args)
        if requirements:
            body['requirements'] = requirements
        if parsed_args.flavor:
            body['flavor_id'] = parsed_args.flavor
        if parsed_args.project:
            body['project_id'] = parsed_args.project
        created = _send(self.kind, body, lambda secret: self.client.post(
            self.kind.path, {self.kind.singular: body}, secret=secret))
        return _shown(created[self.kind.singular])


class _Lister(_KindCommand, lister.Lister):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--long', action='store_true',
                            help='Show more columns')
        parser.add_argument('--limit', metavar='<n>',
                            type=formats.positive_int,
                            help='Fetch n at a time (all are still listed)')
        parser.add_argument('--sort-key', metavar='<field>',
                            action='append', default=[],
                            help='Sort by this field; repeat for more keys')
        parser.add_argument('--sort-dir', metavar='<asc|desc>',
                            action='append', default=[],
                            choices=('asc', 'desc'),
                            help='Direction of the --sort-key at the same '
                                 'position')
        return parser

    def _list(self, path, parsed_args, params=()):
        params = list(params)
        if parsed_args.limit is not None:
            params.append(('limit', parsed_args.limit))
        params += [('sort_key', key) for key in parsed_args.sort_key]
        params += [('sort_dir', way) for way in parsed_args.sort_dir]
        items = self.client.list_all(path, self.kind.plural, params)
        chosen = _COMMON_COLUMNS + self.kind.columns + (
            _LONG_COLUMNS if parsed_args.long else ())
        fields = [field for field, _ in chosen]
        return ([title for _, title in chosen],
                [_formatted(item, fields) for item in items])


class _List(_Lister):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--name', metavar='<name>', help='Only this name')
        parser.add_argument('--status', type=str.upper, choices=_STATUSES,
                            metavar='<status>', help='Only this status')
        parser.add_argument('--project', metavar='<project-id>',
                            help='Only this project\'s (admins)')
        return parser

    def take_action(self, parsed_args):
        params = [(field, value) for field, value in (
            ('name', parsed_args.name), ('status', parsed_args.status),
            ('project_id', parsed_args.project)) if value is not None]
        return self._list(self.kind.path, parsed_args, params)


class _Show(_KindCommand, show.ShowOne):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('resource', metavar='<id>', help='ID')
        return parser

    def take_action(self, parsed_args):
        return _shown(self.client.get(self.kind.item_path(
            parsed_args.resource))[self.kind.singular])


class _Set(_KindCommand, command.Command):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('resource', metavar='<id>', help='ID')
        parser.add_argument('--name', metavar='<name>', help='New name')
        _add_spec_options(parser, self.kind)
        return parser

    def take_action(self, parsed_args):
        body = _spec(parsed_args, self.kind)
        if parsed_args.name is not None:
            body['name'] = parsed_args.name
        _send(self.kind, body, lambda secret: self.client.put(
            self.kind.item_path(parsed_args.resource),
            {self.kind.singular: body}, secret=secret))


class _Delete(_KindCommand, command.Command):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('resources', metavar='<id>', nargs='+',
                            help='ID(s)')
        return parser

    def take_action(self, parsed_args):
        base.delete_each(self, parsed_args.resources, self.kind.item_path,
                         self.kind.plural)


# -- agents ----------------------------------------------------------------

class _AgentList(_Lister):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        return parser

    def take_action(self, parsed_args):
        return self._list(self.kind.agent_path(parsed_args.agent),
                          parsed_args)


class _AgentChange(_KindCommand, command.Command):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        parser.add_argument('resource', metavar='<id>',
                            help='%s ID' % self.kind.title)
        return parser


class _AgentAdd(_AgentChange):

    def take_action(self, parsed_args):
        self.client.post(self.kind.agent_path(parsed_args.agent),
                         {self.kind.singular + '_id': parsed_args.resource})


class _AgentRemove(_AgentChange):

    def take_action(self, parsed_args):
        self.client.delete(self.kind.agent_path(parsed_args.agent,
                                                parsed_args.resource))


class _HostingShow(_Show):

    def take_action(self, parsed_args):
        hosting = self.client.get(self.kind.item_path(
            parsed_args.resource) + '/agent')
        agent = hosting.get('agent') or {}
        device = hosting['device']
        item = {'agent_id': agent.get('id'), 'host': agent.get('host'),
                'agent_type': agent.get('agent_type'),
                'alive': agent.get('alive'),
                'admin_state_up': agent.get('admin_state_up'),
                'device_id': device['id'], 'device_name': device['name'],
                'device_type': device['device_type'],
                'physical_info': device['physical_info'],
                'generation': hosting['binding']['generation']}
        return _shown(item)


class _Failover(_Show):

    def take_action(self, parsed_args):
        answer = self.client.put(self.kind.item_path(
            parsed_args.resource) + '/failover', {})
        item = dict(answer[self.kind.singular], failover=answer['failover'])
        return _shown(item)


class ShowVipStats(_Show):
    """Show a VIP's statistics: bytes in and out, connections, request
    errors (totals since it was created)."""
    kind = VIP

    def take_action(self, parsed_args):
        return _shown(self.client.get(self.kind.item_path(
            parsed_args.resource) + '/stats')['stats'])


class ListVipMember(_KindCommand, lister.Lister):
    """List a VIP's members with their operating status."""
    kind = VIP
    _COLUMNS = (('address', 'Address'), ('protocol_port', 'Port'),
                ('weight', 'Weight'), ('admin_state_up', 'Admin State Up'),
                ('operating_status', 'Operating Status'))

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('resource', metavar='<id>', help='VIP ID')
        return parser

    def take_action(self, parsed_args):
        vip = self.client.get(self.kind.item_path(
            parsed_args.resource))[self.kind.singular]
        # The spec's defaults, shown as the device applies them.
        members = [dict({'weight': 1, 'admin_state_up': True}, **member)
                   for member in vip.get('members') or ()]
        fields = [field for field, _ in self._COLUMNS]
        return ([title for _, title in self._COLUMNS],
                [_formatted(member, fields) for member in members])


# The commands, one class per resource type (entry points name classes).

class CreateVip(_Create):
    """Create a load-balancer VIP (placed at once; ERROR if nothing fits)."""
    kind = VIP


class ListVip(_List):
    """List VIPs (every page: --limit only sets the page size)."""
    kind = VIP


class ShowVip(_Show):
    """Show a VIP."""
    kind = VIP


class SetVip(_Set):
    """Rename a VIP or change its spec (deployed again)."""
    kind = VIP


class DeleteVip(_Delete):
    """Delete VIPs."""
    kind = VIP


class ListAgentVip(_AgentList):
    """List the VIPs an agent hosts."""
    kind = VIP


class AddAgentVip(_AgentAdd):
    """Place an unbound VIP on an agent."""
    kind = VIP


class RemoveAgentVip(_AgentRemove):
    """Unbind a VIP from its agent."""
    kind = VIP


class ShowVipAgent(_HostingShow):
    """Show the agent and device hosting a VIP."""
    kind = VIP


class FailoverVip(_Failover):
    """Fail a VIP over now: another agent of its device, or another
    device (admin)."""
    kind = VIP


class FailoverVPNConnection(_Failover):
    """Fail a VPN connection over now (admin)."""
    kind = VPN_CONNECTION


class CreateVPNConnection(_Create):
    """Create a VPN connection (the psk is write-only)."""
    kind = VPN_CONNECTION


class ListVPNConnection(_List):
    """List VPN connections."""
    kind = VPN_CONNECTION


class ShowVPNConnection(_Show):
    """Show a VPN connection (has_psk, never the psk)."""
    kind = VPN_CONNECTION


class SetVPNConnection(_Set):
    """Rename a VPN connection or change its spec (deployed again)."""
    kind = VPN_CONNECTION


class DeleteVPNConnection(_Delete):
    """Delete VPN connections."""
    kind = VPN_CONNECTION


class ListAgentVPNConnection(_AgentList):
    """List the VPN connections an agent hosts."""
    kind = VPN_CONNECTION


class AddAgentVPNConnection(_AgentAdd):
    """Place an unbound VPN connection on an agent."""
    kind = VPN_CONNECTION


class RemoveAgentVPNConnection(_AgentRemove):
    """Unbind a VPN connection from its agent."""
    kind = VPN_CONNECTION


class ShowVPNConnectionAgent(_HostingShow):
    """Show the agent and device hosting a VPN connection."""
    kind = VPN_CONNECTION
