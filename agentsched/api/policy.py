"""API policy: rules defined in code (oslo.policy), overridable by file.

The defaults are OpenStack's secure-RBAC personas as Neutron ships them:

  admin           role admin (of any project): everything
  project member  role member, on its own project's resources and private
                  devices: read, write
  project reader  role reader (or member), on its own project's: read only

Every rule is scope_types=['project'], as in Neutron since it dropped
system scope: a system- or domain-scoped token is refused (403) wherever
a rule is checked (unless [oslo_policy] enforce_scope = false, which only
an oslo.policy older than 6.0 reads). The rules whose default changed keep their old check string as a
DeprecatedRule: with [oslo_policy] enforce_new_defaults = false it is OR'd
with the new one, so a deployment keeps the old behaviour while it gives
its users the reader and member roles; with true (the default) only the
new default counts. A rule named in the operator's policy file always wins.
"""

from oslo_policy import opts as policy_opts
from oslo_policy import policy

from agentsched.api import errors

# The personas, as check strings. Neutron writes the reader as
# 'role:reader and ...' and relies on Keystone's implied roles (member
# implies reader); http_basic identity files and Keystone deployments
# without the implied-role chain give no such thing, so the reader here
# names both roles.
ADMIN = 'rule:admin_only'
PROJECT_MEMBER = 'role:member and project_id:%(project_id)s'
PROJECT_READER = '(role:reader or role:member) and project_id:%(project_id)s'
ADMIN_OR_PROJECT_MEMBER = '(%s) or (%s)' % (ADMIN, PROJECT_MEMBER)
ADMIN_OR_PROJECT_READER = '(%s) or (%s)' % (ADMIN, PROJECT_READER)
ANY_USER = ''
PROJECT_SCOPE = ['project']

# The old default of the resource rules, kept for enforce_new_defaults =
# false.
OWNER = 'rule:admin_or_owner'
DEPRECATED_SINCE = '0.1.0'
DEPRECATED_REASON = ('The resource rules now tell the project reader (read '
                     'only) from the project member (read and write); '
                     'admin_or_owner let any role of the project write.')

_BASE = [
    policy.RuleDefault('context_is_admin', 'role:admin',
                       description='Who counts as an admin.'),
    policy.RuleDefault('admin_only', 'rule:context_is_admin',
                       description='Rule of the admin-only routes.'),
    policy.RuleDefault('admin_or_owner',
                       'rule:context_is_admin or project_id:%(project_id)s',
                       description='An admin, or any role of the project '
                                   'that owns the resource. No default '
                                   'uses it any more; kept for policy '
                                   'files and the deprecated defaults.'),
]


def _rule(name, check_str, description, operations, deprecated=None):
    """A route's rule, project-scoped; deprecated: the old check string."""
    return policy.DocumentedRuleDefault(
        name, check_str, description, operations, scope_types=PROJECT_SCOPE,
        deprecated_rule=policy.DeprecatedRule(
            name, deprecated, deprecated_reason=DEPRECATED_REASON,
            deprecated_since=DEPRECATED_SINCE) if deprecated else None)


# Neutron's rule names for the agent routes, so existing policy files read
# the same.
_AGENTS = [
    _rule('get_agent', ADMIN, 'List agents or show one agent.',
          [{'method': 'GET', 'path': '/v2.0/agents'},
           {'method': 'GET', 'path': '/v2.0/agents/{id}'}]),
    _rule('update_agent', ADMIN, 'Update an agent (POST, creating one, is '
          'checked with this rule too, and refused: agents register by '
          'reporting).',
          [{'method': 'PUT', 'path': '/v2.0/agents/{id}'},
           {'method': 'POST', 'path': '/v2.0/agents'}]),
    _rule('delete_agent', ADMIN, 'Delete an agent.',
          [{'method': 'DELETE', 'path': '/v2.0/agents/{id}'}]),
    _rule('get_openapi', ADMIN, 'Read the OpenAPI document of the API.',
          [{'method': 'GET', 'path': '/v2.0/openapi.json'}]),
    _rule('get_metrics', ADMIN, 'Read the Prometheus metrics of the server '
          '([metrics] port serves them without authentication).',
          [{'method': 'GET', 'path': '/metrics'}]),
]


# A project's private devices are its own to read (reader) and to
# register, change and delete (member); shared devices, which agents reach
# a device, and the agent-device links are the admin's. Registering a
# shared device (no project_id) also takes context_is_admin, whatever this
# rule says (extensions/devices.py).
_DEVICES = [
    _rule('get_device', ADMIN_OR_PROJECT_READER,
          'List devices or show one (a project: its private devices).',
          [{'method': 'GET', 'path': '/v2.0/devices'},
           {'method': 'GET', 'path': '/v2.0/devices/{id}'}]),
    _rule('get_device_agents', ADMIN, 'List the agents that reach a device.',
          [{'method': 'GET', 'path': '/v2.0/devices/{id}/agents'}]),
    _rule('get_agent_devices', ADMIN, 'List the devices an agent reaches.',
          [{'method': 'GET', 'path': '/v2.0/agents/{id}/devices'}]),
    _rule('create_device', ADMIN_OR_PROJECT_MEMBER,
          'Register a device (a shared one, or in another project: an '
          'admin only).',
          [{'method': 'POST', 'path': '/v2.0/devices'}]),
    _rule('update_device', ADMIN_OR_PROJECT_MEMBER,
          'Update a device (credentials included).',
          [{'method': 'PUT', 'path': '/v2.0/devices/{id}'}]),
    _rule('delete_device', ADMIN_OR_PROJECT_MEMBER, 'Delete a device.',
          [{'method': 'DELETE', 'path': '/v2.0/devices/{id}'}]),
    _rule('add_device_to_agent', ADMIN,
          'Associate a device with an agent (or create and associate one).',
          [{'method': 'POST', 'path': '/v2.0/agents/{id}/devices'}]),
    _rule('remove_device_from_agent', ADMIN,
          'Dissociate a device from an agent.',
          [{'method': 'DELETE',
            'path': '/v2.0/agents/{id}/devices/{device_id}'}]),
]


def _resource_rules(name, path, noun):
    """A tenant resource's four rules, Neutron-style: <action>_<name>.
    Reading takes the project reader, writing the project member."""
    one = path + '/{id}'
    return [
        _rule('create_' + name, ADMIN_OR_PROJECT_MEMBER,
              'Create a %s (in another project: an admin only).' % noun,
              [{'method': 'POST', 'path': path}], deprecated=OWNER),
        _rule('get_' + name, ADMIN_OR_PROJECT_READER,
              'List %ss or show one.' % noun,
              [{'method': 'GET', 'path': path},
               {'method': 'GET', 'path': one}], deprecated=OWNER),
        _rule('update_' + name, ADMIN_OR_PROJECT_MEMBER,
              'Update a %s.' % noun,
              [{'method': 'PUT', 'path': one}], deprecated=OWNER),
        _rule('delete_' + name, ADMIN_OR_PROJECT_MEMBER,
              'Delete a %s.' % noun,
              [{'method': 'DELETE', 'path': one}], deprecated=OWNER),
    ]


_RESOURCES = (_resource_rules('vip', '/v2.0/lb/vips', 'load-balancer VIP')
              + [_rule('get_vip_stats', ADMIN_OR_PROJECT_READER,
                       'Show the statistics of a load-balancer VIP.',
                       [{'method': 'GET',
                         'path': '/v2.0/lb/vips/{id}/stats'}],
                       deprecated=OWNER)]
              + _resource_rules('vpn_connection', '/v2.0/vpn/connections',
                                'VPN connection'))

_AGENT_SCHEDULER = [
    _rule('get_agent_resources', ADMIN,
          'List the resources bound to an agent.',
          [{'method': 'GET', 'path': '/v2.0/agents/{id}/vips'},
           {'method': 'GET', 'path': '/v2.0/agents/{id}/vpn-connections'}]),
    _rule('add_resource_to_agent', ADMIN,
          'Place an unbound resource on an agent by hand.',
          [{'method': 'POST', 'path': '/v2.0/agents/{id}/vips'},
           {'method': 'POST', 'path': '/v2.0/agents/{id}/vpn-connections'}]),
    _rule('remove_resource_from_agent', ADMIN,
          'Unbind a resource from its agent and device.',
          [{'method': 'DELETE', 'path': '/v2.0/agents/{id}/vips/{vip_id}'},
           {'method': 'DELETE',
            'path': '/v2.0/agents/{id}/vpn-connections/{vpn_connection_id}'}
           ]),
    _rule('get_resource_agent', ADMIN,
          'Show the agent and device hosting a resource.',
          [{'method': 'GET', 'path': '/v2.0/lb/vips/{id}/agent'},
           {'method': 'GET', 'path': '/v2.0/vpn/connections/{id}/agent'}]),
]


def _admin_crud(name, path, noun):
    one = path + '/{id}'
    return [
        _rule('create_' + name, ADMIN, 'Create a %s.' % noun,
              [{'method': 'POST', 'path': path}]),
        _rule('update_' + name, ADMIN, 'Update a %s.' % noun,
              [{'method': 'PUT', 'path': one}]),
        _rule('delete_' + name, ADMIN, 'Delete a %s.' % noun,
              [{'method': 'DELETE', 'path': one}]),
    ]


# Neutron's flavor framework names: tenants read flavors to choose one;
# service profiles (how a flavor is implemented) are the operator's.
# Neutron's get_flavor is 'role:reader'; here any project-scoped token
# reads flavors, whatever its roles, as before.
_FLAVORS = [
    _rule('get_flavor', ANY_USER, 'List flavors or show one.',
          [{'method': 'GET', 'path': '/v2.0/flavors'},
           {'method': 'GET', 'path': '/v2.0/flavors/{id}'}]),
    _rule('get_service_profile', ADMIN, 'List service profiles or show one.',
          [{'method': 'GET', 'path': '/v2.0/service_profiles'},
           {'method': 'GET', 'path': '/v2.0/service_profiles/{id}'}]),
    _rule('create_flavor_service_profile', ADMIN,
          'Associate a service profile with a flavor.',
          [{'method': 'POST', 'path': '/v2.0/flavors/{id}/service_profiles'}]),
    _rule('delete_flavor_service_profile', ADMIN,
          'Dissociate a service profile from a flavor.',
          [{'method': 'DELETE',
            'path': '/v2.0/flavors/{id}/service_profiles/{profile_id}'}]),
] + _admin_crud('flavor', '/v2.0/flavors', 'flavor') + _admin_crud(
    'service_profile', '/v2.0/service_profiles', 'service profile')


_SCHEDULER = [
    _rule('get_scheduler_health', ADMIN,
          'Show the health monitor\'s leader, storm guards and failover '
          'counters.', [{'method': 'GET', 'path': '/v2.0/scheduler/health'}]),
    _rule('failover_resource', ADMIN, 'Fail one resource over now.',
          [{'method': 'PUT', 'path': '/v2.0/lb/vips/{id}/failover'},
           {'method': 'PUT', 'path': '/v2.0/vpn/connections/{id}/failover'}]),
]


def list_rules():
    """Every rule, for oslopolicy-sample-generator and the enforcer."""
    return (_BASE + _AGENTS + _DEVICES + _RESOURCES + _AGENT_SCHEDULER +
            _FLAVORS + _SCHEDULER)


def set_defaults(conf):
    """The new defaults and scope checks on unless the operator says
    otherwise, whichever oslo.policy is installed: before 4.4.0 both
    options defaulted to false; 4.4.0 made them true; 6.0.0 removed
    enforce_scope and always checks scope."""
    known = {opt.dest for _group, opts in policy_opts.list_opts()
             for opt in opts}
    policy_opts.set_defaults(conf, **{
        name: True for name in ('enforce_new_defaults', 'enforce_scope')
        if name in known})


class Authorizer:
    """Checks a request context against one named rule."""

    def __init__(self, conf):
        set_defaults(conf)
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
        except policy.InvalidScope:
            # A system- or domain-scoped token on a project-scoped rule.
            raise errors.Forbidden('rule:%s is disallowed by policy: it '
                                   'takes a project-scoped token' % rule)
