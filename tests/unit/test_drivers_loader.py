"""Loading drivers by device_type, and Deployments routing to them."""

import threading

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import base
from agentsched.agents.drivers import haproxy
from agentsched.agents.drivers import noop
from agentsched.agents.drivers import strongswan


def device(name='dev-1', device_type='noop', **physical_info):
    return {'id': 'id-' + name, 'name': name, 'device_type': device_type,
            'physical_info': physical_info, 'credentials': None}


def resource(resource_id='r1', generation=1, on=None, **spec):
    return {'id': resource_id, 'resource_type': 'vip', 'name': 'n',
            'project_id': 'p', 'generation': generation,
            'spec': spec or {'port': 1}, 'device': on or device()}


def test_loader_picks_the_driver_by_device_type(parsed_conf, tmp_path):
    assert isinstance(base.load(device(), parsed_conf), noop.NoopDriver)
    assert isinstance(base.load(device(device_type='haproxy',
                                       config_dir=str(tmp_path)),
                                parsed_conf), haproxy.HAProxyDriver)
    assert isinstance(base.load(device(device_type='strongswan',
                                       config_dir=str(tmp_path)),
                                parsed_conf), strongswan.StrongSwanDriver)


def test_unknown_device_type_is_down_with_the_reason(parsed_conf):
    driver = base.load(device(device_type='f5-bigip'), parsed_conf)
    assert driver.health() == (
        constants.HEALTH_DOWN, 0,
        "no device driver for device_type 'f5-bigip'")


def test_default_config_dir_is_under_state_path(parsed_conf, tmp_path):
    parsed_conf.set_override('state_path', str(tmp_path))
    try:
        driver = base.load(device(name='hap-1', device_type='haproxy'),
                           parsed_conf)
    finally:
        parsed_conf.clear_override('state_path')
    assert driver.directory == str(tmp_path / 'haproxy' / 'hap-1')
    bare = base.load(device(name='hap-2', device_type='haproxy'),
                     parsed_conf)
    assert bare.directory == '/var/lib/agentsched/haproxy/hap-2'


class Recorder:

    def __init__(self):
        self.reports = []

    def __call__(self, *args):
        self.reports.append(args)


def test_deploy_routes_to_the_device_driver_and_reports(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.deploy(resource(on=device('a')))
    deployed.deploy(resource('r2', on=device('b')))
    assert deployed.driver(device('a')).resources() == {'r1'}
    assert deployed.driver(device('b')).resources() == {'r2'}
    assert recorder.reports == [('r1', 1, constants.STATUS_ACTIVE, None),
                                ('r2', 1, constants.STATUS_ACTIVE, None)]
    # A newer generation on another device of this agent: it moves.
    deployed.deploy(resource(generation=2, on=device('b')))
    assert deployed.driver(device('a')).resources() == set()
    assert deployed.driver(device('b')).resources() == {'r1', 'r2'}
    deployed.undeploy({'id': 'r1', 'generation': 2})
    assert recorder.reports[-1] == ('r1', 2, constants.STATUS_DELETED, None)
    assert deployed.driver(device('b')).resources() == {'r2'}


class Exploding(noop.NoopDriver):

    def deploy(self, resource):
        if resource['spec'].get('explode'):
            raise RuntimeError('boom')
        return super().deploy(resource)


def test_a_driver_exception_is_an_error_status_not_a_crash(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(
        recorder, conf=parsed_conf,
        load_driver=lambda dev, conf: Exploding(dev, conf))
    deployed.deploy(resource(explode=True))
    deployed.deploy(resource('r2'))
    assert recorder.reports == [
        ('r1', 1, constants.STATUS_ERROR, 'RuntimeError: boom'),
        ('r2', 1, constants.STATUS_ACTIVE, None)]
    assert deployed.deployed == {'r2': 1}


def test_unknown_device_type_errors_and_the_agent_goes_on(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.deploy(resource(on=device(device_type='f5-bigip')))
    deployed.deploy(resource('r2'))
    assert recorder.reports[0][2:] == (
        constants.STATUS_ERROR, "no device driver for device_type 'f5-bigip'")
    assert recorder.reports[1][2] == constants.STATUS_ACTIVE
    health = deployed.device_health([
        {'name': 'x', 'device_type': 'f5-bigip', 'health': 'UNKNOWN',
         'load': 0},
        {'name': 'dev-1', 'device_type': 'noop', 'health': 'UNKNOWN',
         'load': 0}])
    assert [(d['health'], d.get('health_reason')) for d in health] == [
        (constants.HEALTH_DOWN, "no device driver for device_type "
                                "'f5-bigip'"),
        (constants.HEALTH_OK, None)]


def test_converge_deploys_missing_and_removes_what_is_not_ours(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.deploy(resource('gone'))
    deployed.deploy(resource('kept'))
    # A driver that found a resource in its files after a restart.
    deployed.driver(device()).deploy(resource('found'))
    recorder.reports.clear()
    deployed.converge([resource('kept'), resource('new')])
    assert deployed.deployed == {'kept': 1, 'new': 1}
    assert deployed.driver(device()).resources() == {'kept', 'new'}
    # Unchanged resources are not deployed again; fenced ones not reported.
    assert recorder.reports == [('new', 1, constants.STATUS_ACTIVE, None)]
    # An update keeps the generation and changes the spec: converge sees it.
    deployed.converge([resource('kept', port=2), resource('new')])
    assert recorder.reports[-1] == ('kept', 1, constants.STATUS_ACTIVE, None)


def test_an_older_generation_is_ignored(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.deploy(resource(generation=3))
    deployed.deploy(resource(generation=2))
    deployed.undeploy({'id': 'r1', 'generation': 2})
    assert deployed.deployed == {'r1': 3}
    assert len(recorder.reports) == 1


class Slow(noop.NoopDriver):
    gate = threading.Event()

    def deploy(self, resource):
        if resource['spec'].get('slow'):
            self.gate.wait(5)
        return super().deploy(resource)


def test_a_slow_resource_does_not_block_another_device(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(
        recorder, conf=parsed_conf,
        load_driver=lambda dev, conf: Slow(dev, conf))
    slow = threading.Thread(target=deployed.deploy,
                            args=(resource(slow=True, on=device('a')),))
    slow.start()
    deployed.deploy(resource('r2', on=device('b')))
    assert recorder.reports == [('r2', 1, constants.STATUS_ACTIVE, None)]
    Slow.gate.set()
    slow.join()
    assert len(recorder.reports) == 2


def test_rebound_elsewhere_is_forgotten_and_left_on_the_device(parsed_conf):
    """A failover rebind: another agent of the same device manages these
    now. Released (cast or sync), they stay on the device, unreported."""
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    for name in ('cast', 'synced', 'mine'):
        deployed.deploy(resource(name))
    recorder.reports.clear()
    deployed.undeploy({'id': 'cast', 'generation': 1,
                       'keep_on_device': True})
    deployed.converge([resource('mine')], elsewhere=['synced', 'cast'])
    assert deployed.deployed == {'mine': 1}
    assert deployed.driver(device()).resources() == {'cast', 'synced',
                                                     'mine'}
    assert recorder.reports == []
    # A release for an older generation than ours changes nothing.
    deployed.undeploy({'id': 'mine', 'generation': 0,
                       'keep_on_device': True})
    assert deployed.deployed == {'mine': 1}
