"""swanctl.conf for the VPN connections of a strongSwan gateway.

Pure functions: VPN connection specs (services/resource_types/
vpn_connection.py) in, two texts out: the connections (no secret in them)
and the secrets, which the driver writes to a file of mode 0600 that the
first one includes. Values are checked before they reach the file, and the
pre-shared key is written base64-encoded (swanctl's 0s prefix), so no
character of it can end the string early.
"""

import base64
import ipaddress
import re

SECRETS_FILE = 'secrets.conf'

_HOSTNAME = re.compile(r'^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$')
# IKE identities: addresses, FQDNs, user@FQDN, DNs with their separators.
_IDENTITY = re.compile(r'^[A-Za-z0-9@.:_=,/+ -]{1,255}$')
_NAME = re.compile(r'^[A-Za-z0-9_.-]{1,64}$')

_CIPHERS = {'aes-128': 'aes128', 'aes-192': 'aes192', 'aes-256': 'aes256'}
_DH_GROUPS = {'group2': 'modp1024', 'group5': 'modp1536',
              'group14': 'modp2048'}
_DEFAULT_POLICY = {'encryption_algorithm': 'aes-128',
                   'auth_algorithm': 'sha1', 'pfs': 'group5'}


class InvalidConnection(ValueError):
    pass


def _address(value, what):
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        if _HOSTNAME.match(value or ''):
            return value
        raise InvalidConnection('%s %r is neither an IP address nor a host '
                                'name' % (what, value))


def _cidrs(values, what):
    try:
        return ','.join(str(ipaddress.ip_network(value, strict=False))
                        for value in values)
    except ValueError as exc:
        raise InvalidConnection('%s: %s' % (what, exc))


def _identity(value, what):
    if not _IDENTITY.match(value or ''):
        raise InvalidConnection('%s %r has characters swanctl cannot take'
                                % (what, value))
    return '"%s"' % value


def proposal(policy):
    """e.g. aes128-sha256-modp2048 from a Neutron-style policy."""
    policy = dict(_DEFAULT_POLICY, **(policy or {}))
    return '%s-%s-%s' % (_CIPHERS[policy['encryption_algorithm']],
                         policy['auth_algorithm'], _DH_GROUPS[policy['pfs']])


def _lifetime(policy):
    lifetime = (policy or {}).get('lifetime') or {}
    if lifetime.get('units', 'seconds') == 'seconds' and \
            lifetime.get('value'):
        return lifetime['value']
    return None


def connection(resource_id, spec, local_address):
    """The `connections` entry of one VPN connection, as lines."""
    if not _NAME.match(resource_id or ''):
        raise InvalidConnection('resource id %r cannot name a connection' %
                                resource_id)
    local = _address(local_address, 'local address')
    ike, ipsec = spec.get('ikepolicy') or {}, spec.get('ipsecpolicy') or {}
    version = {'v1': 1, 'v2': 2}[ike.get('ike_version', 'v2')]
    lines = ['    %s {' % resource_id,
             '        version = %d' % version,
             '        local_addrs = %s' % local,
             '        remote_addrs = %s' % _address(spec['peer_address'],
                                                    'peer_address'),
             '        proposals = %s' % proposal(ike)]
    if _lifetime(ike):
        lines.append('        rekey_time = %ds' % _lifetime(ike))
    lines += ['        local {',
              '            auth = psk',
              '            id = %s' % _identity(local, 'local id'),
              '        }',
              '        remote {',
              '            auth = psk',
              '            id = %s' % _identity(spec['peer_id'], 'peer_id'),
              '        }',
              '        children {',
              '            %s {' % resource_id,
              '                local_ts = %s' % _cidrs(spec['local_cidrs'],
                                                       'local_cidrs'),
              '                remote_ts = %s' % _cidrs(spec['peer_cidrs'],
                                                        'peer_cidrs')]
    protocol = ipsec.get('transform_protocol', 'esp')
    # swanctl negotiates ESP or AH, not both bundled: ah-esp is AH.
    key = 'esp_proposals' if protocol == 'esp' else 'ah_proposals'
    lines.append('                %s = %s' % (key, proposal(ipsec)))
    lines.append('                mode = %s' % ipsec.get(
        'encapsulation_mode', 'tunnel'))
    if _lifetime(ipsec):
        lines.append('                rekey_time = %ds' % _lifetime(ipsec))
    # bi-directional: bring the tunnel up now; response-only: wait for the
    # peer and install no trap of our own.
    start = 'start' if spec.get('initiator', 'bi-directional') == \
        'bi-directional' else 'none'
    lines += ['                start_action = %s' % start,
              '            }',
              '        }',
              '    }']
    return lines


def render(connections, local_address):
    """(swanctl.conf text, secrets text). connections: {id: spec}."""
    config = ['# Written by agentsched-agent; changes here are overwritten.',
              'connections {']
    secrets = ['# Written by agentsched-agent. Secret: mode 0600.',
               'secrets {']
    for resource_id in sorted(connections):
        spec = connections[resource_id]
        config.extend(connection(resource_id, spec, local_address))
        encoded = base64.b64encode(spec['psk'].encode()).decode()
        secrets += ['    ike-%s {' % resource_id,
                    '        id-local = %s' % _identity(
                        _address(local_address, 'local address'),
                        'local id'),
                    '        id-remote = %s' % _identity(spec['peer_id'],
                                                         'peer_id'),
                    '        secret = 0s%s' % encoded,
                    '    }']
    config += ['}', 'include %s' % SECRETS_FILE]
    secrets.append('}')
    return '\n'.join(config) + '\n', '\n'.join(secrets) + '\n'
