"""The agent's data-plane reporter: only changes, one call per batch,
repeated after a failure, everything again after forget()."""

import pytest

from agentsched.agents import data_plane


class Deployments:
    def __init__(self):
        self.statuses = {}
        self.counters = {}

    def operating_status(self):
        return dict(self.statuses)

    def statistics(self):
        return dict(self.counters)


class Server:
    def __init__(self):
        self.calls = []
        self.fail = False

    def update_operating_status(self, agent_type, host, statuses):
        if self.fail:
            raise OSError('bus down')
        self.calls.append(('statuses', host, statuses))

    def update_statistics(self, agent_type, host, statistics):
        self.calls.append(('statistics', host, statistics))


@pytest.fixture
def parts():
    deployments, server = Deployments(), Server()
    reporter = data_plane.DataPlaneReporter(deployments, server, 'LB', 'h1',
                                            1, 1)
    return deployments, server, reporter


def test_only_changes_are_sent_in_one_call(parts):
    deployments, server, reporter = parts
    deployments.statuses = {
        'a': (1, {'operating_status': 'ONLINE', 'members': {'m:1': 'ONLINE'}}),
        'b': (2, {'operating_status': 'ONLINE'})}
    assert reporter.report_statuses() == 2
    assert reporter.report_statuses() == 0
    deployments.statuses['a'] = (1, {'operating_status': 'DEGRADED',
                                     'members': {'m:1': 'ERROR'}})
    assert reporter.report_statuses() == 1
    assert [call[2] for call in server.calls] == [
        [{'id': 'a', 'generation': 1, 'operating_status': 'ONLINE',
          'members': {'m:1': 'ONLINE'}},
         {'id': 'b', 'generation': 2, 'operating_status': 'ONLINE'}],
        [{'id': 'a', 'generation': 1, 'operating_status': 'DEGRADED',
          'members': {'m:1': 'ERROR'}}]]


def test_a_failed_call_is_sent_again_and_forget_sends_all(parts):
    deployments, server, reporter = parts
    deployments.statuses = {'a': (1, {'operating_status': 'ONLINE'})}
    server.fail = True
    with pytest.raises(OSError):
        reporter.report_statuses()
    server.fail = False
    assert reporter.report_statuses() == 1
    assert reporter.report_statuses() == 0
    reporter.forget()
    assert reporter.report_statuses() == 1
    # A new generation (a redeploy after a move back) is a change.
    deployments.statuses = {'a': (2, {'operating_status': 'ONLINE'})}
    assert reporter.report_statuses() == 1


def test_gone_and_back_is_reported_again(parts):
    deployments, _server, reporter = parts
    deployments.statuses = {'a': (1, {'operating_status': 'ONLINE'})}
    assert reporter.report_statuses() == 1
    deployments.statuses = {}
    assert reporter.report_statuses() == 0
    deployments.statuses = {'a': (1, {'operating_status': 'ONLINE'})}
    assert reporter.report_statuses() == 1


def test_statistics_go_in_batches_with_every_field(parts, monkeypatch):
    deployments, server, reporter = parts
    monkeypatch.setattr(data_plane, 'MAX_BATCH', 2)
    deployments.counters = {rid: (1, {'bytes_in': 5}) for rid in 'abc'}
    assert reporter.report_statistics() == 3
    batches = [call[2] for call in server.calls]
    assert [len(batch) for batch in batches] == [2, 1]
    assert batches[0][0] == {'id': 'a', 'generation': 1, 'bytes_in': 5,
                             'bytes_out': 0, 'total_connections': 0,
                             'request_errors': 0, 'active_connections': 0}


def test_run_reports_until_stopped_and_survives_failures(parts):
    deployments, server, reporter = parts
    deployments.statuses = {'a': (1, {'operating_status': 'ONLINE'})}

    class Stop:
        """Stops after three intervals."""
        waits = 0

        def wait(self, _seconds):
            self.waits += 1
            server.fail = self.waits == 1
            return self.waits > 3

    reporter._stats_interval = 0
    reporter.run(Stop())
    assert [call[0] for call in server.calls] == ['statuses']
