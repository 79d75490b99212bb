"""The storm guards' rules, on a clock the test moves."""

import logging

from agentsched.health import guards


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _guards(clock, **overrides):
    values = dict(agent_down_time=10, report_interval=2, max_dead_ratio=0.5,
                  min_dead=2, move_rate=2.0, move_burst=3)
    values.update(overrides)
    return guards.Guards(clock=clock, **values)


def test_token_bucket_bursts_then_paces():
    clock = Clock()
    bucket = guards.TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.deferred == 1
    clock.now += 0.5          # one token back
    assert bucket.take() and not bucket.take()
    clock.now += 100          # never more than the burst saved up
    assert bucket.tokens == 3


def test_startup_grace_lasts_down_time_plus_report_interval():
    clock = Clock()
    guard = _guards(clock)
    assert guard.hold_reason() is None
    guard.start_grace()
    assert guard.hold_reason() == 'start-up grace'
    clock.now += 11.9
    assert guard.hold_reason() == 'start-up grace'
    clock.now += 0.2
    assert guard.hold_reason() is None


def test_outage_holds_until_down_time_after_recovery():
    clock = Clock()
    guard = _guards(clock)
    guard.outage('database unreachable')
    clock.now += 60
    assert guard.hold_reason() == 'outage: database unreachable'
    guard.healthy()
    assert guard.state()['outage']['recovering'] is True
    clock.now += 9.9
    assert guard.hold_reason() is not None
    guard.healthy()           # still recovering: the clock does not restart
    clock.now += 0.2
    assert guard.hold_reason() is None
    assert guard.state()['outage']['active'] is False
    # A new outage during recovery starts over.
    guard.outage('again')
    guard.healthy()
    clock.now += 5
    guard.outage('and again')
    clock.now += 20
    assert guard.hold_reason() == 'outage: and again'


def test_after_a_bus_outage_agents_get_the_reconnect_time_more():
    # Each agent retries the broker on its own back-off: one may be
    # reconnect_time later than the first heard after the outage.
    clock = Clock()
    guard = _guards(clock, reconnect_time=30)
    guard.outage('no heartbeat for 5 s', bus=True)
    clock.now += 60
    guard.healthy()
    clock.now += 39.9
    assert guard.hold_reason() == 'outage: no heartbeat for 5 s'
    assert guard.state()['outage']['seconds_left'] == 0.1
    clock.now += 0.2
    assert guard.hold_reason() is None
    # A database outage leaves the agents' connections alone.
    guard.outage('database unreachable')
    guard.healthy()
    clock.now += 10.1
    assert guard.hold_reason() is None
    # An outage that was both waits for the longer.
    guard.outage('database unreachable')
    guard.outage('no heartbeat for 5 s', bus=True)
    guard.outage('database unreachable')
    guard.healthy()
    clock.now += 10.1
    assert guard.hold_reason() is not None


def test_mass_failure_needs_more_than_min_dead_and_the_ratio(caplog):
    clock = Clock()
    guard = _guards(clock)
    key = ('Loadbalancer agent', 'az1')
    with caplog.at_level(logging.ERROR):
        assert guard.judge_groups({key: (2, 2)}) == set()    # only 2 dead
        assert guard.judge_groups({key: (3, 6)}) == set()    # 0.5, not more
        assert guard.judge_groups({key: (3, 5)}) == {key}
        assert guard.judge_groups({key: (4, 5)}) == {key}
    alarms = [r for r in caplog.records if 'ALARM' in r.getMessage()]
    assert len(alarms) == 1   # raised once per trip, not per check
    assert guard.state()['mass_failure']['tripped'] == [{
        'agent_type': 'Loadbalancer agent', 'availability_zone': 'az1',
        'dead': 4, 'total': 5}]
    assert guard.judge_groups({key: (1, 5)}) == set()
    assert guard.state()['mass_failure']['active'] is False
