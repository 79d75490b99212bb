"""services/failover.decide: the one rebind-or-move rule, each outcome.

The health monitor and an admin's failover (failover_one) both ask it; the
functional tests (test_failover.py, test_api_scheduler.py) check what each
then does with its answer.
"""

import collections

import pytest

from agentsched import constants
from agentsched.services import failover

Binding = collections.namedtuple('Binding',
                                 'resource_id agent_id device_health')

OK = constants.HEALTH_OK
DOWN = constants.HEALTH_DOWN
# Live agents of the device, least loaded first (rows of
# db/failover.live_agents_of_devices).
LiveAgent = collections.namedtuple('LiveAgent', 'id agent_type load')
LIVE = [LiveAgent('b', 'lb', 1), LiveAgent('a', 'lb', 2),
        LiveAgent('c', 'lb', 3)]


def _decide(agent_id='a', device_health=OK, live=LIVE, may_move=True,
            serving=False):
    return failover.decide(Binding('r', agent_id, device_health), live,
                           may_move, serving)


def test_rebind_to_the_other_live_agents_of_its_device():
    decision = _decide()
    assert decision.action == failover.REBIND
    # Its own agent is never a target; the order (least loaded first) kept.
    assert decision.agents == [('b', 'lb', 1), ('c', 'lb', 3)]


def test_rebind_even_when_the_policy_allows_no_move():
    assert _decide(may_move=False).action == failover.REBIND


def test_a_deleted_agents_binding_rebinds_to_any_live_agent():
    assert _decide(agent_id=None).agents == LIVE


@pytest.mark.parametrize('device_health, live', [
    (DOWN, LIVE),                   # the device itself is gone
    (OK, []),                       # no live agent reaches it
    (OK, [LiveAgent('a', 'lb', 0)]),  # only its own (dead) agent lists it
])
def test_move_when_no_other_agent_can_serve_it_where_it_is(device_health,
                                                           live):
    decision = _decide(device_health=device_health, live=live)
    assert decision == failover.Decision(failover.MOVE, [])


def test_hold_when_it_would_move_but_its_policy_forbids():
    assert _decide(device_health=DOWN, may_move=False) == \
        failover.Decision(failover.HOLD, [])
    assert _decide(live=[], may_move=False).action == failover.HOLD


def test_relocate_a_serving_binding_on_a_healthy_device():
    # Only an admin asks to fail over what serves: it moves if another
    # device takes it, else stays (NoOtherDevice); never rebound.
    assert _decide(serving=True) == failover.Decision(failover.RELOCATE, [])


def test_a_serving_binding_on_a_down_device_moves():
    assert _decide(device_health=DOWN, serving=True).action == \
        failover.MOVE
