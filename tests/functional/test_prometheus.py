"""Metrics, alert rules and the dashboard against a real Prometheus (issue
16): Debian's prometheus scrapes a real agentsched-server's [metrics]
listener, the shipped rules load and pass promtool, every dashboard query
is valid PromQL, and killing agents past the mass-failure ratio fires
AgentschedFailoverGuardTripped through Prometheus' own rule evaluation.
"""

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from tests.conftest import unavailable
from tests.functional.test_fault_failover import cluster  # noqa: F401
from tests import http_backends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RULES = os.path.join(ROOT, 'etc', 'prometheus', 'agentsched-alerts.yml')
DASHBOARD = os.path.join(ROOT, 'etc', 'grafana', 'agentsched-dashboard.json')


def _binary(name):
    found = shutil.which(name) or shutil.which(name, path='/usr/bin')
    if found is None:
        unavailable('%s not installed (apt-get install prometheus)' % name)
    return found


def test_promtool_accepts_the_shipped_rules():
    done = subprocess.run([_binary('promtool'), 'check', 'rules', RULES],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'SUCCESS: 7 rules found' in done.stdout


class Prometheus:

    def __init__(self, tmp_path, target):
        self.port = http_backends.free_port()
        config = tmp_path / 'prometheus.yml'
        config.write_text(json.dumps({
            'global': {'scrape_interval': '1s', 'evaluation_interval': '1s'},
            'rule_files': [RULES],
            'scrape_configs': [{'job_name': 'agentsched',
                                'static_configs': [{'targets': [target]}]}],
        }))
        self.log = open(tmp_path / 'prometheus.log', 'w')
        self.process = subprocess.Popen(
            [_binary('prometheus'), '--config.file', str(config),
             '--storage.tsdb.path', str(tmp_path / 'tsdb'),
             '--web.listen-address', '127.0.0.1:%d' % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)

    def api(self, path, **query):
        url = 'http://127.0.0.1:%d/api/v1/%s?%s' % (
            self.port, path, urllib.parse.urlencode(query))
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.loads(answer.read())

    def query(self, expr):
        return self.api('query', query=expr)

    def wait(self, predicate, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate():
                    return
            except OSError:
                pass  # not listening yet
            time.sleep(0.5)
        raise AssertionError('not after %s s: %s' % (timeout, what))

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _value(result, **labels):
    for sample in result['data']['result']:
        if all(sample['metric'].get(k) == v for k, v in labels.items()):
            return float(sample['value'][1])
    return None


def _firing(prometheus, name):
    alerts = prometheus.api('alerts')['data']['alerts']
    return [a for a in alerts
            if a['labels'].get('alertname') == name and a['state'] == 'firing']


def test_prometheus_scrapes_and_the_guard_alert_fires(cluster, tmp_path):
    metrics_port = http_backends.free_port()
    cluster.configure(failover_max_dead_ratio=0.5, failover_min_dead=2)
    with open(cluster.config, 'a') as config:
        config.write('[metrics]\nport = %d\n' % metrics_port)
    server = cluster.server()
    server.wait_for_log('Prometheus metrics on')
    agents = list(cluster.agents_up(
        ['lb-%d' % n for n in range(4)]).values())
    prometheus = Prometheus(tmp_path, '127.0.0.1:%d' % metrics_port)
    try:
        prometheus.wait(lambda: _value(prometheus.query(
            'sum(agentsched_agents{state="alive"})')) == 4,
            'four live agents scraped')
        assert _value(prometheus.query('agentsched_leader')) == 1
        assert _value(prometheus.query('agentsched_heartbeats_total'),
                      outcome='accepted') > 0
        assert not _firing(prometheus, 'AgentschedFailoverGuardTripped')
        # Every panel of the shipped dashboard is a query Prometheus takes.
        with open(DASHBOARD) as dashboard:
            for panel in json.load(dashboard)['panels']:
                for target in panel['targets']:
                    answer = prometheus.query(target['expr'])
                    assert answer['status'] == 'success', (panel['title'],
                                                           answer)

        # The guard judges agents that hold resources: one VIP on each.
        for agent in agents:
            cluster.create_vips(1, agent.host)
        for agent in agents[:3]:
            agent.kill()
        prometheus.wait(lambda: _firing(
            prometheus, 'AgentschedFailoverGuardTripped'),
            'the guard alert firing', timeout=60)
        fired = _firing(prometheus, 'AgentschedFailoverGuardTripped')
        assert fired[0]['labels']['guard'] == 'mass_failure'
        # The guard trips on dead or late agents; the inventory counts the
        # dead by the liveness rule, a few seconds later.
        prometheus.wait(lambda: _value(prometheus.query(
            'sum(agentsched_agents{state="dead"})')) == 3, 'three dead')
        assert _value(prometheus.query('sum(agentsched_agents)')) == 4
        # Held back: the dead agents keep their VIPs.
        assert _value(prometheus.query(
            'sum(agentsched_failover_actions_total{action="moved"})')) == 0
        prometheus.wait(lambda: _value(prometheus.query(
            'sum(agentsched_failover_actions_total{action="held"})')) >= 3,
            'dead agents counted as held back')
    finally:
        prometheus.stop()
        for process in cluster.processes:
            process.ensure_dead()
