"""services.paging.read_ahead: a generator's items read in a thread of
their own, errors and an early close handed across."""

import threading

import pytest

from agentsched.services import paging


def _source(count, log, fail_at=None):
    """Items 0..count-1, recording the thread that ran it and its close."""
    log['thread'] = threading.current_thread()
    try:
        for item in range(count):
            if item == fail_at:
                raise ValueError('failed at %d' % item)
            log.setdefault('read', []).append(item)
            yield item
    finally:
        log['closed_in'] = threading.current_thread()


def test_items_in_order_read_in_another_thread():
    log = {}
    assert list(paging.read_ahead(_source(50, log))) == list(range(50))
    assert log['thread'] is not threading.current_thread()
    assert log['closed_in'] is log['thread']


def test_an_error_reaches_the_caller_after_the_items_before_it():
    log = {}
    items = paging.read_ahead(_source(10, log, fail_at=4))
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match='failed at 4'):
        next(items)
    assert 'closed_in' in log


def test_an_early_close_stops_the_reader_and_closes_the_source():
    """The reader is blocked on a full queue when the caller stops; close
    returns once the source is closed, in the reader's thread, and reads
    no more than the queue held."""
    log = {}
    items = paging.read_ahead(_source(1000, log), depth=2)
    assert next(items) == 0
    items.close()
    assert log['closed_in'] is log['thread']
    assert log['closed_in'] is not threading.current_thread()
    assert len(log['read']) <= 5
    assert not [thread for thread in threading.enumerate()
                if thread.name == 'read-ahead']


class _FailingClose:
    """A source whose close raises, as a rollback on a broken connection
    does."""

    def __init__(self, count):
        self._items = iter(range(count))

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._items)

    def close(self):
        raise ConnectionError('rollback failed')


def test_a_failing_close_of_the_source_reaches_the_caller():
    """Whether the caller stops early or reads to the end, a close that
    raises is said, never waited for forever."""
    items = paging.read_ahead(_FailingClose(1000), depth=2)
    assert next(items) == 0
    closing = threading.Thread(target=items.close, daemon=True)
    closing.start()
    closing.join(10)
    assert not closing.is_alive()
    with pytest.raises(ConnectionError, match='rollback failed'):
        list(paging.read_ahead(_FailingClose(3)))
