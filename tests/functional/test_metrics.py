"""Prometheus metrics (issue 16): what the REST API's /metrics shows, who
may read it, labels of low cardinality only, and the agent's listener."""

import urllib.request

import pytest

from agentsched import metrics
from tests import commands
from tests import http_backends
from tests import processes
from tests.functional import test_api_resources as resources_tests
from tests.functional import test_round_trips as round_trips


@pytest.fixture
def api(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    parsed_conf.set_override('snapshot_max_age', 0, 'scheduler')
    engine = database.engine()
    built = round_trips.api_fixtures.services(parsed_conf, engine)
    yield round_trips.api_fixtures.client(parsed_conf, engine,
                                          built=built), engine
    parsed_conf.clear_override('auth_strategy')
    parsed_conf.clear_override('snapshot_max_age', 'scheduler')
    parsed_conf.clear_override('enabled', 'metrics')
    metrics.enable(True)


def _sample(text, name, **labels):
    """The value of the sample of name with labels (all given ones)."""
    for line in text.splitlines():
        if not line.startswith(name + '{') and line.split(' ')[0] != name:
            continue
        if all('%s="%s"' % item in line for item in labels.items()):
            return float(line.rsplit(' ', 1)[1])
    return None


def test_api_requests_and_placements_are_counted_by_template(api):
    client, engine = api
    agent_id, _device = resources_tests._lb(client, engine, 'lb-1')
    assert client.get('/v2.0/agents/%s' % agent_id).status_code == 200
    # Nothing fits a VIP on a strongSwan device: ERROR, a counted refusal.
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, requirements={'device_type': 'strongswan'})})
    assert response.status_code == 201
    assert response.json['vip']['status'] == 'ERROR'

    response = client.get('/metrics')
    assert response.status_code == 200
    assert response.content_type.startswith('text/plain')
    text = response.get_data(as_text=True)
    assert _sample(text, 'agentsched_api_requests_total', method='GET',
                   route='/v2.0/agents/<agent_id>', status='200') >= 1
    # The template, never the id: one series per route, not per agent.
    assert agent_id not in text
    assert _sample(text, 'agentsched_placements_total',
                   outcome='no_valid_candidate') >= 1
    assert _sample(text, 'agentsched_placement_duration_seconds_count') >= 1
    assert 'process_cpu_seconds_total' in text


def test_metrics_off_is_a_404(api, parsed_conf):
    client, _engine = api
    parsed_conf.set_override('enabled', False, 'metrics')
    assert client.get('/metrics').status_code == 404


def test_the_agent_serves_its_own_metrics(tmp_path, rabbit):
    port = http_backends.free_port()
    config = commands.write_config(
        tmp_path / 'agent.conf', bus=rabbit,
        DEFAULT={'host': 'metrics-agent'},
        agent={'report_interval': 1, 'report_timeout': 0.5,
               'retry_max_wait': 0.5, 'metrics_port': port},
        **{'device:lb-m': {'device_type': 'noop'}})
    agent = processes.Process('agentsched-agent', ['--config-file', config],
                              tmp_path / 'agent.log').start()
    try:
        agent.wait_for_log('Prometheus metrics on')
        # No server answers: its heartbeats fail, and say so.
        agent.wait_for_log('Heartbeat of metrics-agent failed')
        url = 'http://127.0.0.1:%d/metrics' % port
        with urllib.request.urlopen(url, timeout=5) as answer:
            text = answer.read().decode()
        assert _sample(text, 'agentsched_agent_heartbeats_sent_total',
                       outcome='failed') >= 1
        assert _sample(text, 'agentsched_agent_devices',
                       device_type='noop', health='OK') == 1
        assert _sample(text, 'agentsched_agent_fenced') == 0
        assert agent.stop() == 0
    finally:
        agent.ensure_dead()
