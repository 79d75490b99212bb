import datetime

from agentsched.health import liveness

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0)


def test_alive_up_to_and_including_agent_down_time():
    assert liveness.is_alive(NOW - datetime.timedelta(seconds=75), 75, NOW)
    assert not liveness.is_alive(
        NOW - datetime.timedelta(seconds=75, microseconds=1), 75, NOW)


def test_future_heartbeat_is_alive_and_none_is_dead():
    assert liveness.is_alive(NOW + datetime.timedelta(seconds=5), 75, NOW)
    assert not liveness.is_alive(None, 75, NOW)


def test_alive_since_agrees_with_is_alive():
    cutoff = liveness.alive_since(75, NOW)
    assert liveness.is_alive(cutoff, 75, NOW)
    assert not liveness.is_alive(
        cutoff - datetime.timedelta(microseconds=1), 75, NOW)


def test_utcnow_is_naive_utc():
    now = liveness.utcnow()
    assert now.tzinfo is None
    aware = datetime.datetime.now(datetime.timezone.utc)
    assert abs((aware.replace(tzinfo=None) - now).total_seconds()) < 5

