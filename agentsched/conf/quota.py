"""[quota] options: how much of the provider's inventory a project may add."""

from oslo_config import cfg

GROUP = 'quota'

# Neutron's convention: a negative quota is no limit.
UNLIMITED = -1

opts = [
    cfg.IntOpt(
        'private_devices_per_project', default=10, min=UNLIMITED,
        help='Private devices (appliances a project registers through POST '
             '/v2.0/devices, or an admin registers for it with project_id) '
             'one project may have; one more is refused with 409 OverQuota. '
             'Shared devices (the provider\'s) do not count. 0: projects '
             'register none; -1: no limit.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
