"""An IPsec site-to-site connection; its pre-shared key is a secret."""

from agentsched import constants
from agentsched.services import resource_types

_CIDRS = {'type': 'array', 'minItems': 1, 'maxItems': 100,
          'items': {'type': 'string', 'minLength': 1, 'maxLength': 64}}
_LIFETIME = {'type': 'object', 'additionalProperties': False,
             'properties': {'units': {'enum': ['seconds', 'kilobytes']},
                            'value': {'type': 'integer', 'minimum': 60}}}


class VPNConnection(resource_types.ResourceType):
    name = 'vpn_connection'
    collection = 'connections'
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
                             'maxLength': 255},
            'peer_id': {'type': 'string', 'minLength': 1, 'maxLength': 255},
            'peer_cidrs': _CIDRS,
            'local_cidrs': _CIDRS,
            'psk': {'type': 'string', 'minLength': 8, 'maxLength': 255},
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
