"""Report workers' heartbeat figures through shared memory
(server_metrics.ReportWorkerFigures), with real forked processes as the
master's workers are."""

import multiprocessing
import time

from agentsched import server_metrics

FORK = multiprocessing.get_context('fork')


def _figures(**values):
    figures = dict.fromkeys(server_metrics.COUNTERS, 0)
    figures.update(pending=0, last_flush=time.monotonic())
    figures.update(values)
    return figures


class Worker:
    """A forked process that publishes figures, then lives until ended."""

    def __init__(self, block, figures):
        self._published = FORK.Event()
        self._end = FORK.Event()
        self.process = FORK.Process(target=self._run, args=(block, figures))
        self.process.start()
        assert self._published.wait(10)

    def _run(self, block, figures):
        block.publish(figures)
        self._published.set()
        self._end.wait(10)

    def end(self):
        self._end.set()
        self.process.join(10)
        assert self.process.exitcode == 0


def test_the_workers_figures_are_summed_and_the_oldest_flush_shown():
    block = server_metrics.ReportWorkerFigures(2)
    assert block.totals()['accepted'] == 0
    assert block.totals()['last_flush'] is None
    old = time.monotonic() - 30
    first = Worker(block, _figures(accepted=5, rejected=1,
                                   rejected_schema=1, pending=3,
                                   last_flush=old))
    second = Worker(block, _figures(accepted=7, failed=2, flush_failures=1,
                                    pending=4))
    try:
        totals = block.totals()
        assert totals['accepted'] == 12
        assert totals['rejected'] == totals['rejected_schema'] == 1
        assert totals['failed'] == 2
        assert totals['flush_failures'] == 1
        assert totals['pending'] == 7
        assert totals['last_flush'] == old
        # Every slot is taken by a live worker: a third publishes nothing
        # (the master never runs more than it was told to).
        third = Worker(block, _figures(accepted=100))
        third.end()
        assert block.totals()['accepted'] == 12
    finally:
        first.end()
        second.end()


def test_a_restarted_worker_carries_its_predecessors_counters_on():
    block = server_metrics.ReportWorkerFigures(2)
    first = Worker(block, _figures(accepted=5, rejected_identity=2,
                                   pending=3, last_flush=0.0))
    second = Worker(block, _figures(accepted=7, pending=4))
    try:
        first.end()
        # Dead: its counters stay in the sums, its pending and its last
        # flush are gone with it.
        totals = block.totals()
        assert totals['accepted'] == 12
        assert totals['pending'] == 4
        assert totals['last_flush'] > 0.0
        # Its successor starts from zero and adds to what it had counted:
        # the sums never go back (no counter reset for rate() to misread).
        successor = Worker(block, _figures(accepted=1, pending=1))
        totals = block.totals()
        assert totals['accepted'] == 13
        assert totals['rejected_identity'] == 2
        assert totals['pending'] == 5
        successor.end()
    finally:
        second.end()
