"""converge() leaves alone what the server withheld (sync 1.3).

A resource whose secrets the server cannot decrypt is listed in 'withheld'
instead of 'resources': it may be a working tunnel, so the agent neither
undeploys it nor deploys it, and deploys it again once it comes back.
"""

from agentsched import constants
from agentsched.agents import deployments


def device(name='gw-1'):
    return {'id': 'id-' + name, 'name': name, 'device_type': 'noop',
            'physical_info': {}, 'credentials': None}


def resource(resource_id, generation=1, psk='psk-1'):
    return {'id': resource_id, 'resource_type': 'vpn_connection',
            'name': 'n', 'project_id': 'p', 'generation': generation,
            'spec': {'psk': psk}, 'device': device()}


class Recorder:

    def __init__(self):
        self.reports = []

    def __call__(self, *args):
        self.reports.append(args)


def test_a_withheld_resource_is_left_exactly_as_it_is(parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.deploy(resource('tunnel'))
    deployed.deploy(resource('other'))
    # Found in the device's files after a restart: not an orphan either.
    deployed.driver(device()).deploy(resource('found'))
    recorder.reports.clear()

    deployed.converge([resource('other')], withheld=['tunnel', 'found'])

    assert deployed.deployed == {'tunnel': 1, 'other': 1}
    assert deployed.driver(device()).resources() == {'tunnel', 'other',
                                                     'found'}
    assert recorder.reports == []

    # Withheld at the next sync too: still nothing happens to it.
    deployed.converge([resource('other')], withheld=['tunnel'])
    assert deployed.deployed['tunnel'] == 1
    assert recorder.reports == []


def test_back_from_withheld_it_is_deployed_again_even_unchanged(
        parsed_conf):
    recorder = Recorder()
    deployed = deployments.Deployments(recorder, conf=parsed_conf)
    deployed.converge([resource('tunnel'), resource('other')])
    recorder.reports.clear()
    deployed.converge([resource('other')], withheld=['tunnel'])

    # The server marked it ERROR meanwhile: the deploy reports ACTIVE.
    deployed.converge([resource('tunnel'), resource('other')])

    assert recorder.reports == [('tunnel', 1, constants.STATUS_ACTIVE,
                                 None)]
    deployed.converge([resource('tunnel'), resource('other')])
    assert len(recorder.reports) == 1


def test_without_withheld_a_missing_resource_is_still_undeployed(
        parsed_conf):
    deployed = deployments.Deployments(Recorder(), conf=parsed_conf)
    deployed.converge([resource('tunnel'), resource('other')])
    deployed.converge([resource('other')])
    assert deployed.deployed == {'other': 1}
    assert deployed.driver(device()).resources() == {'other'}
