"""strongSwan IPsec gateways, configured through swanctl."""

from agentsched import constants
from agentsched.services import device_types


class StrongSwan(device_types.DeviceType):
    name = 'strongswan'
    service_types = (constants.SERVICE_VPN,)
    physical_info_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['address'],
        'properties': {
            # The gateway's public address: the local end of every tunnel.
            'address': {'type': 'string', 'minLength': 1, 'maxLength': 255},
            'port': {'type': 'integer', 'minimum': 1, 'maximum': 65535},
            'config_dir': {'type': 'string', 'maxLength': 1024},
            'management': {
                'type': 'object', 'additionalProperties': False,
                'properties': {'vici_socket': {'type': 'string',
                                               'maxLength': 1024}}},
        },
    }
    # What reaches the device's configuration (agentsched/formats.py).
    physical_info_formats = {'address': 'host', 'config_dir': 'path',
                             'management.vici_socket': 'path'}
    credentials_schema = {
        'type': 'object',
        'additionalProperties': False,
        'properties': {
            # A private key for certificate-based peers, PEM.
            'private_key': {'type': 'string', 'maxLength': 16384},
        },
    }
