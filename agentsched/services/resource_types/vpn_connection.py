"""An IPsec site-to-site connection; its pre-shared key is a secret.

The peer's address, identity and networks reach swanctl.conf: beyond the
schema, they must have the strict formats of agentsched/formats.py, which
the agent's renderer checks again. The psk may hold any character: it is
written base64-encoded, and no message ever repeats it.
"""

from agentsched import constants
from agentsched import formats
from agentsched.services import resource_types

_CIDRS = {'type': 'array', 'minItems': 1, 'maxItems': 100,
          'items': {'type': 'string', 'minLength': 1,
                    'maxLength': constants.MAX_ADDRESS_LENGTH}}
_LIFETIME = {'type': 'object', 'additionalProperties': False,
             'properties': {'units': {'enum': ['seconds', 'kilobytes']},
                            'value': {'type': 'integer', 'minimum': 60,
                                      'maximum': constants.MAX_DB_INTEGER}}}


class VPNConnection(resource_types.ResourceType):
    name = 'vpn_connection'
    service_type = constants.SERVICE_VPN
    secret_fields = ('psk',)
    error_name = 'VPNConnection'
    spec_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['peer_address', 'peer_id', 'peer_cidrs', 'local_cidrs',
                     'psk'],
        'properties': {
            'peer_address': {'type': 'string', 'minLength': 1,
                             'maxLength': constants.MAX_HOSTNAME_LENGTH},
            'peer_id': {'type': 'string', 'minLength': 1,
                        'maxLength': constants.MAX_IKE_IDENTITY_LENGTH},
            'peer_cidrs': _CIDRS,
            'local_cidrs': _CIDRS,
            'psk': {'type': 'string', 'minLength': constants.MIN_PSK_LENGTH,
                    'maxLength': constants.MAX_PSK_LENGTH},
            'mtu': {'type': 'integer', 'minimum': 68, 'maximum': 9000},
            'initiator': {'enum': ['bi-directional', 'response-only']},
            'ikepolicy': {
                'type': 'object', 'additionalProperties': False,
                'properties': {
                    'ike_version': {'enum': ['v1', 'v2']},
                    'encryption_algorithm': {'enum': [
                        'aes-128', 'aes-192', 'aes-256']},
                    'auth_algorithm': {'enum': ['sha1', 'sha256', 'sha384',
                                                'sha512']},
                    'pfs': {'enum': ['group2', 'group5', 'group14']},
                    'lifetime': _LIFETIME}},
            'ipsecpolicy': {
                'type': 'object', 'additionalProperties': False,
                'properties': {
                    'transform_protocol': {'enum': ['esp', 'ah', 'ah-esp']},
                    'encapsulation_mode': {'enum': ['tunnel', 'transport']},
                    'encryption_algorithm': {'enum': [
                        'aes-128', 'aes-192', 'aes-256']},
                    'auth_algorithm': {'enum': ['sha1', 'sha256', 'sha384',
                                                'sha512']},
                    'pfs': {'enum': ['group2', 'group5', 'group14']},
                    'lifetime': _LIFETIME}},
        },
    }

    def check_formats(self, spec):
        """The fields of a schema-valid (maybe partial) spec that reach
        swanctl.conf; the psk is not one of them (base64 in the file)."""
        if 'peer_address' in spec:
            formats.host(spec['peer_address'], 'peer_address')
        if 'peer_id' in spec:
            formats.ike_identity(spec['peer_id'], 'peer_id')
        for field in ('peer_cidrs', 'local_cidrs'):
            if field in spec:
                formats.cidrs(spec[field], field)
