"""[scheduler] options: which algorithm places each resource type, and how."""

from oslo_config import cfg
from oslo_config import types

from agentsched import constants

GROUP = 'scheduler'

# Cheapest and most often failing checks first: later filters see fewer
# candidates. These are all the shipped filters (agentsched.filters).
DEFAULT_FILTERS = ['agent_alive', 'agent_serves', 'service_type',
                   'device_healthy', 'device_type', 'availability_zone',
                   'capacity', 'capabilities']
DEFAULT_WEIGHERS = ['device_health', 'device_load', 'agent_load']
# device_health above the other two together: an OK device always beats a
# DEGRADED one; then free room counts twice as much as the agent's load.
DEFAULT_MULTIPLIERS = {'device_health': 2.0, 'device_load': 1.0,
                       'agent_load': 0.5}

_ALGORITHM_HELP = (
    'Scheduling algorithm (entry point in agentsched.algorithms: chance, '
    'least_loaded, weighted, or one installed by another package) placing '
    '%s. weighted, the default, is least_loaded with judgement: it prefers '
    'OK devices to DEGRADED ones and, among equally free devices, the '
    'less loaded agent, and it is tuned through the options below.')

opts = [
    cfg.StrOpt('vip_algorithm', default='weighted',
               help=_ALGORITHM_HELP % 'load-balancer VIPs'),
    cfg.StrOpt('vpn_connection_algorithm', default='weighted',
               help=_ALGORITHM_HELP % 'VPN connections'),
    cfg.ListOpt(
        'enabled_filters', default=DEFAULT_FILTERS,
        help='Feasibility filters (entry points in agentsched.filters), run '
             'in this order by every algorithm: a candidate (agent, device) '
             'must pass all of them. Put cheap filters that reject many '
             'candidates first. The default is every shipped filter.'),
    cfg.ListOpt(
        'enabled_weighers', default=DEFAULT_WEIGHERS,
        help='Weighers (entry points in agentsched.weighers) ranking the '
             'feasible candidates of the weighted algorithm. Each scores the '
             'candidates, scaled to 0..1 across them, times its multiplier '
             '(weigher_multipliers); the scores add up.'),
    cfg.Opt(
        'weigher_multipliers', type=types.Dict(value_type=types.Float()),
        default=DEFAULT_MULTIPLIERS,
        help='Multiplier per weigher, name:float; 1.0 for a weigher not '
             'listed, 0 switches it off. A negative multiplier reverses the '
             'preference: device_load:-1.0 packs resources onto the fullest '
             'devices that fit instead of spreading them.'),
    cfg.IntOpt(
        'host_subset_size', default=1, min=1,
        help='The weighted algorithm picks its choice at random among this '
             'many best-scored candidates (Nova\'s option of the same name). '
             'Above 1, schedulers in several servers placing at once collide '
             'less on the same device, at the cost of a less optimal pick.'),
    cfg.IntOpt(
        'sample_size', default=256, min=0,
        help='Most candidates (agent, device pairs) examined per placement. '
             'With more, a uniform random sample of this many is filtered '
             'and ranked (Nomad\'s limit), which keeps a placement under a '
             'millisecond with tens of thousands of candidates and spreads '
             'concurrent schedulers; its best is among the best fraction of '
             'a percent of all. When the sample holds fewer than 8 (or '
             'host_subset_size) feasible candidates, all are examined. '
             '0: always examine all.'),
    cfg.FloatOpt(
        'snapshot_max_age', default=10.0, min=0.0,
        help='Seconds a server schedules on the same snapshot of agents and '
             'devices before reloading it (one query, in the background). '
             'When a read of the snapshot takes longer than a tenth of '
             'this, it is reloaded every 10 times its read\'s duration '
             'instead (a fleet whose read takes 1.5 s, every 15 s), so '
             'that reading never takes more than a tenth of the time. A '
             'stale snapshot costs at most a lost claim: the database '
             'checks capacity, device state and agent liveness when '
             'capacity is claimed, and our own claims update the snapshot '
             'at once.'),
    cfg.IntOpt(
        'agents_per_device', default=2, min=1,
        help='How many live agents manage a device that an admin or a '
             'project registers without naming agents: the server assigns '
             'it to that many '
             'agents whose [agent] remote_device_types lists its type (two '
             'by default, so that one can die without its resources moving: '
             'they are rebound to the other). Agents an admin pinned to the '
             'device count. With fewer managers alive, the device gets what '
             'there is, and the health monitor assigns more when they '
             'appear or when one dies.'),
    cfg.StrOpt(
        'device_assigner', default='least_devices',
        help='How the server chooses the agents of such a device (entry '
             'point in agentsched.device_assigners): least_devices, the '
             'default, takes the live, admin-up agents managing the '
             'device\'s type, of its service type and, when the device has '
             'one, of its availability zone, with the fewest devices (ties: '
             'by host name; none with %d, what a heartbeat carries). An '
             'unknown name stops the server at start.'
             % constants.MAX_DEVICES_PER_MANAGER),
    cfg.IntOpt(
        'max_claim_attempts', default=5, min=1,
        help='Candidates tried per round when claims are lost to other '
             'schedulers; after a round the snapshot is reloaded, three '
             'rounds at most, then the resource goes to ERROR.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
