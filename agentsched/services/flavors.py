"""Flavors and service profiles, Neutron's flavor framework.

A flavor (name, service_type, enabled) is what a tenant picks; its enabled
service profile's metainfo (a JSON string) holds the placement requirements
it stands for. Rules kept here: metainfo must be valid requirements (so a
flavor never fails at a resource's create for a typo in its profile), a
flavor used by resources and a profile used by flavors cannot be deleted,
a profile is associated with a flavor once.
"""

import json
import uuid

import fastjsonschema

from agentsched.algorithms import constraints
from agentsched import exceptions
from agentsched.db import flavors as flavors_db
from agentsched.db import resources as resources_db
from agentsched.services import paging
from agentsched.services import resource_types

# What lists filter and sort on (the API checks its query against them).
FLAVOR_FILTERS = flavors_db.FLAVOR_FILTERS
FLAVOR_SORT = tuple(flavors_db.FLAVOR_SORT)
PROFILE_FILTERS = flavors_db.PROFILE_FILTERS
PROFILE_SORT = tuple(flavors_db.PROFILE_SORT)

_check_requirements = fastjsonschema.compile(
    resource_types.REQUIREMENTS_SCHEMA)


def _flavor_not_found(flavor_id):
    return exceptions.NotFound('Flavor %s could not be found.' % flavor_id,
                               'FlavorNotFound')


def _profile_not_found(profile_id):
    return exceptions.NotFound('Service Profile %s could not be found.' %
                               profile_id, 'ServiceProfileNotFound')


def metainfo(text):
    """The stored form of a profile's metainfo; Invalid unless it is
    placement requirements: the schema, and the capability constraints a
    placement request checks."""
    try:
        document = json.loads(text)
        _check_requirements(document)
        constraints.validate(dict(document.get('capabilities') or {}))
    except ValueError as exc:
        # JSONDecodeError, the schema's and InvalidRequest are ValueErrors.
        message = getattr(exc, 'message', None) or str(exc)
        raise exceptions.Invalid('metainfo: %s' % message.replace(
            'data', 'metainfo', 1))
    return json.dumps(document, sort_keys=True)


class FlavorService:

    def __init__(self, engine):
        self._engine = engine

    # -- flavors ----------------------------------------------------------

    def list_flavors(self, filters, sort, limit, marker_id, reverse):
        """(a page of flavors, {flavor id: its service profile ids})."""
        with self._engine.connect() as connection:
            marker = paging.marker_row(
                connection, lambda c, i: flavors_db.get(
                    c, flavors_db.flavors, i), marker_id, 'a flavor')
            rows = flavors_db.query(
                connection, flavors_db.flavors, flavors_db.FLAVOR_SORT,
                filters, sort, limit, marker, reverse)
            return rows, flavors_db.profile_ids(
                connection, [row.id for row in rows])

    def get_flavor(self, flavor_id):
        """(the flavor, its service profile ids); NotFound."""
        with self._engine.connect() as connection:
            return self._with_profiles(
                connection, self._flavor(connection, flavor_id))

    def _flavor(self, connection, flavor_id):
        row = flavors_db.get(connection, flavors_db.flavors, flavor_id)
        if row is None:
            raise _flavor_not_found(flavor_id)
        return row

    def _with_profiles(self, connection, row):
        return row, flavors_db.profile_ids(connection, [row.id])[row.id]

    def create_flavor(self, name, service_type, description=None,
                      enabled=True):
        """(the new flavor, its service profile ids: none)."""
        values = {'id': str(uuid.uuid4()), 'name': name,
                  'description': description, 'service_type': service_type,
                  'enabled': enabled}
        with self._engine.begin() as connection:
            flavors_db.insert(connection, flavors_db.flavors, values)
            return flavors_db.get(connection, flavors_db.flavors,
                                  values['id']), []

    def update_flavor(self, flavor_id, changes):
        """(the flavor as changed, its service profile ids); NotFound."""
        with self._engine.begin() as connection:
            self._flavor(connection, flavor_id)
            if changes:
                flavors_db.update(connection, flavors_db.flavors, flavor_id,
                                  changes)
            return self._with_profiles(
                connection, self._flavor(connection, flavor_id))

    def delete_flavor(self, flavor_id):
        """NotFound; Conflict (FlavorInUse) while resources use it."""
        with self._engine.begin() as connection:
            self._flavor(connection, flavor_id)
            used = resources_db.count_with_flavor(connection, flavor_id)
            if used:
                raise exceptions.Conflict(
                    'Flavor %s is used by %d resource(s)' % (flavor_id, used),
                    'FlavorInUse')
            flavors_db.delete(connection, flavors_db.flavors, flavor_id)

    def requirements(self, connection, flavor_id, kind):
        """The requirements a flavor stands for, for a resource of kind
        (services/resource_types): its first enabled service profile's
        metainfo (first by id, so the choice is stable). NotFound, or
        Invalid if the flavor cannot serve. One query, in the caller's
        transaction (a resource's create)."""
        found = flavors_db.with_first_profile(connection, flavor_id)
        if found is None:
            raise _flavor_not_found(flavor_id)
        if found.service_type != kind.service_type:
            raise exceptions.Invalid(
                'flavor_id: flavor %s is for service type %s; a %s needs %s'
                % (flavor_id, found.service_type, kind.name,
                   kind.service_type))
        if not found.enabled:
            raise exceptions.Invalid('flavor_id: flavor %s is disabled' %
                                     flavor_id)
        if found.metainfo is None:
            raise exceptions.Invalid('flavor_id: flavor %s has no enabled '
                                     'service profile' % flavor_id)
        return json.loads(found.metainfo)

    # -- service profiles -------------------------------------------------

    def list_profiles(self, filters, sort, limit, marker_id, reverse):
        with self._engine.connect() as connection:
            marker = paging.marker_row(
                connection, lambda c, i: flavors_db.get(
                    c, flavors_db.profiles, i), marker_id,
                'a service_profile')
            return flavors_db.query(
                connection, flavors_db.profiles, flavors_db.PROFILE_SORT,
                filters, sort, limit, marker, reverse)

    def get_profile(self, profile_id):
        with self._engine.connect() as connection:
            return self._profile(connection, profile_id)

    def _profile(self, connection, profile_id):
        row = flavors_db.get(connection, flavors_db.profiles, profile_id)
        if row is None:
            raise _profile_not_found(profile_id)
        return row

    def create_profile(self, description=None, driver=None,
                       metainfo_text=None, enabled=True):
        """Invalid unless metainfo_text (none: '{}') is requirements."""
        values = {'id': str(uuid.uuid4()), 'description': description,
                  'driver': driver,
                  'metainfo': metainfo(metainfo_text or '{}'),
                  'enabled': enabled}
        with self._engine.begin() as connection:
            flavors_db.insert(connection, flavors_db.profiles, values)
            return flavors_db.get(connection, flavors_db.profiles,
                                  values['id'])

    def update_profile(self, profile_id, changes):
        changes = dict(changes)
        if 'metainfo' in changes:
            changes['metainfo'] = metainfo(changes['metainfo'] or '{}')
        with self._engine.begin() as connection:
            self._profile(connection, profile_id)
            if changes:
                flavors_db.update(connection, flavors_db.profiles,
                                  profile_id, changes)
            return self._profile(connection, profile_id)

    def delete_profile(self, profile_id):
        """NotFound; Conflict (ServiceProfileInUse) while flavors use it."""
        with self._engine.begin() as connection:
            self._profile(connection, profile_id)
            used_by = flavors_db.flavors_of_profile(connection, profile_id)
            if used_by:
                raise exceptions.Conflict(
                    'Service Profile %s is used by flavor(s) %s' % (
                        profile_id, ', '.join(sorted(used_by))),
                    'ServiceProfileInUse')
            flavors_db.delete(connection, flavors_db.profiles, profile_id)

    # -- their association ------------------------------------------------

    def associate(self, flavor_id, profile_id):
        """NotFound; Conflict if the two are associated already."""
        with self._engine.begin() as connection:
            self._flavor(connection, flavor_id)
            self._profile(connection, profile_id)
            if not flavors_db.associate(connection, flavor_id, profile_id):
                raise exceptions.Conflict(
                    'Service Profile %s is already associated with flavor '
                    '%s' % (profile_id, flavor_id),
                    'FlavorServiceProfileBindingExists')

    def dissociate(self, flavor_id, profile_id):
        with self._engine.begin() as connection:
            self._flavor(connection, flavor_id)
            if not flavors_db.dissociate(connection, flavor_id, profile_id):
                raise exceptions.NotFound(
                    'Service Profile %s is not associated with flavor %s' % (
                        profile_id, flavor_id),
                    'FlavorServiceProfileBindingNotFound')
