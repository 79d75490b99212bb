"""Leader election of the health monitor through real tooz backends.

Two Leadership objects stand for two servers: exactly one leads; when the
leader stops (or its lease runs out) the other takes over.
"""

import time
import uuid

import pytest

from agentsched.health import leader


def _backends(tmp_path):
    tag = uuid.uuid4().hex[:8]
    return {
        'file': 'file://%s' % (tmp_path / 'coordination'),
        'redis': 'redis://127.0.0.1:6379?timeout=2&namespace=as-%s' % tag,
        'postgresql': 'postgresql://postgres@127.0.0.1:5432/test',
        'mysql': 'mysql://root@127.0.0.1:3306/test',
    }


@pytest.fixture(params=['file', 'redis', 'postgresql', 'mysql'])
def backend(request, tmp_path):
    return _backends(tmp_path)[request.param]


def test_one_leads_and_the_other_takes_over(backend):
    first = leader.Leadership(backend, 'server-1-%s' % uuid.uuid4().hex)
    second = leader.Leadership(backend, 'server-2-%s' % uuid.uuid4().hex)
    try:
        assert first.check() is True
        assert second.check() is False
        assert first.check() is True      # keeps the lead, heartbeating
        assert second.check() is False
        first.stop()
        deadline = time.monotonic() + 10
        while not second.check():
            assert time.monotonic() < deadline, 'no new leader'
            time.sleep(0.2)
        assert first.check() is False     # the lock is taken now
    finally:
        first.stop()
        second.stop()


def test_redis_lease_runs_out_when_the_leader_goes_silent(tmp_path):
    """A leader that stops heartbeating (a killed process) loses the lock
    after the lease, and the other server leads."""
    url = _backends(tmp_path)['redis']
    silent = leader.Leadership(url, 'silent-%s' % uuid.uuid4().hex)
    other = leader.Leadership(url, 'other-%s' % uuid.uuid4().hex)
    try:
        assert silent.check() is True
        started = time.monotonic()
        while not other.check():
            assert time.monotonic() - started < 10, 'lease never ran out'
            time.sleep(0.2)
        assert 1.5 <= time.monotonic() - started <= 4
        assert silent.check() is False     # it notices and steps down
    finally:
        silent.stop()
        other.stop()


def test_no_backend_means_this_server_leads(parsed_conf):
    assert isinstance(leader.from_conf(parsed_conf), leader.AlwaysLeader)
    assert leader.AlwaysLeader().check() is True
