"""The server end of the agent's calls: what the agent should manage.

Agents keep no inventory of their own (the seed thread is explicit): at
start, on 'revived' and when told that its devices changed, an agent asks
here and gets its devices with physical info and credentials, and the
resources bound to it with their secrets. With [signing] master keys only a
signed call is answered, as the host it was signed by, and the secrets go
sealed to that host (docs/security.md); without, they cross the bus in
clear. A secret no configured key decrypts fails its own device or resource
only, never the whole sync.
"""

import json
import threading

from oslo_log import log as logging
import oslo_messaging

from agentsched import constants
from agentsched import metrics
from agentsched import sealing
from agentsched import signing
from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from agentsched.services import data_plane
from agentsched.services import secrets

LOG = logging.getLogger(__name__)


class AgentSyncEndpoint:
    """Calls from agents, on the agentsched-plugin topic.

    API version history:
        1.0 - sync(agent_type, host)
        1.1 - sync also returns the resources bound to the agent (deploy
              messages with their generations); update_status
        1.2 - sync also returns 'elsewhere': ids of resources on the
              agent's devices that other agents manage (failover rebinds)
        1.3 - sync also returns 'withheld': ids of resources bound to the
              agent whose secrets cannot be decrypted (ERROR), which the
              agent leaves as they are; a device whose credentials cannot
              be decrypted comes with credentials None and
              'credentials_error'
        1.4 - sync and update_status take signature; update_status names
              its agent (agent_type, host); secrets may come sealed to the
              agent's host ('sealed'); sync's answer is signed for the
              request ('signature' over {'request': the request's mac,
              'answer': the rest}), so a forged reply is refused
        1.5 - update_operating_status, update_statistics: an agent's batch
              of what its devices' data plane does (services/data_plane.py)
    """
    target = oslo_messaging.Target(namespace='agent', version='1.5')

    def __init__(self, engine, secret_box, resources=None, keyring=None,
                 verifier=None, signer=None, enforce=True, data_plane=None):
        """keyring, verifier, signer: the servers' (signing.py); None for a
        deployment without [signing] master keys. enforce: False takes
        unsigned calls while a fleet turns signing on."""
        self._engine = engine
        self._secrets = secret_box
        self._resources = resources
        self._keyring = keyring
        self._verifier = verifier
        self._signer = signer
        self._enforce = enforce
        self._data_plane = data_plane
        self._lock = threading.Lock()
        self.refused = 0
        # Data-plane batches refused by their schema.
        self.invalid = 0

    def _check(self, method, arguments, signature):
        """BadSignature (counted, logged once) unless the call is signed by
        the host it names, or no master keys are configured."""
        agent_type, host = arguments.get('agent_type'), arguments.get('host')
        try:
            if not (isinstance(agent_type, str) and isinstance(host, str) and
                    len(agent_type) <= constants.MAX_STRING_LENGTH and
                    len(host) <= constants.MAX_STRING_LENGTH):
                raise signing.BadSignature('agent_type and host must name '
                                           'the calling agent')
            if self._verifier is not None and (
                    signature is not None or self._enforce):
                self._verifier.verify(method, arguments, signature, host,
                                      agent_type)
        except signing.BadSignature as exc:
            metrics.rpc_call(method, 'refused')
            with self._lock:
                self.refused += 1
            LOG.warning('Refused %s claiming agent %r on %r: %s', method,
                        str(agent_type)[:64], str(host)[:64], exc)
            raise

    @oslo_messaging.expected_exceptions(signing.BadSignature)
    def sync(self, context, agent_type, host, signature=None):
        self._check('sync', {'agent_type': agent_type, 'host': host},
                    signature)
        metrics.rpc_call('sync')
        answer = self._answer(agent_type, host)
        if self._signer is not None:
            # Replies carry no signature of their own on the bus: anyone
            # who reads the call can race the server's reply.
            answer['signature'] = self._signer.sign(
                'sync_answer', {'request': (signature or {}).get('mac'),
                                'answer': answer}, host, agent_type)
        return answer

    def _answer(self, agent_type, host):
        with self._engine.begin() as connection:
            agent = agents_db.get_by_type_and_host(connection, agent_type,
                                                   host)
            if agent is None:
                return {'devices': [], 'resources': []}
            rows = devices_db.devices_of_agent(connection, agent.id)
            elsewhere = devices_db.resources_of_others(
                connection, [row.id for row in rows], agent.id)
            agents_db.update(connection, agent.id, {'resources_synced': True})
        devices = [sealing.seal_secrets(self._keyring, host,
                                        self._device(row)) for row in rows]
        resources, withheld = (self._resources.resources_of_agent(
            agent.id, with_secrets=True) if self._resources else ([], []))
        resources = [sealing.seal_secrets(self._keyring, host, resource)
                     for resource in resources]
        LOG.info('Agent %s on %s synced: %d devices, %d resources, %d '
                 'withheld', agent_type, host, len(devices), len(resources),
                 len(withheld))
        return {'devices': devices, 'resources': resources,
                'elsewhere': elsewhere, 'withheld': withheld}

    @oslo_messaging.expected_exceptions(signing.BadSignature)
    def update_status(self, context, resource_id, generation, status,
                      description=None, agent_type=None, host=None,
                      signature=None):
        """A deploy or undeploy's outcome; stale generations are ignored,
        and so is a status from any agent but the resource's."""
        agent_id = None
        if agent_type is not None or self._verifier is not None:
            self._check('update_status', {
                'agent_type': agent_type, 'host': host,
                'resource_id': resource_id, 'generation': generation,
                'status': status, 'description': description}, signature)
            with self._engine.connect() as connection:
                agent = agents_db.get_by_type_and_host(connection,
                                                       agent_type, host)
            if agent is None:
                return False
            agent_id = agent.id
        metrics.rpc_call('update_status')
        return self._resources.update_status(resource_id, generation, status,
                                             description, agent_id=agent_id)

    @oslo_messaging.expected_exceptions(signing.BadSignature,
                                        data_plane.InvalidDataPlane)
    def update_operating_status(self, context, agent_type, host, statuses,
                                signature=None):
        """A batch of operating statuses that changed on the agent's
        devices."""
        return self._record('update_operating_status', agent_type, host,
                            'statuses', statuses, signature)

    @oslo_messaging.expected_exceptions(signing.BadSignature,
                                        data_plane.InvalidDataPlane)
    def update_statistics(self, context, agent_type, host, statistics,
                          signature=None):
        """A batch of the agent's devices' counters; answers how many
        were taken."""
        return self._record('update_statistics', agent_type, host,
                            'statistics', statistics, signature)

    def _record(self, method, agent_type, host, name, batch, signature):
        self._check(method, {'agent_type': agent_type, 'host': host,
                             name: batch}, signature)
        record = (self._data_plane.record_operating_statuses
                  if name == 'statuses'
                  else self._data_plane.record_statistics)
        try:
            taken = record(agent_type, host, batch)
        except data_plane.InvalidDataPlane as exc:
            metrics.rpc_call(method, 'invalid')
            with self._lock:
                self.invalid += 1
            LOG.warning('Refused %s from agent %r on %r: %s', method,
                        agent_type[:64], host[:64], str(exc)[:200])
            raise
        metrics.rpc_call(method)
        return taken

    def _device(self, row):
        device = {
            'id': row.id, 'name': row.name, 'device_type': row.device_type,
            'service_type': row.service_type,
            'capabilities': json.loads(row.capabilities),
            'capacity': row.capacity,
            'physical_info': json.loads(row.physical_info),
            'credentials': None,
            'admin_state_up': row.admin_state_up, 'health': row.health,
        }
        if row.credentials:
            try:
                device['secrets'] = {'credentials': self._secrets.decrypt(
                    row.credentials)}
            except secrets.NoEncryptionKey as exc:
                # This device goes without; the agent's others are fine.
                device['credentials_error'] = str(exc)
                LOG.error('Device %s (%s) is sent without credentials: %s',
                          row.name, row.id, exc)
        return device
