"""Neutron's own agent list, the baseline of issue 17's full-list target:
python -m benchmarks.neutron_agents [--agents N] [--runs N].

The target is the full list of 100,000 agents at 10 times the rate of
Neutron's plugin on the same machine. This measures that plugin: Neutron
29's AgentDbMixin.get_agents (the plugin call behind GET /v2.0/agents),
then the response body made as Neutron's API makes it (oslo.serialization),
in Neutron's own venv (tests/neutron_client.py, built if need be; pymysql
added to it for the run if it lacks it), on a scratch MariaDB database
with Neutron's schema (neutron-db-manage upgrade heads; Neutron's
migrations no longer run on PostgreSQL). The agents carry configurations
of about the size of benchmarks.scale's (4 devices). Prints one JSON
document: each run's seconds for the plugin, for the plugin and the body,
and the process CPU of both.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

# Run by the Neutron venv's python: Neutron's code, not agentsched's.
_CHILD = r'''
import datetime, json, sys, time, uuid
from oslo_config import cfg
cfg.CONF(['--config-file', sys.argv[1]], project='neutron')
from neutron.db import agents_db
from neutron.db.models import agent as agent_model
from neutron_lib import context as n_context
from neutron_lib.db import api as db_api
from oslo_serialization import jsonutils
agents, runs = int(sys.argv[2]), int(sys.argv[3])


def configurations(i):
    return {'devices': [{
        'name': 'h-%06d-dev-%d' % (i, d), 'device_type': 'haproxy',
        'service_type': 'LOADBALANCER', 'health': 'OK', 'load': d,
        'capabilities': {'ssl_offload': True, 'max_connections': 10000},
        'address': '10.%d.%d.%d' % (i // 65536 % 256, i // 256 % 256,
                                    i % 256)} for d in range(4)]}


now = datetime.datetime.utcnow()
rows = [dict(id=str(uuid.uuid4()), agent_type='Loadbalancer agent',
             binary='agentsched-agent', topic='t', host='h-%06d' % i,
             availability_zone='nova', admin_state_up=True, created_at=now,
             started_at=now, heartbeat_timestamp=now,
             configurations=json.dumps(configurations(i)), load=0,
             resources_synced=True) for i in range(agents)]
context = n_context.get_admin_context()
with db_api.CONTEXT_WRITER.using(context):
    context.session.bulk_insert_mappings(agent_model.Agent, rows)
plugin = agents_db.AgentDbMixin()
results = []
for _ in range(runs):
    context = n_context.get_admin_context()
    began, cpu = time.perf_counter(), time.process_time()
    listed = plugin.get_agents(context)
    plugin_s = time.perf_counter() - began
    body = jsonutils.dump_as_bytes({'agents': listed})
    results.append({'agents': len(listed), 'plugin_s': round(plugin_s, 3),
                    'with_body_s': round(time.perf_counter() - began, 3),
                    'cpu_s': round(time.process_time() - cpu, 3),
                    'bytes': len(body)})
print(json.dumps(results))
'''

_DRIVER = 'pymysql'


def _mysql(statement):
    subprocess.run(['mysql', '-uroot', '-h127.0.0.1', '-e', statement],
                   check=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--agents', type=int, default=10000)
    parser.add_argument('--runs', type=int, default=4)
    args = parser.parse_args(argv)
    from tests import neutron_client
    python = neutron_client.python()
    pip = [python, '-m', 'pip', '-q']
    # Added for this run only: the venv is the acceptance tests' too.
    added = subprocess.run([python, '-c', 'import ' + _DRIVER],
                           stderr=subprocess.DEVNULL).returncode != 0
    if added:
        subprocess.run(pip + ['install', _DRIVER], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    database = 'neutron_bench_%s' % uuid.uuid4().hex[:8]
    _mysql('CREATE DATABASE %s' % database)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            config = os.path.join(scratch, 'neutron.conf')
            with open(config, 'w') as f:
                f.write('[DEFAULT]\ncore_plugin = ml2\n[database]\n'
                        'connection = mysql+pymysql://root@127.0.0.1/%s\n'
                        % database)
            subprocess.run([os.path.join(os.path.dirname(python),
                                         'neutron-db-manage'),
                            '--config-file', config, 'upgrade', 'heads'],
                           check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            began = time.time()
            out = subprocess.run(
                [python, '-c', _CHILD, config, str(args.agents),
                 str(args.runs)], check=True, capture_output=True,
                text=True, cwd=scratch).stdout
        runs = json.loads(out.strip().splitlines()[-1])
    finally:
        _mysql('DROP DATABASE %s' % database)
        if added:
            subprocess.run(pip + ['uninstall', '-y', _DRIVER],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    json.dump({'neutron': neutron_client.REQUIREMENT,
               'database': 'MariaDB', 'agents': args.agents,
               'started': time.strftime('%Y-%m-%dT%H:%M:%SZ',
                                        time.gmtime(began)),
               'runs': runs,
               'best_plugin_s': min(r['plugin_s'] for r in runs),
               'best_with_body_s': min(r['with_body_s'] for r in runs)},
              sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
