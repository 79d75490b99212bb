"""What every service's list needs: the marker row a page starts after, and
a long list's batches read ahead of the response."""

import queue
import threading

from agentsched import exceptions


def marker_row(connection, get, marker_id, what):
    """The row a page starts after, or None; Invalid if marker_id names
    nothing (what: 'an agent', 'a device', ...)."""
    if marker_id is None:
        return None
    row = get(connection, marker_id)
    if row is None:
        raise exceptions.Invalid('marker %s is not %s id' % (marker_id, what))
    return row


class _End:
    """What the reader puts last: batches' end, or the error it raised."""

    def __init__(self, error=None):
        self.error = error


def read_ahead(batches, depth=2):
    """A generator of batches' items, batches (a generator) run in a thread
    of its own up to depth items ahead: the database sends the next rows
    while the caller serializes these, instead of each waiting for the
    other (a 100,000-agent list: docs/benchmarks.md). batches' errors are
    raised to the caller; closing this generator stops the reader, which
    closes batches in its thread (where its connection lives) before the
    close returns."""
    ready = queue.Queue(depth)
    stopping = threading.Event()

    def read():
        end = _End()
        try:
            for item in batches:
                if stopping.is_set():
                    break
                ready.put(item)
        except BaseException as error:  # the caller's to handle
            end = _End(error)
        finally:
            try:
                batches.close()
            except BaseException as error:
                # A rollback on a broken connection: said to the caller,
                # who would otherwise wait for the end forever.
                end = end if end.error is not None else _End(error)
            finally:
                ready.put(end)

    reader = threading.Thread(target=read, name='read-ahead', daemon=True)
    reader.start()
    item = None
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        if not isinstance(item, _End):
            # Stopped early: free the reader if it waits on a full queue,
            # and wait for its end (batches closed).
            stopping.set()
            while not isinstance(item, _End):
                item = ready.get()
