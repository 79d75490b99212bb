"""A load-balancer VIP: an address and port in front of member servers,
optionally watched by a health monitor (Neutron LBaaS v2's and Octavia's
shape).

Addresses, the cookie name and the health monitor reach haproxy's
configuration: beyond the schema, they must have the strict formats of
agentsched/formats.py (a monitor's timeout no longer than its delay, its
url_path and expected_codes), which the agent's renderer checks again.
Defaults (a member's admin_state_up true; a monitor's max_retries_down 3,
http_method GET, url_path '/', expected_codes '200') are the renderer's:
the stored spec keeps what the tenant gave.
"""

from agentsched import constants
from agentsched import formats
from agentsched.services import resource_types

_ADDRESS = {'type': 'string', 'minLength': 1,
            'maxLength': constants.MAX_HOSTNAME_LENGTH}
_PORT = {'type': 'integer', 'minimum': 1, 'maximum': 65535}
_SECONDS = {'type': 'integer', 'minimum': 1,
            'maximum': formats.MAX_HEALTH_SECONDS}
_RETRIES = {'type': 'integer', 'minimum': 1,
            'maximum': formats.MAX_HEALTH_RETRIES}
HEALTH_MONITOR_SCHEMA = {
    'type': ['object', 'null'], 'additionalProperties': False,
    'required': ['type', 'delay', 'timeout', 'max_retries'],
    'properties': {
        'type': {'enum': list(formats.HEALTH_MONITOR_TYPES)},
        # Seconds between two checks of a member, and how long one may take.
        'delay': _SECONDS, 'timeout': _SECONDS,
        # Checks in a row that bring a member up (haproxy's rise), and down
        # (fall).
        'max_retries': _RETRIES, 'max_retries_down': _RETRIES,
        # HTTP and HTTPS monitors only.
        'http_method': {'enum': list(formats.HTTP_METHODS)},
        'url_path': {'type': 'string', 'minLength': 1,
                     'maxLength': formats.MAX_URL_PATH_LENGTH},
        'expected_codes': {'type': 'string', 'minLength': 1,
                           'maxLength': formats.MAX_EXPECTED_CODES_LENGTH}}}


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
                                   'maximum': 256},
                        'admin_state_up': {'type': 'boolean'}}}},
            'session_persistence': {
                'type': ['object', 'null'], 'additionalProperties': False,
                'properties': {
                    'type': {'enum': ['SOURCE_IP', 'HTTP_COOKIE',
                                      'APP_COOKIE']},
                    'cookie_name': {'type': 'string', 'maxLength': 255}}},
            'health_monitor': HEALTH_MONITOR_SCHEMA,
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
        if spec.get('health_monitor') is not None:
            formats.health_monitor(spec['health_monitor'])
