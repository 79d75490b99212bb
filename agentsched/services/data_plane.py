"""What agents report of the data plane: operating statuses and statistics.

An agent reads them from its devices and sends one batch per interval
(agents/data_plane.py): statuses when they changed, statistics as the
device's counters. Both cross the bus, so a batch is checked against a
bounded schema first: one bad batch is refused whole (InvalidDataPlane,
counted) and costs no one else anything. Only resources bound to the
reporting agent at the reported generation are written (db/data_plane.py).

Statistics: a device's counters only grow while its driver keeps its files;
the server turns them into totals that only grow across agent restarts,
moves and resets: a report from the same device adds what grew since the
last one, a report from another device or with a lower counter (haproxy
restarted without its carry) starts a new run and adds all it says.
"""

import json

import fastjsonschema
from oslo_log import log as logging

from agentsched import constants
from agentsched import exceptions
from agentsched import liveness
from agentsched.db import data_plane as data_plane_db

LOG = logging.getLogger(__name__)

# One agent's resources in one batch; an agent with more sends several.
MAX_BATCH = 10000

_ID = {'type': 'string', 'minLength': 1,
       'maxLength': constants.MAX_RESOURCE_ID_LENGTH}
_GENERATION = {'type': 'integer', 'minimum': 0,
               'maximum': constants.MAX_DB_BIGINT}
_STATUS = {'enum': list(constants.OPERATING_STATUSES)}
_COUNT = {'type': 'integer', 'minimum': 0,
          'maximum': constants.MAX_DB_BIGINT}

_check_statuses = fastjsonschema.compile({
    'type': 'array', 'maxItems': MAX_BATCH,
    'items': {
        'type': 'object', 'additionalProperties': False,
        'required': ['id', 'generation', 'operating_status'],
        'properties': {
            'id': _ID, 'generation': _GENERATION,
            'operating_status': _STATUS,
            'members': {
                'type': 'object', 'maxProperties': constants.MAX_MEMBERS,
                # An address (a hostname at most), ':' and a port.
                'propertyNames': {
                    'maxLength': constants.MAX_HOSTNAME_LENGTH + 6},
                'additionalProperties': _STATUS}}}})

_check_statistics = fastjsonschema.compile({
    'type': 'array', 'maxItems': MAX_BATCH,
    'items': {
        'type': 'object', 'additionalProperties': False,
        'required': ['id', 'generation'] + list(constants.STATS_FIELDS),
        'properties': dict(
            {'id': _ID, 'generation': _GENERATION},
            **{field: _COUNT for field in constants.STATS_FIELDS})}})


class InvalidDataPlane(exceptions.Invalid):
    """A batch that breaks the schema; str() says where."""


def _checked(check, batch, what):
    try:
        return check(batch)
    except fastjsonschema.JsonSchemaException as exc:
        raise InvalidDataPlane('%s: %s' % (what, getattr(
            exc, 'message', exc))) from None


def _dump(members):
    return None if members is None else json.dumps(members, sort_keys=True)


class DataPlaneService:

    def __init__(self, engine):
        self._engine = engine

    def record_operating_statuses(self, agent_type, host, statuses):
        """Store one agent's batch of statuses: one statement. Items
        about resources not bound to that agent at that generation change
        nothing, silently (the agent learns of moves from its sync)."""
        _checked(_check_statuses, statuses, 'operating statuses')
        with self._engine.begin() as connection:
            data_plane_db.set_operating_statuses(
                connection, agent_type, host, [
                    dict(item, member_statuses=_dump(item.get('members')))
                    for item in statuses])

    def record_statistics(self, agent_type, host, statistics):
        """Add one agent's batch of counters to the totals: three
        statements at most. Returns how many items were taken (bound to
        that agent at that generation)."""
        _checked(_check_statistics, statistics, 'statistics')
        reports = {item['id']: item for item in statistics}
        now = liveness.utcnow()
        with self._engine.begin() as connection:
            known = data_plane_db.stats_of_bound(
                connection, agent_type, host,
                {rid: item['generation'] for rid, item in reports.items()})
            updates, inserts = [], []
            for resource_id, (device_id, row) in known.items():
                totals = _totals(row, device_id, reports[resource_id])
                totals.update(resource_id=resource_id, device_id=device_id,
                              updated_at=now)
                (updates if row is not None else inserts).append(totals)
            data_plane_db.write_stats(connection, updates, inserts)
        return len(known)

    def stats(self, resource_id):
        with self._engine.connect() as connection:
            return data_plane_db.get_stats(connection, resource_id)


def _totals(row, device_id, report):
    """The new resource_stats values from the stored row (None: none yet)
    and a report of device_id's counters."""
    totals = {'active_connections': report['active_connections']}
    same_run = row is not None and row.device_id == device_id
    for field in constants.STATS_COUNTERS:
        raw = report[field]
        before = getattr(row, field) if row is not None else 0
        last = getattr(row, 'raw_' + field) if same_run else 0
        grew = raw - last if raw >= last else raw
        totals[field] = min(before + grew, constants.MAX_DB_BIGINT)
        totals['raw_' + field] = raw
    return totals
