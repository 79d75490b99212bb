"""The noop driver pretends to serve (issue 14): every resource it holds,
and a VIP's every member, is ONLINE; it counts nothing."""

from agentsched import constants
from agentsched.agents.drivers import noop

DEVICE = {'id': 'd1', 'name': 'sim-1', 'device_type': 'noop',
          'physical_info': {}}


def test_everything_deployed_is_online_and_nothing_is_counted():
    driver = noop.NoopDriver(DEVICE, None)
    assert driver.operating_status() == {}
    driver.deploy({'id': 'v1', 'resource_type': 'vip', 'generation': 1,
                   'spec': {'members': [
                       {'address': '10.0.0.1', 'protocol_port': 80},
                       {'address': '2001:db8::1', 'protocol_port': 8080,
                        'admin_state_up': False}]}})
    driver.deploy({'id': 'c1', 'resource_type': 'vpn_connection',
                   'generation': 2, 'spec': {'psk': 'secret-psk'}})
    # Any spec at all: noop checks nothing.
    driver.deploy({'id': 'v2', 'resource_type': 'vip', 'generation': 1,
                   'spec': {'members': ['junk', {}]}})
    online = constants.OPERATING_ONLINE
    assert driver.operating_status() == {
        'v1': {'operating_status': online,
               'members': {'10.0.0.1:80': online,
                           '2001:db8::1:8080': online}},
        'c1': {'operating_status': online},
        'v2': {'operating_status': online, 'members': {}}}
    assert driver.statistics() == {}
    driver.undeploy('v1')
    driver.undeploy('v2')
    driver.undeploy('c1')
    assert driver.operating_status() == {}
    assert driver.resources() == set()
