"""[metrics] options: Prometheus metrics of the server (agentsched/metrics.py)."""

from oslo_config import cfg

GROUP = 'metrics'

opts = [
    cfg.BoolOpt(
        'enabled', default=True,
        help='Collect Prometheus metrics and serve them at /metrics on the '
             'REST API (policy rule get_metrics, admins by default) and, '
             'with port set, on a listener of their own. Off: nothing is '
             'counted or timed and /metrics answers 404.'),
    cfg.HostAddressOpt(
        'bind_host', default='127.0.0.1',
        help='Address of the metrics listener of its own (port).'),
    cfg.PortOpt(
        'port', default=0,
        help='Port of a plain HTTP listener serving /metrics without '
             'authentication, for a Prometheus that has no API credentials: '
             'bind it where only Prometheus reaches. 0: none (the REST API\'s '
             '/metrics only).'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
