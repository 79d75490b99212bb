"""The REST API's full WSGI pipeline over a real database, for tests."""

import datetime
import uuid

from werkzeug import test as werkzeug_test

from agentsched import liveness
from agentsched import sealing
from agentsched.api import app as api_app
from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from agentsched.services import resources as resources_service
from agentsched.services import secrets
from agentsched.services import wiring


class RecordingNotifier:
    """Records casts the API would send to agents."""

    def __init__(self):
        self.calls = []
        # (agent host, resource message) of each deploy and undeploy cast.
        self.deployed = []
        self.undeployed = []

    def agent_updated(self, agent, admin_state_up):
        self.calls.append((agent.host, admin_state_up))

    def devices_updated(self, agent):
        self.calls.append((agent.host, 'devices_updated'))

    def deploy(self, agent, resource):
        # As the real notifier sends it without [signing] keys: the
        # secrets folded in.
        self.deployed.append((agent.host, sealing.seal_secrets(
            None, agent.host, resource)))
        return True

    def undeploy(self, agent, resource):
        self.undeployed.append((agent.host, resource))
        return True


def services(conf, engine, notifier=None, secret_box=None):
    """The server's services over engine, as the server wires them."""
    return wiring.build(conf, engine, notifier or RecordingNotifier(),
                        secret_box or secrets.from_conf(conf))


def app(conf, engine, notifier=None, secret_box=None):
    return api_app.make_app(services(conf, engine, notifier, secret_box))


def client(conf, engine, notifier=None, secret_box=None, built=None):
    """built: the app's Services, when the test calls them too
    (update_status, as an agent's answer would)."""
    built = built or services(conf, engine, notifier, secret_box)
    return werkzeug_test.Client(api_app.make_app(built))


def resource_service(conf, engine, notifier, secret_box):
    return resources_service.ResourceService(engine, conf, notifier,
                                             secret_box)


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


def add_device(client, engine, agent_id, name, device_type='haproxy',
               capacity=10, capabilities=None, physical_info=None,
               health='OK', **fields):
    """A device registered through the API, linked to an agent, with the
    health an agent's report would have given it (a new device's health is
    UNKNOWN, which the scheduler never picks)."""
    device = dict(name=name, device_type=device_type, capacity=capacity,
                  capabilities=capabilities or {},
                  physical_info=physical_info or {'address': '192.0.2.10'},
                  **fields)
    response = client.post('/v2.0/agents/%s/devices' % agent_id,
                           json={'device': device})
    assert response.status_code == 201, response.get_data(as_text=True)
    device_id = response.json['device']['id']
    with engine.begin() as connection:
        devices_db.set_health(connection, device_id, health)
    return device_id
