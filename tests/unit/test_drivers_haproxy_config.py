"""The haproxy configuration a device's VIPs render to."""

import pytest

from agentsched.agents.drivers import haproxy_config

SOCKET = '/run/agentsched/hap-1/haproxy.sock'


def vip(**changes):
    spec = {'address': '192.0.2.10', 'protocol': 'HTTP',
            'protocol_port': 80,
            'members': [{'address': '10.0.0.1', 'protocol_port': 8080,
                         'weight': 3},
                        {'address': '10.0.0.2', 'protocol_port': 8080}]}
    spec.update(changes)
    return spec


def section(text, header):
    """The lines of one section, without its header."""
    lines = text.splitlines()
    start = lines.index(header) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i]),
               len(lines))
    return [line.strip() for line in lines[start:end]]


def test_http_vip_frontend_and_backend():
    text = haproxy_config.render({'v1': vip()}, SOCKET)
    assert section(text, 'frontend vip-v1') == [
        'mode http', 'bind 192.0.2.10:80', 'option forwardfor',
        'default_backend pool-v1']
    assert section(text, 'backend pool-v1') == [
        'mode http', 'balance roundrobin',
        'server member-10.0.0.1-8080 10.0.0.1:8080 weight 3',
        'server member-10.0.0.2-8080 10.0.0.2:8080 weight 1']
    assert 'stats socket %s mode 600 level admin expose-fd listeners' % \
        SOCKET in text


@pytest.mark.parametrize('protocol', ['TCP', 'HTTPS'])
def test_tcp_and_https_passthrough_are_tcp_mode(protocol):
    text = haproxy_config.render({'v1': vip(protocol=protocol,
                                            protocol_port=443)}, SOCKET)
    frontend = section(text, 'frontend vip-v1')
    assert frontend[:2] == ['mode tcp', 'bind 192.0.2.10:443']
    assert 'option forwardfor' not in frontend
    assert section(text, 'backend pool-v1')[0] == 'mode tcp'


def test_connection_limit_is_maxconn_unless_unlimited():
    limited = haproxy_config.render({'v1': vip(connection_limit=500)},
                                    SOCKET)
    assert 'maxconn 500' in section(limited, 'frontend vip-v1')
    unlimited = haproxy_config.render({'v1': vip(connection_limit=-1)},
                                      SOCKET)
    assert not [line for line in section(unlimited, 'frontend vip-v1')
                if line.startswith('maxconn')]


def test_weight_zero_drains_a_member():
    spec = vip(members=[{'address': '10.0.0.1', 'protocol_port': 80,
                         'weight': 0}])
    backend = section(haproxy_config.render({'v1': spec}, SOCKET),
                      'backend pool-v1')
    assert backend[-1] == 'server member-10.0.0.1-80 10.0.0.1:80 weight 0'


def test_source_ip_persistence_sticks_on_src():
    spec = vip(protocol='TCP', session_persistence={'type': 'SOURCE_IP'})
    backend = section(haproxy_config.render({'v1': spec}, SOCKET),
                      'backend pool-v1')
    assert 'stick on src' in backend
    assert any(line.startswith('stick-table type ip') for line in backend)


def test_http_cookie_persistence_names_each_member():
    spec = vip(session_persistence={'type': 'HTTP_COOKIE'})
    backend = section(haproxy_config.render({'v1': spec}, SOCKET),
                      'backend pool-v1')
    assert 'cookie SRV insert indirect nocache' in backend
    assert backend[-1].endswith('weight 1 cookie member-10.0.0.2-8080')


def test_app_cookie_persistence_learns_the_application_cookie():
    spec = vip(session_persistence={'type': 'APP_COOKIE',
                                    'cookie_name': 'JSESSIONID'})
    backend = section(haproxy_config.render({'v1': spec}, SOCKET),
                      'backend pool-v1')
    assert 'stick store-response res.cook(JSESSIONID)' in backend
    assert 'stick match req.cook(JSESSIONID)' in backend


def test_cookie_persistence_needs_http():
    spec = vip(protocol='TCP', session_persistence={'type': 'HTTP_COOKIE'})
    with pytest.raises(haproxy_config.InvalidVIP, match='needs protocol'):
        haproxy_config.render({'v1': spec}, SOCKET)


def test_ipv6_addresses_are_bracketed():
    spec = vip(address='2001:db8::10', members=[
        {'address': '2001:db8::1', 'protocol_port': 80}])
    text = haproxy_config.render({'v1': spec}, SOCKET)
    assert 'bind [2001:db8::10]:80' in section(text, 'frontend vip-v1')
    assert section(text, 'backend pool-v1')[-1].startswith(
        'server member-2001:db8::1-80 [2001:db8::1]:80')


@pytest.mark.parametrize('changes', [
    {'address': '192.0.2.1\n    stats enable'},
    {'members': [{'address': 'a b', 'protocol_port': 80}]},
    {'session_persistence': {'type': 'APP_COOKIE',
                             'cookie_name': 'x)\nbind :1'}},
])
def test_a_spec_cannot_inject_configuration(changes):
    with pytest.raises(haproxy_config.InvalidVIP):
        haproxy_config.render({'v1': vip(**changes)}, SOCKET)


def test_two_vips_on_one_address_and_port_are_refused():
    with pytest.raises(haproxy_config.InvalidVIP, match='already'):
        haproxy_config.render({'v1': vip(), 'v2': vip()}, SOCKET)


def test_same_vips_render_the_same_bytes_whatever_the_order():
    first = {'v1': vip(), 'v2': vip(protocol_port=81)}
    second = {'v2': vip(protocol_port=81), 'v1': vip()}
    assert haproxy_config.render(first, SOCKET) == \
        haproxy_config.render(second, SOCKET)


# Issue 13: values that passed the old checks. Python's '$' matches before a
# trailing newline, and ipaddress takes any text after '%' as an IPv6 zone.
@pytest.mark.parametrize('resource_id, changes', [
    ('v1', {'address': 'host\n'}),
    ('v1', {'address': 'lb.example\n'}),
    ('v1', {'address': 'fe80::1%eth0 bind 0.0.0.0:22'}),
    ('v1', {'address': 'fe80::1%eth0'}),
    ('v1', {'members': [{'address': 'backend.example\n',
                         'protocol_port': 80}]}),
    ('v1', {'members': [{'address': 'fe80::1%x\nlisten evil',
                         'protocol_port': 80}]}),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': 'SID\n'}}),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': 'SID#x'}}),
    ('v1', {'protocol_port': '80\n'}),
    ('v1', {'members': [{'address': '10.0.0.1', 'protocol_port': 80,
                         'weight': '1\nlisten evil'}]}),
    ('v1', {'connection_limit': '5\nlisten evil'}),
    ('v1\n', {}),
    ('v1\nlisten evil', {}),
])
def test_newlines_zones_and_bad_types_are_refused(resource_id, changes):
    with pytest.raises(haproxy_config.InvalidVIP):
        haproxy_config.render({resource_id: vip(**changes)}, SOCKET)


@pytest.mark.parametrize('socket_path', ['/run/s.sock\n', '/run/a b.sock'])
def test_a_stats_socket_path_cannot_add_a_line(socket_path):
    with pytest.raises(haproxy_config.InvalidVIP):
        haproxy_config.render({'v1': vip()}, socket_path)


# Issue 14: health monitors, members' admin_state_up.
STATE = '/run/agentsched/hap-1/servers.state'
PING = '/run/agentsched/hap-1/ping-check'


def monitored(kind='HTTP', spec=None, **changes):
    """A VIP (with spec's changes) and its monitor (with changes)."""
    return vip(health_monitor=dict({'type': kind, 'delay': 5, 'timeout': 2,
                                    'max_retries': 2}, **changes),
               **(spec or {}))


def test_an_http_monitor_renders_as_octavia_does():
    text = haproxy_config.render({'v1': monitored(
        max_retries_down=4, http_method='HEAD', url_path='/healthz?x=1')},
        SOCKET)
    assert section(text, 'backend pool-v1') == [
        'mode http', 'balance roundrobin', 'timeout check 2s',
        'option httpchk HEAD /healthz?x=1',
        'http-check expect status 200',
        'server member-10.0.0.1-8080 10.0.0.1:8080 weight 3 '
        'check inter 5s fall 4 rise 2',
        'server member-10.0.0.2-8080 10.0.0.2:8080 weight 1 '
        'check inter 5s fall 4 rise 2']
    # No PING: nothing forks.
    assert 'external-check' not in text


@pytest.mark.parametrize('codes, line', [
    ('202', 'http-check expect status 202'),
    ('200,202', 'http-check expect rstatus ^(20[02])$'),
    ('200-204', 'http-check expect rstatus ^(20[0-4])$'),
    ('200,201,205,207,208,209,302', 'http-check expect rstatus '
                                    '^(20[0157-9]|302)$'),
    ('404,200', 'http-check expect rstatus ^(200|404)$'),
])
def test_expected_codes_are_a_status_or_an_anchored_pattern(codes, line):
    backend = section(haproxy_config.render(
        {'v1': monitored(expected_codes=codes)}, SOCKET), 'backend pool-v1')
    assert backend[4] == line


def test_the_widest_range_stays_a_short_line():
    backend = section(haproxy_config.render(
        {'v1': monitored(expected_codes='100-599')}, SOCKET),
        'backend pool-v1')
    assert backend[4].startswith('http-check expect rstatus ^(10[0-9]|')
    assert backend[4].endswith('|59[0-9])$')
    assert len(backend[4]) < 600


def test_https_checks_the_tls_hello_and_tcp_connects():
    https = section(haproxy_config.render(
        {'v1': monitored('HTTPS', {'protocol': 'HTTPS'}, url_path='/x')}, SOCKET),
        'backend pool-v1')
    assert https[:4] == ['mode tcp', 'balance roundrobin',
                         'timeout check 2s', 'option ssl-hello-chk']
    assert not [line for line in https if 'httpchk' in line]
    tcp = section(haproxy_config.render({'v1': monitored('TCP')}, SOCKET),
                  'backend pool-v1')
    assert tcp[2:4] == ['timeout check 2s',
                        'server member-10.0.0.1-8080 10.0.0.1:8080 weight 3 '
                        'check inter 5s fall 3 rise 2']


def test_ping_runs_the_drivers_script_as_an_external_check():
    text = haproxy_config.render({'v1': monitored('PING')}, SOCKET,
                                 ping_check=PING)
    assert section(text, 'global')[-2:] == ['external-check',
                                            'insecure-fork-wanted']
    assert section(text, 'backend pool-v1')[2:5] == [
        'timeout check 2s', 'option external-check',
        'external-check command %s' % PING]
    older = haproxy_config.render({'v1': monitored('PING')}, SOCKET,
                                  ping_check=PING,
                                  insecure_fork_wanted=False)
    assert section(older, 'global')[-1] == 'external-check'
    with pytest.raises(haproxy_config.InvalidVIP, match='ping check'):
        haproxy_config.render({'v1': monitored('PING')}, SOCKET)
    with pytest.raises(haproxy_config.InvalidVIP, match='ping check'):
        haproxy_config.render({'v1': monitored('PING')}, SOCKET,
                              ping_check=PING + '\nexternal-check path /')


def test_a_disabled_member_is_disabled_with_or_without_checks():
    members = [{'address': '10.0.0.1', 'protocol_port': 80,
                'admin_state_up': False},
               {'address': '10.0.0.2', 'protocol_port': 80,
                'admin_state_up': True}]
    plain = section(haproxy_config.render({'v1': vip(members=members)},
                                          SOCKET), 'backend pool-v1')
    assert plain[-2:] == [
        'server member-10.0.0.1-80 10.0.0.1:80 weight 1 disabled',
        'server member-10.0.0.2-80 10.0.0.2:80 weight 1']
    checked = section(haproxy_config.render({'v1': monitored(
        'TCP', {'members': members})}, SOCKET), 'backend pool-v1')
    assert checked[-2] == ('server member-10.0.0.1-80 10.0.0.1:80 weight 1 '
                           'check inter 5s fall 3 rise 2 disabled')


def test_servers_start_from_the_state_the_driver_dumped():
    text = haproxy_config.render({'v1': vip()}, SOCKET, state_file=STATE)
    assert 'server-state-file %s' % STATE in section(text, 'global')
    assert section(text, 'defaults')[-1] == \
        'load-server-state-from-file global'
    with pytest.raises(haproxy_config.InvalidVIP, match='state file'):
        haproxy_config.render({'v1': vip()}, SOCKET, state_file='/a b')


def test_monitored_vips_render_the_same_bytes_whatever_the_order():
    first = {'v1': monitored('PING'),
             'v2': monitored(spec={'protocol_port': 81})}
    second = {'v2': monitored(spec={'protocol_port': 81}),
              'v1': monitored('PING')}
    assert haproxy_config.render(first, SOCKET, STATE, PING) == \
        haproxy_config.render(second, SOCKET, STATE, PING)


# The bus is hostile: every value of a monitor is checked again here.
@pytest.mark.parametrize('changes, message', [
    ({'url_path': '/a b'}, 'url_path must start with /'),
    ({'url_path': '/\r\nHost: evil'}, 'url_path must start with /'),
    ({'url_path': '/a"b'}, 'url_path must start with /'),
    ({'url_path': '/a\\r\\nX: y'}, 'url_path must start with /'),
    ({'url_path': '/#'}, 'url_path must start with /'),
    ({'expected_codes': '200\n    stats enable'}, 'expected_codes must be'),
    ({'expected_codes': '200|.*'}, 'expected_codes must be'),
    ({'http_method': 'GET /x\nlisten evil'}, 'http_method must be one of'),
    ({'delay': '5s\n    stats enable'}, 'delay must be an integer'),
    ({'timeout': 9}, 'must not be longer than its delay'),
    ({'max_retries': 0}, 'max_retries must be an integer from 1 to 10'),
    ({'max_retries_down': True}, 'max_retries_down must be an integer'),
    ({'type': 'SCRIPT'}, 'type must be one of'),
    ({'command': '/bin/sh'}, 'unknown fields: command'),
])
def test_a_monitor_from_the_bus_is_checked_again(changes, message):
    with pytest.raises(haproxy_config.InvalidVIP, match=message):
        haproxy_config.render({'v1': monitored(**changes)}, SOCKET)


@pytest.mark.parametrize('value', ['false', 0, None, 'disabled'])
def test_admin_state_up_must_be_a_boolean(value):
    with pytest.raises(haproxy_config.InvalidVIP,
                       match=r'members\[0\].admin_state_up must be true or '
                             'false'):
        haproxy_config.render({'v1': vip(members=[
            {'address': '10.0.0.1', 'protocol_port': 80,
             'admin_state_up': value}])}, SOCKET)
    with pytest.raises(haproxy_config.InvalidVIP, match='must be an object'):
        haproxy_config.render({'v1': vip(health_monitor='TCP')}, SOCKET)
