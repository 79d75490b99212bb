"""What every benchmark shares: a scratch database, configuration, agents.

Each run gets its own PostgreSQL database (bench_<id>, dropped at the end)
and its own RabbitMQ exchange and topics (bench_<id>...), so it never meets
the tests or another run. Processes load their options from a config file
written here into the global cfg.CONF: oslo.messaging drops casts silently
on a private ConfigOpts.
"""

import contextlib
import datetime
import itertools
import os
import random
import tempfile
import uuid

import psycopg
import sqlalchemy as sa

from agentsched import constants

PG_ADMIN = 'host=127.0.0.1 port=5432 user=postgres dbname=postgres'
PG_URL = 'postgresql+psycopg://postgres@127.0.0.1:5432/%s'
RABBIT_URL = 'rabbit://guest:guest@127.0.0.1:5672/'
AGENT_TOPIC = constants.AGENT_SERVICES[constants.AGENT_SERVICE_LBAAS]['topic']

_CONFIG = """\
[DEFAULT]
host = {host}
transport_url = {rabbit}
control_exchange = {run_id}
agent_down_time = {agent_down_time}
bind_port = 0
log_file = {log_file}

[database]
connection = {db_url}

[reports]
topic = {topic}
intake = {intake}
stats_log_interval = 0

[metrics]
enabled = {metrics}
"""

# Appended for a signed run: servers verify heartbeats, refuse unsigned ones.
_SIGNING = """
[signing]
master_keys = {master_key}
"""


class Run:
    """Names, scratch directory and database of one benchmark run."""

    def __init__(self, agent_down_time=75, master_key=None, metrics=True):
        self.id = 'bench_%08x' % random.getrandbits(32)
        self.agent_down_time = agent_down_time
        # Set: the config files give servers [signing] master_keys, and
        # senders sign as their hosts (HostSigners).
        self.master_key = master_key
        # False: the servers run with [metrics] enabled = false.
        self.metrics = metrics
        self.dir = tempfile.mkdtemp(prefix='agentsched-%s-' % self.id)
        self.db_url = PG_URL % self.id
        self.host = self.id.replace('_', '-') + '-server'

    def topic(self, phase):
        return '%s-%s' % (self.id, phase)

    def config_file(self, phase):
        """Config for one phase; phases differ in their reports topic, and
        a phase named ...-kombu has [reports] intake = kombu."""
        path = os.path.join(self.dir, '%s.conf' % phase)
        if not os.path.exists(path):
            with open(path, 'w') as f:
                f.write(_CONFIG.format(
                    run_id=self.id, host=self.host, rabbit=RABBIT_URL,
                    agent_down_time=self.agent_down_time,
                    log_file=os.path.join(self.dir, '%s.log' % phase),
                    db_url=self.db_url, topic=self.topic(phase),
                    intake=('kombu' if phase.endswith('kombu')
                            else 'oslo.messaging'),
                    metrics=str(self.metrics).lower()))
                if self.master_key:
                    f.write(_SIGNING.format(master_key=self.master_key))
        return path

    def create_database(self):
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute('CREATE DATABASE %s' % self.id)

    def drop_database(self):
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute('DROP DATABASE IF EXISTS %s WITH (FORCE)'
                               % self.id)


@contextlib.contextmanager
def migrated(phase, **run_options):
    """(run, conf, engine) over a scratch database of the run's own,
    migrated to head; dropped after."""
    bench = Run(**run_options)
    bench.create_database()
    try:
        from agentsched.db import engine as db_engine
        from agentsched.db import migration
        conf = load_conf(bench.config_file(phase))
        engine = db_engine.create_engine(conf)
        migration.upgrade(engine)
        try:
            yield bench, conf, engine
        finally:
            engine.dispose()
    finally:
        bench.drop_database()


def load_conf(config_file):
    """Parse config_file into the global cfg.CONF, as the commands do."""
    from agentsched import conf
    conf.parse_args(['--config-file', config_file])
    return conf.CONF


def host_name(run_id, index):
    return '%s-agent-%05d' % (run_id, index)


def devices(host, count):
    """count devices with every field an agent reports."""
    return [{
        'name': '%s-lb-%d' % (host, index),
        'device_type': 'haproxy',
        'service_type': constants.SERVICE_LOADBALANCER,
        'capabilities': {'ssl_offload': True, 'max_connections': 50000,
                         'flavor': 'medium'},
        'capacity': 100,
        'address': '10.%d.%d.%d' % (index, len(host) % 250, index + 10),
        'health': constants.HEALTH_OK,
        'load': index * 3,
    } for index in range(count)]


def agent_state(host, device_count):
    """One LBaaS agent's state, as agentsched-agent reports it."""
    return {
        'agent_type': constants.AGENT_TYPE_LOADBALANCER,
        'binary': constants.AGENT_BINARY,
        'host': host,
        'topic': AGENT_TOPIC,
        'availability_zone': 'nova',
        'configurations': {'devices': devices(host, device_count)},
    }


class HostSigners:
    """Signs as each of many agent hosts, each with its own key (derived
    from master_key, as agentsched-manage agent-key prints it), boot id and
    sequence, as each agent does: for StateReporter(signer=...)."""

    def __init__(self, master_key, hosts):
        from agentsched import signing
        self._signers = {host: signing.Signer(signing.Keyring.for_agent(
            host, [signing.host_key(master_key, host)])) for host in hosts}

    def sign(self, method, arguments, host, agent_type):
        return self._signers[host].sign(method, arguments, host, agent_type)


def cast_body(arguments):
    """The AMQP body of a report_state cast with these arguments (an
    empty context), as oslo.messaging's client writes it."""
    import json
    from agentsched.reports import reporter
    message = {'method': 'report_state', 'args': arguments,
               'version': reporter.CAST_VERSION,
               '_unique_id': uuid.uuid4().hex}
    return json.dumps({'oslo.version': '2.0',
                       'oslo.message': json.dumps(message)}).encode()


# The properties oslo.messaging's rabbit driver publishes with.
CAST_PROPERTIES = {'content_type': 'application/json',
                   'content_encoding': 'utf-8', 'delivery_mode': 2,
                   'priority': 0, 'application_headers': {}}


def configurations_json(state):
    """The configurations document exactly as the server stores it."""
    import datetime
    from agentsched.reports import schema
    kwargs = {'agent_state': {'agent_state': state},
              'time': datetime.datetime.now().isoformat()}
    return schema.parse(kwargs).configurations_json


def register_agents(engine, hosts, device_count=0, signed=False):
    """Agents (with their devices, linked) as they stand after their first
    report, inserted directly; heartbeat now. signed: as agents that have
    signed a report (pinned to their host keys).

    Registration is not what is measured: the server finds them with
    load_views, as it finds agents registered before a restart, and their
    reports repeat the stored configurations (steady state).
    """
    import json
    from agentsched.db import models
    from agentsched import liveness
    now = liveness.utcnow()
    agents, devices_rows, links = [], [], []
    for host in hosts:
        agent_id = str(uuid.uuid4())
        state = agent_state(host, device_count)
        agents.append(dict(
            id=agent_id, agent_type=constants.AGENT_TYPE_LOADBALANCER,
            binary=constants.AGENT_BINARY, topic=AGENT_TOPIC, host=host,
            availability_zone='nova', admin_state_up=True, created_at=now,
            started_at=now, heartbeat_timestamp=now,
            configurations=configurations_json(state), load=0,
            resources_synced=True, signed=signed))
        for device in state['configurations']['devices']:
            device_id = str(uuid.uuid4())
            devices_rows.append(dict(
                id=device_id, name=device['name'],
                device_type=device['device_type'],
                service_type=device['service_type'],
                capabilities=json.dumps(device['capabilities'],
                                        sort_keys=True),
                capacity=device['capacity'], used=0,
                physical_info=json.dumps({'address': device['address']}),
                admin_state_up=True, health=device['health'],
                availability_zone='nova', source='reported',
                revision_number=0, created_at=now, updated_at=now))
            links.append(dict(agent_id=agent_id, device_id=device_id,
                              missing=False, health=device['health'],
                              load=device['load'], updated_at=now))
    with engine.begin() as connection:
        connection.execute(sa.delete(models.agent_devices))
        connection.execute(sa.delete(models.devices))
        connection.execute(sa.delete(models.agents))
        connection.execute(sa.insert(models.agents), agents)
        if devices_rows:
            connection.execute(sa.insert(models.devices), devices_rows)
            connection.execute(sa.insert(models.agent_devices), links)
    # Each phase on tables as the first one finds them: what an earlier
    # phase updated and deleted stays as dead rows until a vacuum runs
    # (PostgreSQL's autovacuum, when on, at a time of its own), and slowed
    # the later phases' flushes.
    with engine.connect().execution_options(
            isolation_level='AUTOCOMMIT') as connection:
        for table in (models.agents, models.devices, models.agent_devices):
            connection.execute(sa.text('VACUUM ANALYZE %s' % table.name))
    return now


def copy_rows(connection, table, rows):
    """Insert rows (dicts, each with the keys of the first) into table with
    PostgreSQL's COPY, in connection's transaction: millions of rows in
    seconds where an executemany takes many minutes. Columns left out get
    their model's scalar default, as sa.insert would give them. Returns
    how many rows were written."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return 0
    defaults = {column.name: column.default.arg for column in table.c
                if column.name not in first and column.default is not None
                and column.default.is_scalar}
    columns = list(first) + list(defaults)
    statement = 'COPY %s (%s) FROM STDIN' % (
        table.name, ', '.join('"%s"' % column for column in columns))
    count = 0
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(statement) as copy:
            for row in itertools.chain([first], rows):
                copy.write_row([row[column] if column in row
                                else defaults[column] for column in columns])
                count += 1
    return count


def truncate(connection, tables):
    """Empty tables at once (TRUNCATE: DELETE of a million rows takes
    minutes and leaves them dead in the table)."""
    connection.execute(sa.text('TRUNCATE %s CASCADE' % ', '.join(
        table.name for table in tables)))


def _maintain(engine, statement):
    """A maintenance statement, outside a transaction (VACUUM must be)."""
    with engine.connect().execution_options(
            isolation_level='AUTOCOMMIT') as connection:
        connection.execute(sa.text(statement))


def analyze(engine):
    """Fresh planner statistics after a bulk load."""
    _maintain(engine, 'ANALYZE')


def autovacuum_off(engine):
    with engine.connect() as connection:
        return connection.execute(sa.text('SHOW autovacuum')).scalar() == 'off'


def vacuum(engine, table):
    """What autovacuum does after a table's rows were all rewritten (a
    fleet's heartbeats), where the database runs without it (this
    machine's PostgreSQL has autovacuum off): dead row versions would
    otherwise pile up, and what reads the table (a claim's liveness check,
    the snapshot) read them too, more the larger the fleet."""
    _maintain(engine, 'VACUUM %s' % table)


def memory_mb(pid='self'):
    """(resident, peak resident) in MB, from /proc/<pid>/status."""
    values = {}
    with open('/proc/%s/status' % pid) as f:
        for line in f:
            key, _, rest = line.partition(':')
            if key in ('VmRSS', 'VmHWM'):
                values[key] = int(rest.split()[0]) / 1024.0
    return round(values['VmRSS'], 1), round(values['VmHWM'], 1)


def utc_epoch(naive_utc):
    """A naive-UTC timestamp column value as seconds since the epoch."""
    return naive_utc.replace(tzinfo=datetime.timezone.utc).timestamp()


def percentiles(values, points=(50, 90, 99)):
    if not values:
        return {}
    ordered = sorted(values)
    result = {}
    for point in points:
        index = min(len(ordered) - 1,
                    max(0, int(round(point / 100.0 * len(ordered))) - 1))
        result['p%d' % point] = round(ordered[index], 4)
    result['max'] = round(ordered[-1], 4)
    return result


_TICKS = os.sysconf('SC_CLK_TCK')


def cpu_snapshot():
    """{pid: (command name, CPU seconds so far)} of every process."""
    snapshot = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        # utime and stime are fields 14 and 15 of stat (1-based).
        snapshot[int(name)] = (comm, (int(fields[11]) + int(fields[12]))
                               / _TICKS)
    return snapshot


def cpu_used(before, after, groups):
    """CPU seconds between two snapshots, summed per group.

    groups maps a group name to a set of pids or to a command name; what
    matches none is 'other'.
    """
    used = {name: 0.0 for name in groups}
    used['other'] = 0.0
    for pid, (comm, seconds) in after.items():
        spent = seconds - before.get(pid, (comm, 0.0))[1]
        for name, match in groups.items():
            if pid in match if isinstance(match, set) else comm == match:
                used[name] += spent
                break
        else:
            used['other'] += spent
    return {name: round(value, 2) for name, value in used.items()}


def machine_busy():
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def capacity_violations(connection):
    """(devices over capacity, devices whose used is not the units bound to
    them, resources bound more than once): all three must be 0."""
    over = connection.execute(sa.text(
        'SELECT count(*) FROM devices WHERE used > capacity')).scalar()
    mismatched = connection.execute(sa.text("""
        SELECT count(*) FROM devices d LEFT JOIN (
            SELECT b.device_id, sum(r.units) AS units
            FROM bindings b JOIN resources r ON r.id = b.resource_id
            GROUP BY b.device_id) bound ON bound.device_id = d.id
        WHERE d.used <> coalesce(bound.units, 0)""")).scalar()
    twice = connection.execute(sa.text("""
        SELECT count(*) FROM (SELECT resource_id FROM bindings
            GROUP BY resource_id HAVING count(*) > 1) t""")).scalar()
    return over, mismatched, twice
