"""[database] options (oslo.db's names, so existing deployment tooling fits)."""

from oslo_config import cfg

GROUP = 'database'

opts = [
    cfg.StrOpt(
        'connection', secret=True,
        sample_default='postgresql+psycopg://agentsched:secret@db/agentsched',
        help='SQLAlchemy URL of the database: postgresql+psycopg://..., '
             'mysql+pymysql://... or sqlite:///path. Unset means the embedded '
             'default, a SQLite file under state_path.'),
    cfg.IntOpt('max_pool_size', default=10, min=1,
               help='Connections kept open in the pool (not used by SQLite).'),
    cfg.IntOpt('max_overflow', default=20, min=0,
               help='Connections allowed beyond max_pool_size under load.'),
    cfg.IntOpt('pool_timeout', default=30, min=1,
               help='Seconds to wait for a free pooled connection.'),
    cfg.IntOpt('connection_recycle_time', default=3600, min=1,
               help='Seconds after which a pooled connection is replaced, '
                    'before a server-side idle timeout can break it.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
