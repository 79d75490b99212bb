"""The lifecycle of a resource (a VIP, a VPN connection).

create: PENDING_CREATE, placed by the scheduler (ERROR with the reason when
nothing fits), deploy cast to the chosen agent, ACTIVE or ERROR when the agent
answers update_status. update: PENDING_UPDATE, deployed again. delete:
PENDING_DELETE and undeploy while its agent is alive (removed when the agent
confirms), removed at once otherwise (a returning agent drops what it no
longer owns). Secrets in a spec (a psk) are encrypted at rest and reach only
the agent that deploys the resource. Casts go after the commit of what they
tell. The statements are in db/resources.py and db/placement.py.
"""

import contextlib
import json
import uuid

from oslo_log import log as logging

from agentsched import algorithms
from agentsched import constants
from agentsched import exceptions
from agentsched import liveness
from agentsched import notifications
from agentsched.db import agents as agents_db
from agentsched.db import placement as placement_db
from agentsched.db import resources as resources_db
from agentsched.services import flavors as flavors_service
from agentsched.services import paging
from agentsched.services import placement
from agentsched.services import resource_types
from agentsched.services import secrets

LOG = logging.getLogger(__name__)

# What lists filter and sort on (the API checks its query against them).
FILTER_COLUMNS = resources_db.FILTER_COLUMNS
SORT_COLUMNS = tuple(resources_db.SORT_COLUMNS)


def _dump(document):
    return json.dumps(document, sort_keys=True)


def _check_agent(connection, agent_id):
    """NotFound (AgentNotFound) unless the agent exists."""
    if agents_db.get(connection, agent_id) is None:
        raise exceptions.NotFound('Agent %s could not be found.' % agent_id,
                                  'AgentNotFound')


def _being_deleted(row):
    return exceptions.Conflict('%s %s is being deleted' % (
        row.resource_type, row.id), 'ResourceBeingDeleted')


def _bound_already(row):
    return exceptions.Conflict(
        '%s %s is bound already: remove it from its agent first' % (
            row.resource_type, row.id), 'ResourceAlreadyBound')


@contextlib.contextmanager
def _key_required():
    """A secret no configured key encrypts or decrypts refuses the
    request (Conflict, NoEncryptionKey)."""
    try:
        yield
    except secrets.NoEncryptionKey as exc:
        raise exceptions.Conflict(str(exc), 'NoEncryptionKey') from None


def _not_on_agent(resource_type, resource_id, agent_id):
    return exceptions.NotFound('%s %s is not on agent %s' % (
        resource_type, resource_id, agent_id), 'ResourceNotOnAgent')


class ResourceService:

    def __init__(self, engine, conf, notifier, secret_box, placer=None,
                 registry=None, flavors=None):
        self._engine = engine
        self._conf = conf
        self._notifier = notifier
        self._secrets = secret_box
        self.placer = placer or placement.Placer(engine, conf)
        self.types = registry or resource_types.Registry()
        self.flavors = flavors or flavors_service.FlavorService(engine)

    def warm(self):
        """Before serving: what the first placement of each resource type
        would otherwise load (Placer.warm)."""
        self.placer.warm(self.types.names())

    # -- reading ---------------------------------------------------------

    def not_found(self, resource_type, resource_id):
        """The refusal for a resource that is not there for the caller, in
        Neutron's words (VipNotFound); resource_type None: any type."""
        if resource_type is None:
            return exceptions.NotFound('Resource %s could not be found.' %
                                       resource_id)
        name = self.types.get(resource_type).error_name
        return exceptions.NotFound('%s %s could not be found.' % (
            name, resource_id), name + 'NotFound')

    def get(self, resource_id, resource_type=None, project_id=None):
        """The resource row; NotFound if absent, of another type, or
        another project's (project_id None: any project's)."""
        with self._engine.connect() as connection:
            return self._row(connection, resource_id, resource_type,
                             project_id)

    def _row(self, connection, resource_id, resource_type=None,
             project_id=None):
        row = resources_db.get(connection, resource_id, resource_type,
                               project_id)
        if row is None:
            raise self.not_found(resource_type, resource_id)
        return row

    def list(self, resource_type, filters, sort, limit, marker_id, reverse,
             project_id=None, agent_id=None):
        """A page of resources of one type: project_id: that project's
        only; agent_id: those bound to that agent (NotFound if there is no
        such agent); marker_id: the row the page starts after (Invalid if
        it names none of these)."""
        with self._engine.connect() as connection:
            if agent_id is not None:
                _check_agent(connection, agent_id)
            marker = paging.marker_row(
                connection, lambda c, i: resources_db.get(
                    c, i, resource_type, project_id), marker_id,
                'a %s' % resource_type)
            return resources_db.query(
                connection, resource_type, filters, sort, limit, marker,
                reverse, project_id, agent_id)

    def hosting(self, resource_id):
        """Its placement_db.Hosting (resource, binding, agent, device), or
        None if it is not bound."""
        with self._engine.connect() as connection:
            return placement_db.hosting(connection, resource_id)

    def hosting_of(self, resource_type, resource_id):
        """The Hosting of a resource of that type; NotFound if there is no
        such resource, or it is not bound (ResourceNotBound)."""
        with self._engine.connect() as connection:
            self._row(connection, resource_id, resource_type)
            hosting = placement_db.hosting(connection, resource_id)
        if hosting is None:
            raise exceptions.NotFound('%s %s is not bound to an agent' % (
                resource_type, resource_id), 'ResourceNotBound')
        return hosting

    # -- the lifecycle ---------------------------------------------------

    def create(self, resource_type, project_id, name, spec,
               requirements=None, flavor_id=None):
        """Validate, store, place, deploy; return the row as it ends up.

        requirements or flavor_id (the requirements it stands for), not
        both. Invalid, NotFound (the flavor), Conflict (no key to encrypt
        its secrets with).
        """
        kind = self.types.get(resource_type)
        if requirements is not None and flavor_id:
            raise exceptions.Invalid('Give requirements or flavor_id, not '
                                     'both')
        resource_id = str(uuid.uuid4())
        now = liveness.utcnow()
        # The flavor is read and set in the create's transaction: the row
        # never exists without the flavor it was made from.
        with self._engine.begin() as connection:
            if flavor_id:
                requirements = self.flavors.requirements(
                    connection, flavor_id, kind)
            kind.validate(spec)
            public, secret = kind.split_secrets(spec)
            request = self._request(kind, requirements, project_id)
            resources_db.insert(connection, dict(
                id=resource_id, project_id=project_id,
                resource_type=resource_type, name=name, spec=_dump(public),
                requirements=_dump(request.requirements), units=kind.units,
                flavor_id=flavor_id or None,
                secrets=self._encrypt(secret),
                status=constants.STATUS_PENDING_CREATE, created_at=now,
                updated_at=now))
        hosting = self._place(resource_id, request)
        if hosting is not None and self._deploy(hosting):
            row = hosting.resource
        else:
            row = self.get(resource_id)   # ERROR: nothing fits, or withheld
        notifications.emit(resource_type + '.create.end',
                           notifications.resource_payload(row))
        return row

    def _request(self, kind, requirements, project_id):
        """What placing a resource of kind for project_id asks (its
        project's private devices are candidates, no other's)."""
        try:
            return algorithms.PlacementRequest(
                kind.name, kind.service_type, kind.units, requirements or {},
                project_id=project_id)
        except algorithms.InvalidRequest as exc:
            raise resource_types.InvalidResource('requirements: %s' % exc)

    def _encrypt(self, secret):
        """The stored form of a spec's secret fields (None if none)."""
        if not secret:
            return None
        with _key_required():
            return self._secrets.encrypt(secret)

    def _place(self, resource_id, request, only_agent=None):
        """Claim a device for a resource: its Hosting, or None (ERROR with
        the reason) if nothing fits.

        only_agent: an admin's choice of agent (placement by hand): the
        same checks, among that agent's devices only; nothing fitting
        raises NoValidCandidate then. AlreadyBound if it is bound.
        """
        only = None
        if only_agent is not None:
            def only(candidate):
                return candidate.agent_id == only_agent
        try:
            candidate = self.placer.place(resource_id, request, only)
        except algorithms.NoValidCandidate as exc:
            self.set_status(resource_id, constants.STATUS_ERROR, str(exc))
            LOG.warning('Cannot place %s %s: %s', request.resource_type,
                        resource_id, exc)
            if only_agent is not None:
                raise exceptions.NoValidCandidate(str(exc)) from None
            return None
        LOG.info('Placed %s %s on device %s of agent %s',
                 request.resource_type, resource_id, candidate.device_name,
                 candidate.host)
        return self.hosting(resource_id)

    def schedule(self, resource_id, only_agent=None):
        """Place an unbound resource and deploy it: its Hosting, or None
        (ERROR with the reason) if nothing fits.

        only_agent: an admin's choice of agent (placement by hand): the
        same checks, among that agent's devices only; NoValidCandidate if
        nothing there fits.
        """
        row = self.get(resource_id)
        kind = self.types.get(row.resource_type)
        hosting = self._place(
            resource_id, self._request(kind, json.loads(row.requirements),
                                       row.project_id),
            only_agent)
        if hosting is not None:
            self._deploy(hosting)
        return hosting

    def place_on_agent(self, resource_type, resource_id, agent_id):
        """An admin places an unbound resource on an agent by hand; the row
        as it ends up. NotFound (agent, resource), Conflict (being deleted,
        bound already), NoValidCandidate (nothing on that agent fits)."""
        with self._engine.connect() as connection:
            _check_agent(connection, agent_id)
            row = self._row(connection, resource_id, resource_type)
            bound = placement_db.binding_of(connection, resource_id)
        if row.status == constants.STATUS_PENDING_DELETE:
            raise _being_deleted(row)
        if bound is not None:
            raise _bound_already(row)
        try:
            self.schedule(resource_id, only_agent=agent_id)
        except placement.AlreadyBound:
            # Placed by someone else since we looked.
            raise _bound_already(row) from None
        return self.get(resource_id)

    def update(self, resource_id, name=None, spec_changes=None,
               resource_type=None):
        """Rename, or change the spec and deploy again; the row as it ends
        up. NotFound, Conflict (being deleted), Invalid."""
        row = self.get(resource_id, resource_type)
        if row.status == constants.STATUS_PENDING_DELETE:
            raise _being_deleted(row)
        kind = self.types.get(row.resource_type)
        values = {'updated_at': liveness.utcnow()}
        if name is not None:
            values['name'] = name
        if spec_changes:
            spec = dict(json.loads(row.spec), **spec_changes)
            with _key_required():
                secret = (self._secrets.decrypt(row.secrets) if row.secrets
                          else {})
            kind.validate(dict(spec, **secret), partial=True)
            public, new_secret = kind.split_secrets(spec)
            values['spec'] = _dump(public)
            if new_secret:
                values['secrets'] = self._encrypt(dict(secret, **new_secret))
            values['status'] = constants.STATUS_PENDING_UPDATE
        with self._engine.begin() as connection:
            if not resources_db.update(
                    connection, resource_id, values):
                # Being deleted, or gone, since it was read.
                if resources_db.get(connection, resource_id) is None:
                    raise self.not_found(row.resource_type, resource_id)
                raise _being_deleted(row)
        if spec_changes:
            if not self.deploy(resource_id) and \
                    self.hosting(resource_id) is None:
                # Not placed (an earlier ERROR): try again with the new spec.
                # Bound to a deleted agent: failover moves it, not this.
                self.schedule(resource_id)
        row = self.get(resource_id)
        notifications.emit(row.resource_type + '.update.end',
                           notifications.resource_payload(row))
        return row

    def delete(self, resource_id):
        """Undeploy through a live agent (PENDING_DELETE until it answers);
        removed at once if unplaced, or if its agent is gone or dead
        (forced down included). True if removed now."""
        hosting = self.hosting(resource_id)
        if hosting is not None and hosting.agent is not None and \
                liveness.agent_is_alive(hosting.agent,
                                        self._conf.agent_down_time):
            self.set_status(resource_id, constants.STATUS_PENDING_DELETE)
            self._notifier.undeploy(hosting.agent, self.message(hosting))
            return False
        self._remove(resource_id)
        return True

    def unbind(self, resource_id):
        """Take a resource off its agent and device (an admin's move);
        NotFound if it is not bound, Conflict if it is being deleted (its
        agent is undeploying it: unbound, it would be placed again)."""
        with self._engine.begin() as connection:
            row = resources_db.get(connection, resource_id)
            if row is not None and \
                    row.status == constants.STATUS_PENDING_DELETE:
                raise _being_deleted(row)
            binding = placement_db.unbind(connection, resource_id)
            if binding is None:
                raise exceptions.NotFound('Resource %s is not bound to an '
                                          'agent' % resource_id)
            agent = agents_db.get(connection, binding.agent_id)
            if not resources_db.set_status(
                    connection, [resource_id], constants.STATUS_PENDING_CREATE,
                    'unbound by an admin', liveness.utcnow()):
                # Deleted since it was read: the unbind is rolled back.
                raise _being_deleted(row)
        if agent is not None:
            self._notifier.undeploy(agent, {
                'id': resource_id, 'generation': binding.generation,
                'resource_type': binding.resource_type})

    def remove_from_agent(self, resource_type, resource_id, agent_id):
        """An admin unbinds a resource from the agent it is on. NotFound
        (agent, resource, or not on that agent)."""
        with self._engine.connect() as connection:
            _check_agent(connection, agent_id)
            self._row(connection, resource_id, resource_type)
            binding = placement_db.binding_of(connection, resource_id)
        if binding is None or binding.agent_id != agent_id:
            raise _not_on_agent(resource_type, resource_id, agent_id)
        try:
            self.unbind(resource_id)
        except exceptions.NotFound:
            # Unbound by someone else since we looked.
            raise _not_on_agent(resource_type, resource_id,
                                agent_id) from None

    def update_status(self, resource_id, generation, status, description,
                      agent_id=None):
        """An agent's answer; ignored if its generation moved on, or if
        agent_id (who sent it) is not the agent the resource is bound to."""
        with self._engine.connect() as connection:
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
            row = resources_db.get(connection, resource_id)
        if row is None:
            return False
        if status == 'DELETED' and \
                row.status == constants.STATUS_PENDING_DELETE:
            self._remove(resource_id)
            return True
        if status in (constants.STATUS_ACTIVE, constants.STATUS_ERROR):
            # Checked again where it is written, not by locking the reads
            # above (SQLite has no row locks): a delete (PENDING_DELETE) or
            # a failover committed since them would otherwise be
            # overwritten, and the delete never confirmed.
            with self._engine.begin() as connection:
                return resources_db.set_answered_status(
                    connection, resource_id, generation, agent_id, status,
                    description, liveness.utcnow())
        return False

    # -- shared with failover ----------------------------------------------

    def _remove(self, resource_id):
        with self._engine.begin() as connection:
            # Read only for the notification's name: a delete pays no more
            # while notifications are off.
            row = (resources_db.get(connection, resource_id)
                   if notifications.enabled() else None)
            placement_db.unbind(connection, resource_id)
            resources_db.delete(connection, resource_id)
        if row is not None:
            notifications.emit(row.resource_type + '.delete.end',
                               {row.resource_type + '_id': resource_id})

    def set_status(self, resource_id, status, description=None):
        """False if it is being deleted (kept: resources_db.set_status) or
        is gone."""
        with self._engine.begin() as connection:
            return bool(resources_db.set_status(
                connection, [resource_id], status, description,
                liveness.utcnow()))

    def message(self, hosting, with_secrets=False):
        """What an agent is told about a resource, from its Hosting.
        with_secrets: the device, and under 'secrets' what is secret (the
        spec's secret fields, the device's credentials), which the sender
        seals to the agent's host (sealing.seal_secrets); NoEncryptionKey,
        saying whose, if they cannot be decrypted."""
        row, device = hosting.resource, hosting.device
        message = {
            'id': row.id, 'resource_type': row.resource_type,
            'name': row.name, 'project_id': row.project_id,
            'spec': json.loads(row.spec),
            'generation': hosting.binding.generation,
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

    def deploy(self, resource_id):
        """Cast deploy to the resource's agent. False if nothing was cast
        (unbound, agent deleted, or withheld: ERROR)."""
        hosting = self.hosting(resource_id)
        return hosting is not None and self._deploy(hosting)

    def _deploy(self, hosting):
        if hosting.agent is None:
            return False
        if hosting.resource.status == constants.STATUS_PENDING_DELETE:
            # Deleted after the caller's change committed (a failover's,
            # a spec change's): its agent is undeploying it.
            return False
        try:
            message = self.message(hosting, with_secrets=True)
        except secrets.NoEncryptionKey as exc:
            self._withhold(hosting.resource.id, exc)
            return False
        self._notifier.deploy(hosting.agent, message)
        return True

    def resources_of_agent(self, agent_id, with_secrets=False):
        """(deploy messages of every resource bound to an agent, ids of
        those withheld) for its sync: one resource whose secrets cannot be
        decrypted is withheld (ERROR), the others still go. One query,
        whatever their number (and one more per withheld)."""
        with self._engine.connect() as connection:
            hostings = placement_db.hostings_of_agent(connection, agent_id)
        messages, withheld = [], []
        for hosting in hostings:
            try:
                messages.append(self.message(hosting, with_secrets))
            except secrets.NoEncryptionKey as exc:
                self._withhold(hosting.resource.id, exc)
                withheld.append(hosting.resource.id)
        return messages, withheld
