"""Devices that do nothing: scale tests and trying agentsched out."""

from agentsched.services import device_types


class Noop(device_types.DeviceType):
    name = 'noop'
    physical_info_schema = {'type': 'object'}
    credentials_schema = {'type': 'object'}
