"""What a heartbeat report may hold, and the check every report passes.

Reports come from agents we do not control (any Neutron agent may report
here), so everything is bounded: string lengths, the number of devices and
the serialized size of configurations. Unknown keys are accepted and ignored,
as Neutron does, so newer agents keep working.
"""

import datetime
import hashlib

import fastjsonschema
import orjson

from agentsched import constants

_NAME = {'type': 'string', 'minLength': 1,
         'maxLength': constants.MAX_STRING_LENGTH}
_TEXT = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH}

DEVICE_SCHEMA = {
    'type': 'object',
    'required': ['name', 'device_type'],
    'properties': {
        'name': _NAME,
        'device_type': _NAME,
        'service_type': {'enum': list(constants.SERVICE_TYPES)},
        'capabilities': {'type': 'object'},
        'capacity': {'type': 'integer', 'minimum': 0},
        'address': _TEXT,
        'health': {'enum': list(constants.DEVICE_HEALTHS)},
        'load': {'type': 'number', 'minimum': 0},
    },
}

AGENT_STATE_SCHEMA = {
    'type': 'object',
    'required': ['agent_type', 'binary', 'host', 'topic'],
    'properties': {
        'agent_type': _NAME,
        'binary': _NAME,
        'host': _NAME,
        'topic': _NAME,
        'availability_zone': {'type': ['string', 'null'],
                              'maxLength': constants.MAX_STRING_LENGTH},
        'start_flag': {'type': 'boolean'},
        'uuid': _TEXT,
        'resource_versions': {'type': 'object'},
        # Checked apart (CONFIGURATIONS_SCHEMA), and only when it changed.
        'configurations': {'type': 'object'},
    },
}

CONFIGURATIONS_SCHEMA = {
    'type': 'object',
    'properties': {
        'devices': {'type': 'array',
                    'maxItems': constants.MAX_DEVICES_PER_REPORT,
                    'items': DEVICE_SCHEMA},
    },
}

# Compiled to Python once: about 30x faster than jsonschema's interpreter on a
# report with ten devices (13 us against 420 us here).
_validate = fastjsonschema.compile(AGENT_STATE_SCHEMA)
_validate_configurations = fastjsonschema.compile(CONFIGURATIONS_SCHEMA)


class InvalidReport(ValueError):
    """A report that is not stored. str() is the reason, for the log."""


class Report:
    """A validated report with its documents already serialized."""
    __slots__ = ('state', 'agent_time', 'configurations_json',
                 'resource_versions_json', 'configurations_digest',
                 'resource_versions_digest')

    def __init__(self, state, agent_time, configurations_json,
                 resource_versions_json):
        self.state = state
        self.agent_time = agent_time
        self.configurations_json = configurations_json
        self.resource_versions_json = resource_versions_json
        self.configurations_digest = digest(configurations_json)
        self.resource_versions_digest = digest(resource_versions_json)


def parse(kwargs):
    """Validate report_state's kwargs; return a Report or raise InvalidReport.

    kwargs are Neutron's: agent_state={'agent_state': {...}}, time='...'.
    """
    wrapper = kwargs.get('agent_state')
    if not isinstance(wrapper, dict) or not isinstance(
            wrapper.get('agent_state'), dict):
        raise InvalidReport("agent_state must be {'agent_state': {...}}")
    state = wrapper['agent_state']
    try:
        _validate(state)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidReport(_short(exc.message.replace('data', 'agent_state', 1)))
    agent_time = _parse_time(kwargs.get('time'))
    configurations_json = _dump('configurations',
                                state.get('configurations') or {})
    resource_versions = state.get('resource_versions')
    resource_versions_json = (_dump('resource_versions', resource_versions)
                              if resource_versions else None)
    return Report(state, agent_time, configurations_json,
                  resource_versions_json)


def digest(document_json):
    """A short fingerprint of a canonical JSON document (None for None).

    The server remembers documents by fingerprint, not text: ten thousand
    agents' device lists would otherwise stay in memory.
    """
    if document_json is None:
        return None
    return hashlib.blake2b(document_json.encode(), digest_size=16).digest()


def check_configurations(report):
    """The full check of configurations (devices), for a changed document.

    Unchanged configurations passed it when they were first seen; at ten
    devices this check costs more than all the rest of a heartbeat.
    """
    try:
        _validate_configurations(report.state.get('configurations') or {})
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidReport(_short(exc.message.replace(
            'data', 'agent_state.configurations', 1)))


def _parse_time(value):
    if not isinstance(value, str):
        raise InvalidReport('time: missing or not a string')
    # fromisoformat reads Neutron's '%Y-%m-%dT%H:%M:%S.%f' too, at a tenth
    # of strptime's cost.
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise InvalidReport('time: %r is not %s' % (
            _short(value), constants.REPORT_TIME_FORMAT))
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed


def _dump(name, document):
    """Canonical JSON text: sorted keys, so equal documents compare equal."""
    try:
        text = orjson.dumps(document, option=orjson.OPT_SORT_KEYS |
                            orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise InvalidReport('%s: not serializable as JSON: %s' % (name, exc))
    if len(text) > constants.MAX_CONFIGURATIONS_BYTES:
        raise InvalidReport(
            '%s: %d bytes serialized, more than the limit of %d'
            % (name, len(text), constants.MAX_CONFIGURATIONS_BYTES))
    return text.decode()


def _short(text, limit=200):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'
