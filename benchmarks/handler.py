"""Figure b: the heartbeat handler alone, no bus.

ReportsEndpoint.report_state and HeartbeatSink, assembled as
agentsched/server.py does, on PostgreSQL with N registered agents. One
thread calls report_state for every agent, round after round, while the
sink's flusher thread writes batches; the clock stops when sink.stop() has
flushed the last pending heartbeat. reports/s = calls / that time.

Before the timed rounds one untimed round stores each agent's
configurations, so the timed rounds are steady-state heartbeats (same
configurations as last time: the plain UPDATE), as agents send them.
"""

import datetime
import gc
import time

from benchmarks import common


def _kwargs(states):
    """report_state's kwargs as oslo.messaging hands them to the endpoint."""
    from agentsched import constants
    now = datetime.datetime.now(datetime.timezone.utc).strftime(
        constants.REPORT_TIME_FORMAT)
    return [{'agent_state': {'agent_state': state}, 'time': now}
            for state in states]


def run_case(config_file, run_id, agents, rounds, device_count):
    """One case in this process; returns its figures."""
    from agentsched.db import engine as db_engine
    from agentsched.reports import endpoint as reports_endpoint
    from agentsched.reports import sink as reports_sink

    conf = common.load_conf(config_file)
    engine = db_engine.create_engine(conf)
    hosts = [common.host_name(run_id, i) for i in range(agents)]
    common.register_agents(engine, hosts)  # devices come with round 0
    sink = reports_sink.HeartbeatSink(
        engine, conf.agent_down_time, conf.reports.flush_interval,
        enable_new_agents=conf.enable_new_agents,
        load_keys=conf.reports.load_keys,
        flush_retry_max_wait=conf.reports.flush_retry_max_wait)
    sink.load_views()
    endpoint = reports_endpoint.ReportsEndpoint(sink, conf.agent_down_time)
    states = [common.agent_state(host, device_count) for host in hosts]

    # Untimed: the first report of each agent stores its configurations.
    for kwargs in _kwargs(states):
        endpoint.report_state({}, **kwargs)
    sink.flush()
    batches = [_kwargs(states) for _ in range(rounds)]
    # The prepared reports (millions of objects at ten devices an agent) are
    # the harness's, not the server's: out of the garbage collector's sight,
    # or every collection walks them and the figure measures the harness.
    gc.freeze()
    rows_before = sink.flushed_rows

    sink.start()
    start = time.perf_counter()
    for batch in batches:
        for kwargs in batch:
            endpoint.report_state({}, **kwargs)
    calls_done = time.perf_counter()
    sink.stop()
    flushed = time.perf_counter()

    calls = agents * rounds
    stats = endpoint.stats.as_dict()
    assert stats['accepted'] == calls + agents, stats
    engine.dispose()
    return {
        'agents': agents,
        'devices_per_agent': device_count,
        'reports': calls,
        'reports_per_s': round(calls / (flushed - start)),
        'calls_only_per_s': round(calls / (calls_done - start)),
        'final_flush_s': round(flushed - calls_done, 3),
        'rows_written': sink.flushed_rows - rows_before,
        'configurations_bytes': len(endpoint_json(states[0])),
    }


def endpoint_json(state):
    from agentsched.reports import schema
    return schema.parse(_kwargs([state])[0]).configurations_json


def _child(config_file, run_id, agents, rounds, device_count, results):
    results.put(run_case(config_file, run_id, agents, rounds, device_count))


def run(context, bench, agents, rounds, device_counts):
    """Each case in a fresh spawned process: no state carried between."""
    cases = []
    for device_count in device_counts:
        results = context.Queue()
        process = context.Process(
            target=_child, args=(bench.config_file('handler'), bench.id, agents,
                                 rounds, device_count, results))
        process.start()
        cases.append(results.get(timeout=600))
        process.join()
    return cases
