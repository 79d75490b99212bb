"""Agent commands over /v2.0/agents.

`agent list|show|set|delete` follow python-openstackclient's `network agent`
commands; agent-list, agent-show, agent-update and agent-delete are
neutronclient's spellings of the same.
"""

import urllib.parse

from cliff import command
from cliff import lister
from cliff import show

from agentsched.cli import base
from agentsched.cli import formats
from agentsched import constants

PATH = '/v2.0/agents'

# (API field, column title), as `openstack network agent list` titles them.
LIST_COLUMNS = (
    ('id', 'ID'), ('agent_type', 'Agent Type'), ('host', 'Host'),
    ('availability_zone', 'Availability Zone'), ('alive', 'Alive'),
    ('admin_state_up', 'State'), ('binary', 'Binary'))
LONG_COLUMNS = (
    ('topic', 'Topic'), ('description', 'Description'),
    ('started_at', 'Started At'),
    ('heartbeat_timestamp', 'Heartbeat Timestamp'),
    ('resources_synced', 'Resources Synced'),
    ('forced_down', 'Forced Down'))


FORMATTERS = {'alive': formats.AliveColumn,
              'admin_state_up': formats.StateColumn,
              'configurations': formats.JSONColumn}


def _row(agent, fields):
    return tuple(FORMATTERS[f](agent.get(f)) if f in FORMATTERS
                 else agent.get(f) for f in fields)


def _agent_path(agent_id):
    return '%s/%s' % (PATH, urllib.parse.quote(agent_id, safe=''))


def _agent_type(text):
    # The service names agentsched-agent runs (lbaas, vpn) are shorter to
    # type than the agent types they report.
    service = constants.AGENT_SERVICES.get(text.lower())
    return service['agent_type'] if service else text


class ListAgent(base.APICommand, lister.Lister):
    """List agents (every page: --limit only sets the page size)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--agent-type', metavar='<type>', type=_agent_type,
            help='Only agents of this type, e.g. "Loadbalancer agent" (or '
                 'a service name: lbaas, vpn)')
        parser.add_argument('--host', metavar='<host>',
                            help='Only agents on this host')
        parser.add_argument('--availability-zone', metavar='<zone>',
                            help='Only agents in this availability zone')
        liveness = parser.add_mutually_exclusive_group()
        liveness.add_argument('--alive', dest='alive', action='store_const',
                              const=True, help='Only agents that are alive')
        liveness.add_argument('--dead', dest='alive', action='store_const',
                              const=False, help='Only agents that are down')
        parser.add_argument('--long', action='store_true',
                            help='Show more columns')
        parser.add_argument(
            '--limit', metavar='<n>', type=formats.positive_int,
            help='Fetch agents n at a time (all are still listed)')
        parser.add_argument(
            '--sort-key', metavar='<field>', action='append', default=[],
            help='Sort by this field; repeat for more keys')
        parser.add_argument(
            '--sort-dir', metavar='<asc|desc>', action='append', default=[],
            choices=('asc', 'desc'),
            help='Direction of the --sort-key at the same position')
        return parser

    def take_action(self, parsed_args):
        params = [(name, value) for name, value in (
            ('agent_type', parsed_args.agent_type),
            ('host', parsed_args.host),
            ('availability_zone', parsed_args.availability_zone),
            ('limit', parsed_args.limit)) if value is not None]
        if parsed_args.alive is not None:
            params.append(('alive', str(parsed_args.alive)))
        params += [('sort_key', key) for key in parsed_args.sort_key]
        params += [('sort_dir', way) for way in parsed_args.sort_dir]
        agents = self.client.list_all(PATH, 'agents', params)
        chosen = LIST_COLUMNS + (LONG_COLUMNS if parsed_args.long else ())
        fields = [field for field, _ in chosen]
        return ([title for _, title in chosen],
                [_row(agent, fields) for agent in agents])


class ShowAgent(base.APICommand, show.ShowOne):
    """Show an agent's fields."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        return parser

    def take_action(self, parsed_args):
        agent = self.client.get(_agent_path(parsed_args.agent))['agent']
        fields = sorted(agent)
        return fields, _row(agent, fields)


class SetAgent(base.APICommand, command.Command):
    """Enable or disable an agent, or set its description."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        state = parser.add_mutually_exclusive_group()
        state.add_argument(
            '--enable', dest='admin_state_up', action='store_const',
            const=True, help='Let the scheduler place resources on it')
        state.add_argument(
            '--disable', dest='admin_state_up', action='store_const',
            const=False, help='Drain it: keep new resources off it and '
                              'fail its resources over (rate-limited)')
        parser.add_argument('--description', metavar='<text>',
                            help='Free text about the agent')
        forced = parser.add_mutually_exclusive_group()
        forced.add_argument(
            '--force-down', dest='forced_down', action='store_const',
            const=True, help='Judge it dead now, whatever its heartbeats '
                             'say: its resources are failed over at once')
        forced.add_argument(
            '--no-force-down', dest='forced_down', action='store_const',
            const=False, help='Judge it by its heartbeats again')
        return parser

    def take_action(self, parsed_args):
        update_agent(self.client, parsed_args)


def update_agent(client, parsed_args):
    changes = {name: getattr(parsed_args, name, None)
               for name in ('admin_state_up', 'forced_down', 'description')
               if getattr(parsed_args, name, None) is not None}
    # Sent even when empty: the API then still says whether the agent
    # exists.
    return client.put(_agent_path(parsed_args.agent), {'agent': changes})


class UpdateAgent(base.APICommand, command.Command):
    """Update an agent (neutronclient's agent-update)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agent', metavar='<agent-id>', help='Agent ID')
        parser.add_argument('--description', metavar='<text>',
                            help='Free text about the agent')
        formats.add_legacy_admin_state(parser, 'agent')
        return parser

    def take_action(self, parsed_args):
        update_agent(self.client, parsed_args)
        self.app.stdout.write('Updated agent: %s\n' % parsed_args.agent)


class DeleteAgent(base.APICommand, command.Command):
    """Delete agents (one refused delete does not stop the others)."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('agents', metavar='<agent-id>', nargs='+',
                            help='Agent ID(s)')
        return parser

    def take_action(self, parsed_args):
        base.delete_each(self, parsed_args.agents, _agent_path, 'agents')
