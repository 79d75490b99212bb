"""The Neutron venv of the acceptance tests is shared by every clone on the
machine (tests/neutron_client.py): a fresh clone reuses it, and a change of
the requirement or of the Python builds another."""

import os

from tests import neutron_client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def test_the_venv_is_outside_the_clone_in_the_cache():
    assert not os.path.realpath(neutron_client.VENV).startswith(
        os.path.realpath(ROOT) + os.sep)
    assert neutron_client.venv_path('/cache').startswith(
        '/cache/agentsched/neutron-venv-')


def test_the_venv_is_keyed_on_the_requirement_and_the_python(monkeypatch):
    first = neutron_client.venv_path('/cache')
    assert neutron_client.venv_path('/cache') == first
    monkeypatch.setattr(neutron_client, 'REQUIREMENT', 'neutron==30.0.0')
    assert neutron_client.venv_path('/cache') != first
    monkeypatch.undo()
    monkeypatch.setattr(neutron_client.platform, 'python_version',
                        lambda: '3.99.0')
    assert neutron_client.venv_path('/cache') != first
