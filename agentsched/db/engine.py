"""The database engine, built from [database] options."""

import os

import sqlalchemy as sa
from sqlalchemy import event


def state_path(conf):
    """Directory for local state: state_path, else the XDG state dir."""
    if conf.state_path:
        return conf.state_path
    base = os.environ.get('XDG_STATE_HOME') or os.path.join(
        os.path.expanduser('~'), '.local', 'state')
    return os.path.join(base, 'agentsched')


def embedded_url(conf):
    path = state_path(conf)
    os.makedirs(path, exist_ok=True)
    return 'sqlite:///' + os.path.join(path, 'agentsched.sqlite')


def connection_url(conf):
    return conf.database.connection or embedded_url(conf)


def create_engine(conf, url=None):
    url = sa.engine.make_url(url or connection_url(conf))
    if url.get_backend_name() == 'sqlite':
        return _sqlite_engine(url)
    return sa.create_engine(
        url,
        pool_size=conf.database.max_pool_size,
        max_overflow=conf.database.max_overflow,
        pool_timeout=conf.database.pool_timeout,
        pool_recycle=conf.database.connection_recycle_time,
        # A restarted database leaves dead connections in the pool; test
        # each one on checkout instead of failing the first statement.
        pool_pre_ping=True,
    )


def _sqlite_engine(url):
    engine = sa.create_engine(
        url, connect_args={'check_same_thread': False, 'timeout': 30})

    @event.listens_for(engine, 'connect')
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        # WAL lets readers (agentsched-manage, the API) run beside the
        # heartbeat writer; foreign keys are off in SQLite unless asked.
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.execute('PRAGMA synchronous=NORMAL')
        cursor.close()

    return engine


# MySQL errors about the data that PyMySQL raises as OperationalError (it
# maps only some error numbers to DataError): truncated or wrong value,
# invalid character string, BIGINT out of range, invalid JSON text,
# CHECK constraint failed.
_MYSQL_DATA_ERRNOS = frozenset((1292, 1300, 1411, 1525, 1690, 3140, 4025))


def is_outage(exc):
    """Whether a failed write is the database's or the connection's fault
    (retry it as is) rather than data the database refuses (drop it)."""
    if isinstance(exc, (sa.exc.DisconnectionError, sa.exc.TimeoutError)):
        return True
    if not isinstance(exc, sa.exc.DBAPIError):
        return False  # UnicodeEncodeError, OverflowError, StatementError...
    if exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.OperationalError):
        args = getattr(exc.orig, 'args', ())
        return not (args and args[0] in _MYSQL_DATA_ERRNOS)
    # InternalError: PostgreSQL's read-only transaction on a standby after
    # a failover, for one; it passes like an outage.
    return isinstance(exc, (sa.exc.InterfaceError, sa.exc.InternalError))
