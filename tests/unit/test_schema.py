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
    devices = json.loads(report.configurations_json)['devices']
    assert devices[0]['name'] == 'lb1'
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


@pytest.mark.parametrize('name', ['..', '.', '../../etc', 'a/b', 'lb\n1',
                                  'lb\x1b[2J', 'lb\x9b'])
def test_device_names_the_api_refuses_are_refused_on_the_bus(name):
    # A device's name names its directory on an agent's host: a report may
    # not store one that POST /v2.0/devices would refuse.
    reason = _reason(_kwargs(configurations={'devices': [
        _device(name=name)]}))
    assert 'devices[0].name must match pattern' in reason


@pytest.mark.parametrize('name', ['..lb', 'lb.1', 'lb 1', 'équilibreur'])
def test_device_names_with_dots_and_any_letters_pass(name):
    _full_check(_kwargs(configurations={'devices': [_device(name=name)]}))


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


# -- bounded to what the database can store (issue 11) ----------------------

_TEXT_FIELDS = ['agent_type', 'binary', 'host', 'topic', 'availability_zone',
                'uuid']


@pytest.mark.parametrize('field', _TEXT_FIELDS)
def test_identity_strings_with_nul_are_refused(field):
    # PostgreSQL refuses NUL in text: the flush of every agent would fail.
    assert _reason(_kwargs(**{field: 'a\x00b'})) == (
        'agent_state.%s must not contain a NUL character' % field)


@pytest.mark.parametrize('field', _TEXT_FIELDS)
def test_identity_strings_with_a_lone_surrogate_are_refused(field):
    # JSON carries "\ud800"; it is not UTF-8, so no driver can send it.
    assert _reason(_kwargs(**{field: 'x\ud800'})) == (
        'agent_state.%s must not contain a lone surrogate' % field)


def test_identity_strings_may_be_any_valid_unicode():
    report = schema.parse(_kwargs(host='hôte-\U0001f600', binary='bin-é',
                                  availability_zone=None, uuid=''))
    assert report.state['host'] == 'hôte-\U0001f600'


@pytest.mark.parametrize('value', ['0001-01-01T00:00:00+14:00',
                                   '9999-12-31T23:59:59-14:00'])
def test_time_out_of_range_in_utc_is_refused(value):
    kwargs = _kwargs()
    kwargs['time'] = value
    assert _reason(kwargs) == 'time: %r is out of range in UTC' % value


@pytest.mark.parametrize('field,value,words', [
    ('capacity', 2 ** 31, 'capacity must be smaller than or equal to '
                          '2147483647'),
    ('capacity', 2 ** 63 - 1, 'capacity must be smaller than or equal to'),
    ('capacity', 1e300, 'capacity must be smaller than or equal to'),
    ('load', 2 ** 31, 'load must be smaller than or equal to 2147483647'),
    ('load', 1e308, 'load must be smaller than or equal to'),
    ('load', float('inf'), 'load must be smaller than or equal to'),
    ('load', float('-inf'), 'load must be bigger than or equal to 0'),
    ('load', float('nan'), 'load must be a finite number'),
])
def test_device_numbers_fit_their_integer_columns(field, value, words):
    reason = _reason(_kwargs(configurations={'devices': [
        _device(), _device(**{field: value})]}))
    assert reason.startswith('agent_state.configurations.devices[1].' + field)
    assert words in reason


def test_device_numbers_at_the_bounds_are_accepted():
    _full_check(_kwargs(configurations={'devices': [
        _device(capacity=constants.MAX_DB_INTEGER,
                load=constants.MAX_DB_INTEGER),
        _device(name='lb2', capacity=0, load=0.5)]}))


@pytest.mark.parametrize('configurations,reason', [
    ({'devices': [_device(name='lb\x00')]},
     'agent_state.configurations.devices[0].name must match pattern'),
    ({'devices': [_device(address='10.0.0.1\x00')]},
     'agent_state.configurations.devices[0].address must not contain a NUL'),
    ({'devices': [_device(capabilities={'ssl\x00': True})]},
     'agent_state.configurations.devices[0].capabilities must not have a '
     'key with a NUL character'),
    ({'bridges': ['br-int', 'br\x00']},
     'agent_state.configurations.bridges[1] must not contain a NUL'),
    ({'k\x00': 1}, 'agent_state.configurations must not have a key with a '
                   'NUL character'),
    ({'ratio': float('nan')},
     'agent_state.configurations.ratio must be a finite number'),
    ({'nested': {'x': [1, float('-inf')]}},
     'agent_state.configurations.nested.x[1] must be a finite number'),
])
def test_every_string_and_number_in_configurations_is_storable(
        configurations, reason):
    assert _reason(_kwargs(configurations=configurations)).startswith(reason)


@pytest.mark.parametrize('configurations', [
    {'devices': [_device(name='lb\ud800')]},
    {'\udfff': 1},
])
def test_lone_surrogates_in_configurations_are_refused_on_every_report(
        configurations):
    # Serializing refuses them, before the full check.
    with pytest.raises(schema.InvalidReport) as info:
        schema.parse(_kwargs(configurations=configurations))
    assert 'surrogates not allowed' in str(info.value)


def test_nulls_and_escapes_that_are_storable_pass():
    # null, and a backslash before u0000, look like what the full check
    # searches the text for; they are fine.
    _full_check(_kwargs(configurations={'a': None, 'b': '\\u0000'}))


@pytest.mark.parametrize('configurations,keys,load', [
    ({'load': constants.MAX_DB_INTEGER}, ['load'], constants.MAX_DB_INTEGER),
    ({'load': -constants.MAX_DB_INTEGER - 1}, ['load'],
     -constants.MAX_DB_INTEGER - 1),
    ({'load': True, 'instances': 4}, ['load', 'instances'], 4),
    ({'load': 2.5, 'instances': 4}, ['load', 'instances'], 4),
    ({}, ['load'], 0),
])
def test_agent_load_is_the_first_integer(configurations, keys, load):
    assert schema.agent_load(configurations, keys) == load


@pytest.mark.parametrize('value', [2 ** 31, -2 ** 31 - 1, 2 ** 63])
def test_agent_load_out_of_the_column_range_is_refused(value):
    with pytest.raises(schema.InvalidReport) as info:
        schema.agent_load({'instances': value, 'load': 1},
                          ['instances', 'load'])
    assert str(info.value) == (
        'agent_state.configurations.instances must be between -2147483648 '
        'and 2147483647 to be stored as the load')
