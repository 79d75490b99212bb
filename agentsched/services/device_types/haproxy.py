"""haproxy processes on the agent's own host (network nodes)."""

from agentsched import constants
from agentsched.services import device_types


class HAProxy(device_types.DeviceType):
    name = 'haproxy'
    service_types = (constants.SERVICE_LOADBALANCER,)
    physical_info_schema = {
        'type': 'object',
        'additionalProperties': False,
        'properties': {
            # The address VIPs listen on when they name none.
            'address': {'type': 'string', 'maxLength': 255},
            'port': {'type': 'integer', 'minimum': 1, 'maximum': 65535},
            'config_dir': {'type': 'string', 'maxLength': 1024},
            'management': {
                'type': 'object', 'additionalProperties': False,
                'properties': {'stats_socket': {'type': 'string',
                                                'maxLength': 1024}}},
        },
    }
    # What reaches the device's configuration (agentsched/formats.py).
    physical_info_formats = {'address': 'host', 'config_dir': 'path',
                             'management.stats_socket': 'path'}
    # On-host haproxy is driven through its files and stats socket.
    credentials_schema = {'type': 'object', 'maxProperties': 0}
