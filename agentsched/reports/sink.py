"""The heartbeat sink: an in-memory view of agents and batched DB writes.

A heartbeat costs no SQL on the hot path: the endpoint records it in memory
and a flusher thread writes all pending heartbeats every flush_interval in
two executemany UPDATEs. Only a new agent is written at once (an INSERT), and
only an agent that looks dead to this server costs a read: another server
may have been taking its reports (competing consumers), so the database has
the last word on 'revived'.

Several processes take one agent's reports (competing consumers: several
servers, [reports] workers), each with a sink of its own, and their flushes
reach the database in any order: an older heartbeat never takes back a
newer one (db/agents.py update_heartbeats), an older device list is not
synced over a newer one, and a flush that finds another process's
heartbeat in a row learns the documents it wrote.

While the database is unreachable the flusher retries with back-off; reports
keep arriving and replace older pending state of the same agent, so only
superseded reports are lost.

A row the database refuses (a data error, not an outage: the schema bounds
reports so that none should) would fail the whole batch, every agent's
heartbeat with it, at every flush. The flusher splits such a batch in
halves until the refused rows stand alone, drops them with one ERROR line
naming the agent, counts them in failed_writes and writes the rest in the
same flush. A failed device sync is logged and counted the same way.
"""

import sys
import threading
import time
import types
import uuid

from oslo_log import log as logging
import sqlalchemy as sa
import tenacity

from agentsched import constants
from agentsched import liveness
from agentsched import metrics
from agentsched import notifications
from agentsched.db import agents as agents_db
from agentsched.db import engine as db_engine
from agentsched.reports import schema

LOG = logging.getLogger(__name__)


class _View:
    """What this server knows of one agent."""
    __slots__ = ('id', 'heartbeat', 'written', 'configurations_digest',
                 'resource_versions_digest', 'topic', 'signed')

    def __init__(self, agent_id, heartbeat, configurations_digest,
                 resource_versions_digest=None, topic=None, signed=False,
                 written=None):
        self.id = agent_id
        self.heartbeat = heartbeat
        # The heartbeat the row held when this server last wrote or read
        # it: a flush that finds another there knows that another server
        # wrote the row since (competing consumers), documents included.
        self.written = written or heartbeat
        # Its identity as pinned (docs/security.md): a topic change is
        # logged, and once it signed, unsigned reports are refused.
        self.topic = sys.intern(topic) if topic else topic
        self.signed = signed
        # Fingerprints of the documents this server last wrote (or read):
        # an equal one in a report means the row already holds it.
        self.configurations_digest = configurations_digest
        self.resource_versions_digest = resource_versions_digest


class _Pending:
    """The newest not-yet-written state of one agent."""
    __slots__ = ('identity', 'state', 'heartbeat', 'load',
                 'configurations_json',
                 'resource_versions_json', 'write_configurations',
                 'write_resource_versions', 'started_at',
                 'resources_synced', 'sync_devices')


def _reason(exc):
    """The driver's message of a database error, on one short line (not
    the statement and its parameters, which SQLAlchemy's message adds)."""
    exc = getattr(exc, 'orig', None) or exc
    return '%s: %s' % (type(exc).__name__, ' '.join(str(exc).split())[:200])


def _identity(state):
    """The columns a report sets besides its documents."""
    return {'agent_type': state['agent_type'], 'binary': state['binary'],
            'topic': state['topic'], 'host': state['host'],
            'availability_zone': state.get('availability_zone')}


class HeartbeatSink:

    def __init__(self, engine, agent_down_time, flush_interval,
                 enable_new_agents=True, load_keys=('load',),
                 flush_retry_max_wait=5.0, device_sync=None,
                 pin_signed_agents=False):
        """pin_signed_agents: refuse unsigned reports for agents that have
        signed (servers that verify signatures)."""
        self._engine = engine
        self._pin_signed_agents = pin_signed_agents
        self._device_sync = device_sync
        self._agent_down_time = agent_down_time
        self._flush_interval = flush_interval
        self._enable_new_agents = enable_new_agents
        self._load_keys = tuple(load_keys)
        self._retry_max_wait = flush_retry_max_wait
        self._lock = threading.Lock()
        self._views = {}      # (agent_type, host) -> _View
        self._pending = {}    # (agent_type, host) -> _Pending
        self._stop = threading.Event()
        self._thread = None
        self.flushed_rows = 0
        # Flushes that failed on an outage (the health monitor watches it).
        self.flush_failures = 0
        # monotonic time of the last flush that wrote all it had (metrics'
        # flush lag).
        self.last_flush = time.monotonic()
        # Reports taken but not stored: heartbeats the database refused,
        # device lists that failed to sync. Counted as 'failed' in the
        # server's report stats.
        self.failed_writes = 0
        # Reports that changed a known agent's topic.
        self.topic_changes = 0
        # Agents whose failed device sync was logged with a traceback.
        self._traced = set()

    # -- the hot path -------------------------------------------------------

    def record(self, report, now=None):
        """Take one validated report; return 'new', 'alive' or 'revived'."""
        state = report.state
        key = (state['agent_type'], state['host'])
        now = now or liveness.utcnow()
        # Raises InvalidReport for a load out of the column's range.
        load = schema.agent_load(state.get('configurations') or {},
                                 self._load_keys)
        with self._lock:
            view = self._views.get(key)
            # 'alive' or 'revived' (resync) judges heartbeats only: the
            # view has no forced_down, and a forced-down agent's answer
            # says how its heartbeats stand (liveness.heartbeat_is_fresh).
            if view is not None and liveness.heartbeat_is_fresh(
                    view.heartbeat,
                    liveness.alive_since(self._agent_down_time, now)):
                self._check_identity(key, view, report)
                self._queue(key, view, report, now, load, revived=False)
                status = constants.AGENT_ALIVE
            else:
                status = None
        if status is None:
            status = self._record_unknown_or_stale(key, report, now, load)
        if report.signed:
            self._pin_signed(key)
        if status != constants.AGENT_ALIVE or state.get('start_flag'):
            # The agent syncs right after this answer: its devices must be
            # in the inventory by then, not at the next flush.
            self._sync_devices_now(key)
        return status

    def _check_identity(self, key, view, report):
        """Refuse or note a report that changes a known agent's identity
        (caller holds lock)."""
        if self._pin_signed_agents and view.signed and not report.signed:
            raise schema.InvalidReport(
                'agent %s on %s signs its reports: an unsigned one is '
                'refused' % (key[0][:64], key[1][:64]))
        topic = report.state['topic']
        if view.topic is not None and topic != view.topic:
            self.topic_changes += 1
            LOG.warning('Agent %s on %s changed its topic from %r to %r '
                        '(%s report)', key[0], key[1], view.topic, topic,
                        'a signed' if report.signed else 'an unsigned')
        view.topic = topic if topic == view.topic else sys.intern(topic)

    def _pin_signed(self, key):
        """Remember for good that an agent signs (once per agent)."""
        with self._lock:
            view = self._views.get(key)
            if view is None or view.signed:
                return
            view.signed = True
            agent_id = view.id
        try:
            with self._engine.begin() as connection:
                agents_db.mark_signed(connection, agent_id)
        except sa.exc.DBAPIError:
            with self._lock:
                view.signed = False  # the next signed report tries again
            LOG.warning('Could not record that agent %s on %s signs its '
                        'reports; will retry', *key)

    def knows_configurations(self, report):
        """Whether this agent's configurations are the ones last stored
        (and so were checked in full before)."""
        state = report.state
        with self._lock:
            view = self._views.get((state['agent_type'], state['host']))
            return (view is not None and
                    view.configurations_digest ==
                    report.configurations_digest)

    def _record_unknown_or_stale(self, key, report, now, load):
        try:
            with self._engine.connect() as connection:
                row = agents_db.get_view(connection, *key)
            if row is None:
                if self._insert(report, now, load):
                    return constants.AGENT_NEW
                with self._engine.connect() as connection:
                    row = agents_db.get_view(connection, *key)
        except sa.exc.DBAPIError:
            with self._lock:
                view = self._views.get(key)
            if view is None:
                raise
            # The database cannot confirm; the view says dead. 'revived'
            # makes the agent resync, the harmless answer.
            LOG.warning('Database unreachable while checking agent %s on %s; '
                        'answering revived from memory', *key)
            row = None
        with self._lock:
            view = self._views.get(key)
            if row is not None:
                newest = row.heartbeat_timestamp
                if view is not None and view.heartbeat > newest:
                    newest = view.heartbeat
                view = _View(row.id, newest,
                             schema.digest(row.configurations),
                             schema.digest(row.resource_versions),
                             row.topic, row.signed,
                             written=row.heartbeat_timestamp)
                self._views[key] = view
            if view is None:
                raise RuntimeError('agent %s on %s vanished while it '
                                   'registered' % key)
            self._check_identity(key, view, report)
            alive = liveness.heartbeat_is_fresh(
                view.heartbeat,
                liveness.alive_since(self._agent_down_time, now))
            self._queue(key, view, report, now, load, revived=not alive)
        return constants.AGENT_ALIVE if alive else constants.AGENT_REVIVED

    def _queue(self, key, view, report, now, load, revived, new=False):
        """Record a report of a known agent as pending (caller holds lock).

        new: the agent was just inserted; its devices still need syncing.
        """
        state = report.state
        previous = self._pending.get(key)
        pending = _Pending()
        pending.identity = _identity(state)
        pending.heartbeat = now
        pending.load = load
        # Each document is written only when it changed: most heartbeats
        # repeat both, and then the text is not even kept.
        configurations_changed = (
            report.configurations_digest != view.configurations_digest)
        resource_versions_changed = (
            report.resource_versions_digest is not None and
            report.resource_versions_digest != view.resource_versions_digest)
        pending.write_configurations = configurations_changed or (
            previous is not None and previous.write_configurations)
        pending.write_resource_versions = resource_versions_changed or (
            previous is not None and previous.write_resource_versions)
        pending.configurations_json = (report.configurations_json
                                       if pending.write_configurations
                                       else None)
        pending.resource_versions_json = (report.resource_versions_json
                                          if pending.write_resource_versions
                                          else None)
        # Only agentsched's agents report a device list (trust.py).
        pending.sync_devices = report.device_list and (
            new or configurations_changed or
            (previous is not None and previous.sync_devices))
        # The whole report is kept only for a device sync: holding ten
        # thousand agents' device lists between flushes costs memory and
        # garbage-collector time on every heartbeat.
        pending.state = state if pending.sync_devices else None
        start = state.get('start_flag') is True
        pending.started_at = now if start else (
            previous.started_at if previous else None)
        pending.resources_synced = False if (start or revived) else (
            previous.resources_synced if previous else None)
        self._pending[key] = pending
        view.heartbeat = now
        view.configurations_digest = report.configurations_digest
        if report.resource_versions_digest is not None:
            view.resource_versions_digest = report.resource_versions_digest

    def _insert(self, report, now, load):
        """Insert a new agent; False if another server inserted it first."""
        state = report.state
        values = self._new_row(str(uuid.uuid4()), _identity(state), now,
                               report.configurations_json,
                               report.resource_versions_json, load,
                               report.signed)
        try:
            with self._engine.begin() as connection:
                agents_db.insert(connection, values)
        except sa.exc.IntegrityError:
            # UNIQUE(agent_type, host): the same agent's first report reached
            # two servers at once, and the other one won.
            return False
        key = (state['agent_type'], state['host'])
        with self._lock:
            view = _View(values['id'], now, report.configurations_digest,
                         report.resource_versions_digest, state['topic'],
                         report.signed)
            self._views[key] = view
            self._queue(key, view, report, now, load, revived=False,
                        new=True)
        LOG.info('Registered new agent %(agent_type)s on %(host)s as %(id)s',
                 values)
        notifications.emit('agent.create.end', notifications.agent_payload(
            types.SimpleNamespace(description=None, forced_down=False,
                                  **values)))
        return True

    def _new_row(self, agent_id, identity, now, configurations_json,
                 resource_versions_json, load, signed=False):
        return dict(
            identity, id=agent_id, admin_state_up=self._enable_new_agents,
            created_at=now, started_at=now, heartbeat_timestamp=now,
            configurations=configurations_json,
            resource_versions=resource_versions_json, load=load,
            resources_synced=False, signed=signed)

    # -- the flusher ---------------------------------------------------------

    def load_views(self):
        """Read every agent once, so known agents cost no read later."""
        known = 0
        with self._engine.connect() as connection:
            for rows in agents_db.all_views(connection):
                views = {(row.agent_type, row.host): _View(
                    row.id, row.heartbeat_timestamp,
                    schema.digest(row.configurations),
                    schema.digest(row.resource_versions), row.topic,
                    row.signed) for row in rows}
                with self._lock:
                    self._views.update(views)
                known += len(rows)
        return known

    def pending_count(self):
        with self._lock:
            return len(self._pending)

    def flush(self):
        """Write every pending heartbeat; return how many were written.

        Rows the database refuses are dropped; on an outage, what is not
        written yet is kept for later and the error raised.
        """
        with self._lock:
            batch, self._pending = self._pending, {}
            ids = {key: self._views[key].id for key in batch}
        if not batch:
            self.last_flush = time.monotonic()
            return 0
        done = set()
        try:
            with metrics.Timer() as timer:
                written = self._write_isolating(list(batch), batch, ids,
                                                done)
            metrics.flush(timer.seconds)
            self.last_flush = time.monotonic()
            return written
        except Exception:
            self.flush_failures += 1
            with self._lock:
                # Newer reports that came in meanwhile win.
                for key, pending in batch.items():
                    if key not in done:
                        self._pending.setdefault(key, pending)
            raise

    def _write_isolating(self, keys, batch, ids, done):
        """Write these keys of batch; return how many rows were written.

        A refused row fails its whole statement: halve until it stands
        alone, so one bad row among n costs about 2 log2(n) statements.
        Outages are raised. done collects the keys written or dropped.
        """
        try:
            self._write({key: batch[key] for key in keys}, ids)
        except Exception as exc:
            if db_engine.is_outage(exc):
                raise
            if len(keys) > 1:
                half = len(keys) // 2
                return (self._write_isolating(keys[:half], batch, ids, done) +
                        self._write_isolating(keys[half:], batch, ids, done))
            self._drop(keys[0], exc)
            done.add(keys[0])
            return 0
        done.update(keys)
        self.flushed_rows += len(keys)
        return len(keys)

    def _drop(self, key, exc):
        """Forget the pending heartbeat of an agent the database refused."""
        LOG.error('Dropped the heartbeat of agent %s on %s: the database '
                  'refused it (%s)', key[0], key[1], _reason(exc))
        with self._lock:
            self.failed_writes += 1
            view = self._views.get(key)
            if view is not None:
                # Its next report writes its documents again.
                view.configurations_digest = None
                view.resource_versions_digest = None

    def _write(self, batch, ids):
        rows = []
        # In the order of their ids: another process's flush locks the same
        # rows in the same order, never the reverse (a deadlock).
        for key, pending in sorted(batch.items(), key=lambda item:
                                   ids[item[0]]):
            identity = pending.identity
            rows.append({
                'id': ids[key],
                'heartbeat': pending.heartbeat,
                'load': pending.load,
                'topic': identity['topic'],
                'binary': identity['binary'],
                'availability_zone': identity['availability_zone'],
                'started_at': pending.started_at,
                'resources_synced': pending.resources_synced,
                'configurations': pending.configurations_json,
                'resource_versions': pending.resource_versions_json,
            })
        with self._engine.begin() as connection:
            # Locked until commit: what another server writes meanwhile
            # comes after, and is seen as such by its own next flush.
            stored = agents_db.lock_heartbeats(connection, ids.values())
            with self._lock:
                # Rows another server wrote since this one did.
                foreign = [ids[key] for key in batch
                           if stored.get(ids[key], self._views[key].written)
                           != self._views[key].written]
            documents = (agents_db.documents(connection, foreign)
                         if foreign else {})
            agents_db.update_heartbeats(connection, rows)
            if len(stored) < len(batch):
                self._reinsert_deleted(connection, batch, ids, stored)
        self._note_written(batch, ids, stored, documents)
        if self._device_sync is not None:
            for key, pending in batch.items():
                if pending.sync_devices:
                    self._sync_devices(key, ids[key], pending)

    def _sync_devices_now(self, key):
        if self._device_sync is None:
            return
        with self._lock:
            pending = self._pending.get(key)
            if pending is None or not pending.sync_devices:
                return
            pending.sync_devices = False
            agent_id = self._views[key].id
        self._sync_devices(key, agent_id, pending)

    def _sync_devices(self, key, agent_id, pending):
        """One agent's devices, in a transaction of their own: a failure
        here must not hold back the heartbeats of everyone else."""
        try:
            with self._engine.begin() as connection:
                # Locked until the devices are written: another process's
                # newer report of this agent waits, and a newer one already
                # written wins (its process syncs the devices it reported).
                stored = agents_db.lock_heartbeat(connection, agent_id)
                if stored is not None and stored > pending.heartbeat:
                    return
                self._device_sync.reconcile(connection, agent_id,
                                            pending.state, pending.heartbeat)
        except Exception as exc:
            outage = db_engine.is_outage(exc)
            with self._lock:
                self.failed_writes += 1
                # One traceback per agent: its reports may fail alike.
                trace = key not in self._traced
                self._traced.add(key)
                view = self._views.get(key)
                if outage and view is not None:
                    # Its next report then counts as changed again. Data
                    # the database refused waits for a changed document.
                    view.configurations_digest = None
            LOG.error('Could not update the devices of agent %s on %s (%s); '
                      '%s', key[0], key[1], _reason(exc),
                      'will retry with its next report' if outage else
                      'ignored until it reports other devices',
                      exc_info=trace)

    def _note_written(self, batch, ids, stored, documents):
        """Remember the heartbeat each row holds now, and where another
        server had written since this one did (documents: what it wrote),
        the documents the row kept: the agent's next report is compared
        with them, so that a document this server wrote once and the other
        replaced is written again when the agent returns to it."""
        with self._lock:
            for key, pending in batch.items():
                view = self._views.get(key)
                if view is None or view.id != ids[key]:
                    continue
                before = stored.get(ids[key])
                newer = before is None or pending.heartbeat >= before
                view.written = pending.heartbeat if newer else before
                if ids[key] not in documents:
                    continue
                configurations, resource_versions = documents[ids[key]]
                # A report taken while this flush ran is compared with
                # what it will write, if it writes.
                later = self._pending.get(key)
                if not ((newer and pending.write_configurations) or (
                        later and later.write_configurations)):
                    view.configurations_digest = schema.digest(
                        configurations)
                if not ((newer and pending.write_resource_versions) or (
                        later and later.write_resource_versions)):
                    view.resource_versions_digest = schema.digest(
                        resource_versions)

    def _reinsert_deleted(self, connection, batch, ids, found):
        """Agents deleted by an admin while reporting come back as new
        (found: the ids that have a row)."""
        for key, pending in batch.items():
            if ids[key] in found:
                continue
            agents_db.insert(connection, self._new_row(
                ids[key], pending.identity, pending.heartbeat,
                pending.configurations_json or '{}',
                pending.resource_versions_json, pending.load))
            with self._lock:
                view = self._views.get(key)
                if view is not None:
                    # Its next report rewrites its documents and devices,
                    # and pins it again if signed.
                    view.configurations_digest = None
                    view.signed = False
            LOG.info('Agent %s on %s was deleted while reporting; '
                     're-registered', *key)

    def _flush_with_retry(self):
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(db_engine.is_outage),
            wait=tenacity.wait_exponential(multiplier=self._flush_interval,
                                           max=self._retry_max_wait),
            stop=tenacity.stop_never,
            before_sleep=self._log_retry,
            # Stopping mid-outage is fine: the pending state stays in memory
            # and the final flush in stop() tries once more.
            sleep=self._stop.wait)
        for attempt in retrying:
            with attempt:
                if (self._stop.is_set() and
                        attempt.retry_state.attempt_number > 1):
                    return
                self.flush()

    def _log_retry(self, retry_state):
        LOG.warning('Writing %d heartbeats failed (%s); retrying in %.1f s',
                    self.pending_count(), retry_state.outcome.exception(),
                    retry_state.next_action.sleep)

    def _run(self):
        while not self._stop.wait(self._flush_interval):
            try:
                self._flush_with_retry()
            except Exception:
                LOG.exception('Heartbeat flush failed')

    def start(self):
        self._thread = threading.Thread(target=self._run,
                                        name='heartbeat-sink', daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.flush()
        except Exception:
            LOG.warning('Final heartbeat flush failed; %d agents\' newest '
                        'heartbeats are not written', self.pending_count())
