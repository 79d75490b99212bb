"""[health] and [coordination] options: the health monitor and failover."""

from oslo_config import cfg
from oslo_config import types

from agentsched import constants

GROUP = 'health'
COORDINATION_GROUP = 'coordination'

opts = [
    cfg.BoolOpt(
        'enabled', default=True,
        help='Run the health monitor (on the elected server only, see '
             '[coordination]). False: no automatic failover at all.'),
    cfg.FloatOpt(
        'health_check_interval', default=5.0, min=0.1,
        help='Seconds between two checks for dead agents, draining agents '
             'and DOWN devices.'),
    cfg.StrOpt(
        'default_failover_policy', default=constants.FAILOVER_REBIND_AND_MOVE,
        choices=constants.FAILOVER_POLICIES,
        help='Failover of a resource type not listed in failover_policies: '
             'rebind_and_move gives the resource to another live agent of '
             'the same device, else moves it to another device; '
             'rebind_only never moves the data plane; off leaves it.'),
    cfg.Opt(
        'failover_policies',
        type=types.Dict(value_type=types.String(
            choices=constants.FAILOVER_POLICIES)),
        default={}, sample_default='vip:rebind_and_move',
        help='Failover policy per resource type, type:policy, e.g. '
             'vpn_connection:rebind_only.'),
    cfg.FloatOpt(
        'error_retry_interval', default=60.0, min=0.0,
        help='Seconds after which a resource left in ERROR without a '
             'placement (nothing fitted) is scheduled again, and a failover '
             'move that found no device is tried again; both paced by the '
             'move rate limit. 0: ERROR resources are never retried '
             'automatically, failed moves are tried at every check.'),
    cfg.FloatOpt(
        'pending_timeout', default=120.0, min=0.0,
        help='Seconds after which a resource still PENDING_CREATE, '
             'PENDING_UPDATE or PENDING_DELETE (a deploy nobody answered, a '
             'server killed mid-create) is taken up again by the health '
             'monitor: placed if unbound, its deploy or undeploy sent again '
             'if its agent is alive (same generation), removed if it was '
             'being deleted and its agent is dead or gone. Paced by the '
             'move rate limit; counted as retried. 0: never.'),
    cfg.FloatOpt(
        'failover_max_dead_ratio', default=0.5, min=0.0, max=1.0,
        help='Mass-failure guard: when more than this share of the agents '
             'of one agent type in one availability zone are dead (and more '
             'than failover_min_dead), nothing there is failed over and an '
             'alarm is raised: the control plane or the network is the '
             'likelier fault. Agents forced down by an admin do not count.'),
    cfg.IntOpt(
        'failover_min_dead', default=2, min=0,
        help='The mass-failure guard trips only with more dead agents than '
             'this in the group.'),
    cfg.FloatOpt(
        'move_rate', default=20.0, min=0.01,
        help='Token-bucket rate of failover placements (moves to another '
             'device, ERROR retries), per second. Rebinds to another agent '
             'of the same device move no data plane and are not limited.'),
    cfg.IntOpt(
        'move_burst', default=100, min=1,
        help='Token-bucket size: moves allowed at once after a quiet time.'),
    cfg.IntOpt(
        'move_workers', default=4, min=1,
        help='Moves done at once by the health monitor (each one '
             'placement and one transaction; they wait on the database, '
             'so a few threads finish a large failover several times '
             'sooner). Keep it under [database] max_pool_size.'),
    cfg.IntOpt(
        'batch_size', default=500, min=1,
        help='Most bindings examined per check; the rest wait for the next '
             'check.'),
]

coordination_opts = [
    cfg.StrOpt(
        'backend_url', secret=True,
        help='tooz coordination backend electing the one server that runs '
             'the health monitor, e.g. redis://127.0.0.1:6379?timeout=10, '
             'postgresql://..., mysql://..., etcd3+http://..., '
             'zookeeper://..., file:///var/lib/agentsched/coordination '
             '(one host only). The lock\'s lease (redis: timeout, 30 s by '
             'default) bounds how long a dead leader blocks the next. Unset: '
             'this server runs the monitor; run one server only then.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
    conf.register_opts(coordination_opts, group=COORDINATION_GROUP)
