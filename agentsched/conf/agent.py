"""[agent] options: the agentsched-agent daemon."""

from oslo_config import cfg

from agentsched import constants

GROUP = 'agent'

opts = [
    cfg.ListOpt(
        'services', default=[constants.AGENT_SERVICE_LBAAS],
        deprecated_name='service', deprecated_group=GROUP,
        help='Services this agent process provides (plugins of '
             'agentsched.agent_services: lbaas, vpn). Each reports as an '
             'agent of its own type (Loadbalancer agent, VPN agent) on this '
             'host and drives the devices of its service type.'),
    cfg.IntOpt(
        'report_interval', default=30, min=1,
        help='Seconds between heartbeats (Neutron\'s [AGENT] '
             'report_interval).'),
    cfg.StrOpt(
        'availability_zone', default='nova',
        help='Availability zone reported for this agent.'),
    cfg.FloatOpt(
        'report_timeout', min=0.1,
        help='Seconds to wait for the server to answer one heartbeat. '
             'Defaults to report_interval; the timeout never grows, so an '
             'unreachable bus costs the same on every attempt.'),
    cfg.FloatOpt(
        'retry_max_wait', min=0.1,
        help='Longest back-off, in seconds, between heartbeat attempts after '
             'failures. Defaults to report_interval.'),
    cfg.IntOpt(
        'resync_interval', default=10, min=0,
        help='Every this many successful heartbeats the agent syncs with '
             'the server again, converging its deployments to what the '
             'server says (a missed deploy or undeploy cast is repaired '
             'within resync_interval * report_interval seconds). 0 '
             'disables the periodic resync; the agent still syncs on '
             'start, revival and device changes.'),
    cfg.BoolOpt(
        'fence_on_isolation', default=True,
        help='Whether this agent fences itself when no heartbeat was '
             'accepted by the server for fence_time (it was cut off, or its '
             'process frozen): it assumes the server judged it down and '
             'moved its resources, and stops serving those on devices of '
             'its own host (haproxy\'s listeners close) until the server '
             'answers again; its sync then deploys what is still its own. '
             'The trade-off: an agent cannot tell being cut off from a '
             'broker or server outage for everyone, in which every agent '
             'fences and the whole data plane stops until the control plane '
             'is back. On where agents run on separate hosts and an address '
             'answered in two places is the worse failure; off where a '
             'broker outage must not drop traffic, accepting that a cut-off '
             'agent keeps answering a moved address until it is heard again '
             '(its sync then removes what moved). Either way a returning '
             'agent removes what moved away while it was gone.'),
    cfg.FloatOpt(
        'fence_time', min=0,
        help='Seconds without a heartbeat accepted by the server after which '
             'an agent with fence_on_isolation fences itself. Defaults to '
             '[DEFAULT] agent_down_time (75 s, Neutron\'s), the moment from '
             'which the server may move its resources: shorter, a blip the '
             'server forgives would still cut traffic; longer, a moved '
             'address is answered in two places meanwhile. Counted from the '
             'sending of the last accepted heartbeat, which is never later '
             'than the server\'s clock for it (an answer to one sent longer '
             'than fence_time ago does not count: another is sent at once). '
             '0: deprecated, the same as fence_on_isolation = false.'),
    cfg.FloatOpt(
        'status_interval', default=10, min=0.1,
        help='Seconds between two readings of the operating status of what '
             'this agent\'s devices serve (VIPs and their members from '
             'haproxy\'s health checks, VPN connections from their SAs). '
             'What changed since the last reading the server took goes in '
             'one message, however many resources changed; nothing is sent '
             'when nothing changed. A member going down shows in the API '
             'within the health monitor\'s delay x max_retries_down plus '
             'this interval.'),
    cfg.PortOpt(
        'metrics_port', default=0,
        help='Port of a plain HTTP listener serving this agent\'s Prometheus '
             'metrics at /metrics (deploy latency and outcome per driver, '
             'heartbeats sent, device health). 0: none.'),
    cfg.HostAddressOpt(
        'metrics_bind_host', default='127.0.0.1',
        help='Address of the agent\'s metrics listener (metrics_port).'),
    cfg.ListOpt(
        'remote_device_types', default=[],
        help='Device types this agent manages remotely, beside the devices '
             'of its [device:<name>] sections, e.g. haproxy_ssh. The agent '
             'reports them in its heartbeats; a device of such a type that '
             'an admin or a project registers without naming agents is '
             'assigned by the server to [scheduler] agents_per_device live '
             'agents that manage its type (and its service type and '
             'availability zone), '
             'which learn it with its credentials through their sync, '
             'report its health and deploy to it; when one dies, the health '
             'monitor assigns its devices to another. Empty: this agent '
             'manages only its own devices. At most %d types, each a '
             'device type name.' % constants.MAX_REMOTE_DEVICE_TYPES),
    cfg.FloatOpt(
        'stats_interval', default=60, min=0,
        help='Seconds between two reports of the statistics of what this '
             'agent\'s devices serve (bytes, connections, request errors), '
             'one message per report. 0: none are sent.'),
]

# Devices an agent manages are listed one per section, [device:<name>]; the
# section name is the device's name. They are registered when found.
DEVICE_GROUP_PREFIX = 'device:'
device_opts = [
    cfg.StrOpt('device_type', required=True,
               help='Driver name for this device, e.g. haproxy, strongswan, '
                    'noop.'),
    cfg.StrOpt('service_type', choices=constants.SERVICE_TYPES,
               help='Service the device provides. Defaults to the service '
                    'type of the agent\'s service when it runs only one.'),
    cfg.DictOpt('capabilities', default={},
                help='Capabilities as key:value pairs, e.g. '
                     'ssl_offload:true,max_connections:50000.'),
    cfg.IntOpt('capacity', default=100, min=0,
               help='Capacity in units that resources claim.'),
    cfg.StrOpt('address', default='',
               help='Address of the device (data or management plane).'),
]


def physical_info(address):
    """The physical_info a [device:<name>] section stands for: what the
    server stores for a reported device (reports/device_sync.py) and sends
    back in deploys. The agent builds a driver from a section before any
    deploy arrives; built from this same form, the two compare equal and a
    restart is not taken for a change of the device."""
    return {'address': address} if address else {}


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)


def register_device_groups(conf):
    """Register the options of every [device:<name>] section found."""
    names = []
    for section in conf.list_all_sections():
        if section.startswith(DEVICE_GROUP_PREFIX):
            conf.register_opts(device_opts, group=section)
            names.append(section[len(DEVICE_GROUP_PREFIX):])
    return names
