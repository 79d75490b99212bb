"""Strict formats for every value that reaches a device's configuration.

One home for the rules. The API's resource and device types check specs
with them (a 400 naming the field), and the agent's renderers check again
before a file is written (the deploy's ERROR): the bus, or an older server,
may deliver values nobody checked, and the device's own parser must never
be the line of defence (haproxy -c catches some; swanctl happily loads a
brace-balanced extra section).

Imports only the standard library and constants: the agent imports it and
must not pull in server-only packages.

Every pattern is anchored with \\A and \\Z: '$' also matches before a
trailing newline, which is how 'host\\n' once passed.
"""

import base64
import ipaddress
import re
import struct
import unicodedata

from agentsched import constants


class InvalidFormat(ValueError):
    """str() names the field and the rule, never the value: values can be
    hostile (escape sequences) or secret."""


# RFC 1123 labels: letters, digits, inner hyphens, 63 at most. No root dot:
# haproxy's resolver does not take it.
_LABEL = r'(?!-)[A-Za-z0-9-]{1,63}(?<!-)'
_HOSTNAME = re.compile(r'\A%s(?:\.%s)*\Z' % (_LABEL, _LABEL))
# IKE identities (strongSwan): addresses, FQDNs, user@FQDN, DNs and their
# separators, typed ids (fqdn:, email:). Written inside double quotes, so
# no quote, backslash, brace, '#' or control character may appear.
_IKE_IDENTITY = re.compile(r'\A[A-Za-z0-9@.:_=,/+ -]+\Z')
# Resource ids name haproxy proxies and swanctl sections: no '.', which
# swanctl reads as a section separator, nor ':'. Server ids are UUIDs.
_RESOURCE_ID = re.compile(r'\A[A-Za-z0-9_-]+\Z')
# RFC 6265 token characters, less those haproxy reads specially ('#' starts
# a comment, quotes quote, '$' expands, '%' formats, '&' and '`' for luck).
_COOKIE_NAME = re.compile(r'\A[A-Za-z0-9!*+.^_|~-]+\Z')
# Paths written into device files unquoted (haproxy's stats socket).
_PATH = re.compile(r'\A[A-Za-z0-9_./+@,=:-]+\Z')
# Paths on an appliance reached over SSH (haproxy_ssh): absolute, and
# without ',' or ':', which socat, the stats socket's client there, reads
# as separators in its address.
_APPLIANCE_PATH = re.compile(r'\A/[A-Za-z0-9_./+@=-]*\Z')
# A health monitor's URL path (and query), written unquoted on haproxy's
# `option httpchk` line: RFC 3986's path and query characters less the
# quote, and never a space, '#' (a comment to haproxy, a fragment to
# HTTP) or '\\', haproxy's escape: '\\r\\n' would add header lines to
# the check's request.
_URL_PATH = re.compile(r"\A/[A-Za-z0-9._~!$&()*+,;=:@/?%-]*\Z")
# '200', '200,202', '200-204' (Octavia's forms), no spaces.
_EXPECTED_CODES = re.compile(r'\A(?:\d{3}(?:,\d{3})*|\d{3}-\d{3})\Z')

# SSH (haproxy_ssh's physical_info.host_key and credentials). Host key
# types paramiko verifies, as known_hosts names them (an RSA key is ssh-rsa
# whatever its signature's hash).
SSH_HOST_KEY_TYPES = ('ssh-ed25519', 'ecdsa-sha2-nistp256',
                      'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
                      'ssh-rsa')
# An RSA key of 16384 bits (OpenSSH's largest) is about 2,800 characters.
MAX_SSH_KEY_BASE64 = 4096
# The hosts field of a known_hosts line (ssh-keyscan prints one): names,
# addresses, [address]:port, lists, hashed |1|salt|hash.
_KNOWN_HOSTS = re.compile(r'\A[A-Za-z0-9.:\[\],_|=/+*?!-]{1,1024}\Z')
_BASE64 = re.compile(r'\A(?:[A-Za-z0-9+/]{4})*'
                     r'(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z')
# POSIX user names (useradd's rule, upper case allowed), 32 at most.
_SSH_USERNAME = re.compile(r'\A[A-Za-z_][A-Za-z0-9_.-]{0,31}\Z')
# Unencrypted private keys as ssh-keygen writes them (OpenSSH's own
# format) or in PEM (RSA, EC): the armour, then base64 lines only (a PEM
# key with a passphrase has header lines: refused).
_PRIVATE_KEY = re.compile(
    r'\A-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----\r?\n'
    r'(?:[A-Za-z0-9+/=]{1,128}\r?\n)+'
    r'-----END \1 PRIVATE KEY-----\r?\n?\Z')
MAX_PRIVATE_KEY_LENGTH = 16384
MAX_PASSWORD_LENGTH = 1024
# Seconds an SSH connection, handshake, login or answer may take at most.
MAX_SSH_TIMEOUT = 120

# A VIP's health monitor (Neutron LBaaS v2 / Octavia): the API's schema
# (services/resource_types/vip.py) and haproxy's renderer take the names
# and bounds from here.
HEALTH_MONITOR_TYPES = ('PING', 'TCP', 'HTTP', 'HTTPS')
HTTP_METHODS = ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH',
                'TRACE', 'CONNECT')
# Types whose check is an HTTP exchange, which the http_* fields describe.
HTTP_MONITOR_TYPES = ('HTTP', 'HTTPS')
HTTP_MONITOR_FIELDS = ('http_method', 'url_path', 'expected_codes')
MAX_HEALTH_SECONDS = 86400
MAX_HEALTH_RETRIES = 10
MAX_URL_PATH_LENGTH = 255
# Octavia's column.
MAX_EXPECTED_CODES_LENGTH = 64
HEALTH_MONITOR_DEFAULTS = {'max_retries_down': 3, 'http_method': 'GET',
                           'url_path': '/', 'expected_codes': '200'}


def _text(value, field, maximum):
    if not isinstance(value, str) or not value:
        raise InvalidFormat('%s must be a non-empty string' % field)
    if len(value) > maximum:
        raise InvalidFormat('%s must be at most %d characters' % (
            field, maximum))
    return value


def ip_address(value, field):
    """An IPv4 or IPv6 address, without a zone ('%eth0': ipaddress takes
    any text after '%' but a '/', spaces and newlines included)."""
    _text(value, field, constants.MAX_ADDRESS_LENGTH)
    if '%' in value:
        raise InvalidFormat('%s must not have an IPv6 zone' % field)
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidFormat('%s must be an IP address' % field)


def host(value, field):
    """An IP address (no zone), returned in its canonical text, or a host
    name, returned as it is."""
    _text(value, field, constants.MAX_HOSTNAME_LENGTH)
    try:
        return str(ip_address(value, field))
    except InvalidFormat:
        # An all-numeric last label is an address to getaddrinfo
        # ('010.0.0.1' is 8.0.0.1), never a name.
        if _HOSTNAME.match(value) and not value.rsplit('.', 1)[-1].isdigit():
            return value
    raise InvalidFormat('%s must be an IP address (without a zone) or a '
                        'host name (letters, digits, inner hyphens, dots)'
                        % field)


def cidr(value, field):
    """A network, e.g. 10.1.0.0/16 (host bits are dropped); no zone."""
    _text(value, field, constants.MAX_ADDRESS_LENGTH)
    if '%' in value:
        raise InvalidFormat('%s must not have an IPv6 zone' % field)
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise InvalidFormat('%s must be a CIDR such as 10.1.0.0/16' % field)


def cidrs(values, field):
    if not isinstance(values, list) or not values:
        raise InvalidFormat('%s must be a non-empty list' % field)
    return [cidr(value, '%s[%d]' % (field, i))
            for i, value in enumerate(values)]


def ike_identity(value, field):
    _text(value, field, constants.MAX_IKE_IDENTITY_LENGTH)
    if not _IKE_IDENTITY.match(value):
        raise InvalidFormat('%s may have only letters, digits, spaces and '
                            '@ . : _ = , / + -' % field)
    return value


def resource_id(value, field='resource id'):
    _text(value, field, constants.MAX_RESOURCE_ID_LENGTH)
    if not _RESOURCE_ID.match(value):
        raise InvalidFormat('%s may have only letters, digits, _ and -'
                            % field)
    return value


def cookie_name(value, field):
    _text(value, field, constants.MAX_STRING_LENGTH)
    if not _COOKIE_NAME.match(value):
        raise InvalidFormat('%s may have only letters, digits and '
                            '! * + . ^ _ | ~ -' % field)
    return value


def path(value, field):
    _text(value, field, constants.MAX_PATH_LENGTH)
    if not _PATH.match(value):
        raise InvalidFormat('%s may have only letters, digits and '
                            '_ . / + @ , = : -' % field)
    return value


def appliance_path(value, field):
    """An absolute path on an appliance reached over SSH: letters, digits
    and _ . / + @ = - (no ',' or ':', socat's separators)."""
    _text(value, field, constants.MAX_PATH_LENGTH)
    if not _APPLIANCE_PATH.match(value):
        raise InvalidFormat('%s must be an absolute path of letters, digits '
                            'and _ . / + @ = -' % field)
    return value


def ssh_host_key(value, field):
    """One public host key as a known_hosts line gives it: 'TYPE BASE64',
    or 'HOSTS TYPE BASE64' as ssh-keyscan prints it (the hosts are not
    used), no comment. TYPE from SSH_HOST_KEY_TYPES; the key's own bytes
    must be a whole key of that type (its name, then its fields, nothing
    more). Returns (type, the key's bytes)."""
    _text(value, field, MAX_SSH_KEY_BASE64 + 1024 + 64)
    words = value.split(' ')
    if len(words) == 3 and _KNOWN_HOSTS.match(words[0]) and \
            words[1] in SSH_HOST_KEY_TYPES:
        words = words[1:]
    if len(words) != 2:
        raise InvalidFormat('%s must be one public key: "TYPE BASE64" (or a '
                            'line of ssh-keyscan), single spaces, no comment'
                            % field)
    kind, text = words
    choice(kind, field + ' key type', SSH_HOST_KEY_TYPES)
    if len(text) > MAX_SSH_KEY_BASE64 or not _BASE64.match(text):
        raise InvalidFormat('%s: the key must be base64, at most %d '
                            'characters' % (field, MAX_SSH_KEY_BASE64))
    blob = base64.b64decode(text)
    fields = _ssh_strings(blob)
    # RFC 8709 (ed25519: a 32-byte key), RFC 5656 (ecdsa: the curve, the
    # point), RFC 4253 (rsa: e, n).
    if fields is None or fields[0] != kind.encode() or len(fields) != (
            2 if kind == 'ssh-ed25519' else 3) or (
            kind == 'ssh-ed25519' and len(fields[1]) != 32):
        raise InvalidFormat('%s: the key is not a public key of type %s'
                            % (field, kind))
    return kind, blob


def _ssh_strings(blob):
    """The SSH wire strings (RFC 4251: a 32-bit length, the bytes) that
    make up blob exactly, or None."""
    fields = []
    while blob:
        if len(blob) < 4:
            return None
        (length,) = struct.unpack('>I', blob[:4])
        if length > len(blob) - 4:
            return None
        fields.append(blob[4:4 + length])
        blob = blob[4 + length:]
    return fields or None


def ssh_username(value, field):
    _text(value, field, 32)
    if not _SSH_USERNAME.match(value):
        raise InvalidFormat('%s may have only letters, digits, _ . - (not '
                            'first: a digit, . or -), at most 32' % field)
    return value


def ssh_private_key(value, field):
    """An unencrypted private key, OpenSSH's format or PEM (RSA, EC)."""
    _text(value, field, MAX_PRIVATE_KEY_LENGTH)
    if not _PRIVATE_KEY.match(value):
        raise InvalidFormat('%s must be one unencrypted private key, in '
                            'OpenSSH\'s format (BEGIN OPENSSH PRIVATE KEY) or '
                            'PEM (BEGIN RSA or EC PRIVATE KEY)' % field)
    return value


def ssh_password(value, field):
    _text(value, field, MAX_PASSWORD_LENGTH)
    if '\0' in value:
        raise InvalidFormat('%s must not contain NUL' % field)
    return value


def ssh_credentials(credentials):
    """An SSH login: {'username', and exactly one of 'private_key' and
    'password'}, each in its format; returned as given. The message
    names the field, never a value."""
    if not isinstance(credentials, dict):
        raise InvalidFormat('credentials must be an object')
    unknown = set(credentials) - {'username', 'private_key', 'password'}
    if unknown:
        raise InvalidFormat('credentials have unknown fields: %s' % ', '.join(
            sorted(printable(name) for name in unknown)))
    ssh_username(credentials.get('username'), 'username')
    ways = [key for key in ('private_key', 'password') if key in credentials]
    if len(ways) != 1:
        raise InvalidFormat('private_key or password: exactly one of them '
                            'is needed')
    if ways == ['private_key']:
        ssh_private_key(credentials['private_key'], 'private_key')
    else:
        ssh_password(credentials['password'], 'password')
    return credentials


def url_path(value, field):
    _text(value, field, MAX_URL_PATH_LENGTH)
    if not _URL_PATH.match(value):
        raise InvalidFormat('%s must start with / and have only letters, '
                            'digits and - . _ ~ ! $ & ( ) * + , ; = : @ / ? %%'
                            ' (no space, quote, # or backslash)' % field)
    return value


def expected_codes(value, field):
    """The HTTP status codes of '200', '200,202' or '200-204', each from
    100 to 599: a sorted tuple of ints."""
    _text(value, field, MAX_EXPECTED_CODES_LENGTH)
    if not _EXPECTED_CODES.match(value):
        raise InvalidFormat('%s must be a code (200), a list (200,202) or a '
                            'range (200-204), without spaces' % field)
    if '-' in value:
        low, high = (int(code) for code in value.split('-'))
        if low > high:
            raise InvalidFormat('%s: a range must go up (200-204)' % field)
        codes = range(low, high + 1)
    else:
        codes = [int(code) for code in value.split(',')]
    if not all(100 <= code <= 599 for code in codes):
        raise InvalidFormat('%s: every code must be from 100 to 599' % field)
    return tuple(sorted(set(codes)))


def health_monitor(value, field='health_monitor'):
    """A VIP's health monitor, every field checked (types, bounds,
    formats, timeout <= delay, the http_* fields for HTTP and HTTPS only):
    the monitor with its defaults filled in."""
    if not isinstance(value, dict):
        raise InvalidFormat('%s must be an object' % field)
    unknown = set(value) - {'type', 'delay', 'timeout', 'max_retries'} - \
        set(HEALTH_MONITOR_DEFAULTS)
    if unknown:
        raise InvalidFormat('%s has unknown fields: %s' % (
            field, ', '.join(sorted(printable(name) for name in unknown))))
    kind = choice(value.get('type'), field + '.type', HEALTH_MONITOR_TYPES)
    if kind not in HTTP_MONITOR_TYPES:
        extra = [name for name in HTTP_MONITOR_FIELDS if name in value]
        if extra:
            raise InvalidFormat('%s.%s applies to HTTP and HTTPS monitors '
                                'only, not %s' % (field, extra[0], kind))
    monitor = dict(HEALTH_MONITOR_DEFAULTS, **value)
    delay = integer(monitor.get('delay'), field + '.delay', 1,
                    MAX_HEALTH_SECONDS)
    timeout = integer(monitor.get('timeout'), field + '.timeout', 1,
                      MAX_HEALTH_SECONDS)
    if timeout > delay:
        raise InvalidFormat('%s.timeout (%d s) must not be longer than its '
                            'delay (%d s): a check must end before the next '
                            'one starts' % (field, timeout, delay))
    for name in ('max_retries', 'max_retries_down'):
        integer(monitor.get(name), '%s.%s' % (field, name), 1,
                MAX_HEALTH_RETRIES)
    choice(monitor['http_method'], field + '.http_method', HTTP_METHODS)
    url_path(monitor['url_path'], field + '.url_path')
    expected_codes(monitor['expected_codes'], field + '.expected_codes')
    return monitor


def boolean(value, field):
    if not isinstance(value, bool):
        raise InvalidFormat('%s must be true or false' % field)
    return value


def integer(value, field, minimum, maximum):
    # bool is an int to Python, not to a configuration file.
    if not isinstance(value, int) or isinstance(value, bool) or \
            not minimum <= value <= maximum:
        raise InvalidFormat('%s must be an integer from %d to %d' % (
            field, minimum, maximum))
    return value


def port(value, field):
    return integer(value, field, 1, 65535)


def choice(value, field, choices):
    if not isinstance(value, str) or value not in choices:
        raise InvalidFormat('%s must be one of %s' % (
            field, ', '.join(sorted(choices))))
    return value


# -- printing ------------------------------------------------------------

# Control (Cc), format (Cf: bidi overrides), surrogate, private and
# unassigned characters, and line/paragraph separators: none of them has a
# place on someone's terminal.
_UNPRINTABLE = frozenset(('Cc', 'Cf', 'Cs', 'Co', 'Cn', 'Zl', 'Zp'))


def printable(text, double_backslash=True):
    """text with every unprintable character (ESC, BEL, CR, newline, bidi
    overrides...) written as a Python escape, and '\\' doubled so that an
    escape printed is never ambiguous (not in text that is already in an
    escaped syntax, such as JSON's)."""
    out = []
    for char in str(text):
        if char == '\\' and double_backslash:
            out.append('\\\\')
        elif unicodedata.category(char) in _UNPRINTABLE:
            code = ord(char)
            out.append('\\x%02x' % code if code < 0x100 else
                       '\\u%04x' % code if code < 0x10000 else
                       '\\U%08x' % code)
        else:
            out.append(char)
    return ''.join(out)


ELLIPSIS = '...'


def shorten(text, limit=constants.MAX_STRING_LENGTH):
    """text cut to at most limit characters for a bounded column (a
    status_description, a health_reason): at the last space that fits, with
    an ellipsis that says it was cut, so nobody reads '[A' as a word. A
    first word longer than half the room is cut where it must be."""
    if text is None or len(text) <= limit:
        return text
    room = limit - len(ELLIPSIS)
    space = text.rfind(' ', 0, room + 1)
    head = text[:space] if space > room // 2 else text[:room]
    return head.rstrip(' ,;:') + ELLIPSIS
