import json

import pytest

from agentsched import constants
from agentsched.reports import schema


def _kwargs(**state):
    agent_state = {'agent_type': 'Loadbalancer agent', 'binary': 'b',
                   'host': 'host-1', 'topic': 't'}
    agent_state.update(state)
    return {'agent_state': {'agent_state': agent_state},
            'time': '2026-11-22T10:00:00.123456'}


def _device(**fields):
    device = {'name': 'lb1', 'device_type': 'haproxy',
              'service_type': 'LOADBALANCER', 'capabilities': {'ssl': True},
              'capacity': 10, 'address': '10.0.0.1', 'health': 'OK',
              'load': 2}
    device.update(fields)
    return device


def _full_check(kwargs):
    """What the endpoint does with a report whose configurations are new."""
    report = schema.parse(kwargs)
    schema.check_configurations(report)
    return report


def _reason(kwargs):
    with pytest.raises(schema.InvalidReport) as info:
        _full_check(kwargs)
    return str(info.value)


def test_good_report_parses_with_sorted_documents():
    report = schema.parse(_kwargs(configurations={'b': 1, 'a': 2,
                                                  'devices': [_device()]},
                                  start_flag=True))
    assert report.state['host'] == 'host-1'
    assert report.agent_time.microsecond == 123456
    assert report.configurations_json.startswith('{"a":2,"b":1')
    assert json.loads(report.configurations_json)['devices'][0]['name'] == 'lb1'
    assert report.resource_versions_json is None


def test_unknown_keys_are_accepted_like_neutron():
    report = schema.parse(_kwargs(some_future_key={'x': 1}))
    assert report.state['some_future_key'] == {'x': 1}


@pytest.mark.parametrize('missing', ['agent_type', 'binary', 'host', 'topic'])
def test_required_keys(missing):
    kwargs = _kwargs()
    del kwargs['agent_state']['agent_state'][missing]
    assert missing in _reason(kwargs)


@pytest.mark.parametrize('field,value,words', [
    ('host', 'h' * 256, 'host must be shorter'),
    ('host', '', 'host must be longer'),
    ('host', 42, 'host must be string'),
    ('start_flag', 'yes', 'start_flag must be boolean'),
    ('configurations', [], 'configurations must be object'),
    ('availability_zone', 'z' * 300, 'availability_zone must be shorter'),
])
def test_types_and_lengths(field, value, words):
    assert words in _reason(_kwargs(**{field: value}))


def test_wrapper_shape():
    assert "agent_state must be {'agent_state'" in _reason(
        {'agent_state': 'nope', 'time': 'x'})
    assert "agent_state must be" in _reason({'time': 'x'})


def test_time_is_checked():
    kwargs = _kwargs()
    kwargs['time'] = 'yesterday'
    assert _reason(kwargs).startswith('time:')
    del kwargs['time']
    assert 'time: missing' in _reason(kwargs)


def test_time_accepts_iso_with_zone():
    kwargs = _kwargs()
    kwargs['time'] = '2026-11-22T10:00:00+01:00'
    assert schema.parse(kwargs).agent_time.hour == 9


def test_device_fields_are_checked():
    reason = _reason(_kwargs(configurations={'devices': [
        _device(), _device(capacity=-1)]}))
    assert 'agent_state.configurations.devices[1].capacity' in reason
    assert 'health' in _reason(_kwargs(configurations={'devices': [
        _device(health='FINE')]}))
    assert 'name' in _reason(_kwargs(configurations={'devices': [
        {'device_type': 'noop'}]}))


def test_device_count_is_bounded():
    # Small devices, so the count and not the size bound is what trips.
    devices = [{'name': 'd%d' % i, 'device_type': 'noop'}
               for i in range(constants.MAX_DEVICES_PER_REPORT + 1)]
    assert 'devices must contain less than or equal to 1000' in _reason(
        _kwargs(configurations={'devices': devices}))
    _full_check(_kwargs(configurations={'devices': devices[:-1]}))


def test_configurations_size_is_bounded():
    big = {'blob': 'x' * constants.MAX_CONFIGURATIONS_BYTES}
    assert 'bytes serialized, more than the limit' in _reason(
        _kwargs(configurations=big))
    fits = {'blob': 'x' * (constants.MAX_CONFIGURATIONS_BYTES - 20)}
    schema.parse(_kwargs(configurations=fits))


def test_reason_is_short_for_huge_values():
    assert len(_reason(_kwargs(host='h' * 100000))) < 400
