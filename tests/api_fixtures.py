"""The REST API's full WSGI pipeline over a real database, for tests."""

import datetime
import uuid

from werkzeug import test as werkzeug_test

from agentsched.api import app as api_app
from agentsched.db import agents as agents_db
from agentsched.health import liveness


class RecordingNotifier:
    """Records casts the API would send to agents."""

    def __init__(self):
        self.calls = []

    def agent_updated(self, agent, admin_state_up):
        self.calls.append((agent.host, admin_state_up))

    def devices_updated(self, agent):
        self.calls.append((agent.host, 'devices_updated'))


def client(conf, engine, notifier=None, secret_box=None):
    app = api_app.make_app(conf, engine, notifier or RecordingNotifier(),
                           secret_box=secret_box)
    return werkzeug_test.Client(app)


def add_agent(engine, host, agent_type='Loadbalancer agent', age=0,
              **values):
    """An agent row whose last heartbeat was age seconds ago."""
    now = liveness.utcnow()
    beat = now - datetime.timedelta(seconds=age)
    row = dict(id=str(uuid.uuid4()), agent_type=agent_type,
               binary='agentsched-agent', topic='agentsched-lbaas-agent',
               host=host, availability_zone='nova', admin_state_up=True,
               created_at=beat, started_at=beat, heartbeat_timestamp=beat,
               configurations='{"devices":[]}', load=0)
    row.update(values)
    with engine.begin() as connection:
        agents_db.insert(connection, row)
    return row['id']
