import setuptools

setuptools.setup(
    name='agentsched',
    version='0.1.0',
    description='Agent scheduler with heartbeat health for load-balancer and '
                'VPN appliance fleets, in the OpenStack style',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.10',
    packages=setuptools.find_packages(include=['agentsched', 'agentsched.*']),
    package_data={'agentsched.db': ['migrations/*.py', 'migrations/*.mako',
                                    'migrations/versions/*.py']},
    install_requires=[
        'oslo.config>=9.0,<11',
        'oslo.log>=5.0,<9',
        'oslo.messaging>=14.0,<19',
        'oslo.service[threading]>=4.2,<5',
        'SQLAlchemy>=2.0,<2.2',
        'alembic>=1.13,<2',
        'kombu>=5.3,<6',
        'tenacity>=8.2,<10',
        'stevedore>=5.0,<6',
        'fastjsonschema>=2.19,<3',
        'Flask>=3.0,<4',
        'waitress>=3,<4',
        'orjson>=3.9,<4',
        'oslo.context>=5.0,<7',
        'oslo.middleware>=6.0,<9',
        'oslo.policy>=4.0,<7',
        'keystonemiddleware>=10.0,<14',
        'bcrypt>=4.0,<6',
        'cryptography>=41,<51',
        'cliff>=4.0,<5',
        'keystoneauth1>=5.0,<6',
        # Leader election of the health monitor among several servers; each
        # backend needs its client library (see the redis extra).
        'tooz>=6,<10',
        # Guru meditation reports (SIGUSR2), as every OpenStack service.
        'oslo.reports>=3,<4',
        'prometheus_client>=0.17,<1',
        # The haproxy_ssh driver's SSH client (agents/drivers/ssh.py).
        'paramiko>=3.4,<6',
        # Names the report workers in ps (cotyledon uses it too).
        'setproctitle>=1.3,<2',
    ],
    extras_require={
        'postgresql': ['psycopg[binary]>=3.1,<4'],
        'mysql': ['PyMySQL>=1.1,<2'],
        'redis': ['redis>=4,<9'],
        # `openstack agentsched ...` (agentsched/cli/osc_plugin.py).
        'osc': ['python-openstackclient>=7,<11'],
        'test': ['pytest>=8,<10', 'psycopg[binary]>=3.1,<4', 'redis>=4,<9',
                 # tooz's postgresql driver uses psycopg2.
                 'psycopg2-binary>=2.9,<3',
                 'PyMySQL>=1.1,<2', 'fixtures>=4,<5',
                 # CommonMark parser of tests/unit/test_readme.py.
                 'markdown-it-py>=3,<5',
                 # The layers' import rules (tests/unit/test_import_rules.py).
                 'import-linter>=2.1,<3',
                 # Real clients for the acceptance tests.
                 'python-openstackclient>=7,<11', 'openstacksdk>=4,<5',
                 'schemathesis>=4,<5'],
    },
    entry_points={
        'console_scripts': [
            'agentsched-server = agentsched.cmd.server:main',
            'agentsched-agent = agentsched.cmd.agent:main',
            'agentsched-manage = agentsched.cmd.manage:main',
            'agentsched = agentsched.cmd.cli:main',
        ],
        'oslo.config.opts': [
            'agentsched = agentsched.opts:list_opts',
        ],
        'oslo.config.opts.defaults': [
            'agentsched = agentsched.conf:set_messaging_defaults',
        ],
        # Plugin namespaces (agentsched/constants.py NS_*); later work fills
        # them: scheduling algorithms, their filters and weighers, device
        # types and drivers, resource types, agent services, API extensions.
        'agentsched.algorithms': [
            'chance = agentsched.algorithms.chance:Chance',
            'least_loaded = agentsched.algorithms.least_loaded:LeastLoaded',
            'weighted = agentsched.algorithms.weighted:Weighted',
        ],
        'agentsched.device_assigners': [
            'least_devices = '
            'agentsched.algorithms.device_assigners:LeastDevices',
        ],
        'agentsched.filters': [
            'agent_alive = agentsched.algorithms.filters:AgentAlive',
            'agent_serves = agentsched.algorithms.filters:AgentServes',
            'service_type = agentsched.algorithms.filters:ServiceType',
            'device_healthy = agentsched.algorithms.filters:DeviceHealthy',
            'device_type = agentsched.algorithms.filters:DeviceType',
            'availability_zone = '
            'agentsched.algorithms.filters:AvailabilityZone',
            'capacity = agentsched.algorithms.filters:Capacity',
            'capabilities = agentsched.algorithms.filters:Capabilities',
        ],
        'agentsched.weighers': [
            'device_load = agentsched.algorithms.weighers:DeviceLoad',
            'agent_load = agentsched.algorithms.weighers:AgentLoad',
            'device_health = agentsched.algorithms.weighers:DeviceHealth',
        ],
        'agentsched.device_types': [
            'haproxy = agentsched.services.device_types.haproxy:HAProxy',
            'haproxy_ssh = '
            'agentsched.services.device_types.haproxy_ssh:HAProxySSH',
            'strongswan = '
            'agentsched.services.device_types.strongswan:StrongSwan',
            'noop = agentsched.services.device_types.noop:Noop',
        ],
        'agentsched.device_drivers': [
            'noop = agentsched.agents.drivers.noop:NoopDriver',
            'haproxy = agentsched.agents.drivers.haproxy:HAProxyDriver',
            'haproxy_ssh = '
            'agentsched.agents.drivers.haproxy_ssh:HAProxySSHDriver',
            'strongswan = '
            'agentsched.agents.drivers.strongswan:StrongSwanDriver',
        ],
        'agentsched.resource_types': [
            'vip = agentsched.services.resource_types.vip:VIP',
            'vpn_connection = '
            'agentsched.services.resource_types.vpn_connection:VPNConnection',
        ],
        'agentsched.agent_services': [
            'lbaas = agentsched.agents.service_plugins.lbaas:LBaaS',
            'vpn = agentsched.agents.service_plugins.vpn:VPN',
        ],
        'agentsched.api.extensions': [
            'agent = agentsched.extensions.agents:EXTENSION',
            'agent-devices = agentsched.extensions.devices:EXTENSION',
            'agent-scheduler = '
            'agentsched.extensions.agent_scheduler:EXTENSION',
            'flavors = agentsched.extensions.flavors:EXTENSION',
            'resources = agentsched.extensions.resources:EXTENSION',
            'scheduler-health = agentsched.extensions.scheduler:EXTENSION',
        ],
        # Commands of the agentsched CLI (cliff turns '_' into ' '); the
        # hyphenated names are neutronclient's spellings.
        'agentsched.cli': [
            'agent_list = agentsched.cli.agents:ListAgent',
            'agent_show = agentsched.cli.agents:ShowAgent',
            'agent_set = agentsched.cli.agents:SetAgent',
            'agent_delete = agentsched.cli.agents:DeleteAgent',
            'agent-list = agentsched.cli.agents:ListAgent',
            'agent-show = agentsched.cli.agents:ShowAgent',
            'agent-update = agentsched.cli.agents:UpdateAgent',
            'agent-delete = agentsched.cli.agents:DeleteAgent',
            'device_list = agentsched.cli.devices:ListDevice',
            'device_show = agentsched.cli.devices:ShowDevice',
            'device_create = agentsched.cli.devices:CreateDevice',
            'device_set = agentsched.cli.devices:SetDevice',
            'device_delete = agentsched.cli.devices:DeleteDevice',
            'device_agent_list = agentsched.cli.devices:ListDeviceAgent',
            'agent_device_list = agentsched.cli.devices:ListAgentDevice',
            'agent_device_add = agentsched.cli.devices:AddAgentDevice',
            'agent_device_remove = agentsched.cli.devices:RemoveAgentDevice',
            'device-list = agentsched.cli.devices:ListDevice',
            'device-show = agentsched.cli.devices:ShowDevice',
            'device-create = agentsched.cli.devices:CreateDevice',
            'device-update = agentsched.cli.devices:UpdateDevice',
            'device-delete = agentsched.cli.devices:DeleteDevice',
            'agent-device-list = agentsched.cli.devices:ListAgentDevice',
            'agent-device-add = agentsched.cli.devices:LegacyAddAgentDevice',
            'agent-device-remove = '
            'agentsched.cli.devices:LegacyRemoveAgentDevice',
            'vip_create = agentsched.cli.resources:CreateVip',
            'vip_list = agentsched.cli.resources:ListVip',
            'vip_show = agentsched.cli.resources:ShowVip',
            'vip_set = agentsched.cli.resources:SetVip',
            'vip_delete = agentsched.cli.resources:DeleteVip',
            'agent_vip_list = agentsched.cli.resources:ListAgentVip',
            'agent_vip_add = agentsched.cli.resources:AddAgentVip',
            'agent_vip_remove = agentsched.cli.resources:RemoveAgentVip',
            'vip_agent_show = agentsched.cli.resources:ShowVipAgent',
            'vip_failover = agentsched.cli.resources:FailoverVip',
            'vip_stats_show = agentsched.cli.resources:ShowVipStats',
            'vip_member_list = agentsched.cli.resources:ListVipMember',
            'vip-stats = agentsched.cli.resources:ShowVipStats',
            'vip-member-list = agentsched.cli.resources:ListVipMember',
            'vpn-connection_failover = '
            'agentsched.cli.resources:FailoverVPNConnection',
            'scheduler_health_show = '
            'agentsched.cli.scheduler:ShowSchedulerHealth',
            'vip-create = agentsched.cli.resources:CreateVip',
            'vip-list = agentsched.cli.resources:ListVip',
            'vip-show = agentsched.cli.resources:ShowVip',
            'vip-update = agentsched.cli.resources:SetVip',
            'vip-delete = agentsched.cli.resources:DeleteVip',
            'agent-vip-list = agentsched.cli.resources:ListAgentVip',
            'agent-vip-add = agentsched.cli.resources:AddAgentVip',
            'agent-vip-remove = agentsched.cli.resources:RemoveAgentVip',
            'vip-agent-show = agentsched.cli.resources:ShowVipAgent',
            'vpn-connection_create = '
            'agentsched.cli.resources:CreateVPNConnection',
            'vpn-connection_list = agentsched.cli.resources:ListVPNConnection',
            'vpn-connection_show = agentsched.cli.resources:ShowVPNConnection',
            'vpn-connection_set = agentsched.cli.resources:SetVPNConnection',
            'vpn-connection_delete = '
            'agentsched.cli.resources:DeleteVPNConnection',
            'agent_vpn-connection_list = '
            'agentsched.cli.resources:ListAgentVPNConnection',
            'agent_vpn-connection_add = '
            'agentsched.cli.resources:AddAgentVPNConnection',
            'agent_vpn-connection_remove = '
            'agentsched.cli.resources:RemoveAgentVPNConnection',
            'vpn-connection_agent_show = '
            'agentsched.cli.resources:ShowVPNConnectionAgent',
            'vpn-connection-create = '
            'agentsched.cli.resources:CreateVPNConnection',
            'vpn-connection-list = agentsched.cli.resources:ListVPNConnection',
            'vpn-connection-show = agentsched.cli.resources:ShowVPNConnection',
            'vpn-connection-update = '
            'agentsched.cli.resources:SetVPNConnection',
            'vpn-connection-delete = '
            'agentsched.cli.resources:DeleteVPNConnection',
            'agent-vpn-connection-list = '
            'agentsched.cli.resources:ListAgentVPNConnection',
            'agent-vpn-connection-add = '
            'agentsched.cli.resources:AddAgentVPNConnection',
            'agent-vpn-connection-remove = '
            'agentsched.cli.resources:RemoveAgentVPNConnection',
            'vpn-connection-agent-show = '
            'agentsched.cli.resources:ShowVPNConnectionAgent',
        ],
        # The OSC plugin: `openstack agentsched ...` (docs/api.md, "The
        # openstack CLI plugin"); the group is openstack.<API_NAME>.v<major>.
        'openstack.cli.extension': [
            'agentsched = agentsched.cli.osc_plugin',
        ],
        'openstack.agentsched.v2': [
            'agentsched_agent_list = agentsched.cli.agents:ListAgent',
            'agentsched_agent_show = agentsched.cli.agents:ShowAgent',
            'agentsched_agent_set = agentsched.cli.agents:SetAgent',
            'agentsched_agent_delete = agentsched.cli.agents:DeleteAgent',
            'agentsched_device_list = agentsched.cli.devices:ListDevice',
            'agentsched_device_show = agentsched.cli.devices:ShowDevice',
            'agentsched_device_create = agentsched.cli.devices:CreateDevice',
            'agentsched_device_set = agentsched.cli.devices:SetDevice',
            'agentsched_device_delete = agentsched.cli.devices:DeleteDevice',
            'agentsched_device_agent_list = '
            'agentsched.cli.devices:ListDeviceAgent',
            'agentsched_agent_device_list = '
            'agentsched.cli.devices:ListAgentDevice',
            'agentsched_agent_add_device = '
            'agentsched.cli.devices:AddAgentDevice',
            'agentsched_agent_remove_device = '
            'agentsched.cli.devices:RemoveAgentDevice',
            'agentsched_vip_create = agentsched.cli.resources:CreateVip',
            'agentsched_vip_list = agentsched.cli.resources:ListVip',
            'agentsched_vip_show = agentsched.cli.resources:ShowVip',
            'agentsched_vip_set = agentsched.cli.resources:SetVip',
            'agentsched_vip_delete = agentsched.cli.resources:DeleteVip',
            'agentsched_vip_failover = agentsched.cli.resources:FailoverVip',
            'agentsched_vip_agent_show = '
            'agentsched.cli.resources:ShowVipAgent',
            'agentsched_vip_member_list = '
            'agentsched.cli.resources:ListVipMember',
            'agentsched_vip_stats_show = '
            'agentsched.cli.resources:ShowVipStats',
            'agentsched_agent_vip_list = '
            'agentsched.cli.resources:ListAgentVip',
            'agentsched_agent_add_vip = agentsched.cli.resources:AddAgentVip',
            'agentsched_agent_remove_vip = '
            'agentsched.cli.resources:RemoveAgentVip',
            'agentsched_vpn_connection_create = '
            'agentsched.cli.resources:CreateVPNConnection',
            'agentsched_vpn_connection_list = '
            'agentsched.cli.resources:ListVPNConnection',
            'agentsched_vpn_connection_show = '
            'agentsched.cli.resources:ShowVPNConnection',
            'agentsched_vpn_connection_set = '
            'agentsched.cli.resources:SetVPNConnection',
            'agentsched_vpn_connection_delete = '
            'agentsched.cli.resources:DeleteVPNConnection',
            'agentsched_vpn_connection_failover = '
            'agentsched.cli.resources:FailoverVPNConnection',
            'agentsched_vpn_connection_agent_show = '
            'agentsched.cli.resources:ShowVPNConnectionAgent',
            'agentsched_agent_vpn_connection_list = '
            'agentsched.cli.resources:ListAgentVPNConnection',
            'agentsched_agent_add_vpn_connection = '
            'agentsched.cli.resources:AddAgentVPNConnection',
            'agentsched_agent_remove_vpn_connection = '
            'agentsched.cli.resources:RemoveAgentVPNConnection',
            'agentsched_scheduler_health_show = '
            'agentsched.cli.scheduler:ShowSchedulerHealth',
        ],
        'oslo.policy.policies': [
            'agentsched = agentsched.api.policy:list_rules',
        ],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Environment :: OpenStack',
    ],
)
