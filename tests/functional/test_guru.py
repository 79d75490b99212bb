"""Guru meditation reports (issue 16): SIGUSR2 to agentsched-server and to
agentsched-agent dumps threads, configuration and agentsched's state, and
no secret of the configuration."""

import os
import signal
import uuid

from agentsched import guru
from agentsched.services import secrets
from tests import commands
from tests import processes

REPORT = 'Guru Meditation'
PASSWORD = 'pw-%s' % uuid.uuid4().hex


def _reports(process, text):
    """SIGUSR2 to the process group (the supervising process and the
    worker running the service, as systemd's kill signals a unit): the
    new reports, once one of them holds text."""
    before = len(process.log())
    process.kill(signal.SIGUSR2)
    process.wait_for_log(text, timeout=15)
    process.wait_for_log(guru.SUPERVISOR, timeout=15)
    return process.log()[before:]


def test_the_server_reports_its_threads_config_and_state(tmp_path):
    key = secrets.generate_key()
    config = commands.write_config(
        tmp_path / 'server.conf', agent={'report_interval': 1},
        secrets={'encryption_keys': key})
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    server = processes.Process(
        'agentsched-server', ['--config-file', config, '--local-agents', '1'],
        tmp_path / 'server.log', env=env).start()
    try:
        server.wait_for_log('Server answered alive')
        report = _reports(server, "'invalid_batches':")
        assert 'Threads' in report and 'Configuration' in report
        assert 'encryption_keys = ***' in report
        assert key not in server.log()
        # The server's own counters.
        assert "'accepted':" in report and "'invalid_batches':" in report
        # Still running afterwards: a report is no stop.
        assert server.popen.poll() is None
        assert server.stop() == 0
    finally:
        server.ensure_dead()


def test_the_agent_reports_its_deployments_and_fencing(tmp_path, rabbit):
    config = commands.write_config(
        tmp_path / 'agent.conf', bus=rabbit,
        DEFAULT={'host': 'guru-agent'}, agent={'report_interval': 1},
        database={'connection': 'postgresql://u:%s@db/x' % PASSWORD})
    agent = processes.Process('agentsched-agent', ['--config-file', config],
                              tmp_path / 'agent.log').start()
    try:
        agent.wait_for_log('started')
        report = _reports(agent, "'fenced': False")
        assert "'fenced': False" in report and "'deployed': {}" in report
        assert "'host': 'guru-agent'" in report
        assert 'connection = ***' in report
        assert PASSWORD not in agent.log()
        assert agent.stop() == 0
    finally:
        agent.ensure_dead()
