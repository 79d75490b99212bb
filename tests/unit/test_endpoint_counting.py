"""Every exception out of report_state is counted, logged once (issue 11)."""

import logging

import oslo_messaging
import pytest

from agentsched import constants
from agentsched.reports import endpoint
from agentsched.reports import schema
from tests import report_factory


class Sink:
    """A sink that fails as told, and has written failed_writes rows."""

    def __init__(self, fail=None, failed_writes=0):
        self.fail = fail
        self.failed_writes = failed_writes

    def knows_configurations(self, report):
        return False

    def record(self, report, now):
        if self.fail:
            raise self.fail
        return constants.AGENT_ALIVE


def _errors(caplog):
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_bad_input_from_the_sink_is_rejected_not_failed(caplog):
    reports = endpoint.ReportsEndpoint(
        Sink(schema.InvalidReport('agent_state.configurations.load must be '
                                  'between')), agent_down_time=75)
    with caplog.at_level(logging.WARNING):
        with pytest.raises(oslo_messaging.ExpectedException):
            reports.report_state({}, **report_factory.report_kwargs('h1'))
    assert reports.stats.as_dict() == {'accepted': 0, 'rejected': 1,
                                       'failed': 0}
    # Refused by the sink: an agent's identity (metrics' reason).
    assert reports.stats.rejections() == {'identity': 1}
    [line] = _errors(caplog)
    assert line.levelno == logging.WARNING and not line.exc_info


def test_a_time_out_of_range_in_utc_is_rejected(caplog):
    reports = endpoint.ReportsEndpoint(Sink(), agent_down_time=75)
    kwargs = report_factory.report_kwargs('h1', start_flag=True)
    kwargs['time'] = '0001-01-01T00:00:00+14:00'
    with caplog.at_level(logging.WARNING):
        with pytest.raises(oslo_messaging.ExpectedException):
            reports.report_state({}, **kwargs)
    assert reports.stats.as_dict()['rejected'] == 1
    assert reports.stats.rejections() == {'schema': 1}
    assert len(_errors(caplog)) == 1


@pytest.mark.parametrize('where', ['parse', 'knows_configurations',
                                   'record'])
def test_any_other_exception_is_failed_and_logged_once(
        caplog, monkeypatch, where):
    sink = Sink()
    reports = endpoint.ReportsEndpoint(sink, agent_down_time=75)

    def boom(*args):
        raise OverflowError('our bug')

    if where == 'parse':
        monkeypatch.setattr(schema, 'parse', boom)
    else:
        monkeypatch.setattr(sink, where, boom)
    with caplog.at_level(logging.WARNING):
        with pytest.raises(OverflowError):
            reports.report_state({}, **report_factory.report_kwargs('h1'))
    assert reports.stats.as_dict() == {'accepted': 0, 'rejected': 0,
                                       'failed': 1}
    [line] = _errors(caplog)
    assert line.levelno == logging.ERROR and line.exc_info
    assert line.getMessage() == (
        "Could not record heartbeat from host 'h1' agent_type "
        "'Loadbalancer agent'")


def test_rows_the_sink_could_not_store_count_as_failed():
    reports = endpoint.ReportsEndpoint(Sink(failed_writes=2), 75)
    reports.report_state({}, **report_factory.report_kwargs('h1'))
    assert reports.stats.as_dict() == {'accepted': 1, 'rejected': 0,
                                       'failed': 2}
