"""API policy: rules defined in code (oslo.policy), overridable by file."""

from oslo_policy import policy

from agentsched.api import errors

ADMIN = 'rule:admin_only'
OWNER = 'rule:admin_or_owner'
ANYONE = ''

_BASE = [
    policy.RuleDefault('context_is_admin', 'role:admin',
                       description='Who counts as an admin.'),
    policy.RuleDefault('admin_only', 'rule:context_is_admin',
                       description='Rule of the admin-only routes.'),
    policy.RuleDefault('admin_or_owner',
                       'rule:context_is_admin or project_id:%(project_id)s',
                       description='An admin, or the project that owns the '
                                   'resource.'),
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


def _resource_rules(name, path, noun):
    """A tenant resource's four rules, Neutron-style: <action>_<name>."""
    one = path + '/{id}'
    return [
        policy.DocumentedRuleDefault(
            'create_' + name, OWNER, 'Create a %s.' % noun,
            [{'method': 'POST', 'path': path}]),
        policy.DocumentedRuleDefault(
            'get_' + name, OWNER, 'List %ss or show one.' % noun,
            [{'method': 'GET', 'path': path},
             {'method': 'GET', 'path': one}]),
        policy.DocumentedRuleDefault(
            'update_' + name, OWNER, 'Update a %s.' % noun,
            [{'method': 'PUT', 'path': one}]),
        policy.DocumentedRuleDefault(
            'delete_' + name, OWNER, 'Delete a %s.' % noun,
            [{'method': 'DELETE', 'path': one}]),
    ]


_RESOURCES = (_resource_rules('vip', '/v2.0/lb/vips', 'load-balancer VIP')
              + _resource_rules('vpn_connection', '/v2.0/vpn/connections',
                                'VPN connection'))

_AGENT_SCHEDULER = [
    policy.DocumentedRuleDefault(
        'get_agent_resources', ADMIN, 'List the resources bound to an agent.',
        [{'method': 'GET', 'path': '/v2.0/agents/{id}/vips'},
         {'method': 'GET', 'path': '/v2.0/agents/{id}/vpn-connections'}]),
    policy.DocumentedRuleDefault(
        'add_resource_to_agent', ADMIN,
        'Place an unbound resource on an agent by hand.',
        [{'method': 'POST', 'path': '/v2.0/agents/{id}/vips'},
         {'method': 'POST', 'path': '/v2.0/agents/{id}/vpn-connections'}]),
    policy.DocumentedRuleDefault(
        'remove_resource_from_agent', ADMIN,
        'Unbind a resource from its agent and device.',
        [{'method': 'DELETE', 'path': '/v2.0/agents/{id}/vips/{vip_id}'},
         {'method': 'DELETE',
          'path': '/v2.0/agents/{id}/vpn-connections/{vpn_connection_id}'}]),
    policy.DocumentedRuleDefault(
        'get_resource_agent', ADMIN,
        'Show the agent and device hosting a resource.',
        [{'method': 'GET', 'path': '/v2.0/lb/vips/{id}/agent'},
         {'method': 'GET', 'path': '/v2.0/vpn/connections/{id}/agent'}]),
]


def _admin_crud(name, path, noun):
    one = path + '/{id}'
    return [
        policy.DocumentedRuleDefault(
            'create_' + name, ADMIN, 'Create a %s.' % noun,
            [{'method': 'POST', 'path': path}]),
        policy.DocumentedRuleDefault(
            'update_' + name, ADMIN, 'Update a %s.' % noun,
            [{'method': 'PUT', 'path': one}]),
        policy.DocumentedRuleDefault(
            'delete_' + name, ADMIN, 'Delete a %s.' % noun,
            [{'method': 'DELETE', 'path': one}]),
    ]


# Neutron's flavor framework names: tenants read flavors to choose one;
# service profiles (how a flavor is implemented) are the operator's.
_FLAVORS = [
    policy.DocumentedRuleDefault(
        'get_flavor', ANYONE, 'List flavors or show one.',
        [{'method': 'GET', 'path': '/v2.0/flavors'},
         {'method': 'GET', 'path': '/v2.0/flavors/{id}'}]),
    policy.DocumentedRuleDefault(
        'get_service_profile', ADMIN, 'List service profiles or show one.',
        [{'method': 'GET', 'path': '/v2.0/service_profiles'},
         {'method': 'GET', 'path': '/v2.0/service_profiles/{id}'}]),
    policy.DocumentedRuleDefault(
        'create_flavor_service_profile', ADMIN,
        'Associate a service profile with a flavor.',
        [{'method': 'POST', 'path': '/v2.0/flavors/{id}/service_profiles'}]),
    policy.DocumentedRuleDefault(
        'delete_flavor_service_profile', ADMIN,
        'Dissociate a service profile from a flavor.',
        [{'method': 'DELETE',
          'path': '/v2.0/flavors/{id}/service_profiles/{profile_id}'}]),
] + _admin_crud('flavor', '/v2.0/flavors', 'flavor') + _admin_crud(
    'service_profile', '/v2.0/service_profiles', 'service profile')


_SCHEDULER = [
    policy.DocumentedRuleDefault(
        'get_scheduler_health', ADMIN,
        'Show the health monitor\'s leader, storm guards and failover '
        'counters.', [{'method': 'GET', 'path': '/v2.0/scheduler/health'}]),
    policy.DocumentedRuleDefault(
        'failover_resource', ADMIN, 'Fail one resource over now.',
        [{'method': 'PUT', 'path': '/v2.0/lb/vips/{id}/failover'},
         {'method': 'PUT', 'path': '/v2.0/vpn/connections/{id}/failover'}]),
]


def list_rules():
    """Every rule, for oslopolicy-sample-generator and the enforcer."""
    return (_BASE + _AGENTS + _DEVICES + _RESOURCES + _AGENT_SCHEDULER +
            _FLAVORS + _SCHEDULER)


class Authorizer:
    """Checks a request context against one named rule."""

    def __init__(self, conf):
        self._enforcer = policy.Enforcer(conf)
        self._enforcer.register_defaults(list_rules())

    def is_admin(self, context):
        """Whether the context passes context_is_admin (an admin sees
        every project's resources)."""
        return self._enforcer.authorize(
            'context_is_admin', {'project_id': context.project_id},
            context.to_policy_values(), do_raise=False)

    def authorize(self, context, rule, target=None):
        credentials = context.to_policy_values()
        target = target or {'project_id': context.project_id}
        try:
            self._enforcer.authorize(rule, target, credentials,
                                     do_raise=True)
        except policy.PolicyNotAuthorized:
            raise errors.Forbidden('rule:%s is disallowed by policy' % rule)
