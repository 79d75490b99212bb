"""The API benchmark: python -m benchmarks.api [--agents N] [--requests N].

GET /v2.0/agents through a real agentsched-server process (waitress, the
full middleware pipeline, noauth) on PostgreSQL with N registered agents
(2 devices each in their configurations, as --local-agents reports them):
the full list, and a page of 100 (the first page, and one deep in the
table by marker). Prints one JSON document with p50/p90/p99 in ms.
Targets: the full list p50 <= 100 ms, a page of 100 p50 <= 10 ms.
"""

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time

from benchmarks import common

TARGETS = {'full_list_p50_ms': 100, 'page_p50_ms': 10}


def percentiles_ms(samples):
    ordered = sorted(samples)
    def at(share):
        return round(ordered[min(len(ordered) - 1,
                                 int(share * len(ordered)))] * 1000, 2)
    return {'p50': at(0.50), 'p90': at(0.90), 'p99': at(0.99),
            'mean': round(statistics.mean(ordered) * 1000, 2),
            'requests': len(ordered)}


def time_gets(connection, path, count):
    samples = []
    for _ in range(count):
        began = time.perf_counter()
        connection.request('GET', path)
        response = connection.getresponse()
        body = response.read()
        samples.append(time.perf_counter() - began)
        if response.status != 200:
            raise RuntimeError('%s: %d %s' % (path, response.status,
                                              body[:200]))
    return samples, body


def server_config(bench, phase='api', bus=False, extra=''):
    """The config file of a server with its API on (extra: more sections);
    no bus (in-process messaging) unless bus: RabbitMQ, the run's own
    exchange."""
    config = bench.config_file(phase)
    with open(config, 'a') as conf:
        conf.write('\n[api]\nenabled = true\n' + extra)
    if not bus:
        text = open(config).read()
        text = re.sub(r'(?m)^transport_url = .*\n', '', text)
        with open(config, 'w') as conf:
            conf.write(text)
    return config


def start_server(bench, phase='api', timeout=60):
    """An agentsched-server process with the phase's config (see
    server_config): (process, port) once its log (from now on) says its
    API listens."""
    config = bench.config_file(phase)
    log_path = os.path.join(bench.dir, '%s.log' % phase)  # its log_file
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), 'agentsched-server'),
         '--config-file', config], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(log_path):
            with open(log_path) as log:
                log.seek(offset)
                found = re.search(
                    r'REST API listening on http://[^:]+:(\d+)/', log.read())
            if found:
                return server, int(found.group(1))
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.kill()
    raise RuntimeError('the server did not start; see %s' % log_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--agents', type=int, default=10000)
    parser.add_argument('--requests', type=int, default=50,
                        help='requests of the full list (pages: 10x)')
    args = parser.parse_args(argv)
    bench = common.Run()
    bench.create_database()
    server = None
    try:
        from agentsched.db import engine as db_engine
        from agentsched.db import migration
        conf = common.load_conf(bench.config_file('api'))
        engine = db_engine.create_engine(conf)
        migration.upgrade(engine)
        hosts = [common.host_name(bench.id, i) for i in range(args.agents)]
        common.register_agents(engine, hosts, device_count=2)
        engine.dispose()
        server_config(bench)
        server, port = start_server(bench)
        connection = http.client.HTTPConnection('127.0.0.1', port,
                                                timeout=60)
        time_gets(connection, '/v2.0/agents?limit=1', 5)  # warm up
        full, body = time_gets(connection, '/v2.0/agents', args.requests)
        listed, full_bytes = len(json.loads(body)['agents']), len(body)
        first_page, _ = time_gets(connection, '/v2.0/agents?limit=100',
                                  args.requests * 10)
        _, body = time_gets(connection, '/v2.0/agents?fields=id&limit=%d'
                            % (args.agents // 2), 1)
        middle = json.loads(body)['agents'][-1]['id']
        deep_page, _ = time_gets(
            connection, '/v2.0/agents?limit=100&marker=%s' % middle,
            args.requests * 10)
        report = {
            'agents': args.agents, 'listed': listed,
            'full_list_ms': percentiles_ms(full),
            'first_page_of_100_ms': percentiles_ms(first_page),
            'deep_page_of_100_ms': percentiles_ms(deep_page),
            'full_list_bytes': full_bytes,
        }
        report['targets'] = {
            'full_list_p50': {
                'value': report['full_list_ms']['p50'],
                'target': '<= %d ms' % TARGETS['full_list_p50_ms'],
                'met': report['full_list_ms']['p50'] <=
                TARGETS['full_list_p50_ms']},
            'page_p50': {
                'value': max(report['first_page_of_100_ms']['p50'],
                             report['deep_page_of_100_ms']['p50']),
                'target': '<= %d ms' % TARGETS['page_p50_ms'],
                'met': max(report['first_page_of_100_ms']['p50'],
                           report['deep_page_of_100_ms']['p50']) <=
                TARGETS['page_p50_ms']},
        }
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        bench.drop_database()
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
