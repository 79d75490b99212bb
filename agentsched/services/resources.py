"""The lifecycle of a resource (a VIP, a VPN connection).

create: PENDING_CREATE, placed by the scheduler (ERROR with the reason when
nothing fits), deploy cast to the chosen agent, ACTIVE or ERROR when the agent
answers update_status. update: PENDING_UPDATE, deployed again. delete:
PENDING_DELETE and undeploy while its agent is alive (removed when the agent
confirms), removed at once otherwise (a returning agent drops what it no
longer owns). Secrets in a spec (a psk) are encrypted at rest and reach only
the agent that deploys the resource.
"""

import functools
import json
import uuid

from oslo_log import log as logging
import sqlalchemy as sa

from agentsched import algorithms
from agentsched import constants
from agentsched import liveness
from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from agentsched.db import models
from agentsched.db import placement as placement_db
from agentsched.services import placement
from agentsched.services import resource_types
from agentsched.services import secrets

LOG = logging.getLogger(__name__)

_resources = models.resources


class NotFound(Exception):
    pass


class Conflict(Exception):
    pass


def _on_agent(agent_id, candidate):
    return candidate.agent_id == agent_id


def _dump(document):
    return json.dumps(document, sort_keys=True)


class ResourceService:

    def __init__(self, engine, conf, notifier, secret_box, placer=None,
                 registry=None):
        self._engine = engine
        self._conf = conf
        self._notifier = notifier
        self._secrets = secret_box
        self.placer = placer or placement.Placer(engine, conf)
        self.types = registry or resource_types.Registry()

    # -- reading ---------------------------------------------------------

    def get(self, resource_id, resource_type=None, project_id=None):
        """The resource row; NotFound if absent or not the caller's."""
        with self._engine.connect() as connection:
            row = connection.execute(sa.select(_resources).where(
                _resources.c.id == resource_id)).first()
        if row is None or (resource_type and
                           row.resource_type != resource_type) or (
                project_id is not None and row.project_id != project_id):
            raise NotFound(resource_id)
        return row

    def hosting(self, resource_id):
        """(binding, agent, device) rows of a resource, or None."""
        with self._engine.connect() as connection:
            binding = placement_db.binding_of(connection, resource_id)
            if binding is None:
                return None
            return (binding, agents_db.get(connection, binding.agent_id),
                    devices_db.get(connection, binding.device_id))

    # -- the lifecycle ---------------------------------------------------

    def create(self, resource_type, project_id, name, spec, requirements):
        """Validate, store, place, deploy; return the row as it ends up."""
        kind = self.types.get(resource_type)
        kind.validate(spec)
        public, secret = kind.split_secrets(spec)
        request = self._request(kind, requirements)
        now = liveness.utcnow()
        resource_id = str(uuid.uuid4())
        with self._engine.begin() as connection:
            connection.execute(sa.insert(_resources).values(
                id=resource_id, project_id=project_id,
                resource_type=resource_type, name=name, spec=_dump(public),
                requirements=_dump(request.requirements), units=kind.units,
                secrets=self._secrets.encrypt(secret) if secret else None,
                status=constants.STATUS_PENDING_CREATE, created_at=now,
                updated_at=now))
        self.schedule(resource_id)
        return self.get(resource_id)

    def _request(self, kind, requirements):
        try:
            return algorithms.PlacementRequest(
                kind.name, kind.service_type, kind.units, requirements or {})
        except algorithms.InvalidRequest as exc:
            raise resource_types.InvalidResource('requirements: %s' % exc)

    def schedule(self, resource_id, only_agent=None):
        """Place an unbound resource; ERROR with the reason if nothing fits.

        only_agent: an admin's choice of agent (placement by hand): the
        same checks, among that agent's devices only.
        """
        row = self.get(resource_id)
        kind = self.types.get(row.resource_type)
        request = self._request(kind, json.loads(row.requirements))
        only = None
        if only_agent is not None:
            only = functools.partial(_on_agent, only_agent)
        try:
            candidate = self.placer.place(resource_id, request, only)
        except algorithms.NoValidCandidate as exc:
            self.set_status(resource_id, constants.STATUS_ERROR, str(exc))
            LOG.warning('Cannot place %s %s: %s', row.resource_type,
                        resource_id, exc)
            if only_agent is not None:
                raise Conflict(str(exc))
            return None
        LOG.info('Placed %s %s on device %s of agent %s', row.resource_type,
                 resource_id, candidate.device_name, candidate.host)
        self.deploy(resource_id)
        return candidate

    def update(self, resource_id, name=None, spec_changes=None):
        row = self.get(resource_id)
        kind = self.types.get(row.resource_type)
        values = {'updated_at': liveness.utcnow()}
        if name is not None:
            values['name'] = name
        if spec_changes:
            spec = dict(json.loads(row.spec), **spec_changes)
            secret = (self._secrets.decrypt(row.secrets) if row.secrets
                      else {})
            kind.validate(dict(spec, **secret), partial=True)
            public, new_secret = kind.split_secrets(spec)
            values['spec'] = _dump(public)
            if new_secret:
                values['secrets'] = self._secrets.encrypt(
                    dict(secret, **new_secret))
            values['status'] = constants.STATUS_PENDING_UPDATE
        with self._engine.begin() as connection:
            connection.execute(sa.update(_resources).where(
                _resources.c.id == resource_id).values(**values))
        if spec_changes:
            if not self.deploy(resource_id) and \
                    self.hosting(resource_id) is None:
                # Not placed (an earlier ERROR): try again with the new spec.
                # Bound to a deleted agent: failover moves it, not this.
                self.schedule(resource_id)
        return self.get(resource_id)

    def delete(self, resource_id):
        """Undeploy through a live agent (PENDING_DELETE until it answers);
        removed at once if unplaced, or if its agent is gone or dead
        (forced down included)."""
        hosting = self.hosting(resource_id)
        if hosting is not None:
            binding, agent, _device = hosting
            if agent is not None and liveness.agent_is_alive(
                    agent, self._conf.agent_down_time):
                self.set_status(resource_id, constants.STATUS_PENDING_DELETE)
                self._notifier.undeploy(agent, self.message(resource_id))
                return False
        self._remove(resource_id)
        return True

    def unbind(self, resource_id):
        """Take a resource off its agent and device (an admin's move)."""
        with self._engine.begin() as connection:
            binding = placement_db.unbind(connection, resource_id)
            if binding is None:
                raise NotFound(resource_id)
            agent = agents_db.get(connection, binding.agent_id)
            connection.execute(sa.update(_resources).where(
                _resources.c.id == resource_id).values(
                status=constants.STATUS_PENDING_CREATE,
                status_description='unbound by an admin',
                updated_at=liveness.utcnow()))
        if agent is not None:
            self._notifier.undeploy(agent, {
                'id': resource_id, 'generation': binding.generation,
                'resource_type': self.get(resource_id).resource_type})

    def update_status(self, resource_id, generation, status, description,
                      agent_id=None):
        """An agent's answer; ignored if its generation moved on, or if
        agent_id (who sent it) is not the agent the resource is bound to."""
        with self._engine.begin() as connection:
            binding = placement_db.binding_of(connection, resource_id)
            if binding is None or binding.generation != generation:
                LOG.info('Ignoring status %s of %s generation %s: the '
                         'binding is %s', status, resource_id, generation,
                         binding.generation if binding else 'gone')
                return False
            if agent_id is not None and binding.agent_id != agent_id:
                LOG.warning('Refused status %s of %s from agent %s: it is '
                            'bound to agent %s', status, resource_id,
                            agent_id, binding.agent_id)
                return False
            row = connection.execute(sa.select(_resources.c.status).where(
                _resources.c.id == resource_id)).first()
        if row is None:
            return False
        if status == 'DELETED' and \
                row.status == constants.STATUS_PENDING_DELETE:
            self._remove(resource_id)
            return True
        if status in (constants.STATUS_ACTIVE, constants.STATUS_ERROR) and \
                row.status != constants.STATUS_PENDING_DELETE:
            self.set_status(resource_id, status, description)
            return True
        return False

    # -- shared with failover ----------------------------------------------

    def _remove(self, resource_id):
        with self._engine.begin() as connection:
            placement_db.unbind(connection, resource_id)
            connection.execute(sa.delete(_resources).where(
                _resources.c.id == resource_id))

    def set_status(self, resource_id, status, description=None):
        with self._engine.begin() as connection:
            connection.execute(sa.update(_resources).where(
                _resources.c.id == resource_id).values(
                status=status,
                status_description=(description or '')[:255] or None,
                updated_at=liveness.utcnow()))

    def message(self, resource_id, with_secrets=False, hosting=None,
                row=None):
        """What an agent is told about a resource; hosting: its (binding,
        agent, device), row: its resources row, when the caller has them.
        with_secrets: the device, and under 'secrets' what is secret (the
        spec's secret fields, the device's credentials), which the sender
        seals to the agent's host (sealing.seal_secrets); NoEncryptionKey,
        saying whose, if they cannot be decrypted."""
        row = row or self.get(resource_id)
        binding, _agent, device = hosting or self.hosting(resource_id)
        message = {
            'id': row.id, 'resource_type': row.resource_type,
            'name': row.name, 'project_id': row.project_id,
            'spec': json.loads(row.spec), 'generation': binding.generation,
        }
        if with_secrets:
            message['device'] = {
                'id': device.id, 'name': device.name,
                'device_type': device.device_type,
                'physical_info': json.loads(device.physical_info),
                'credentials': None}
            message['secrets'] = {
                'spec': (self._decrypt(row.secrets, 'its secrets')
                         if row.secrets else {}),
                'device': {'credentials': (self._decrypt(
                    device.credentials,
                    'the credentials of its device %s' % device.name)
                    if device.credentials else None)}}
        return message

    def _decrypt(self, token, whose):
        try:
            return self._secrets.decrypt(token)
        except secrets.NoEncryptionKey as exc:
            raise secrets.NoEncryptionKey('%s: %s' % (whose, exc)) from None

    def _withhold(self, resource_id, exc):
        """A resource that cannot be sent for want of a key: ERROR with the
        reason (never the secret). Nothing is cast, so its agent keeps what
        it has: it may be a working tunnel."""
        description = 'not deployed: %s' % exc
        self.set_status(resource_id, constants.STATUS_ERROR, description)
        LOG.error('Resource %s %s', resource_id, description)

    def deploy(self, resource_id, row=None):
        """Cast deploy to the resource's agent; row: its resources row if
        the caller has it (its spec and secrets, not its status). False if
        nothing was cast (unbound, or withheld: ERROR)."""
        hosting = self.hosting(resource_id)
        if hosting is None or hosting[1] is None:
            return False
        try:
            message = self.message(resource_id, with_secrets=True,
                                   hosting=hosting, row=row)
        except secrets.NoEncryptionKey as exc:
            self._withhold(resource_id, exc)
            return False
        self._notifier.deploy(hosting[1], message)
        return True

    def resources_of_agent(self, agent_id, with_secrets=False):
        """(deploy messages of every resource bound to an agent, ids of
        those withheld) for its sync: one resource whose secrets cannot be
        decrypted is withheld (ERROR), the others still go."""
        with self._engine.connect() as connection:
            ids = [row.resource_id for row in connection.execute(
                sa.select(models.bindings.c.resource_id).where(
                    models.bindings.c.agent_id == agent_id))]
        messages, withheld = [], []
        for resource_id in ids:
            try:
                messages.append(self.message(resource_id, with_secrets))
            except secrets.NoEncryptionKey as exc:
                self._withhold(resource_id, exc)
                withheld.append(resource_id)
        return messages, withheld
