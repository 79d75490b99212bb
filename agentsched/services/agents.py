"""Agents as an admin manages them: read, update, delete.

Agents register themselves by their heartbeats (reports/sink.py); an admin
can drain one (admin_state_up=false: the health monitor moves its resources,
rate-limited), fence it (forced_down=true: dead at once), describe it, or
delete it once it hosts nothing or is down. Each method is one transaction;
the agent is told of a change to its admin state after the commit.
"""

from agentsched import exceptions
from agentsched import liveness
from agentsched import notifications
from agentsched.db import agents as agents_db
from agentsched.services import paging

# What a list may filter and sort by.
FILTER_KEYS = agents_db.FILTER_COLUMNS
SORT_KEYS = tuple(agents_db.SORT_COLUMNS)
UPDATABLE = ('admin_state_up', 'forced_down', 'description')


def existing_agent(connection, agent_id):
    """The agent's row; NotFound if there is none. The one home of "agent
    not found", for every service that names an agent."""
    row = agents_db.get(connection, agent_id)
    if row is None:
        raise exceptions.NotFound('Agent %s could not be found.' % agent_id,
                                  code='AgentNotFound')
    return row


class AgentService:

    def __init__(self, engine, conf, notifier):
        self._engine = engine
        self._conf = conf
        self._notifier = notifier

    def get(self, agent_id):
        with self._engine.connect() as connection:
            return existing_agent(connection, agent_id)

    def list(self, filters=None, sort=(('id', True),), limit=None,
             marker_id=None, reverse=False, alive_since=None,
             dead_since=None):
        """Agents matching filters, a page after marker_id; alive_since /
        dead_since: the liveness cutoff (liveness.alive_since), for alive
        agents only / dead agents only."""
        with self._engine.connect() as connection:
            marker = paging.marker_row(connection, agents_db.get, marker_id,
                                       'an agent')
            return agents_db.query(connection, filters, alive_since,
                                   dead_since, sort, limit, marker, reverse)

    def stream(self, filters=None, sort=(('id', True),), marker_id=None,
               alive_since=None, dead_since=None):
        """Every agent matching filters (after marker_id), as list gives
        them without a limit, but as a generator of lists of rows read from
        one cursor (db/agents.py stream), read ahead of the caller
        (paging.read_ahead): a fleet's list is never whole in memory. The
        marker is looked up now, so a bad one fails before the first row;
        the generator holds a connection from its first row until it is
        exhausted or closed."""
        with self._engine.connect() as connection:
            marker = paging.marker_row(connection, agents_db.get, marker_id,
                                       'an agent')
        return paging.read_ahead(
            self._batches(filters, alive_since, dead_since, sort, marker))

    def _batches(self, *query):
        with self._engine.connect() as connection:
            yield from agents_db.stream(connection, *query)

    def update(self, agent_id, changes):
        """Apply changes (fields of UPDATABLE only; Invalid otherwise) and
        return the row; the agent is told if its admin state or its
        fencing changed."""
        unknown = sorted(set(changes) - set(UPDATABLE))
        if unknown:
            raise exceptions.Invalid(
                'Attribute(s) %s of an agent cannot be updated; only %s can'
                % (', '.join(unknown), ', '.join(UPDATABLE)))
        with self._engine.begin() as connection:
            before = existing_agent(connection, agent_id)
            if changes:
                agents_db.update(connection, agent_id, changes)
            row = agents_db.get(connection, agent_id)
        if row.admin_state_up != before.admin_state_up or \
                row.forced_down != before.forced_down:
            self._notifier.agent_updated(row, row.admin_state_up)
        notifications.emit('agent.update.end',
                           notifications.agent_payload(row))
        return row

    def delete(self, agent_id):
        """Conflict (AgentInUse) while the agent is alive and hosts
        resources: it still serves them, and once deleted it is never told
        to stop. Once drained of them, or down, it may go."""
        with self._engine.begin() as connection:
            row = existing_agent(connection, agent_id)
            bound = agents_db.bound_resource_count(connection, agent_id)
            if bound and liveness.agent_is_alive(row,
                                                 self._conf.agent_down_time):
                raise exceptions.Conflict(
                    'Agent %s is alive and hosts %d resource(s): disable it '
                    '(admin_state_up=false) and move its resources first, '
                    'or wait until it is down' % (agent_id, bound),
                    code='AgentInUse')
            agents_db.delete(connection, agent_id)
        notifications.emit('agent.delete.end', {'agent_id': agent_id})
