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
    """mode 'noop': a bare RPC server; 'real': agentsched's ServerService.

    counter holds reports taken (the noop's count, the real endpoint's
    accepted), published by this process for the harness.
    """
    conf = common.load_conf(config_file)
    from agentsched import messaging
    if mode == 'noop':
        rpc_server = messaging.get_server(conf, conf.reports.topic,
                                          [NoopEndpoint(counter)])
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
    """Cast rounds x len(hosts) reports with agentsched's StateReporter.

    Report r of an agent carries resource_versions {'bench_seq': r}
    (1-based); its send time (time.time() just before the cast) is returned,
    and the harness matches both with what the database shows. With
    master_key, each report is signed as it is sent, as its host signs it
    (its key derived from master_key, its own sequence).
    """
    conf = common.load_conf(config_file)
    from agentsched import messaging
    from agentsched.reports import reporter
    signer = common.HostSigners(master_key, hosts) if master_key else None
    client = reporter.StateReporter(conf, timeout=10, signer=signer)
    states = [common.agent_state(host, device_count) for host in hosts]
    # Open the connection before the clock starts: a cast to a topic nobody
    # consumes is dropped by the exchange.
    messaging.get_client(conf, conf.reports.topic + '-warmup', '1.2').cast(
        {}, 'report_state')
    ready.set()
    go.wait()
    cpu = time.process_time()
    sent = []
    for seq in range(1, rounds + 1):
        times = []
        for state in states:
            state['resource_versions'] = {'bench_seq': seq}
            now = time.time()
            client.report_state(state, use_call=False)
            times.append(now)
        sent.append(times)
    results.put({'hosts': hosts, 'sent': sent, 'done': time.time(),
                 'cpu_s': time.process_time() - cpu})
    messaging.cleanup()
