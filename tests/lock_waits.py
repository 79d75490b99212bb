"""Waiting until a statement of another connection waits on a lock, on the
databases with row locks (PostgreSQL, MariaDB): races are then tested at
the point where they happen, not slept for."""

import time

import sqlalchemy as sa

# A statement waiting on a lock. MariaDB may not say so (its optimizer
# reads a row by primary key and waits there, "Statistics"): one running
# for over 200 ms, with nothing else on the database, is waiting.
_LOCK_WAITERS = {
    'postgresql': "SELECT count(*) FROM pg_stat_activity "
                  "WHERE wait_event_type = 'Lock'",
    'mysql': "SELECT count(*) FROM information_schema.processlist "
             "WHERE command = 'Query' AND time_ms > 200 "
             "AND info NOT LIKE '%processlist%'"}


def wait_for_a_lock_wait(engine, timeout=10):
    """Return once a statement on engine's database waits on a lock;
    AssertionError after timeout seconds."""
    deadline = time.monotonic() + timeout
    # Apart from engine's pool, which the waiting side may need whole.
    looker = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
    try:
        with looker.connect() as looking:
            while True:
                waiting = looking.execute(sa.text(
                    _LOCK_WAITERS[engine.dialect.name])).scalar()
                # PostgreSQL's statistics views keep, for a transaction,
                # what its first read of them saw: each look in one of
                # its own, or a wait that began after the first is missed.
                looking.rollback()
                if waiting:
                    return
                assert time.monotonic() < deadline, 'no lock wait'
                time.sleep(0.05)
    finally:
        looker.dispose()
