"""API policy: rules defined in code (oslo.policy), overridable by file."""

from oslo_policy import policy

from agentsched.api import errors

ADMIN = 'rule:admin_only'

_BASE = [
    policy.RuleDefault('context_is_admin', 'role:admin',
                       description='Who counts as an admin.'),
    policy.RuleDefault('admin_only', 'rule:context_is_admin',
                       description='Rule of the admin-only routes.'),
]

# Neutron's rule names for the agent routes, so existing policy files read
# the same.
_AGENTS = [
    policy.DocumentedRuleDefault(
        'get_agent', ADMIN, 'List agents or show one agent.',
        [{'method': 'GET', 'path': '/v2.0/agents'},
         {'method': 'GET', 'path': '/v2.0/agents/{id}'}]),
    policy.DocumentedRuleDefault(
        'update_agent', ADMIN, 'Update an agent.',
        [{'method': 'PUT', 'path': '/v2.0/agents/{id}'}]),
    policy.DocumentedRuleDefault(
        'delete_agent', ADMIN, 'Delete an agent.',
        [{'method': 'DELETE', 'path': '/v2.0/agents/{id}'}]),
    policy.DocumentedRuleDefault(
        'get_openapi', 'rule:admin_only',
        'Read the OpenAPI document of the API.',
        [{'method': 'GET', 'path': '/v2.0/openapi.json'}]),
]


_DEVICES = [
    policy.DocumentedRuleDefault(
        'get_device', ADMIN, 'List devices, show one, list its agents or '
        'an agent\'s devices.',
        [{'method': 'GET', 'path': '/v2.0/devices'},
         {'method': 'GET', 'path': '/v2.0/devices/{id}'},
         {'method': 'GET', 'path': '/v2.0/devices/{id}/agents'},
         {'method': 'GET', 'path': '/v2.0/agents/{id}/devices'}]),
    policy.DocumentedRuleDefault(
        'create_device', ADMIN, 'Register a device.',
        [{'method': 'POST', 'path': '/v2.0/devices'}]),
    policy.DocumentedRuleDefault(
        'update_device', ADMIN, 'Update a device (credentials included).',
        [{'method': 'PUT', 'path': '/v2.0/devices/{id}'}]),
    policy.DocumentedRuleDefault(
        'delete_device', ADMIN, 'Delete a device.',
        [{'method': 'DELETE', 'path': '/v2.0/devices/{id}'}]),
    policy.DocumentedRuleDefault(
        'add_device_to_agent', ADMIN,
        'Associate a device with an agent (or create and associate one).',
        [{'method': 'POST', 'path': '/v2.0/agents/{id}/devices'}]),
    policy.DocumentedRuleDefault(
        'remove_device_from_agent', ADMIN,
        'Dissociate a device from an agent.',
        [{'method': 'DELETE', 'path': '/v2.0/agents/{id}/devices/{device_id}'}]),
]


def list_rules():
    """Every rule, for oslopolicy-sample-generator and the enforcer."""
    return _BASE + _AGENTS + _DEVICES


class Authorizer:
    """Checks a request context against one named rule."""

    def __init__(self, conf):
        self._enforcer = policy.Enforcer(conf)
        self._enforcer.register_defaults(list_rules())

    def authorize(self, context, rule, target=None):
        credentials = context.to_policy_values()
        target = target or {'project_id': context.project_id}
        try:
            self._enforcer.authorize(rule, target, credentials,
                                     do_raise=True)
        except policy.PolicyNotAuthorized:
            raise errors.Forbidden('rule:%s is disallowed by policy' % rule)
