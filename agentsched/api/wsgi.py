"""A module-level WSGI application for gunicorn, uWSGI or mod_wsgi.

    gunicorn --workers 4 --bind 0.0.0.0:9797 'agentsched.api.wsgi:application'

The configuration files come from AGENTSCHED_CONFIG_FILES (comma-separated),
else /etc/agentsched/agentsched.conf. Heartbeats are not taken here: run
agentsched-server with [api] enabled = false beside it.
"""

import os

from agentsched import conf as agentsched_conf
from agentsched import signing
from agentsched.api import app
from agentsched.db import engine as db_engine
from agentsched.services import agent_notifier
from agentsched.services import secrets
from agentsched.services import wiring


def init_application():
    files = os.environ.get('AGENTSCHED_CONFIG_FILES',
                           '/etc/agentsched/agentsched.conf')
    agentsched_conf.parse_args(
        [], default_config_files=[f for f in files.split(',') if f])
    conf = agentsched_conf.CONF
    keyring = signing.server_keyring(conf)
    signer = signing.Signer(keyring) if keyring is not None else None
    return app.make_app(wiring.build(
        conf, db_engine.create_engine(conf),
        agent_notifier.AgentNotifier(conf, signer, keyring),
        secrets.from_conf(conf)))


application = init_application()
