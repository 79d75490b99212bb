"""An algorithm installed by another package is loaded by its name.

tests/plugin_package is a separate distribution declaring first_fit in
agentsched.algorithms. It is pip-installed into a temporary target
directory put on sys.path for this test only, so the venv stays as it was.
stevedore caches entry points twice: on disk per sys.path (the changed
path makes a new key) and per process and namespace in
ExtensionManager.ENTRY_POINT_CACHE, which is emptied for the namespace
before and after, so the test sees the package and later tests do not.
"""

import os
import random
import shutil
import subprocess
import sys

from oslo_config import cfg
import pytest
import stevedore

from agentsched import algorithms
from agentsched import constants
from agentsched.algorithms import base
from agentsched.conf import scheduler as scheduler_conf

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                       'plugin_package')
MODULE = 'agentsched_first_fit'


def _pip_install(source, target):
    """Install source into target; the build needs setuptools and wheel.

    Without build isolation pip uses the running venv's setuptools, which
    works offline when that setuptools builds wheels by itself (>= 70.1 or
    with wheel installed); otherwise pip's isolated build fetches them
    from the configured index.
    """
    base_command = [sys.executable, '-m', 'pip', 'install', '--quiet',
                    '--no-deps', '--target', target]
    errors = []
    for extra in (['--no-build-isolation'], []):
        done = subprocess.run(base_command + extra + [source],
                              capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return
        errors.append(done.stderr[-2000:])
    pytest.fail('pip could not install %s:\n%s' % (source,
                                                   '\n'.join(errors)))


@pytest.fixture
def first_fit_installed(tmp_path, monkeypatch):
    # Build from a copy: setuptools writes build/ and *.egg-info next to
    # the sources.
    source = tmp_path / 'src'
    shutil.copytree(PACKAGE, source)
    target = tmp_path / 'site'
    _pip_install(str(source), str(target))
    monkeypatch.syspath_prepend(str(target))
    cache = stevedore.ExtensionManager.ENTRY_POINT_CACHE
    cache.pop(constants.NS_ALGORITHMS, None)
    yield
    cache.pop(constants.NS_ALGORITHMS, None)
    sys.modules.pop(MODULE, None)


def candidate(device_id, **fields):
    values = dict(
        agent_id='agent-1', host='host-1',
        agent_type=constants.AGENT_TYPE_LOADBALANCER,
        agent_admin_state_up=True, agent_alive=True, agent_load=0,
        agent_availability_zone='az1', device_id=device_id,
        device_name=device_id, device_type='haproxy',
        service_type=constants.SERVICE_LOADBALANCER, capabilities={},
        capacity=10, used=0, device_health=constants.HEALTH_OK,
        device_admin_state_up=True, device_availability_zone=None)
    values.update(fields)
    return base.Candidate(**values)


def test_external_algorithm_loads_by_name(first_fit_installed):
    conf = cfg.ConfigOpts()
    scheduler_conf.register_opts(conf)
    conf([], project='agentsched-test', default_config_files=[])
    conf.set_override('vip_algorithm', 'first_fit', group='scheduler')

    algorithm = algorithms.load(conf, 'vip', rng=random.Random(1))

    assert type(algorithm).__module__ == MODULE
    assert [f.name for f in algorithm.filters] == \
        scheduler_conf.DEFAULT_FILTERS
    candidates = [candidate('full', used=10), candidate('b', used=9),
                  candidate('a')]
    request = base.PlacementRequest('vip', constants.SERVICE_LOADBALANCER)
    assert [c.device_id for c in algorithm.select(candidates, request)] \
        == ['b', 'a']
    with pytest.raises(base.NoValidCandidate, match='1 without 1 free unit'):
        algorithm.select(candidates[:1], request)


def test_without_the_package_first_fit_is_unknown():
    conf = cfg.ConfigOpts()
    scheduler_conf.register_opts(conf)
    conf([], project='agentsched-test', default_config_files=[])
    conf.set_override('vip_algorithm', 'first_fit', group='scheduler')
    with pytest.raises(algorithms.UnknownPlugin, match="'first_fit'"):
        algorithms.load(conf, 'vip')
