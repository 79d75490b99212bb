"""One haproxy configuration for every VIP deployed on a device.

Pure functions: VIP specs (services/resource_types/vip.py) in, text out.
The text depends only on the specs, sorted by resource id, so deploying the
same VIPs again renders the same bytes and the driver can tell "nothing to
do" by comparing files. Every value that reaches the file is checked first
against agentsched/formats.py (the API's rules too) and anything else is
refused: a spec must never be able to add a line of configuration of its
own, and haproxy -c is not what stops it.

A VIP's health monitor (formats.health_monitor) becomes haproxy's checks,
as Octavia renders them: `check inter <delay>s fall <max_retries_down> rise
<max_retries>` on each server line and `timeout check <timeout>s` in the
backend; HTTP: `option httpchk <method> <url_path>` and `http-check expect
status <code>` (one code) or `rstatus ^(...)$` (a list or a range); HTTPS
(TLS passed through to the members): `option ssl-hello-chk`, a TLS hello
(the http_* fields are accepted, as LBaaS did, and not used); TCP: a
connect; PING: haproxy has no ICMP check, so an external check runs a
script of the driver's (ping_check) that pings $HAPROXY_SERVER_ADDR. A
member with admin_state_up false is `disabled`.
"""

import ipaddress

from agentsched import constants
from agentsched import formats

# Sessions stuck to a member are forgotten after this long without traffic.
STICK_EXPIRE = '30m'
STICK_SIZE = '100k'

PROTOCOLS = ('HTTP', 'HTTPS', 'TCP')
PERSISTENCE_TYPES = ('SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE')
MAX_WEIGHT = 256


class InvalidVIP(ValueError):
    pass


def monitor(spec):
    """The VIP's health monitor with its defaults, or None."""
    value = spec.get('health_monitor')
    if value is None:
        return None
    try:
        return formats.health_monitor(value)
    except formats.InvalidFormat as exc:
        raise InvalidVIP(str(exc))


def has_ping_monitor(vips):
    # Before check(): a spec may be anything.
    return any(isinstance(spec, dict) and
               isinstance(spec.get('health_monitor'), dict) and
               spec['health_monitor'].get('type') == 'PING'
               for spec in vips.values())


def member_name(member):
    """haproxy's name of a member's server line, and its row in `show
    stat`: by address and port, not position, so a cookie keeps pointing
    at the same member when another one is removed."""
    return 'member-%s-%d' % (member['address'], member['protocol_port'])


def endpoint(address, port, what):
    """address:port as haproxy reads it, IPv6 in brackets."""
    try:
        text = formats.host(address, what)
        formats.port(port, '%s port' % what)
    except formats.InvalidFormat as exc:
        raise InvalidVIP(str(exc))
    if isinstance(_ip(text), ipaddress.IPv6Address):
        return '[%s]:%d' % (text, port)
    return '%s:%d' % (text, port)


def _ip(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def mode(spec):
    # HTTPS is passed through untouched (TLS ends at the members), so haproxy
    # sees bytes, not requests.
    return 'http' if spec['protocol'] == 'HTTP' else 'tcp'


def check(resource_id, spec):
    """Raise InvalidVIP when a VIP cannot be rendered safely: the same
    formats as the API's, checked again because the bus or an older server
    may deliver a spec nobody checked."""
    try:
        _check_formats(resource_id, spec)
    except formats.InvalidFormat as exc:
        raise InvalidVIP(str(exc))
    endpoint(spec['address'], spec['protocol_port'], 'address')
    members = set()
    for member in spec.get('members') or []:
        where = endpoint(member['address'], member['protocol_port'],
                         'member')
        if where in members:
            raise InvalidVIP('member %s is listed twice' % where)
        members.add(where)
    persistence = spec.get('session_persistence') or {}
    kind = persistence.get('type')
    if kind in ('HTTP_COOKIE', 'APP_COOKIE') and mode(spec) != 'http':
        raise InvalidVIP('%s persistence needs protocol HTTP (haproxy cannot '
                         'read cookies in %s)' % (kind, spec['protocol']))
    if kind == 'APP_COOKIE' and not persistence.get('cookie_name'):
        raise InvalidVIP('APP_COOKIE persistence needs a cookie_name')


def _check_formats(resource_id, spec):
    formats.resource_id(resource_id)
    if not isinstance(spec, dict):
        raise formats.InvalidFormat('the spec must be an object')
    formats.choice(spec.get('protocol'), 'protocol', PROTOCOLS)
    formats.host(spec.get('address'), 'address')
    formats.port(spec.get('protocol_port'), 'protocol_port')
    if spec.get('connection_limit') is not None:
        formats.integer(spec['connection_limit'], 'connection_limit', -1,
                        constants.MAX_DB_INTEGER)
    members = spec.get('members') or []
    if not isinstance(members, list):
        raise formats.InvalidFormat('members must be a list')
    for i, member in enumerate(members):
        field = 'members[%d]' % i
        if not isinstance(member, dict):
            raise formats.InvalidFormat('%s must be an object' % field)
        formats.host(member.get('address'), field + '.address')
        formats.port(member.get('protocol_port'), field + '.protocol_port')
        if 'weight' in member:
            formats.integer(member['weight'], field + '.weight', 0,
                            MAX_WEIGHT)
        if 'admin_state_up' in member:
            formats.boolean(member['admin_state_up'],
                            field + '.admin_state_up')
    persistence = spec.get('session_persistence') or {}
    if not isinstance(persistence, dict):
        raise formats.InvalidFormat('session_persistence must be an object')
    if persistence:
        formats.choice(persistence.get('type'), 'session_persistence.type',
                       PERSISTENCE_TYPES)
    if persistence.get('type') == 'APP_COOKIE':
        formats.cookie_name(persistence.get('cookie_name'),
                            'session_persistence.cookie_name')
    if spec.get('health_monitor') is not None:
        formats.health_monitor(spec['health_monitor'])


def check_path(path, what):
    try:
        formats.path(path, what)
    except formats.InvalidFormat as exc:
        raise InvalidVIP(str(exc))


def render(vips, stats_socket, state_file=None, ping_check=None,
           insecure_fork_wanted=True):
    """The whole file. vips: {resource id: spec}.

    state_file: where the driver dumps the servers' states before a
    reload, for the new process to start from (a member found dead stays
    dead, instead of taking traffic until its checks fail again).
    ping_check: the script PING monitors run (needed only with one);
    insecure_fork_wanted: haproxy >= 2.2 forks an external check only with
    it (older ones do not know the keyword).
    """
    check_path(stats_socket, 'stats socket')
    ping = has_ping_monitor(vips)
    if ping:
        if ping_check is None:
            raise InvalidVIP('a PING health monitor needs the ping check '
                             'script')
        check_path(ping_check, 'ping check script')
    lines = [
        '# Written by agentsched-agent; changes here are overwritten.',
        'global',
        # expose-fd lets a reload take the listening sockets over from the
        # old process (-x), so no connection is refused meanwhile.
        '    stats socket %s mode 600 level admin expose-fd listeners'
        % stats_socket,
        # An old process still draining after a reload goes at the latest
        # after this, so reloads never pile up processes.
        '    hard-stop-after 60s',
    ]
    if state_file is not None:
        check_path(state_file, 'server state file')
        lines.append('    server-state-file %s' % state_file)
    if ping:
        # PING monitors fork their script: allowed only when asked for.
        lines.append('    external-check')
        if insecure_fork_wanted:
            lines.append('    insecure-fork-wanted')
    lines += [
        '',
        'defaults',
        '    timeout connect 5s',
        '    timeout client 50s',
        '    timeout server 50s',
    ]
    if state_file is not None:
        lines.append('    load-server-state-from-file global')
    for resource_id in sorted(vips):
        check(resource_id, vips[resource_id])
        lines.append('')
        lines.extend(_frontend(resource_id, vips[resource_id]))
        lines.append('')
        lines.extend(_backend(resource_id, vips[resource_id], ping_check))
    _check_ports(vips)
    return '\n'.join(lines) + '\n'


def _check_ports(vips):
    seen = {}
    for resource_id in sorted(vips):
        spec = vips[resource_id]
        where = endpoint(spec['address'], spec['protocol_port'], 'address')
        if where in seen:
            raise InvalidVIP('%s is already the address of VIP %s' %
                             (where, seen[where]))
        seen[where] = resource_id


def _frontend(resource_id, spec):
    lines = ['frontend vip-%s' % resource_id,
             '    mode %s' % mode(spec),
             '    bind %s' % endpoint(spec['address'], spec['protocol_port'],
                                      'address')]
    limit = spec.get('connection_limit')
    # -1 (and absent) is "no limit of its own": haproxy's global one holds.
    if limit is not None and limit > 0:
        lines.append('    maxconn %d' % limit)
    if mode(spec) == 'http':
        # Members see who the client is.
        lines.append('    option forwardfor')
    lines.append('    default_backend pool-%s' % resource_id)
    return lines


def _backend(resource_id, spec, ping_check):
    persistence = spec.get('session_persistence') or {}
    kind = persistence.get('type')
    lines = ['backend pool-%s' % resource_id,
             '    mode %s' % mode(spec),
             '    balance roundrobin']
    checks = monitor(spec)
    if checks is not None:
        lines.extend(_health_checks(checks, ping_check))
    if kind == 'SOURCE_IP':
        lines += ['    stick-table type ip size %s expire %s' % (
                      STICK_SIZE, STICK_EXPIRE),
                  '    stick on src']
    elif kind == 'HTTP_COOKIE':
        # haproxy's own cookie names the member; it is stripped before the
        # request reaches it.
        lines.append('    cookie SRV insert indirect nocache')
    elif kind == 'APP_COOKIE':
        cookie = persistence['cookie_name']
        lines += ['    stick-table type string len 64 size %s expire %s' % (
                      STICK_SIZE, STICK_EXPIRE),
                  '    stick store-response res.cook(%s)' % cookie,
                  '    stick match req.cook(%s)' % cookie]
    for member in spec.get('members') or []:
        name = member_name(member)
        line = '    server %s %s weight %d' % (
            name, endpoint(member['address'], member['protocol_port'],
                           'member'), member.get('weight', 1))
        if kind == 'HTTP_COOKIE':
            line += ' cookie %s' % name
        if checks is not None:
            line += ' check inter %ds fall %d rise %d' % (
                checks['delay'], checks['max_retries_down'],
                checks['max_retries'])
        if not member.get('admin_state_up', True):
            line += ' disabled'
        lines.append(line)
    return lines


def _health_checks(checks, ping_check):
    """The backend's lines of a health monitor (its server lines get
    `check inter ...`)."""
    lines = ['    timeout check %ds' % checks['timeout']]
    kind = checks['type']
    if kind == 'HTTP':
        lines.append('    option httpchk %s %s' % (checks['http_method'],
                                                   checks['url_path']))
        codes = formats.expected_codes(checks['expected_codes'],
                                       'expected_codes')
        if len(codes) == 1:
            lines.append('    http-check expect status %d' % codes[0])
        else:
            lines.append('    http-check expect rstatus ^(%s)$' %
                         status_pattern(codes))
    elif kind == 'HTTPS':
        # TLS ends at the members: haproxy checks they answer a TLS hello.
        lines.append('    option ssl-hello-chk')
    elif kind == 'PING':
        lines += ['    option external-check',
                  '    external-check command %s' % ping_check]
    # TCP: `check` alone connects.
    return lines


def status_pattern(codes):
    """A regex alternation for sorted 3-digit codes, grouped by their first
    two digits ('200,202' is '20[02]', '200-204' is '20[0-4]'), so that
    even 100-599 stays a short line."""
    groups = {}
    for code in codes:
        groups.setdefault(code // 10, []).append(code % 10)
    parts = []
    for tens, digits in sorted(groups.items()):
        if len(digits) == 1:
            parts.append('%d' % (tens * 10 + digits[0]))
        else:
            parts.append('%d[%s]' % (tens, _digit_class(digits)))
    return '|'.join(parts)


def _digit_class(digits):
    """Sorted distinct digits as the body of a character class: a run of
    three or more as a range."""
    runs = []
    for digit in digits:
        if runs and digit == runs[-1][1] + 1:
            runs[-1][1] = digit
        else:
            runs.append([digit, digit])
    return ''.join('%d-%d' % (low, high) if high - low >= 2 else
                   ''.join(str(digit) for digit in range(low, high + 1))
                   for low, high in runs)
