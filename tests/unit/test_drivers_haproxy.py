"""The haproxy driver's reading of its process (issue 14): member and VIP
operating statuses from `show stat`, the statistics and their carry across
reloads, the PING check's script. The real process: tests/functional/
test_health_monitors.py."""

import json

import pytest

from agentsched import constants
from agentsched.agents.drivers import haproxy

ONLINE = constants.OPERATING_ONLINE
ERROR = constants.OPERATING_ERROR
OFFLINE = constants.OPERATING_OFFLINE
DEGRADED = constants.OPERATING_DEGRADED
DRAINING = constants.OPERATING_DRAINING
NO_MONITOR = constants.OPERATING_NO_MONITOR


@pytest.mark.parametrize('status, expected', [
    ('UP', ONLINE), ('UP 1/3', ONLINE), ('DOWN', ERROR), ('DOWN 1/2', ERROR),
    ('MAINT', OFFLINE), ('MAINT (via pool-v1/member-a-80)', OFFLINE),
    ('MAINT(resolution)', OFFLINE), ('DRAIN', DRAINING),
    ('DRAIN (agent)', DRAINING), ('NOLB', DRAINING), ('NOLB 1/2', DRAINING),
    ('no check', NO_MONITOR), ('', ERROR), ('SOMETHING', ERROR)])
def test_member_statuses(status, expected):
    assert haproxy.member_status(status) == expected


@pytest.mark.parametrize('listening, monitored, members, expected', [
    (False, True, [ONLINE], OFFLINE),
    (False, False, [], OFFLINE),
    (True, False, [NO_MONITOR, OFFLINE], NO_MONITOR),
    (True, True, [], ONLINE),
    (True, True, [ONLINE, ONLINE], ONLINE),
    (True, True, [ONLINE, DRAINING], ONLINE),
    (True, True, [ONLINE, ERROR], DEGRADED),
    (True, True, [DRAINING, ERROR], DEGRADED),
    (True, True, [ERROR, ERROR], ERROR),
    # Disabled members (OFFLINE) are not counted...
    (True, True, [ERROR, OFFLINE], ERROR),
    (True, True, [ONLINE, OFFLINE], ONLINE),
    # ... and none enabled is nothing failing.
    (True, True, [OFFLINE, OFFLINE], ONLINE),
])
def test_the_vip_rollup(listening, monitored, members, expected):
    assert haproxy.rollup(listening, monitored, members) == expected


HEADER = '# pxname,svname,scur,stot,bin,bout,ereq,status,\n'


def stat(*rows):
    return HEADER + ''.join(','.join(map(str, row)) + ',\n' for row in rows)


SPEC = {'address': '127.0.0.1', 'protocol': 'HTTP', 'protocol_port': 80,
        'health_monitor': {'type': 'TCP', 'delay': 1, 'timeout': 1,
                           'max_retries': 1},
        'members': [{'address': '10.0.0.1', 'protocol_port': 80},
                    {'address': '10.0.0.2', 'protocol_port': 8080,
                     'weight': 3},
                    {'address': '10.0.0.3', 'protocol_port': 80,
                     'admin_state_up': False}]}


def test_a_vips_status_from_show_stat():
    rows = haproxy.parse_stat('Pid: 7\n\n' + stat(
        ('vip-v1', 'FRONTEND', 3, 10, 100, 200, 1, 'OPEN'),
        ('pool-v1', 'member-10.0.0.1-80', 0, 0, 0, 0, '', 'UP'),
        ('pool-v1', 'member-10.0.0.2-8080', 0, 0, 0, 0, '', 'DOWN 1/2'),
        ('pool-v1', 'member-10.0.0.3-80', 0, 0, 0, 0, '', 'MAINT'),
        ('pool-v1', 'BACKEND', 0, 0, 0, 0, '', 'UP')))
    assert haproxy.vip_operating_status('v1', SPEC, rows) == {
        'operating_status': DEGRADED,
        'members': {'10.0.0.1:80': ONLINE, '10.0.0.2:8080': ERROR,
                    '10.0.0.3:80': OFFLINE}}
    # A member the process does not have (yet) is not served: OFFLINE.
    del rows[('pool-v1', 'member-10.0.0.1-80')]
    assert haproxy.vip_operating_status('v1', SPEC, rows) == {
        'operating_status': ERROR,
        'members': {'10.0.0.1:80': OFFLINE, '10.0.0.2:8080': ERROR,
                    '10.0.0.3:80': OFFLINE}}
    # A frontend that stopped listening.
    rows[('vip-v1', 'FRONTEND')]['status'] = 'STOP'
    assert haproxy.vip_operating_status('v1', SPEC, rows)[
        'operating_status'] == OFFLINE
    rows[('vip-v1', 'FRONTEND')]['status'] = 'FULL'
    assert haproxy.vip_operating_status('v1', SPEC, rows)[
        'operating_status'] == ERROR


def test_without_an_answer_everything_is_offline():
    assert haproxy.vip_operating_status('v1', SPEC, None) == {
        'operating_status': OFFLINE,
        'members': {'10.0.0.1:80': OFFLINE, '10.0.0.2:8080': OFFLINE,
                    '10.0.0.3:80': OFFLINE}}


def test_show_stat_without_its_header_is_no_answer():
    with pytest.raises(OSError):
        haproxy.parse_stat('Unknown command\n')


def rows(**counters):
    """`show stat` rows with each VIP's frontend: {id: (bin, bout, scur,
    stot, ereq)}."""
    return haproxy.parse_stat(stat(*[
        ('vip-%s' % resource_id, 'FRONTEND', scur, stot, bytes_in,
         bytes_out, ereq, 'OPEN')
        for resource_id, (bytes_in, bytes_out, scur, stot, ereq)
        in counters.items()]))


def fields(bytes_in, bytes_out, active, total, errors):
    return {'bytes_in': bytes_in, 'bytes_out': bytes_out,
            'active_connections': active, 'total_connections': total,
            'request_errors': errors}


def test_statistics_carry_across_reloads_restarts_and_crashes(tmp_path):
    path = tmp_path / haproxy.STATS_FILE
    carry = haproxy.CounterCarry(str(path))
    vips = {'v1', 'v2'}
    assert carry.totals((10, rows(v1=(100, 200, 1, 5, 1))), vips) == {
        'v1': fields(100, 200, 1, 5, 1), 'v2': fields(0, 0, 0, 0, 0)}

    # A reload: the old process, read just before, joins the carry; the
    # new one counts from zero.
    carry.retire((10, rows(v1=(150, 300, 2, 7, 1), v2=(5, 5, 0, 1, 0))),
                 vips)
    assert carry.totals((11, rows(v1=(10, 20, 1, 1, 0))), vips) == {
        'v1': fields(160, 320, 1, 8, 1), 'v2': fields(5, 5, 0, 1, 0)}

    # The agent restarts: the file has it all.
    carry = haproxy.CounterCarry(str(path))
    assert carry.totals((11, rows(v1=(20, 30, 0, 2, 0))), vips)['v1'] == \
        fields(170, 330, 0, 9, 1)

    # The process dies (no reload read it): until another runs, what was
    # counted; at the start of the next, its last reading joins the carry.
    assert carry.totals(None, vips)['v1'] == fields(170, 330, 0, 9, 1)
    carry.retire(None, vips)
    assert carry.totals((12, rows()), vips)['v1'] == \
        fields(170, 330, 0, 9, 1)
    # A process nobody retired (started behind the driver's back): its
    # predecessor's last reading is carried all the same.
    carry.totals((12, rows(v1=(1, 1, 0, 1, 0))), vips)
    assert carry.totals((13, rows()), vips)['v1'] == \
        fields(171, 331, 0, 10, 1)

    # An undeployed VIP drops its carry; the last one, the file.
    carry.retire((13, rows()), {'v1'})
    assert set(json.loads(path.read_text())['carried']) == {'v1'}
    carry.drop()
    assert not path.exists()
    assert carry.totals((14, rows()), {'v2'}) == {'v2': fields(0, 0, 0, 0,
                                                              0)}


def test_the_carry_file_is_written_only_when_a_reading_changes(tmp_path):
    path = tmp_path / haproxy.STATS_FILE
    carry = haproxy.CounterCarry(str(path))
    carry.totals((10, rows(v1=(1, 1, 0, 1, 0))), {'v1'})
    inode = path.stat().st_ino
    carry.totals((10, rows(v1=(1, 1, 0, 1, 0))), {'v1'})
    # files.write renames a new file over the old: the same inode, no write.
    assert path.stat().st_ino == inode
    carry.totals((10, rows(v1=(2, 1, 0, 1, 0))), {'v1'})
    assert path.stat().st_ino != inode


def test_a_damaged_carry_file_counts_from_zero(tmp_path):
    path = tmp_path / haproxy.STATS_FILE
    path.write_text('[1, 2')
    carry = haproxy.CounterCarry(str(path))
    assert carry.totals((1, rows(v1=(1, 2, 0, 3, 0))), {'v1'}) == {
        'v1': fields(1, 2, 0, 3, 0)}
    path.write_text('["not", "an", "object"]')
    assert haproxy.CounterCarry(str(path)).carried == {}


def test_the_ping_script():
    script = haproxy.ping_check_script('/usr/bin/ping')
    assert script.startswith('#!/bin/sh\n')
    assert script.endswith('exec /usr/bin/ping -n -q -c 1 -W 1 '
                           '"$HAPROXY_SERVER_ADDR" >/dev/null 2>&1\n')
    assert "'/opt/my ping/ping'" in haproxy.ping_check_script(
        '/opt/my ping/ping')
    missing = haproxy.ping_check_script(None)
    assert missing.endswith('exit 1\n')
    assert 'iputils-ping' in missing
