"""Heartbeat metrics with report workers (issues 16, 17).

A real agentsched-server with [reports] workers = 2, over this machine's
RabbitMQ into PostgreSQL; a real agent reports every second and a plain
oslo.messaging client sends a poison report. The server's /metrics, on the
REST API and on [metrics] port, shows the workers' heartbeat families
summed; killing a report worker (the master restarts it) takes no counter
back. Once as shipped and once with PROMETHEUS_MULTIPROC_DIR set, where a
scrape merges every process's instrumented metrics.
"""

import os
import re
import signal
import urllib.request

import oslo_messaging
import pytest

from agentsched import messaging
from agentsched.reports import endpoint as reports_endpoint
from tests import commands
from tests import http_backends
from tests import processes
from tests import report_factory
from tests import server_fixtures
from tests.functional import test_metrics
from tests.functional import test_processes

_sample = test_metrics._sample


def _scrape(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()


def _poison(conf, bus):
    """One report the schema rejects (a NUL in its topic), as a call: the
    rejection is counted when it returns."""
    for name, value in (('transport_url', bus.url),
                        ('control_exchange', bus.exchange)):
        conf.set_override(name, value)
    messaging.cleanup()
    try:
        client = oslo_messaging.get_rpc_client(
            messaging.get_transport(conf),
            oslo_messaging.Target(topic=bus.reports_topic, version='1.2'),
            timeout=10)
        with pytest.raises(oslo_messaging.RemoteError, match='NUL'):
            client.call({}, 'report_state', **report_factory.report_kwargs(
                'poison-1', topic='lbaas\x00'))
    finally:
        messaging.cleanup()
        for name in ('transport_url', 'control_exchange'):
            conf.clear_override(name)


@pytest.mark.parametrize('multiprocess', [False, True],
                         ids=['shared-memory', 'multiproc-dir'])
def test_report_workers_heartbeats_are_on_the_servers_metrics(
        tmp_path, rabbit, postgresql_database, parsed_conf, multiprocess):
    metrics_port = http_backends.free_port()
    config = commands.write_config(
        tmp_path / 'agentsched.conf', postgresql_database.url, rabbit,
        DEFAULT={'agent_down_time': 3},
        reports={'flush_interval': 0.2, 'workers': 2,
                 'stats_log_interval': 0},
        agent={'report_interval': 1},
        metrics={'port': metrics_port},
        **{'device:lb-1': {'device_type': 'noop'}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    env = None
    if multiprocess:
        directory = tmp_path / 'prometheus'
        directory.mkdir()
        env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(directory))
    server = processes.Process('agentsched-server',
                               ['--config-file', config],
                               tmp_path / 'server.log', env=env)
    agent = processes.Process(
        'agentsched-agent', ['--config-file', config, '--config-file',
                             commands.write_config(
                                 tmp_path / 'agent-1.conf',
                                 DEFAULT={'host': 'agent-1'})],
        tmp_path / 'agent-1.log')
    listener = 'http://127.0.0.1:%d/metrics' % metrics_port

    def counted(outcome):
        return _sample(_scrape(listener), 'agentsched_heartbeats_total',
                       outcome=outcome) or 0

    try:
        server.start()
        server.wait_for_log('Report worker on', count=2)
        server.wait_for_log('REST API listening')
        agent.start()
        agent.wait_for_log('Server answered new')
        _poison(parsed_conf, rabbit)
        assert server_fixtures.wait_for(
            lambda: counted('accepted') >= 2 and counted('rejected') == 1)

        text = _scrape(listener)
        assert _sample(text, 'agentsched_heartbeats_total',
                       outcome='failed') == 0
        for reason in reports_endpoint.REJECTION_REASONS:
            assert _sample(text, 'agentsched_heartbeats_rejected_total',
                           reason=reason) == (
                               1 if reason == 'schema' else 0), reason
        assert _sample(text, 'agentsched_heartbeats_pending') >= 0
        # Flushes every 0.2 s, published every second.
        assert 0 <= _sample(text, 'agentsched_heartbeat_flush_age_seconds') \
            < 5
        assert _sample(text, 'agentsched_heartbeat_flush_failures_total') \
            == 0
        # The server's own families are there in both modes.
        assert _sample(text, 'agentsched_agents', state='alive') == 1
        if multiprocess:
            # The workers' instrumented metrics, merged from their files.
            assert _sample(
                text, 'agentsched_heartbeat_flush_duration_seconds_count') \
                >= 1
        # The REST API's /metrics (noauth on loopback: an admin) is the
        # same scrape.
        api_port = re.search(r'REST API listening on [^ ]*:(\d+)',
                             server.log()).group(1)
        api_text = _scrape('http://127.0.0.1:%s/metrics' % api_port)
        assert _sample(api_text, 'agentsched_heartbeats_rejected_total',
                       reason='schema') == 1
        assert _sample(api_text, 'agentsched_heartbeats_total',
                       outcome='accepted') >= 2

        # A report worker killed: the master starts another, which carries
        # the dead one's counters on; the sum never goes back.
        workers = [pid for pid, title in test_processes._children(
            server.popen.pid).items() if 'report worker' in title]
        assert len(workers) == 2, workers
        before = counted('accepted')
        os.kill(workers[0], signal.SIGKILL)
        server.wait_for_log('Report worker on', count=3)
        seen = [before]
        assert server_fixtures.wait_for(
            lambda: seen.append(counted('accepted')) or seen[-1] >= before + 3)
        assert seen == sorted(seen), seen
        assert counted('rejected') == 1

        assert agent.stop() == 0
        assert server.stop() == 0
        assert 'Traceback' not in server.log()
    finally:
        agent.ensure_dead()
        server.ensure_dead()
