"""Device types: what each kind of appliance needs described and kept secret.

A device type is a plugin (entry point namespace agentsched.device_types).
It declares JSON schemas for a device's physical info and credentials, so a
vendor adds the fields its device needs without adding columns for everyone.
"""

import fastjsonschema

from agentsched import constants
from agentsched import formats
from agentsched.services import plugin_registry


class InvalidDevice(ValueError):
    """str() says which field is wrong and why."""


class UnknownDeviceType(InvalidDevice):
    pass


class DeviceType:
    """Base of device types. Subclasses set the class attributes."""

    name = None
    service_types = constants.SERVICE_TYPES
    physical_info_schema = {'type': 'object'}
    credentials_schema = {'type': 'object', 'maxProperties': 0}
    # physical_info fields that reach a device's configuration, as dotted
    # paths ('management.stats_socket'), and the function of
    # agentsched/formats.py each must pass ('host', 'path').
    physical_info_formats = {}
    # Top-level physical_info fields that name things on the agent's own
    # host: the provider's to set, never a project's that registers its own
    # device (services/devices.py). Every driver writes its files in
    # physical_info's config_dir (agents/drivers/base.py), and the shipped
    # ones reach their daemon through management's sockets.
    host_fields = ('config_dir', 'management')

    def __init__(self):
        self._check_physical_info = fastjsonschema.compile(
            self.physical_info_schema)
        self._check_credentials = fastjsonschema.compile(
            self.credentials_schema)

    def validate(self, service_type=None, physical_info=None,
                 credentials=None):
        if service_type is not None and \
                service_type not in self.service_types:
            raise InvalidDevice(
                'device_type %s serves %s, not %s' % (
                    self.name, ', '.join(self.service_types), service_type))
        for label, check, document in (
                ('physical_info', self._check_physical_info, physical_info),
                ('credentials', self._check_credentials, credentials)):
            if document is None:
                continue
            try:
                check(document)
            except fastjsonschema.JsonSchemaValueException as exc:
                raise InvalidDevice('%s for device_type %s: %s' % (
                    label, self.name, exc.message.replace('data', label, 1)))
        if physical_info is not None:
            try:
                self.check_formats(physical_info)
            except formats.InvalidFormat as exc:
                raise InvalidDevice('physical_info for device_type %s: '
                                    'physical_info.%s' % (self.name, exc))

    def check_formats(self, physical_info):
        """Raise formats.InvalidFormat for a schema-valid physical_info
        whose values would reach a configuration file unsafely."""
        for dotted, kind in sorted(self.physical_info_formats.items()):
            value = physical_info
            for key in dotted.split('.'):
                value = value.get(key) if isinstance(value, dict) else None
            if value is not None:
                getattr(formats, kind)(value, dotted)


class Registry(plugin_registry.PluginRegistry):
    """The installed device types, by name."""

    def __init__(self, types=None):
        super().__init__(constants.NS_DEVICE_TYPES, 'device_type', UnknownDeviceType, types)
