"""[DEFAULT] options shared by the server and the agent (Neutron's names)."""

import socket

from oslo_config import cfg

opts = [
    cfg.HostAddressOpt(
        'host', default=socket.gethostname(), sample_default='example.domain',
        help='Name of this node. An agent is identified by (agent_type, host); '
             'it must be unique per agent type and stable across restarts.'),
    cfg.IntOpt(
        'agent_down_time', default=75, min=1,
        help='Seconds after the last heartbeat at which an agent is judged '
             'down. Should be at least twice [agent] report_interval, so that '
             'one lost report does not kill an agent.'),
    cfg.BoolOpt(
        'enable_new_agents', default=True,
        help='admin_state_up of an agent the first time it reports. False '
             'lets an admin review new agents before they get resources.'),
    cfg.StrOpt(
        'state_path', sample_default='$XDG_STATE_HOME/agentsched',
        help='Directory for local state (the embedded SQLite database). '
             'Defaults to $XDG_STATE_HOME/agentsched or '
             '~/.local/state/agentsched.'),
]


def register_opts(conf):
    conf.register_opts(opts)
