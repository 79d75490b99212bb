"""The devices an agent reports: static [device:<name>] sections, or simulated."""

import re

from agentsched import constants
from agentsched.conf import agent as agent_conf


class InvalidDeviceConfig(ValueError):
    pass


def from_config(conf):
    """Devices listed in [device:<name>] sections of the agent's config.

    A device's service_type defaults to the one of the agent's service when
    the agent runs only one.
    """
    services = list(conf.agent.services)
    service_type = None
    if len(services) == 1 and services[0] in constants.AGENT_SERVICES:
        service_type = constants.AGENT_SERVICES[services[0]]['service_type']
    devices = []
    for name in agent_conf.register_device_groups(conf):
        section = agent_conf.DEVICE_GROUP_PREFIX + name
        if len(name) > constants.MAX_STRING_LENGTH or \
                not _DEVICE_NAME.match(name):
            # The server would refuse every heartbeat: the agent would
            # look dead instead of saying why.
            raise InvalidDeviceConfig(
                '[%s]: a device name is 1 to %d characters, not "." or '
                '"..", without "/" or control characters' % (
                    section[:80], constants.MAX_STRING_LENGTH))
        group = conf[section]
        if not group.device_type:
            raise InvalidDeviceConfig('[%s] needs device_type (e.g. haproxy, '
                                      'strongswan, noop)' % section)
        if not (group.service_type or service_type):
            raise InvalidDeviceConfig(
                '[%s] needs service_type (LOADBALANCER or VPN): this agent '
                'runs several services (%s)' % (section, ', '.join(services)))
        devices.append({
            'name': name,
            'device_type': group.device_type,
            'service_type': group.service_type or service_type,
            'capabilities': _typed(group.capabilities),
            'capacity': group.capacity,
            'address': group.address,
            # The driver's check replaces it before any report.
            'health': constants.HEALTH_UNKNOWN,
            'load': 0,
        })
    return devices


_DEVICE_NAME = re.compile(constants.DEVICE_NAME_PATTERN)


def remote_device_types(conf, given=None):
    """The device types this agent manages remotely ([agent]
    remote_device_types, or given), sorted, each once; InvalidDeviceConfig
    beyond what a heartbeat may carry (the server would refuse every
    report)."""
    names = sorted(set(conf.agent.remote_device_types if given is None
                       else given))
    if len(names) > constants.MAX_REMOTE_DEVICE_TYPES:
        raise InvalidDeviceConfig(
            '[agent] remote_device_types lists %d types; at most %d' % (
                len(names), constants.MAX_REMOTE_DEVICE_TYPES))
    for name in names:
        if not name or len(name) > constants.MAX_STRING_LENGTH or \
                not name.isprintable():
            raise InvalidDeviceConfig(
                '[agent] remote_device_types: %r is not a device type '
                'name (1 to %d printable characters)' % (
                    name[:64], constants.MAX_STRING_LENGTH))
    return names


def simulated(host, count=2, service_type=constants.SERVICE_LOADBALANCER):
    """noop devices for local agents of the embedded default and scale tests."""
    return [{
        'name': '%s-noop-%d' % (host, index),
        'device_type': 'noop',
        'service_type': service_type,
        'capabilities': {},
        'capacity': 100,
        'address': '',
        'health': constants.HEALTH_OK,
        'load': 0,
    } for index in range(count)]


def _typed(capabilities):
    """DictOpt gives strings; capability constraints compare typed values."""
    typed = {}
    for key, value in capabilities.items():
        lowered = value.lower()
        if lowered in ('true', 'false'):
            typed[key] = lowered == 'true'
        else:
            try:
                typed[key] = int(value)
            except ValueError:
                typed[key] = value
    return typed
