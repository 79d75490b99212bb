"""haproxy on an appliance elsewhere (a VM, a box), driven over SSH.

physical_info says where the appliance is and how to know it is the one
(host_key, pinned: never trusted on first use); credentials, write-only
and encrypted at rest like every device's, say who the agent logs in as.
Every value that reaches a command line, a path or a configuration file
has a strict format (agentsched/formats.py); the driver checks them again
(agents/drivers/haproxy_ssh.py). docs/drivers.md has the appliance's side.
"""

from agentsched import constants
from agentsched import formats
from agentsched.services import device_types

_PATH = {'type': 'string', 'minLength': 1, 'maxLength': 1024}


class HAProxySSH(device_types.DeviceType):
    name = 'haproxy_ssh'
    service_types = (constants.SERVICE_LOADBALANCER,)
    physical_info_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['address', 'host_key'],
        'properties': {
            # The appliance's SSH (management) address; ssh_port 22 by
            # default.
            'address': {'type': 'string', 'minLength': 1, 'maxLength': 255},
            'ssh_port': {'type': 'integer', 'minimum': 1, 'maximum': 65535},
            # Its host key as known_hosts has it ('ssh-ed25519 AAAA...').
            'host_key': {'type': 'string', 'minLength': 1,
                         'maxLength': formats.MAX_SSH_KEY_BASE64 + 1088},
            # Seconds for the connection, the handshake, the login, and
            # each wait on the appliance's answer (default 10).
            'ssh_timeout': {'type': 'integer', 'minimum': 1,
                            'maximum': formats.MAX_SSH_TIMEOUT},
            'config_dir': _PATH,
            'stats_socket': _PATH,
            'haproxy_binary': _PATH,
        },
    }
    # Every path is the appliance's, none the agent's host's: a project
    # registering its own appliance sets them all (services/devices.py).
    host_fields = ()
    # What reaches the appliance's commands and files (agentsched/formats.py).
    physical_info_formats = {'address': 'host',
                             'host_key': 'ssh_host_key',
                             'config_dir': 'appliance_path',
                             'stats_socket': 'appliance_path',
                             'haproxy_binary': 'appliance_path'}
    credentials_schema = {
        'type': 'object',
        'additionalProperties': False,
        'required': ['username'],
        'properties': {
            'username': {'type': 'string', 'minLength': 1, 'maxLength': 32},
            # Unencrypted, OpenSSH's format or PEM (RSA, EC).
            'private_key': {'type': 'string', 'minLength': 1,
                            'maxLength': formats.MAX_PRIVATE_KEY_LENGTH},
            'password': {'type': 'string', 'minLength': 1,
                         'maxLength': formats.MAX_PASSWORD_LENGTH},
        },
    }

    def validate(self, service_type=None, physical_info=None,
                 credentials=None):
        super().validate(service_type, physical_info, credentials)
        if credentials is not None:
            try:
                formats.ssh_credentials(credentials)
            except formats.InvalidFormat as exc:
                raise device_types.InvalidDevice(
                    'credentials for device_type %s: credentials.%s' % (
                        self.name, exc))

