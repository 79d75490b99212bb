"""A load-balancer VIP: an address and port in front of member servers.

Addresses and the cookie name reach haproxy's configuration: beyond the
schema, they must have the strict formats of agentsched/formats.py, which
the agent's renderer checks again.
"""

from agentsched import constants
from agentsched import formats
from agentsched.services import resource_types

_ADDRESS = {'type': 'string', 'minLength': 1,
            'maxLength': constants.MAX_HOSTNAME_LENGTH}
_PORT = {'type': 'integer', 'minimum': 1, 'maximum': 65535}


class VIP(resource_types.ResourceType):
    name = 'vip'
    service_type = constants.SERVICE_LOADBALANCER
    spec_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['address', 'protocol', 'protocol_port'],
        'properties': {
            'address': _ADDRESS,
            'protocol': {'enum': ['HTTP', 'HTTPS', 'TCP']},
            'protocol_port': _PORT,
            'connection_limit': {'type': 'integer', 'minimum': -1,
                                 'maximum': constants.MAX_DB_INTEGER},
            'members': {
                'type': 'array', 'maxItems': constants.MAX_MEMBERS,
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

    def check_formats(self, spec):
        """The fields of a schema-valid (maybe partial) spec that reach the
        device's configuration."""
        if 'address' in spec:
            formats.host(spec['address'], 'address')
        for i, member in enumerate(spec.get('members') or []):
            formats.host(member['address'], 'members[%d].address' % i)
        persistence = spec.get('session_persistence') or {}
        if 'cookie_name' in persistence:
            formats.cookie_name(persistence['cookie_name'],
                                'session_persistence.cookie_name')
