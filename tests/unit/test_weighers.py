"""Weighers: raw preference, normalization to 0..1, multiplier and sign."""

import pytest

from agentsched import constants
from agentsched.algorithms import base
from agentsched.algorithms import weighers
from tests.unit.test_filters import candidate
from tests.unit.test_filters import request


def test_device_load_is_free_share_normalized():
    cs = [candidate(capacity=10, used=0), candidate(capacity=10, used=5),
          candidate(capacity=100, used=100), candidate(capacity=0, used=0)]
    w = weighers.DeviceLoad()
    assert w.raw_weights(cs, request()) == [1.0, 0.5, 0.0, 0.0]
    assert w.weigh(cs, request()) == [1.0, 0.5, 0.0, 0.0]
    # Normalized across the set: the freest gets 1, the fullest 0.
    narrow = [candidate(capacity=10, used=4), candidate(capacity=10, used=6)]
    assert w.weigh(narrow, request()) == pytest.approx([1.0, 0.0])


def test_multiplier_scales_and_its_sign_packs():
    cs = [candidate(capacity=10, used=2), candidate(capacity=10, used=8)]
    spread = weighers.DeviceLoad(multiplier=2.0).weigh(cs, request())
    pack = weighers.DeviceLoad(multiplier=-1.0).weigh(cs, request())
    assert spread == pytest.approx([2.0, 0.0])
    # With a negative multiplier the fuller device scores higher.
    assert pack == pytest.approx([-1.0, 0.0])
    assert pack[1] > pack[0]


def test_agent_load_lower_is_better():
    cs = [candidate(agent_load=10), candidate(agent_load=30),
          candidate(agent_load=20)]
    assert weighers.AgentLoad().weigh(cs, request()) == pytest.approx(
        [1.0, 0.0, 0.5])
    assert weighers.AgentLoad(0.5).weigh(cs, request()) == pytest.approx(
        [0.5, 0.0, 0.25])


def test_device_health_prefers_ok():
    cs = [candidate(device_health=constants.HEALTH_DEGRADED),
          candidate(device_health=constants.HEALTH_OK)]
    assert weighers.DeviceHealth().weigh(cs, request()) == [0.0, 1.0]


def test_equal_values_give_no_preference():
    cs = [candidate(agent_load=7), candidate(agent_load=7)]
    assert weighers.AgentLoad(3.0).weigh(cs, request()) == [0.0, 0.0]
    assert weighers.DeviceLoad().weigh(cs[:1], request()) == [0.0]


def test_weigher_base_normalizes_any_range():
    class Custom(base.Weigher):
        name = 'custom'

        def raw_weights(self, candidates, request):
            return [-50, 0, 150]

    assert Custom(4.0).weigh([None] * 3, request()) == pytest.approx(
        [0.0, 1.0, 4.0])
