"""Resource types: the logical objects tenants create and the scheduler places.

A resource type is a plugin (entry points agentsched.resource_types). It
declares the JSON schema of its spec, which fields are secrets (write-only,
encrypted at rest, sent only to the agent that deploys the resource), the
service type it needs and the capacity units it costs.
"""

import copy

import fastjsonschema

from agentsched import constants
from agentsched import exceptions
from agentsched import formats
from agentsched.services import plugin_registry


class InvalidResource(exceptions.Invalid, ValueError):
    """str() says which field is wrong and why."""


class UnknownResourceType(InvalidResource):
    pass


_NAME = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH}
REQUIREMENTS_SCHEMA = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'device_type': {'type': ['string', 'null'], 'maxLength': 255},
        'capabilities': {'type': 'object'},
        'availability_zone': {'type': ['string', 'null'], 'maxLength': 255},
        # The project's private devices only (true), shared devices only
        # (false); absent or null: its private devices first when one
        # fits, else shared ones (services/placement.py).
        'private': {'type': ['boolean', 'null']},
    },
}


class ResourceType:
    """Base of resource types. Subclasses set the class attributes."""

    name = None                 # 'vip'
    service_type = None         # constants.SERVICE_*
    units = 1                   # capacity units one resource claims
    spec_schema = {'type': 'object'}
    secret_fields = ()          # write-only, encrypted at rest
    # Its name in Neutron's errors ('Vip': VipNotFound); None: the name in
    # CamelCase.
    error_name = None

    def __init__(self):
        if self.error_name is None:
            self.error_name = ''.join(
                part.capitalize() for part in self.name.split('_'))
        schema = copy.deepcopy(self.spec_schema)
        self._check = fastjsonschema.compile(schema)

    def validate(self, spec, partial=False):
        """Check a spec (partial: an update, required fields optional)."""
        document = dict(spec)
        if partial:
            required = set(self.spec_schema.get('required', ()))
            for field in required - set(document):
                document[field] = _PLACEHOLDER.get(
                    self.spec_schema['properties'][field].get('type'))
        try:
            self._check(document)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise InvalidResource('%s: %s' % (
                self.name, exc.message.replace('data', self.name, 1)))
        try:
            self.check_formats(spec)
        except formats.InvalidFormat as exc:
            raise InvalidResource('%s: %s.%s' % (self.name, self.name, exc))

    def check_formats(self, spec):
        """Strict formats (agentsched/formats.py) of the fields of a
        schema-valid, maybe partial, spec that reach a device's
        configuration; formats.InvalidFormat names the field."""

    def split_secrets(self, spec):
        """(spec without secrets, secrets) of a validated spec."""
        public = {k: v for k, v in spec.items() if k not in self.secret_fields}
        secret = {k: spec[k] for k in self.secret_fields if k in spec}
        return public, secret


# Stand-ins for required fields an update leaves out, so that the rest of
# the partial spec is checked by the same schema.
_PLACEHOLDER = {'string': 'x', 'integer': 1, 'array': [], 'object': {},
                'boolean': True, 'number': 1}


class Registry(plugin_registry.PluginRegistry):
    """The installed resource types, by name."""

    def __init__(self, types=None):
        super().__init__(constants.NS_RESOURCE_TYPES, 'resource type',
                         UnknownResourceType, types)
