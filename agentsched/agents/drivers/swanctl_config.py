"""swanctl.conf for the VPN connections of a strongSwan gateway.

Pure functions: VPN connection specs (services/resource_types/
vpn_connection.py) in, two texts out: the connections (no secret in them)
and the secrets, which the driver writes to a file of mode 0600 that the
first one includes. Every value is checked (check(): the formats of
agentsched/formats.py, the API's too) before it reaches a file, anything
else refused; identities are double-quoted on top of that, and the
pre-shared key is written base64-encoded (swanctl's 0s prefix), so no
character of it can end the string early.
"""

import base64

from agentsched import constants
from agentsched import formats

SECRETS_FILE = 'secrets.conf'
DPD_DELAY = 30

_CIPHERS = {'aes-128': 'aes128', 'aes-192': 'aes192', 'aes-256': 'aes256'}
_INTEGRITY = ('sha1', 'sha256', 'sha384', 'sha512')
_DH_GROUPS = {'group2': 'modp1024', 'group5': 'modp1536',
              'group14': 'modp2048'}
_IKE_VERSIONS = {'v1': 1, 'v2': 2}
_TRANSFORMS = ('esp', 'ah', 'ah-esp')
_MODES = ('tunnel', 'transport')
_INITIATORS = ('bi-directional', 'response-only')
_LIFETIME_UNITS = ('seconds', 'kilobytes')
_DEFAULT_POLICY = {'encryption_algorithm': 'aes-128',
                   'auth_algorithm': 'sha1', 'pfs': 'group5'}


class InvalidConnection(ValueError):
    pass


def check(resource_id, spec, local_address):
    """Raise InvalidConnection unless every value that reaches the files
    has the API's strict format (agentsched/formats.py): the bus or an
    older server may deliver a spec nobody checked, and swanctl loads a
    brace-balanced section it was never meant to have. The messages name
    the field, never its value (the psk's least of all)."""
    try:
        _check_formats(resource_id, spec, local_address)
    except formats.InvalidFormat as exc:
        raise InvalidConnection(str(exc))


def _check_formats(resource_id, spec, local_address):
    formats.resource_id(resource_id)
    formats.host(local_address, 'local address')
    if not isinstance(spec, dict):
        raise formats.InvalidFormat('the spec must be an object')
    formats.host(spec.get('peer_address'), 'peer_address')
    formats.ike_identity(spec.get('peer_id'), 'peer_id')
    formats.cidrs(spec.get('peer_cidrs'), 'peer_cidrs')
    formats.cidrs(spec.get('local_cidrs'), 'local_cidrs')
    psk = spec.get('psk')
    # Any character: it reaches the file base64-encoded.
    if not isinstance(psk, str) or not \
            constants.MIN_PSK_LENGTH <= len(psk) <= constants.MAX_PSK_LENGTH:
        raise formats.InvalidFormat('psk must be a string of %d to %d '
                                    'characters' % (constants.MIN_PSK_LENGTH,
                                                    constants.MAX_PSK_LENGTH))
    if spec.get('initiator') is not None:
        formats.choice(spec['initiator'], 'initiator', _INITIATORS)
    for name in ('ikepolicy', 'ipsecpolicy'):
        policy = spec.get(name) or {}
        if not isinstance(policy, dict):
            raise formats.InvalidFormat('%s must be an object' % name)
        for key, choices in (('ike_version', _IKE_VERSIONS),
                             ('encryption_algorithm', _CIPHERS),
                             ('auth_algorithm', _INTEGRITY),
                             ('pfs', _DH_GROUPS),
                             ('transform_protocol', _TRANSFORMS),
                             ('encapsulation_mode', _MODES)):
            if policy.get(key) is not None:
                formats.choice(policy[key], '%s.%s' % (name, key), choices)
        lifetime = policy.get('lifetime') or {}
        if not isinstance(lifetime, dict):
            raise formats.InvalidFormat('%s.lifetime must be an object'
                                        % name)
        if lifetime.get('units') is not None:
            formats.choice(lifetime['units'], '%s.lifetime.units' % name,
                           _LIFETIME_UNITS)
        if lifetime.get('value') is not None:
            formats.integer(lifetime['value'], '%s.lifetime.value' % name,
                            60, constants.MAX_DB_INTEGER)


def _address(value):
    # Checked: an address in its canonical text, or a host name.
    return formats.host(value, 'address')


def _cidrs(values):
    return ','.join(formats.cidrs(values, 'cidrs'))


def _identity(value):
    # Checked: no quote, backslash or control character can end it.
    return '"%s"' % formats.ike_identity(value, 'identity')


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
    check(resource_id, spec, local_address)
    local = _address(local_address)
    ike, ipsec = spec.get('ikepolicy') or {}, spec.get('ipsecpolicy') or {}
    version = _IKE_VERSIONS[ike.get('ike_version', 'v2')]
    lines = ['    %s {' % resource_id,
             '        version = %d' % version,
             '        local_addrs = %s' % local,
             '        remote_addrs = %s' % _address(spec['peer_address']),
             '        proposals = %s' % proposal(ike)]
    if _lifetime(ike):
        lines.append('        rekey_time = %ds' % _lifetime(ike))
    # A peer that died without a word (no DELETE): found out after 30 s
    # without traffic from it, not at the next rekeying, hours later.
    lines += ['        dpd_delay = %ds' % DPD_DELAY,
              '        local {',
              '            auth = psk',
              '            id = %s' % _identity(local),
              '        }',
              '        remote {',
              '            auth = psk',
              '            id = %s' % _identity(spec['peer_id']),
              '        }',
              '        children {',
              '            %s {' % resource_id,
              '                local_ts = %s' % _cidrs(spec['local_cidrs']),
              '                remote_ts = %s' % _cidrs(spec['peer_cidrs'])]
    protocol = ipsec.get('transform_protocol', 'esp')
    # swanctl negotiates ESP or AH, not both bundled: ah-esp is AH.
    key = 'esp_proposals' if protocol == 'esp' else 'ah_proposals'
    lines.append('                %s = %s' % (key, proposal(ipsec)))
    lines.append('                mode = %s' % ipsec.get(
        'encapsulation_mode', 'tunnel'))
    if _lifetime(ipsec):
        lines.append('                rekey_time = %ds' % _lifetime(ipsec))
    # bi-directional: bring the tunnel up now, and trap the local networks'
    # traffic so that it comes up whenever it is needed again: a peer
    # deployed after us (its first answer is NO_PROPOSAL_CHOSEN, and charon
    # does not retry a start) or that closed the tunnel. response-only: wait
    # for the peer and install no trap of our own.
    if spec.get('initiator', 'bi-directional') == 'bi-directional':
        # A dead peer's SAs are dropped and the tunnel negotiated again.
        lines += ['                start_action = trap|start',
                  '                dpd_action = restart']
    else:
        lines.append('                start_action = none')
    lines += ['            }',
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
                        _address(local_address)),
                    '        id-remote = %s' % _identity(spec['peer_id']),
                    '        secret = 0s%s' % encoded,
                    '    }']
    config += ['}', 'include %s' % SECRETS_FILE]
    secrets.append('}')
    return '\n'.join(config) + '\n', '\n'.join(secrets) + '\n'
