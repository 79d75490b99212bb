"""The data-plane benchmark: python -m benchmarks.data_plane [--vips N].

On PostgreSQL, through the real DataPlaneService (what AgentSyncEndpoint
calls for update_operating_status and update_statistics): one agent with N
bound VIPs (default 1,000, each with 2 members) written straight to the
database, then batches of every VIP, as an agent sends them:

- statuses: a batch of N changed statuses (the worst case: every VIP
  changed within one status interval), alternating ONLINE and DEGRADED so
  every batch changes every row;
- statistics: a batch of N counter sets, growing each time.

Measured per batch: wall time, process CPU (the server's share: schema
check, JSON, the statements) and statements sent. Prints one JSON document.
"""

import argparse
import json
import statistics as stats_module
import sys
import time

import sqlalchemy as sa

from benchmarks import common
from benchmarks import failover


def _fleet(run_id, vips):
    rows = failover._Rows(run_id)
    agent_id = rows.agent(0)
    device_id = rows.device('lb-0', vips, [agent_id])
    ids = rows.bound(vips, device_id, agent_id)
    return rows, ids, common.host_name(run_id, 0)


def _timed(engine, call, repeats):
    walls, cpus, counts = [], [], []
    sent = []
    sa.event.listen(engine, 'before_cursor_execute',
                    lambda *args: sent.append(1))
    for index in range(repeats):
        del sent[:]
        wall, cpu = time.perf_counter(), time.process_time()
        call(index)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
        counts.append(len(sent))
    return {'batches': repeats,
            'wall_ms_median': round(stats_module.median(walls) * 1e3, 2),
            'cpu_ms_median': round(stats_module.median(cpus) * 1e3, 2),
            'statements': max(counts)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vips', type=int, default=1000)
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args(argv)
    with common.migrated('data_plane') as (bench, conf, engine):
        from agentsched import constants
        from agentsched.services import data_plane
        rows, ids, host = _fleet(bench.id, args.vips)
        rows.write(engine)
        service = data_plane.DataPlaneService(engine)
        agent_type = constants.AGENT_TYPE_LOADBALANCER
        members = ['10.0.0.5:80', '10.0.0.6:80']

        def statuses(index):
            status = ('ONLINE', 'DEGRADED')[index % 2]
            service.record_operating_statuses(agent_type, host, [
                {'id': rid, 'generation': 1, 'operating_status': status,
                 'members': {members[0]: 'ONLINE',
                             members[1]: 'ONLINE' if index % 2 == 0
                             else 'ERROR'}} for rid in ids])

        def counters(index):
            taken = service.record_statistics(agent_type, host, [
                dict({'id': rid, 'generation': 1},
                     **{field: 1000 * (index + 1)
                        for field in constants.STATS_FIELDS})
                for rid in ids])
            assert taken == len(ids), taken

        report = {'vips': args.vips,
                  'statuses': _timed(engine, statuses, args.repeats),
                  'statistics': _timed(engine, counters, args.repeats)}
        for kind in ('statuses', 'statistics'):
            figures = report[kind]
            figures['cpu_us_per_vip'] = round(
                figures['cpu_ms_median'] * 1e3 / args.vips, 1)
        with engine.connect() as connection:
            from agentsched.db import models
            total = connection.execute(sa.select(sa.func.sum(
                models.resource_stats.c.bytes_in))).scalar()
        # Every run grew every VIP's counter by 1000: the totals add up.
        assert total == 1000 * args.repeats * args.vips, total
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == '__main__':
    main()
