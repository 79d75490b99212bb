"""agentsched/formats.py: the strict formats of values that reach a device
(issue 13), and the escaping of what the CLI prints."""

import pytest

from agentsched import formats


@pytest.mark.parametrize('value', [
    '192.0.2.1', '2001:db8::1', '::ffff:c000:201', 'localhost',
    'lb-1.example.com', 'a' * 63 + '.example', 'xn--bcher-kva.example'])
def test_hosts_accepted(value):
    assert formats.host(value, 'address') == value


@pytest.mark.parametrize('value', [
    'host\n', 'host\r', ' host', 'fe80::1%eth0', 'fe80::1%eth0 bind :22',
    'a b', '-lb.example', 'lb-.example', 'lb..example', 'lb.example.',
    'a' * 64 + '.example', 'x.' * 126 + 'xy', '010.0.0.1', '1.2.3.999',
    '', None, 7, 'h\u00e9te', 'host#x', 'host{'])
def test_hosts_refused_naming_the_field_only(value):
    with pytest.raises(formats.InvalidFormat) as info:
        formats.host(value, 'peer_address')
    assert str(info.value).startswith('peer_address ')
    if isinstance(value, str) and len(value) > 8:
        assert value not in str(info.value)


def test_addresses_come_back_in_canonical_text():
    assert formats.host('2001:DB8:0::1', 'address') == '2001:db8::1'


def test_ipv6_zones_are_refused_in_addresses_and_cidrs():
    with pytest.raises(formats.InvalidFormat, match='zone'):
        formats.ip_address('fe80::1%eth0', 'address')
    with pytest.raises(formats.InvalidFormat, match='zone'):
        formats.cidr('fe80::%eth0/64', 'peer_cidrs[0]')


def test_cidrs_are_normalized():
    assert formats.cidrs(['10.1.0.1/16', '2001:db8::/32'], 'c') == [
        '10.1.0.0/16', '2001:db8::/32']
    for bad in (['10.0.0.0/33'], ['10.0.0.0/8\n'], [], '10.0.0.0/8', [7]):
        with pytest.raises(formats.InvalidFormat):
            formats.cidrs(bad, 'c')


@pytest.mark.parametrize('value, good', [
    ('branch', True), ('C=CH, O=strongSwan, CN=gw', True),
    ('user@example.com', True), ('fqdn:vpn.example', True),
    ('x' * 255, True), ('x' * 256, False), ('branch\n', False),
    ('x"y', False), ('a}b', False), ('a#b', False), ('a\\b', False),
    ('%any', False)])
def test_ike_identities(value, good):
    if good:
        assert formats.ike_identity(value, 'peer_id') == value
    else:
        with pytest.raises(formats.InvalidFormat):
            formats.ike_identity(value, 'peer_id')


@pytest.mark.parametrize('check, good, bad', [
    (formats.resource_id, 'b2c1-4e_9', ['v1\n', 'a.b', 'a:b', 'x' * 65]),
    (formats.cookie_name, 'JSESSIONID', ['SID\n', 'S#x', "S'x", 'S x']),
    (formats.path, '/run/agentsched/hap-1.sock', ['/a b', '/a\n', '/a#'])])
def test_names_and_paths(check, good, bad):
    assert check(good, 'f') == good
    for value in bad:
        with pytest.raises(formats.InvalidFormat):
            check(value, 'f')


def test_integers_are_not_booleans_or_text():
    assert formats.port(443, 'p') == 443
    for value in (True, '80', 0, 65536, 80.0):
        with pytest.raises(formats.InvalidFormat):
            formats.port(value, 'p')


def test_printable_escapes_control_characters_unambiguously():
    assert formats.printable('\x1b[31mred\x1b[0m') == '\\x1b[31mred\\x1b[0m'
    assert formats.printable('\x1b]0;t\x07 ok\r\n') == \
        '\\x1b]0;t\\x07 ok\\x0d\\x0a'
    assert formats.printable('a\u202eb\u2028c\x9b') == \
        'a\\u202eb\\u2028c\\x9b'
    assert formats.printable('C:\\x1b caf\u00e9') == 'C:\\\\x1b caf\u00e9'


def test_shorten_cuts_at_a_word_with_an_ellipsis():
    assert formats.shorten('short') == 'short'
    assert formats.shorten(None) is None
    assert formats.shorten('alpha beta gamma', 12) == 'alpha...'
    assert formats.shorten('alpha, beta gamma', 12) == 'alpha...'
    # One word too long for the room is cut where it must be.
    assert formats.shorten('x' * 20, 10) == 'xxxxxxx...'


# Issue 14: a VIP's health monitor reaches haproxy.cfg.
@pytest.mark.parametrize('value', [
    '/', '/healthz', '/status?full=1&x=y;z', '/a/b.c~d_e-f', '/%7Euser',
    "/p@th:8080/!$()*+,=", '/' + 'x' * 254])
def test_url_paths_accepted(value):
    assert formats.url_path(value, 'url_path') == value


@pytest.mark.parametrize('value', [
    '', 'healthz', '/a b', '/a\n', '/a\r\nHost: evil', '/a"b', "/a'b",
    '/a#b', '/a\\r\\nX: y', '/a\tb', '/caf\u00e9', '/<x>', '/' + 'x' * 255,
    None, 7])
def test_url_paths_refused_naming_the_field_only(value):
    with pytest.raises(formats.InvalidFormat) as info:
        formats.url_path(value, 'health_monitor.url_path')
    assert str(info.value).startswith('health_monitor.url_path ')
    assert 'evil' not in str(info.value)


@pytest.mark.parametrize('value, codes', [
    ('200', (200,)), ('200,202', (200, 202)), ('202,200,202', (200, 202)),
    ('200-204', (200, 201, 202, 203, 204)), ('100-100', (100,)),
    ('599', (599,))])
def test_expected_codes_accepted(value, codes):
    assert formats.expected_codes(value, 'expected_codes') == codes


FORMS = r'a code \(200\), a list \(200,202\) or a range'


@pytest.mark.parametrize('value, message', [
    ('', 'non-empty'), ('20', FORMS), ('2000', FORMS),
    ('200,', FORMS), ('200, 202', FORMS),
    ('200-204,300', FORMS), ('200-', FORMS),
    ('abc', FORMS), ('200\n', FORMS),
    ('204-200', 'must go up'), ('099', 'from 100 to 599'),
    ('600', 'from 100 to 599'), ('200,601', 'from 100 to 599'),
    ('500-600', 'from 100 to 599'), (','.join(['200'] * 17), 'at most 64'),
    (200, 'non-empty string')])
def test_expected_codes_refused(value, message):
    with pytest.raises(formats.InvalidFormat, match=message):
        formats.expected_codes(value, 'expected_codes')


MONITOR = {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2}


def test_a_health_monitor_gets_its_defaults():
    assert formats.health_monitor(MONITOR) == dict(
        MONITOR, max_retries_down=3, http_method='GET', url_path='/',
        expected_codes='200')
    tcp = {'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1,
           'max_retries_down': 10}
    assert formats.health_monitor(tcp)['max_retries_down'] == 10


@pytest.mark.parametrize('changes, message', [
    ({'timeout': 6}, r'health_monitor.timeout \(6 s\) must not be longer '
                     r'than its delay \(5 s\)'),
    ({'type': 'ICMP'}, 'health_monitor.type must be one of HTTP, HTTPS, '
                       'PING, TCP'),
    ({'delay': 0}, 'health_monitor.delay must be an integer from 1 to '
                   '86400'),
    ({'delay': 86401, 'timeout': 1}, 'health_monitor.delay must be'),
    ({'delay': '5'}, 'health_monitor.delay must be an integer'),
    ({'timeout': True}, 'health_monitor.timeout must be an integer'),
    ({'max_retries': 11}, 'health_monitor.max_retries must be an integer '
                          'from 1 to 10'),
    ({'max_retries_down': 0}, 'health_monitor.max_retries_down must be'),
    ({'http_method': 'get'}, 'health_monitor.http_method must be one of'),
    ({'url_path': '/a b'}, 'health_monitor.url_path must start with /'),
    ({'expected_codes': '2xx'}, 'health_monitor.expected_codes must be'),
    ({'extra': 1}, 'health_monitor has unknown fields: extra'),
])
def test_a_bad_health_monitor_is_refused_saying_why(changes, message):
    with pytest.raises(formats.InvalidFormat, match=message):
        formats.health_monitor(dict(MONITOR, **changes))


@pytest.mark.parametrize('kind', ['PING', 'TCP'])
@pytest.mark.parametrize('field, value', [
    ('http_method', 'GET'), ('url_path', '/'), ('expected_codes', '200')])
def test_http_fields_belong_to_http_monitors(kind, field, value):
    with pytest.raises(formats.InvalidFormat,
                       match='health_monitor.%s applies to HTTP and HTTPS '
                             'monitors only, not %s' % (field, kind)):
        formats.health_monitor(dict(MONITOR, type=kind, **{field: value}))
    https = dict(MONITOR, type='HTTPS', **{field: value})
    assert formats.health_monitor(https)[field] == value


def test_booleans_are_booleans():
    assert formats.boolean(False, 'admin_state_up') is False
    for value in ('false', 0, None):
        with pytest.raises(formats.InvalidFormat,
                           match='admin_state_up must be true or false'):
            formats.boolean(value, 'admin_state_up')
