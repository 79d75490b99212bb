"""agentsched-manage imports oslo.messaging (about 1 s of CPU: eventlet's
import, through futurist) only for the one command on the bus, server
stats; the others start without it."""

import subprocess
import sys

# manage.main as the console script runs it, then what it imported.
RUN = ('import sys; from agentsched.cmd import manage; '
       'code = manage.main(sys.argv[1:]); '
       'print("imported:", sorted({"oslo_messaging", "eventlet"} & '
       'set(sys.modules))); sys.exit(code)')


def _manage(*args):
    return subprocess.run([sys.executable, '-c', RUN] + list(args),
                          capture_output=True, text=True, timeout=120)


def test_db_upgrade_without_oslo_messaging(tmp_path):
    config = tmp_path / 'agentsched.conf'
    # An option of oslo.messaging's in the file is read by nothing here.
    config.write_text('[DEFAULT]\ntransport_url = rabbit://u:p@h:5672/\n'
                      '[database]\nconnection = sqlite:///%s\n' % (
                          tmp_path / 'db.sqlite'))
    result = _manage('--config-file', str(config), 'db', 'upgrade')
    assert result.returncode == 0, result.stderr
    assert 'Database at ' in result.stdout
    assert 'imported: []' in result.stdout


def test_server_stats_without_a_transport_url(tmp_path):
    """It registers oslo.messaging's options itself, after the parsing
    (tests/functional/test_processes.py asks a real server)."""
    config = tmp_path / 'agentsched.conf'
    config.write_text('[DEFAULT]\nhost = here\n')
    result = _manage('--config-file', str(config), 'server', 'stats')
    assert result.returncode == 1
    assert 'transport_url is not set' in result.stderr
