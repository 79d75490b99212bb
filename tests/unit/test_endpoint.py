"""ReportsEndpoint logic with a sink that only records what it is given."""

import datetime
import logging

import oslo_messaging
import pytest

from agentsched import constants
from agentsched.reports import endpoint
from agentsched.reports import schema
from tests import report_factory


class RecordingSink:
    def __init__(self, known=()):
        self.reports = []
        self.known = set(known)

    def knows_configurations(self, report):
        return report.configurations_json in self.known

    def record(self, report, now):
        self.reports.append(report)
        return constants.AGENT_ALIVE


def _kwargs_at(seconds_off, **extra):
    kwargs = report_factory.report_kwargs('h1', **extra)
    agent_clock = (datetime.datetime.now(datetime.timezone.utc) +
                   datetime.timedelta(seconds=seconds_off))
    kwargs['time'] = agent_clock.strftime(constants.REPORT_TIME_FORMAT)
    return kwargs


def test_target_is_neutrons():
    target = endpoint.ReportsEndpoint.target
    assert target.version == '1.4'
    assert target.namespace is None


def test_clock_skew_on_start_is_logged(caplog):
    reports = endpoint.ReportsEndpoint(RecordingSink(), agent_down_time=75)
    with caplog.at_level(logging.WARNING):
        reports.report_state({}, **_kwargs_at(-200, start_flag=True))
    assert any('clock 200 s off' in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize('offset,start_flag', [(-200, False), (-30, True)])
def test_no_warning_without_start_flag_or_within_down_time(
        caplog, offset, start_flag):
    reports = endpoint.ReportsEndpoint(RecordingSink(), agent_down_time=75)
    with caplog.at_level(logging.WARNING):
        reports.report_state({}, **_kwargs_at(offset, start_flag=start_flag))
    assert not [r for r in caplog.records if 'clock' in r.getMessage()]


def test_rejection_is_counted_logged_once_and_expected(caplog):
    sink = RecordingSink()
    reports = endpoint.ReportsEndpoint(sink, agent_down_time=75)
    kwargs = report_factory.report_kwargs('h1', start_flag='yes')
    with caplog.at_level(logging.WARNING):
        with pytest.raises(oslo_messaging.ExpectedException) as info:
            reports.report_state({'request_id': 'req-1'}, **kwargs)
    assert isinstance(info.value.exc_info[1], schema.InvalidReport)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Rejected heartbeat from host 'h1' agent_type "
                     "'Loadbalancer agent': agent_state.start_flag must be "
                     "boolean"]
    assert reports.stats.as_dict() == {'accepted': 0, 'rejected': 1,
                                       'failed': 0}
    assert sink.reports == []


def test_sender_falls_back_to_the_context(caplog):
    reports = endpoint.ReportsEndpoint(RecordingSink(), agent_down_time=75)
    with caplog.at_level(logging.WARNING):
        with pytest.raises(oslo_messaging.ExpectedException):
            reports.report_state({'request_id': 'req-9'}, agent_state=None)
    assert "from request_id 'req-9'" in caplog.records[0].getMessage()


def test_good_report_reaches_the_sink():
    sink = RecordingSink()
    reports = endpoint.ReportsEndpoint(sink, agent_down_time=75)
    assert reports.report_state(
        {}, **report_factory.report_kwargs('h1')) == constants.AGENT_ALIVE
    assert sink.reports[0].state['host'] == 'h1'
    assert reports.stats.as_dict()['accepted'] == 1
    assert reports.has_alive_neutron_server({}) is True


def test_known_configurations_skip_the_device_check():
    """A document stored before was checked then; the check is the
    costliest part of a heartbeat, so it runs only on changed documents."""
    bad_devices = {'devices': [{'name': 'd', 'device_type': 'x',
                                'capacity': -1}]}
    kwargs = report_factory.report_kwargs('h1', configurations=bad_devices)
    with pytest.raises(oslo_messaging.ExpectedException):
        endpoint.ReportsEndpoint(RecordingSink(), 75).report_state({},
                                                                   **kwargs)
    known = schema.parse(kwargs).configurations_json
    sink = RecordingSink(known=[known])
    endpoint.ReportsEndpoint(sink, 75).report_state({}, **kwargs)
    assert len(sink.reports) == 1
