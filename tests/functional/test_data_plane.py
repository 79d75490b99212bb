"""Operating statuses and statistics from agents (issue 14), over SQLite,
PostgreSQL and MariaDB: what a batch may write, what it costs, how the
totals add up across reloads, restarts and moves, what the API shows, and
what a hostile batch gets."""

import re

import oslo_messaging
import pytest

from agentsched import constants
from agentsched.services import agent_sync
from agentsched.services import data_plane
from tests.functional import test_api_resources as resources_tests
from tests.functional import test_round_trips as round_trips

LB = 'Loadbalancer agent'
MEMBERS = [{'address': '10.0.0.5', 'protocol_port': 8080},
           {'address': '10.0.0.6', 'protocol_port': 8080}]


@pytest.fixture
def api(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    parsed_conf.set_override('agent_down_time', 30)
    parsed_conf.set_override('snapshot_max_age', 0, 'scheduler')
    engine = database.engine()
    built = round_trips.api_fixtures.services(parsed_conf, engine)
    client = round_trips.api_fixtures.client(parsed_conf, engine,
                                             built=built)
    yield client, engine, built
    parsed_conf.clear_override('auth_strategy')
    parsed_conf.clear_override('agent_down_time')
    parsed_conf.clear_override('snapshot_max_age', 'scheduler')


def _vip(client, port=80, members=MEMBERS):
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, protocol_port=port, members=members,
        requirements={'device_type': 'haproxy'})})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json['vip']['id']


def _generation(engine, resource_id):
    return resources_tests._binding(engine, resource_id).generation


def _status(resource_id, generation, status, members=None):
    item = {'id': resource_id, 'generation': generation,
            'operating_status': status}
    if members is not None:
        item['members'] = members
    return item


def _counters(resource_id, generation, **values):
    item = {'id': resource_id, 'generation': generation}
    item.update({field: values.get(field, 0)
                 for field in constants.STATS_FIELDS})
    return item


def _refused(call, what):
    """call() raises InvalidDataPlane matching what, as the RPC server
    sees it (an expected exception: the caller gets it, no traceback)."""
    with pytest.raises(oslo_messaging.ExpectedException) as raised:
        call()
    error = raised.value.exc_info[1]
    assert isinstance(error, data_plane.InvalidDataPlane)
    assert re.search(what, str(error)), str(error)


def _show(client, resource_id):
    return client.get('/v2.0/lb/vips/%s' % resource_id).json['vip']


def _stats(client, resource_id):
    response = client.get('/v2.0/lb/vips/%s/stats' % resource_id)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json['stats']


def test_statuses_show_on_the_vip_and_its_members(api):
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-1')
    vip_id = _vip(client)
    # Nothing reported yet: OFFLINE, as Octavia starts.
    shown = _show(client, vip_id)
    assert shown['operating_status'] == 'OFFLINE'
    assert [m['operating_status'] for m in shown['members']] == [
        'OFFLINE', 'OFFLINE']

    built.data_plane.record_operating_statuses(LB, 'lb-1', [
        _status(vip_id, _generation(engine, vip_id), 'DEGRADED',
                {'10.0.0.5:8080': 'ONLINE', '10.0.0.6:8080': 'ERROR'})])

    shown = _show(client, vip_id)
    assert shown['operating_status'] == 'DEGRADED'
    assert [(m['address'], m['operating_status'])
            for m in shown['members']] == [('10.0.0.5', 'ONLINE'),
                                           ('10.0.0.6', 'ERROR')]
    listed = client.get('/v2.0/lb/vips?fields=operating_status').json
    assert listed['vips'] == [{'operating_status': 'DEGRADED'}]


def test_only_the_bound_agent_at_its_generation_writes(api):
    client, engine, built = api
    first, _device = resources_tests._lb(client, engine, 'lb-1')
    second, _device = resources_tests._lb(client, engine, 'lb-2')
    vip_id = _vip(client)
    bound = resources_tests._binding(engine, vip_id)
    hosts = {first: 'lb-1', second: 'lb-2'}
    owner = hosts[bound.agent_id]
    other = ({'lb-1', 'lb-2'} - {owner}).pop()
    record = built.data_plane.record_operating_statuses

    record(LB, other, [_status(vip_id, bound.generation, 'ERROR')])
    record(LB, owner, [_status(vip_id, bound.generation - 1, 'ERROR')])
    record(LB, 'nobody', [_status(vip_id, bound.generation, 'ERROR')])
    assert _show(client, vip_id)['operating_status'] == 'OFFLINE'

    record(LB, owner, [_status(vip_id, bound.generation, 'ONLINE')])
    assert _show(client, vip_id)['operating_status'] == 'ONLINE'


def test_a_batch_is_one_statement_whatever_its_size(api):
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-1', capacity=100)
    ids = [_vip(client, port=8000 + n) for n in range(20)]
    counts = {}
    for size in (1, 20):
        batch = [_status(rid, _generation(engine, rid), 'ONLINE', {})
                 for rid in ids[:size]]
        with round_trips.statements(engine) as sent:
            built.data_plane.record_operating_statuses(LB, 'lb-1', batch)
        counts[size] = len(sent)
    # executemany: one statement sent (one per row under some drivers'
    # cursors, never a read per row).
    assert counts[1] == 1, counts
    assert counts[20] in (1, 20), counts
    assert all(_show(client, rid)['operating_status'] == 'ONLINE'
               for rid in ids)


def test_statistics_add_up_across_reloads_restarts_and_moves(api):
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-1')
    vip_id = _vip(client)
    generation = _generation(engine, vip_id)
    record = built.data_plane.record_statistics
    assert _stats(client, vip_id) == dict.fromkeys(constants.STATS_FIELDS, 0)

    record(LB, 'lb-1', [_counters(vip_id, generation, bytes_in=100,
                                  bytes_out=1000, total_connections=2,
                                  active_connections=1)])
    # The device's counters grew (the driver carries them over reloads).
    record(LB, 'lb-1', [_counters(vip_id, generation, bytes_in=150,
                                  bytes_out=1500, total_connections=3,
                                  request_errors=1, active_connections=2)])
    assert _stats(client, vip_id) == {
        'bytes_in': 150, 'bytes_out': 1500, 'total_connections': 3,
        'request_errors': 1, 'active_connections': 2}
    # The same report again (an agent restarted and read the same files).
    record(LB, 'lb-1', [_counters(vip_id, generation, bytes_in=150,
                                  bytes_out=1500, total_connections=3,
                                  request_errors=1)])
    assert _stats(client, vip_id)['bytes_in'] == 150
    # haproxy lost its counters (restarted without its carry): a new run.
    record(LB, 'lb-1', [_counters(vip_id, generation, bytes_in=10,
                                  total_connections=1)])
    stats = _stats(client, vip_id)
    assert (stats['bytes_in'], stats['total_connections'],
            stats['active_connections']) == (160, 4, 0)

    # Moved to another device: its counters start a new run too.
    agent_id, device_id = resources_tests._lb(client, engine, 'lb-2')
    built.resources.unbind(vip_id)
    built.resources.place_on_agent('vip', vip_id, agent_id)
    moved = resources_tests._binding(engine, vip_id)
    assert moved.device_id == device_id
    record(LB, 'lb-1', [_counters(vip_id, generation, bytes_in=999)])
    record(LB, 'lb-2', [_counters(vip_id, moved.generation, bytes_in=5)])
    assert _stats(client, vip_id)['bytes_in'] == 165


def _one_vip_and_endpoint(api):
    """(client, engine, a VIP's id, the RPC endpoint agents call)."""
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-1')
    vip_id = _vip(client)
    endpoint = agent_sync.AgentSyncEndpoint(engine, built.secrets,
                                            built.resources,
                                            data_plane=built.data_plane)
    return client, engine, vip_id, endpoint


@pytest.mark.parametrize('batch,what', [
    ('not a list', 'must be array'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'FINE'}],
     'must be one of'),
    ([{'id': 'x' * 65, 'generation': 1, 'operating_status': 'ONLINE'}],
     'must be shorter'),
    ([{'id': 'x', 'generation': -1, 'operating_status': 'ONLINE'}],
     'must be bigger'),
    ([{'id': 'x', 'generation': 2 ** 64, 'operating_status': 'ONLINE'}],
     'must be smaller'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'ONLINE',
       'members': {'a:1': 'UP'}}], 'must be one of'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'ONLINE',
       'members': {'m' * 300: 'ONLINE'}}], 'must be named'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'ONLINE',
       'members': {'10.0.0.%d:80' % n: 'ONLINE'
                   for n in range(constants.MAX_MEMBERS + 1)}}],
     'must contain less than or equal'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'ONLINE',
       'extra': 1}], 'must not contain'),
    ([{'id': 'x', 'generation': 1, 'operating_status': 'ONLINE'}] *
     (data_plane.MAX_BATCH + 1), 'must contain less than or equal'),
])
def test_hostile_status_batches_are_refused_and_counted(api, batch, what):
    client, engine, vip_id, endpoint = _one_vip_and_endpoint(api)
    with round_trips.statements(engine) as sent:
        _refused(lambda: endpoint.update_operating_status(
            {}, LB, 'lb-1', batch), what)
    assert sent == []
    assert endpoint.invalid == 1
    assert _show(client, vip_id)['operating_status'] == 'OFFLINE'


@pytest.mark.parametrize('change,what', [
    ({'bytes_in': -1}, 'must be bigger'),
    ({'bytes_in': 2 ** 63}, 'must be smaller'),
    ({'bytes_in': 1.5}, 'must be integer'),
    ({'bytes_in': '12'}, 'must be integer'),
    ({'request_errors': None}, 'must be integer'),
])
def test_hostile_statistics_are_refused_and_counted(api, change, what):
    client, engine, vip_id, endpoint = _one_vip_and_endpoint(api)
    item = dict(_counters(vip_id, _generation(engine, vip_id), bytes_in=7),
                **change)
    _refused(lambda: endpoint.update_statistics({}, LB, 'lb-1', [item]),
             what)
    assert endpoint.invalid == 1
    assert _stats(client, vip_id)['bytes_in'] == 0
    # A sane batch from the same agent is still taken.
    assert endpoint.update_statistics({}, LB, 'lb-1', [
        _counters(vip_id, _generation(engine, vip_id), bytes_in=7)]) == 1
    assert _stats(client, vip_id)['bytes_in'] == 7


def test_totals_stop_at_the_column_bound(api):
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-1')
    vip_id = _vip(client)
    generation = _generation(engine, vip_id)
    biggest = constants.MAX_DB_BIGINT
    built.data_plane.record_statistics(LB, 'lb-1', [
        _counters(vip_id, generation, bytes_in=biggest)])
    built.data_plane.record_statistics(LB, 'lb-1', [
        _counters(vip_id, generation, bytes_in=5)])
    assert _stats(client, vip_id)['bytes_in'] == biggest


def test_stats_of_another_projects_vip_is_a_404(api):
    client, engine, _built = api
    resources_tests._lb(client, engine, 'lb-1')
    vip_id = _vip(client)
    assert client.get('/v2.0/lb/vips/%s/stats' % vip_id).status_code == 200
    assert client.get('/v2.0/lb/vips/nope/stats').status_code == 404
    assert client.get('/v2.0/vpn/connections/%s/stats' % vip_id
                      ).status_code == 404
