"""The database engine, built from [database] options."""

import os
import select
import time

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
    engine = sa.create_engine(
        url,
        pool_size=conf.database.max_pool_size,
        max_overflow=conf.database.max_overflow,
        pool_timeout=conf.database.pool_timeout,
        pool_recycle=conf.database.connection_recycle_time,
        # The connection used last goes out first: at a low rate the same
        # one serves on (its idle time stays short, PING_IDLE), and the
        # others idle until the database's or a proxy's timeout closes them.
        pool_use_lifo=True,
    )
    event.listen(engine, 'connect', _mark_used)
    event.listen(engine, 'checkin', _mark_used)
    event.listen(engine, 'checkout', _replace_if_closed(engine.dialect))
    return engine


# A pooled connection idle for longer than this is pinged at checkout.
PING_IDLE = 1.0


def _mark_used(dbapi_connection, record):
    record.info['used_at'] = time.monotonic()


def _replace_if_closed(dialect):
    """A pool checkout listener: a connection the database closed (a
    restart, an idle timeout, a killed session) is replaced before its
    first statement fails.

    SQLAlchemy's pool_pre_ping asks with a round trip at every checkout:
    an isolated placement's claim paid two round trips instead of one
    (docs/benchmarks.md). A database that closes a connection says so on
    its socket (an error message, or the end of the stream), and an idle
    connection is otherwise silent: one poll() tells. A database that
    vanished without a word, and resets the connection at the next packet
    (a crashed host, a virtual IP moved to another node), shows nothing
    there: a connection idle for more than PING_IDLE seconds is pinged
    all the same, and only one used within the last second goes out on
    the poll alone. If its first statement then fails, SQLAlchemy
    replaces every connection of the pool: one error per event, where a
    ping at every checkout would have spared that one.
    """
    def checkout(dbapi_connection, record, proxy):
        idle = time.monotonic() - record.info.get('used_at', 0.0)
        if idle <= PING_IDLE and not _has_spoken(dbapi_connection):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # The pool discards it and checks out another (a new one).
            raise sa.exc.DisconnectionError(
                'the database closed a pooled connection: %s' % exc)
    return checkout


def _has_spoken(dbapi_connection):
    """Whether an idle connection's socket has something to read (the
    database closed it, or sent what nothing asked for); True when its
    driver does not say which socket it is."""
    try:
        fileno = _fileno(dbapi_connection)
    except Exception:   # closed, or not a driver we know
        return True
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def _fileno(dbapi_connection):
    if hasattr(dbapi_connection, 'fileno'):   # psycopg
        return dbapi_connection.fileno()
    return dbapi_connection._sock.fileno()    # PyMySQL


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
