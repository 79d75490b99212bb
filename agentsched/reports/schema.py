"""What a heartbeat report may hold, and the check every report passes.

Reports come from agents we do not control (any Neutron agent may report
here), so everything is bounded to what the database can store: string
lengths, the number of devices, the serialized size of configurations,
integers to the columns' range, numbers finite, strings with no NUL and no
lone surrogate (PostgreSQL refuses the one, every driver the other). A
value the database refuses would fail the batched write of every agent's
heartbeat, not just this report. Unknown keys are accepted and ignored, as
Neutron does, so newer agents keep working.
"""

import datetime
import hashlib
import math

import fastjsonschema
import orjson

from agentsched import constants

_NAME = {'type': 'string', 'minLength': 1,
         'maxLength': constants.MAX_STRING_LENGTH}
_TEXT = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH}
# As the API has it (a device's name names a directory on an agent's host).
_DEVICE_NAME = dict(_NAME, pattern=constants.DEVICE_NAME_PATTERN)

DEVICE_SCHEMA = {
    'type': 'object',
    'required': ['name', 'device_type'],
    'properties': {
        'name': _DEVICE_NAME,
        'device_type': _NAME,
        'service_type': {'enum': list(constants.SERVICE_TYPES)},
        'capabilities': {'type': 'object'},
        'capacity': {'type': 'integer', 'minimum': 0,
                     'maximum': constants.MAX_DB_INTEGER},
        'address': _TEXT,
        'health': {'enum': list(constants.DEVICE_HEALTHS)},
        # Stored as an integer; NaN passes both bounds (it compares false),
        # _unstorable() catches it.
        'load': {'type': 'number', 'minimum': 0,
                 'maximum': constants.MAX_DB_INTEGER},
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
        # [agent] remote_device_types: device types the agent manages
        # remotely (db manager_device_types rows).
        'remote_device_types': {
            'type': 'array', 'uniqueItems': True,
            'maxItems': constants.MAX_REMOTE_DEVICE_TYPES,
            'items': _NAME},
    },
}

# The report's strings that become columns or name the agent in log lines,
# checked on every report (configurations: only when they changed).
_TEXT_FIELDS = ('agent_type', 'binary', 'host', 'topic', 'availability_zone',
                'uuid')
_MIN_DB_INTEGER = -constants.MAX_DB_INTEGER - 1

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
                 'resource_versions_digest', 'signature', 'signed',
                 'device_list')

    def __init__(self, state, agent_time, configurations_json,
                 resource_versions_json, signature=None):
        self.state = state
        # Set by trust.ReportTrust: whether the signature was verified, and
        # whether configurations['devices'] is agentsched's device list.
        self.signature = signature
        self.signed = False
        self.device_list = True
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
    # Out of the state, so kwargs are again what the agent signed.
    signature = state.pop('signature', None)
    try:
        _validate(state)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidReport(_short(exc.message.replace('data', 'agent_state',
                                                       1)))
    for field in _TEXT_FIELDS:
        value = state.get(field)
        # Inline test first: an ASCII string without NUL (nearly all) costs
        # no call, on every report.
        if value and ('\x00' in value or not value.isascii()):
            reason = _unstorable_text(value)
            if reason:
                raise InvalidReport('agent_state.%s %s' % (field, reason))
    agent_time = _parse_time(kwargs.get('time'))
    configurations_json = _dump('configurations',
                                state.get('configurations') or {})
    resource_versions = state.get('resource_versions')
    resource_versions_json = (_dump('resource_versions', resource_versions)
                              if resource_versions else None)
    return Report(state, agent_time, configurations_json,
                  resource_versions_json, signature)


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
    configurations = report.state.get('configurations') or {}
    try:
        if report.device_list:
            _validate_configurations(configurations)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise InvalidReport(_short(exc.message.replace(
            'data', 'agent_state.configurations', 1)))
    # The canonical text has NUL as \u0000 and NaN or Infinity as null: a
    # document with neither (the usual one) needs no walk, half the cost.
    text = report.configurations_json
    found = ('\\u0000' in text or 'null' in text) and _unstorable(
        configurations)
    if found:
        raise InvalidReport(_short('agent_state.configurations%s %s' % found))


def agent_load(configurations, keys):
    """The agent's load: the first integer among configurations[key] for
    key in keys (the sink's [reports] load_keys), or 0.

    Read on every report, since configurations are checked in full only
    when they change; out of the column's range, the report is refused.
    """
    for key in keys:
        value = configurations.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            if not _MIN_DB_INTEGER <= value <= constants.MAX_DB_INTEGER:
                raise InvalidReport(
                    'agent_state.configurations.%s must be between %d and '
                    '%d to be stored as the load' % (
                        _short(key, 64), _MIN_DB_INTEGER,
                        constants.MAX_DB_INTEGER))
            return value
    return 0


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
        try:
            parsed = parsed.astimezone(datetime.timezone.utc).replace(
                tzinfo=None)
        except OverflowError:
            # 0001-01-01T00:00:00+14:00 is a year 0 in UTC.
            raise InvalidReport('time: %r is out of range in UTC'
                                % _short(value))
    return parsed


def _unstorable_text(text):
    """Why the database cannot store text, or None.

    PostgreSQL refuses NUL in text; a lone surrogate (JSON may carry one,
    "\\ud800") is not UTF-8, so no driver can even send it.
    """
    if '\x00' in text:
        return 'must not contain a NUL character'
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:
            return 'must not contain a lone surrogate'
    return None


def _unstorable(value):
    """(where, why) of the first value in a decoded JSON document that the
    database could not store as a column or that JSON text cannot hold
    (NaN, Infinity: serialized as null), or None.

    where is a path like '.devices[0].name'. Lone surrogates never get here:
    serializing the document in parse() refused them.
    """
    if isinstance(value, str):
        return ('', 'must not contain a NUL character') if (
            '\x00' in value) else None
    if isinstance(value, float):
        return None if math.isfinite(value) else (
            '', 'must be a finite number')
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and '\x00' in key:
                return ('', 'must not have a key with a NUL character')
            found = _unstorable(item)
            if found:
                return ('.%s%s' % (key, found[0]), found[1])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item)
            if found:
                return ('[%d]%s' % (index, found[0]), found[1])
    return None


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
