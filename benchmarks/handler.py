"""Figure b: the heartbeat handler alone, no bus.

ReportsEndpoint.report_state and HeartbeatSink, assembled as
agentsched/server.py does, on PostgreSQL with N registered agents. One
thread calls report_state for every agent, round after round, while the
sink's flusher thread writes batches; the clock stops when sink.stop() has
flushed the last pending heartbeat. reports/s = calls / that time.

Before the timed rounds one untimed round stores each agent's
configurations, so the timed rounds are steady-state heartbeats (same
configurations as last time: the plain UPDATE), as agents send them.

Signed (the server has [signing] master keys): every report carries its
own signature, made by its host's key with the host's next sequence number
as an agent makes it, all before the clock starts; the endpoint verifies
each (MAC, timestamp within the replay window, sequence not seen before)
as agentsched/server.py assembles it. The agents are registered as having
signed before. Apart: Signer.sign alone (the agent's cost) and
Verifier.verify alone (the server's), per report, on one more round of the
same reports.
"""

import datetime
import gc
import time

from benchmarks import common


def _kwargs(states, signer=None):
    """report_state's kwargs as oslo.messaging hands them to the endpoint;
    with signer, each signed as StateReporter signs (its own copy of the
    state: the endpoint takes the signature out of it)."""
    from agentsched import constants
    now = datetime.datetime.now(datetime.timezone.utc).strftime(
        constants.REPORT_TIME_FORMAT)
    if signer is None:
        return [{'agent_state': {'agent_state': state}, 'time': now}
                for state in states]
    batch = []
    for state in states:
        state = dict(state)
        kwargs = {'agent_state': {'agent_state': state}, 'time': now}
        state['signature'] = signer.sign('report_state', kwargs,
                                         state['host'], state['agent_type'])
        batch.append(kwargs)
    return batch


def _costs(master_key, states, window):
    """µs per report of Signer.sign alone and of Verifier.verify alone."""
    from agentsched import signing
    from agentsched.reports import schema
    signer = common.HostSigners(master_key, [s['host'] for s in states])
    batch = _kwargs(states)
    start = time.perf_counter()
    signatures = [signer.sign('report_state', kwargs, state['host'],
                              state['agent_type'])
                  for kwargs, state in zip(batch, states)]
    signed = time.perf_counter()
    verifier = signing.Verifier(signing.Keyring.for_server([master_key]),
                                window)
    # As the endpoint calls it: on kwargs parsed (signature out of them).
    reports = [schema.parse(kwargs) for kwargs in batch]
    start_verify = time.perf_counter()
    for kwargs, report, signature in zip(batch, reports, signatures):
        verifier.verify('report_state', kwargs, signature,
                        report.state['host'], report.state['agent_type'])
    verified = time.perf_counter()
    return {'sign_us': round(1e6 * (signed - start) / len(states), 2),
            'verify_us': round(1e6 * (verified - start_verify)
                               / len(states), 2)}


def run_case(config_file, run_id, agents, rounds, device_count,
             signed=False):
    """One case in this process; returns its figures."""
    from agentsched import signing
    from agentsched.db import engine as db_engine
    from agentsched.reports import endpoint as reports_endpoint
    from agentsched.reports import sink as reports_sink
    from agentsched.reports import trust as report_trust

    conf = common.load_conf(config_file)
    engine = db_engine.create_engine(conf)
    hosts = [common.host_name(run_id, i) for i in range(agents)]
    # devices come with round 0
    common.register_agents(engine, hosts, signed=signed)
    sink = reports_sink.HeartbeatSink(
        engine, conf.agent_down_time, conf.reports.flush_interval,
        enable_new_agents=conf.enable_new_agents,
        load_keys=conf.reports.load_keys,
        flush_retry_max_wait=conf.reports.flush_retry_max_wait,
        pin_signed_agents=signed)
    sink.load_views()
    signer = trust = costs = None
    if signed:
        master_key = signing.generate_master_key()
        signer = common.HostSigners(master_key, hosts)
        trust = report_trust.ReportTrust(
            signing.Verifier(signing.Keyring.for_server([master_key]),
                             conf.signing.replay_window),
            conf.signing.unsigned_agent_types)
    endpoint = reports_endpoint.ReportsEndpoint(sink, conf.agent_down_time,
                                                trust=trust)
    states = [common.agent_state(host, device_count) for host in hosts]

    # Untimed: the first report of each agent stores its configurations.
    for kwargs in _kwargs(states, signer):
        endpoint.report_state({}, **kwargs)
    sink.flush()
    if signed:
        costs = _costs(master_key, states, conf.signing.replay_window)
    signing_began = time.time()
    batches = [_kwargs(states, signer) for _ in range(rounds)]
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
    verified_by = time.time()
    sink.stop()
    flushed = time.perf_counter()

    calls = agents * rounds
    stats = endpoint.stats.as_dict()
    assert stats['accepted'] == calls + agents, stats
    engine.dispose()
    figures = {
        'agents': agents,
        'devices_per_agent': device_count,
        'signed': signed,
        'reports': calls,
        'reports_per_s': round(calls / (flushed - start)),
        'calls_only_per_s': round(calls / (calls_done - start)),
        'final_flush_s': round(flushed - calls_done, 3),
        'rows_written': sink.flushed_rows - rows_before,
        'configurations_bytes': len(endpoint_json(states[0])),
    }
    if signed:
        figures.update(costs)
        # Oldest signature's age when the last report was verified: within
        # the replay window, or the assert above would have failed.
        figures['oldest_signature_age_s'] = round(
            verified_by - signing_began, 2)
    return figures


def endpoint_json(state):
    from agentsched.reports import schema
    return schema.parse(_kwargs([state])[0]).configurations_json


def _child(config_file, run_id, agents, rounds, device_count, signed,
           results):
    results.put(run_case(config_file, run_id, agents, rounds, device_count,
                         signed))


def run(context, bench, agents, rounds, device_counts, signed=(False, True)):
    """Each case in a fresh spawned process: no state carried between;
    unsigned and signed back to back for each device count."""
    cases = []
    for device_count in device_counts:
        for sign in signed:
            results = context.Queue()
            process = context.Process(
                target=_child, args=(bench.config_file('handler'), bench.id,
                                     agents, rounds, device_count, sign,
                                     results))
            process.start()
            cases.append(results.get(timeout=600))
            process.join()
    return cases
