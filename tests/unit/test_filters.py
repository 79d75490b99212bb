"""Each shipped filter: what passes, what fails, and the words for it."""

import pytest

from agentsched import constants
from agentsched.algorithms import base
from agentsched.algorithms import filters

LB = constants.SERVICE_LOADBALANCER
VPN = constants.SERVICE_VPN


def candidate(**fields):
    """A feasible haproxy candidate for a VIP unless fields say otherwise."""
    values = dict(
        agent_id='agent-1', host='host-1',
        agent_type=constants.AGENT_TYPE_LOADBALANCER,
        agent_admin_state_up=True, agent_alive=True, agent_load=0,
        agent_availability_zone='az1', device_id='device-1',
        device_name='lb1', device_type='haproxy', service_type=LB,
        capabilities={}, capacity=10, used=0,
        device_health=constants.HEALTH_OK, device_admin_state_up=True,
        device_availability_zone=None)
    values.update(fields)
    return base.Candidate(**values)


def request(units=1, service_type=LB, **requirements):
    return base.PlacementRequest('vip', service_type, units=units,
                                 requirements=requirements)


def passes(candidate_filter, c, req=None):
    req = req or request()
    assert candidate_filter.applies(req)
    return candidate_filter.passes(c, req)


@pytest.mark.parametrize('alive,admin_up,expected', [
    (True, True, True), (False, True, False), (True, False, False)])
def test_agent_alive(alive, admin_up, expected):
    f = filters.AgentAlive()
    assert passes(f, candidate(agent_alive=alive,
                               agent_admin_state_up=admin_up)) is expected
    assert f.reason(request()) == 'on a dead or admin-down agent'


def test_agent_serves():
    f = filters.AgentServes()
    assert passes(f, candidate())
    assert not passes(f, candidate(agent_type=constants.AGENT_TYPE_VPN))
    # An agent type agentsched does not know (a Neutron L3 agent) serves
    # nothing.
    assert not passes(f, candidate(agent_type='L3 agent'))
    assert passes(f, candidate(agent_type=constants.AGENT_TYPE_VPN),
                  request(service_type=VPN))
    assert f.reason(request(service_type=VPN)) == \
        'on an agent that does not serve VPN'


def test_service_type():
    f = filters.ServiceType()
    assert passes(f, candidate())
    assert not passes(f, candidate(service_type=VPN))
    assert f.reason(request()) == 'on a device that does not serve ' \
        'LOADBALANCER'


@pytest.mark.parametrize('health,admin_up,expected', [
    (constants.HEALTH_OK, True, True),
    # DEGRADED still serves; the device_health weigher prefers OK.
    (constants.HEALTH_DEGRADED, True, True),
    (constants.HEALTH_DOWN, True, False),
    (constants.HEALTH_UNKNOWN, True, False),
    (constants.HEALTH_OK, False, False)])
def test_device_healthy(health, admin_up, expected):
    f = filters.DeviceHealthy()
    assert passes(f, candidate(device_health=health,
                               device_admin_state_up=admin_up)) is expected
    assert 'down' in f.reason(request())


def test_device_type_only_when_requested():
    f = filters.DeviceType()
    assert not f.applies(request())
    req = request(device_type='haproxy')
    assert passes(f, candidate(), req)
    assert not passes(f, candidate(device_type='f5'), req)
    assert f.reason(req) == 'not of device_type haproxy'


def test_availability_zone_device_then_agent():
    f = filters.AvailabilityZone()
    assert not f.applies(request())
    req = request(availability_zone='az1')
    assert passes(f, candidate(agent_availability_zone='az1'), req)
    assert not passes(f, candidate(agent_availability_zone='az2'), req)
    # The device's own zone wins over its agent's.
    assert passes(f, candidate(agent_availability_zone='az2',
                               device_availability_zone='az1'), req)
    assert not passes(f, candidate(agent_availability_zone='az1',
                                   device_availability_zone='az2'), req)
    assert not passes(f, candidate(agent_availability_zone=None), req)
    assert f.reason(req) == 'outside availability zone az1'


def test_capacity():
    f = filters.Capacity()
    assert passes(f, candidate(capacity=10, used=9))
    assert not passes(f, candidate(capacity=10, used=10))
    assert not passes(f, candidate(capacity=0, used=0))
    assert passes(f, candidate(capacity=10, used=8), request(units=2))
    assert not passes(f, candidate(capacity=10, used=9), request(units=2))
    assert f.reason(request()) == 'without 1 free unit'
    assert f.reason(request(units=2)) == 'without 2 free units'


CAPS = {'ssl_offload': True, 'tier': 'gold', 'bandwidth': 1000,
        'ratio': 0.5, 'label': '5000', 'flag_number': True}


@pytest.mark.parametrize('constraints,expected', [
    ({'ssl_offload': True}, True),
    ({'ssl_offload': False}, False),
    ({'tier': 'gold'}, True),
    ({'tier': 'silver'}, False),
    ({'bandwidth': 1000}, True),
    ({'tier': {'in': ['gold', 'silver']}}, True),
    ({'tier': {'in': ['bronze']}}, False),
    ({'bandwidth': {'min': 1000}}, True),
    ({'bandwidth': {'min': 1001}}, False),
    ({'ratio': {'min': 0.25}}, True),
    # Missing capability: fails every form.
    ({'compression': True}, False),
    ({'compression': {'in': [True, False]}}, False),
    ({'compression': {'min': 0}}, False),
    # min needs a number on the device: not a numeric string, not a bool.
    ({'label': {'min': 1}}, False),
    ({'flag_number': {'min': 1}}, False),
    # Every constraint must hold.
    ({'ssl_offload': True, 'tier': 'gold', 'bandwidth': {'min': 500}},
     True),
    ({'ssl_offload': True, 'tier': 'silver'}, False),
])
def test_capability_constraints(constraints, expected):
    f = filters.Capabilities()
    assert passes(f, candidate(capabilities=CAPS),
                  request(capabilities=constraints)) is expected


def test_capabilities_only_when_requested_and_reason():
    f = filters.Capabilities()
    assert not f.applies(request())
    req = request(capabilities={'ssl_offload': True, 'tier': {'in': [
        'gold', 'silver']}, 'bandwidth': {'min': 100}, 'vendor': 'acme'})
    assert f.reason(req) == ('without bandwidth >= 100, ssl_offload, '
                             'tier in (gold, silver), vendor = acme')
    assert not passes(f, candidate(capabilities=None), req)


@pytest.mark.parametrize('constraints,words', [
    ({'tier': {'in': 'gold'}}, '"in" takes a list'),
    ({'bandwidth': {'min': '10'}}, '"min" takes a number'),
    ({'bandwidth': {'min': True}}, '"min" takes a number'),
    ({'bandwidth': {'max': 10}}, 'exactly one key'),
    ({'bandwidth': {'min': 1, 'in': [1]}}, 'exactly one key'),
])
def test_malformed_constraints_are_refused(constraints, words):
    with pytest.raises(base.InvalidRequest, match=words):
        request(capabilities=constraints)


def test_request_checks():
    with pytest.raises(base.InvalidRequest, match='unknown requirements'):
        request(availabilty_zone='az1')
    with pytest.raises(base.InvalidRequest, match='units'):
        request(units=0)
    with pytest.raises(base.InvalidRequest, match='service_type'):
        request(service_type='FIREWALL')
    req = base.PlacementRequest('vip', LB)
    assert (req.units, req.device_type, req.capabilities,
            req.availability_zone) == (1, None, {}, None)


def test_filters_keep_order_and_return_new_lists():
    cs = [candidate(device_id=str(i), used=i % 3 * 5) for i in range(9)]
    kept = filters.Capacity().filter_all(cs, request())
    assert kept is not cs
    assert [c.device_id for c in kept] == ['0', '1', '3', '4', '6', '7']
