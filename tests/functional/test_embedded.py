"""The embedded default: one command, no services, the whole heartbeat path."""

import os
import time

import sqlalchemy as sa

from agentsched.db import models
from tests import commands
from tests import processes


def test_server_with_local_agents_on_sqlite(tmp_path):
    config = commands.write_config(tmp_path / 'fast.conf',
                                   agent={'report_interval': 1})
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / 'state'))
    server = processes.Process(
        'agentsched-server', ['--config-file', config, '--local-agents', '3'],
        tmp_path / 'server.log', env=env).start()
    try:
        server.wait_for_log('Server answered alive', count=3)
        database = tmp_path / 'state' / 'agentsched' / 'agentsched.sqlite'
        banner = server.log()
        assert str(database) in banner
        assert 'in-process' in banner
        assert 'Ctrl-C' in banner
        engine = sa.create_engine('sqlite:///%s' % database)
        time.sleep(1)
        with engine.connect() as connection:
            hosts = sorted(connection.execute(
                sa.select(models.agents.c.host)).scalars())
        assert len(hosts) == 3 and all('-local-' in h for h in hosts)
        listing = commands.run('agentsched-manage', '--config-file', config,
                               'agent', 'list', env=env).stdout
        assert listing.count(':-)') == 3
        assert server.stop() == 0
    finally:
        server.ensure_dead()
