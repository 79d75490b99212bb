"""[signing] options: who may speak on the message bus (docs/security.md)."""

from oslo_config import cfg

GROUP = 'signing'

# Agent types of Neutron's own agents (neutron_lib.constants AGENT_TYPE_*):
# they know nothing of signatures and may keep reporting, unsigned.
NEUTRON_AGENT_TYPES = [
    'DHCP agent', 'Open vSwitch agent', 'Linux bridge agent',
    'L3 agent', 'Metadata agent', 'Metering agent', 'NIC Switch agent',
    'OVN Controller agent', 'OVN Controller Gateway agent',
    'OVN Metadata agent', 'Macvtap agent', 'BGP dynamic routing agent',
]

opts = [
    cfg.ListOpt(
        'master_keys', default=[], secret=True,
        help='Servers only. Deployment secrets from which each host\'s '
             'signing key is derived (make one with agentsched-manage '
             'signing generate-key; give each agent host its keys with '
             'agentsched-manage agent-key HOST). The first key '
             'signs what servers send; every key verifies, so keys rotate '
             'like [secrets] encryption_keys. Empty: messages are neither '
             'signed nor verified and secrets cross the bus in clear (the '
             'server warns at start); the embedded default keeps a key '
             'file under state_path.'),
    cfg.ListOpt(
        'host_keys', default=[], secret=True,
        help='Agents only. This host\'s signing keys, as agentsched-manage '
             'agent-key HOST prints them (one per server master '
             'key). The first signs; every key verifies the server\'s '
             'casts and opens the secrets sent to this host. Empty: the '
             'agent sends unsigned messages, which servers with master '
             'keys refuse.'),
    cfg.BoolOpt(
        'enforce', default=True,
        help='With keys, refuse what is not signed: servers refuse '
             'unsigned reports (but for unsigned_agent_types) and calls, '
             'agents ignore unsigned casts. False, for turning signing on '
             'in a running fleet: signatures present are still checked and '
             'bad ones refused, unsigned messages are taken as before (see '
             'docs/security.md, "Turning signing on").'),
    cfg.IntOpt(
        'replay_window', default=60, min=1,
        help='Seconds a signed message stays valid: a timestamp further '
             'than this from the receiver\'s clock is refused as a replay '
             '(2 x report_interval by default; keep clocks in step with '
             'NTP).'),
    cfg.ListOpt(
        'unsigned_agent_types', default=NEUTRON_AGENT_TYPES,
        help='Agent types whose unsigned heartbeats servers with master '
             'keys still take (Neutron\'s agents cannot sign). An unsigned '
             'report registers and keeps alive an agent of such a type, '
             'nothing more: its devices are ignored, and once an agent has '
             'signed a report, unsigned ones for it are refused. '
             'agentsched\'s own agent types always need a signature: '
             'listed here, they are ignored with a warning.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
