"""Manager agents and the devices scheduled to them (issue 15), without a
bus or a database: the least_devices assigner and its loading, the bounds
of remote_device_types, what a manager's heartbeat says and what its sync
drops."""

import pytest

from agentsched import algorithms
from agentsched import constants
from agentsched import server
from agentsched.agents import deployments
from agentsched.agents import devices as agent_devices
from agentsched.agents import service as agent_service
from agentsched.algorithms import device_assigners
from agentsched.reports import schema

LB = constants.SERVICE_LOADBALANCER


def manager(host, devices=0, agent_type=constants.AGENT_TYPE_LOADBALANCER,
            zone='cloud-a'):
    return algorithms.Manager(
        'id-' + host, host, agent_type,
        constants.SERVICE_BY_AGENT_TYPE.get(agent_type), zone, devices)


def device(zone=None, service_type=LB):
    return algorithms.DeviceToAssign('d1', 'lb-1', 'noop', service_type,
                                     zone)


# -- the least_devices assigner ---------------------------------------------

def test_least_devices_takes_the_fewest_devices_and_breaks_ties_by_host():
    assigner = device_assigners.LeastDevices()
    managers = [manager('m4', 3), manager('m3', 1), manager('m2', 1),
                manager('m1', 2)]
    chosen = assigner.select(managers, device(), 2)
    assert [m.host for m in chosen] == ['m2', 'm3']
    assert [m.host for m in assigner.select(managers, device(), 9)] == [
        'm2', 'm3', 'm1', 'm4']
    assert assigner.select(managers, device(), 0) == []
    assert assigner.select(managers, device(), -1) == []
    assert assigner.select([], device(), 2) == []


def test_managers_of_another_service_type_or_zone_are_not_chosen():
    assigner = device_assigners.LeastDevices()
    managers = [manager('vpn', agent_type=constants.AGENT_TYPE_VPN),
                manager('neutron', agent_type='DHCP agent'),
                manager('other-cloud', zone='cloud-b'),
                manager('here', 5)]
    # A device in a zone: only that zone's managers.
    assert [m.host for m in assigner.select(
        managers, device(zone='cloud-a'), 2)] == ['here']
    # Without a zone: any zone.
    assert [m.host for m in assigner.select(managers, device(), 2)] == [
        'other-cloud', 'here']
    assert [m.host for m in assigner.select(
        managers, device(service_type=constants.SERVICE_VPN), 2)] == ['vpn']


def test_a_manager_whose_heartbeats_are_full_takes_no_more_devices():
    assigner = device_assigners.LeastDevices()
    full = manager('full', constants.MAX_DEVICES_PER_MANAGER)
    room = manager('room', constants.MAX_DEVICES_PER_MANAGER - 1)
    assert assigner.select([full, room], device(), 2) == [room]


def test_the_assigner_loads_through_stevedore_by_its_name(parsed_conf):
    assert isinstance(algorithms.load_device_assigner(parsed_conf),
                      device_assigners.LeastDevices)


def test_an_unknown_assigner_fails_clearly_at_start(parsed_conf):
    parsed_conf.set_override('device_assigner', 'most_devices', 'scheduler')
    try:
        with pytest.raises(algorithms.UnknownPlugin) as info:
            algorithms.load_device_assigner(parsed_conf)
        message = str(info.value)
        assert "'most_devices'" in message
        assert '[scheduler] device_assigner' in message
        assert 'least_devices' in message   # what is installed
        # The server's checks before it forks name it too.
        with pytest.raises(algorithms.UnknownPlugin):
            server.preflight(parsed_conf)
    finally:
        parsed_conf.clear_override('device_assigner', 'scheduler')


def test_an_unknown_algorithm_fails_clearly_at_start(parsed_conf):
    # Before, the first placement of a VPN connection found out.
    parsed_conf.set_override('vpn_connection_algorithm', 'best_fit',
                             'scheduler')
    try:
        with pytest.raises(algorithms.UnknownPlugin,
                           match="'best_fit'.*vpn_connection_algorithm"):
            server.preflight(parsed_conf)
    finally:
        parsed_conf.clear_override('vpn_connection_algorithm', 'scheduler')


def test_agents_per_device_is_at_least_one(parsed_conf):
    with pytest.raises(ValueError):
        parsed_conf.set_override('agents_per_device', 0, 'scheduler')
    assert parsed_conf.scheduler.agents_per_device == 2


# -- remote_device_types: the agent's option, the report's bound -----------

def test_remote_device_types_are_checked_before_any_report(parsed_conf):
    assert agent_devices.remote_device_types(parsed_conf) == []
    assert agent_devices.remote_device_types(
        parsed_conf, ['noop', 'haproxy_ssh', 'noop']) == [
        'haproxy_ssh', 'noop']
    too_many = ['t%d' % i for i in range(
        constants.MAX_REMOTE_DEVICE_TYPES + 1)]
    for bad in (too_many, [''], ['x' * 256], ['tab\there']):
        with pytest.raises(agent_devices.InvalidDeviceConfig):
            agent_devices.remote_device_types(parsed_conf, bad)
    with pytest.raises(agent_devices.InvalidDeviceConfig):
        agent_service.AgentService(parsed_conf, 'h1', [],
                                   remote_device_types=too_many)


def _report(remote_device_types):
    kwargs = {'agent_state': {'agent_state': {
        'agent_type': 'Loadbalancer agent', 'binary': 'b', 'host': 'h1',
        'topic': 't', 'configurations': {
            'devices': [], 'remote_device_types': remote_device_types}}},
        'time': '2026-12-01T10:00:00.000000'}
    report = schema.parse(kwargs)
    schema.check_configurations(report)
    return report


def test_the_report_bounds_remote_device_types():
    _report(['noop', 'haproxy_ssh'])
    for bad in ('noop', ['noop', 'noop'], [''], ['x' * 256], [7],
                ['t%d' % i for i in range(
                    constants.MAX_REMOTE_DEVICE_TYPES + 1)],
                ['nul\x00']):
        with pytest.raises(schema.InvalidReport):
            _report(bad)


# -- a manager's heartbeat and sync ------------------------------------------

SECRET = 'never-in-a-heartbeat-Kestrel-4410'


def remote(name='lb-remote'):
    """A device as a manager's sync gives it."""
    return {'id': 'id-' + name, 'name': name, 'device_type': 'noop',
            'service_type': LB, 'capabilities': {}, 'capacity': 10,
            'physical_info': {'host': '192.0.2.50'},
            'credentials': {'password': SECRET},
            'admin_state_up': True, 'health': 'UNKNOWN'}


def test_a_manager_reports_its_types_and_its_remote_devices_health(
        parsed_conf):
    own = agent_devices.simulated('m1', count=1)
    agent = agent_service.AgentService(parsed_conf, 'm1', own,
                                       remote_device_types=['noop'])
    # What the sync said: a remote device, its own, one of another type.
    agent.managed_devices = [remote(), dict(remote(own[0]['name'])),
                             dict(remote('gw'), device_type='strongswan')]
    configurations = agent.agent_state()['configurations']
    assert configurations['remote_device_types'] == ['noop']
    by_name = {d['name']: d for d in configurations['devices']}
    assert sorted(by_name) == ['lb-remote', own[0]['name']]
    assert by_name['lb-remote'] == {
        'name': 'lb-remote', 'device_type': 'noop', 'service_type': LB,
        'health': constants.HEALTH_OK, 'load': 0}
    assert SECRET not in repr(configurations)
    # The driver was built from the sync's device, credentials included.
    driver = agent.deployments.driver(remote())
    assert driver.physical_info == {'host': '192.0.2.50'}
    assert driver.device['credentials'] == {'password': SECRET}
    # The report passes the server's check.
    schema.check_configurations(schema.parse({
        'agent_state': {'agent_state': agent.agent_state()},
        'time': '2026-12-01T10:00:00.000000'}))


def test_an_agent_without_remote_types_reports_as_before(parsed_conf):
    agent = agent_service.AgentService(
        parsed_conf, 'h1', agent_devices.simulated('h1', count=1))
    agent.managed_devices = [remote()]
    configurations = agent.agent_state()['configurations']
    assert 'remote_device_types' not in configurations
    assert [d['name'] for d in configurations['devices']] == ['h1-noop-0']


def _vip(resource_id, device_name, generation=1):
    return {'id': resource_id, 'resource_type': 'vip', 'generation':
            generation, 'spec': {'protocol_port': 80},
            'device': dict(remote(device_name), credentials=None)}


def test_a_device_no_longer_managed_is_dropped_without_touching_it(
        parsed_conf):
    reports = []
    deployed = deployments.Deployments(
        lambda *args: reports.append(args), conf=parsed_conf)
    deployed.deploy(_vip('mine', 'lb-remote'))
    driver = deployed.driver(remote())
    # Another manager's VIP on the same device (it was rebound there).
    driver.deploy(_vip('theirs', 'lb-remote'))
    reports.clear()
    # The device was reassigned: neither it nor a resource on it is ours.
    deployed.converge([], devices={'own-device'})
    assert driver.resources() == {'mine', 'theirs'}   # untouched
    assert 'mine' not in deployed.deployed
    assert reports == []                              # no status either
    assert deployed.driver(remote()) is not driver    # built anew on use


def test_a_device_still_managed_or_serving_ours_keeps_its_driver(
        parsed_conf):
    deployed = deployments.Deployments(lambda *args: None, conf=parsed_conf)
    deployed.deploy(_vip('mine', 'lb-remote'))
    driver = deployed.driver(remote())
    driver.deploy(_vip('orphan', 'lb-remote'))
    # Not linked any more, but a resource bound to us is on it (a rebind
    # on its way): kept, and nothing else on it is swept.
    deployed.converge([_vip('mine', 'lb-remote')], devices=set())
    assert deployed.driver(remote()) is driver
    assert driver.resources() == {'mine', 'orphan'}
    # Managed: as before, what nobody wants is swept.
    deployed.converge([_vip('mine', 'lb-remote')], devices={'lb-remote'})
    assert driver.resources() == {'mine'}


def test_a_heartbeat_leaves_out_the_remote_devices_it_cannot_carry(
        parsed_conf, caplog):
    agent = agent_service.AgentService(
        parsed_conf, 'm1', agent_devices.simulated('m1', count=2),
        remote_device_types=['noop'])
    # An admin pinned more long-named devices than a report may carry.
    agent.managed_devices = [remote('%s-%04d' % ('x' * 200, index))
                             for index in range(400)]
    state = agent.agent_state()
    reported = state['configurations']['devices']
    assert [d['name'] for d in reported[:2]] == ['m1-noop-0', 'm1-noop-1']
    assert 100 < len(reported) < 402
    assert 'left out of them' in caplog.text
    # The server takes it (a refused report would make the agent dead).
    report = schema.parse({'agent_state': {'agent_state': state},
                           'time': '2026-12-01T10:00:00.000000'})
    schema.check_configurations(report)
    caplog.clear()
    agent.agent_state()
    assert 'left out' not in caplog.text     # said once



# -- [device:<name>] sections: names the server takes --------------------

def _devices_of(tmp_path, section_names):
    from oslo_config import cfg

    from agentsched import conf as agentsched_conf
    config = tmp_path / 'agent.conf'
    config.write_text(''.join(
        '[device:%s]\ndevice_type = noop\nservice_type = LOADBALANCER\n'
        % name for name in section_names))
    conf = cfg.ConfigOpts()
    agentsched_conf.register_opts(conf)
    conf([], default_config_files=[str(config)])
    return agent_devices.from_config(conf)


@pytest.mark.parametrize('name', ['..', '.', 'a/b', 'x' * 256])
def test_a_device_name_the_server_would_refuse_stops_the_agent(
        tmp_path, name):
    # Else every heartbeat is refused (schema) and the agent looks dead.
    with pytest.raises(agent_devices.InvalidDeviceConfig) as info:
        _devices_of(tmp_path, ['lb-1', name])
    assert 'device name' in str(info.value)


def test_device_names_the_server_takes_are_listed(tmp_path):
    devices = _devices_of(tmp_path, ['lb-1', '..lb', 'lb 2'])
    assert sorted(device['name'] for device in devices) == [
        '..lb', 'lb 2', 'lb-1']
    # ... and the server takes them in a heartbeat.
    schema.check_configurations(schema.parse({
        'agent_state': {'agent_state': {
            'agent_type': 'Loadbalancer agent', 'binary': 'b', 'host': 'h1',
            'topic': 't', 'configurations': {'devices': devices}}},
        'time': '2026-12-01T10:00:00.000000'}))
