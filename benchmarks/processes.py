"""The processes of the bus benchmark: one server, several senders.

Targets of multiprocessing's spawn context: each starts a fresh interpreter
and loads its options from the phase's config file.
"""

import time

from benchmarks import common


class NoopEndpoint:
    """report_state that only counts: the ceiling of bus + oslo.messaging."""

    def __init__(self, counter):
        import oslo_messaging
        self.target = oslo_messaging.Target(version='1.4')
        self._counter = counter

    def report_state(self, context, **kwargs):
        with self._counter.get_lock():
            self._counter.value += 1


def server(config_file, mode, counter, ready, stop):
    """mode 'noop': a bare oslo.messaging RPC server; 'noop-kombu': the
    kombu intake with the same endpoint; 'real' and 'real-kombu':
    agentsched's ServerService (its [reports] intake set by the config).

    counter holds reports taken (the noop's count, the real endpoint's
    accepted), published by this process for the harness.
    """
    conf = common.load_conf(config_file)
    from agentsched import messaging
    if mode.startswith('noop'):
        endpoint = NoopEndpoint(counter)
        if mode == 'noop-kombu':
            from agentsched.reports import kombu_intake
            rpc_server = kombu_intake.KombuIntake(conf, conf.reports.topic,
                                                  [endpoint])
        else:
            rpc_server = messaging.get_server(conf, conf.reports.topic,
                                              [endpoint])
        rpc_server.start()
        ready.set()
        stop.wait()
        rpc_server.stop()
        rpc_server.wait()
    else:
        from agentsched import server as agentsched_server
        service = agentsched_server.ServerService(conf)
        service.start()
        ready.set()
        while not stop.wait(0.05):
            counter.value = service.reports.stats.accepted
        counter.value = service.reports.stats.accepted
        service.stop()
    messaging.cleanup()


def sender(config_file, hosts, rounds, device_count, ready, go, results,
           master_key=None):
    """Publish rounds x len(hosts) report_state casts, serialized before
    the clock starts.

    Each report is made as agentsched's StateReporter makes it (a fresh
    uuid, the time; with master_key signed as its host signs, its key
    derived from master_key, its own sequence) and written as
    oslo.messaging's client writes a cast; the publishing alone is timed,
    on a plain AMQP connection, so the senders cost little and every
    phase gets the same stream. Report r of an agent carries
    resource_versions {'bench_seq': r} (1-based); its send time
    (time.time() just before the publish) is returned, and the harness
    matches both with what the database shows.
    """
    import amqp
    conf = common.load_conf(config_file)
    from agentsched import messaging
    from agentsched.reports import reporter
    signer = common.HostSigners(master_key, hosts) if master_key else None
    client = reporter.StateReporter(conf, timeout=10, signer=signer)
    states = [common.agent_state(host, device_count) for host in hosts]
    bodies = []
    for seq in range(1, rounds + 1):
        for state in states:
            state['resource_versions'] = {'bench_seq': seq}
            bodies.append(common.cast_body(client.arguments(state)))
    connection = amqp.Connection('127.0.0.1:5672', userid='guest',
                                 password='guest')
    connection.connect()
    channel = connection.channel()
    exchange, topic = conf.control_exchange, conf.reports.topic
    ready.set()
    go.wait()
    cpu = time.process_time()
    sent = []
    bodies = iter(bodies)
    for seq in range(1, rounds + 1):
        times = []
        for _ in states:
            times.append(time.time())
            channel.basic_publish(
                amqp.Message(next(bodies), **common.CAST_PROPERTIES),
                exchange=exchange, routing_key=topic)
        sent.append(times)
    results.put({'hosts': hosts, 'sent': sent, 'done': time.time(),
                 'cpu_s': time.process_time() - cpu})
    connection.close()
    messaging.cleanup()
