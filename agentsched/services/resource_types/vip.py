"""A load-balancer VIP: an address and port in front of member servers."""

from agentsched import constants
from agentsched.services import resource_types

_ADDRESS = {'type': 'string', 'minLength': 1, 'maxLength': 64}
_PORT = {'type': 'integer', 'minimum': 1, 'maximum': 65535}


class VIP(resource_types.ResourceType):
    name = 'vip'
    collection = 'vips'
    service_type = constants.SERVICE_LOADBALANCER
    spec_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['address', 'protocol', 'protocol_port'],
        'properties': {
            'address': _ADDRESS,
            'protocol': {'enum': ['HTTP', 'HTTPS', 'TCP']},
            'protocol_port': _PORT,
            'connection_limit': {'type': 'integer', 'minimum': -1},
            'members': {
                'type': 'array', 'maxItems': 1000,
                'items': {
                    'type': 'object', 'additionalProperties': False,
                    'required': ['address', 'protocol_port'],
                    'properties': {
                        'address': _ADDRESS, 'protocol_port': _PORT,
                        'weight': {'type': 'integer', 'minimum': 0,
                                   'maximum': 256}}}},
            'session_persistence': {
                'type': ['object', 'null'], 'additionalProperties': False,
                'properties': {
                    'type': {'enum': ['SOURCE_IP', 'HTTP_COOKIE',
                                      'APP_COOKIE']},
                    'cookie_name': {'type': 'string', 'maxLength': 255}}},
        },
    }
