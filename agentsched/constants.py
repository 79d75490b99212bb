"""The one home for agentsched's topics, statuses, types and limits."""

# Topics and exchanges. Neutron agents report on q-reports-plugin and publish
# on the 'neutron' control exchange.
REPORTS_TOPIC = 'q-reports-plugin'
PLUGIN_TOPIC = 'agentsched-plugin'
DEFAULT_CONTROL_EXCHANGE = 'neutron'

# In-process messaging for the embedded default: kombu's memory transport
# (see in_process_transport.py) is far faster than oslo.messaging's fake://.
IN_PROCESS_TRANSPORT_URL = 'kombu+agentsched-memory:////'

# REST API. Neutron's API uses 9696; agentsched takes the next free
# neighbour so both can run on one host.
DEFAULT_API_PORT = 9797
API_VERSION = 'v2.0'

# Heartbeat replies (neutron_lib.agent.constants spells them the same way).
AGENT_NEW = 'new'
AGENT_ALIVE = 'alive'
AGENT_REVIVED = 'revived'

# Wire format of the agent's clock in a report (Neutron's ISO8601_TIME_FORMAT).
REPORT_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%f'

# Service types a device serves.
SERVICE_LOADBALANCER = 'LOADBALANCER'
SERVICE_VPN = 'VPN'
SERVICE_TYPES = (SERVICE_LOADBALANCER, SERVICE_VPN)

# Agent services: what an agentsched-agent runs, and how it identifies itself.
AGENT_SERVICE_LBAAS = 'lbaas'
AGENT_SERVICE_VPN = 'vpn'
AGENT_TYPE_LOADBALANCER = 'Loadbalancer agent'
AGENT_TYPE_VPN = 'VPN agent'
AGENT_BINARY = 'agentsched-agent'
AGENT_SERVICES = {
    AGENT_SERVICE_LBAAS: {'agent_type': AGENT_TYPE_LOADBALANCER,
                          'topic': 'agentsched-lbaas-agent',
                          'service_type': SERVICE_LOADBALANCER},
    AGENT_SERVICE_VPN: {'agent_type': AGENT_TYPE_VPN,
                        'topic': 'agentsched-vpn-agent',
                        'service_type': SERVICE_VPN},
}

SERVICE_BY_AGENT_TYPE = {identity['agent_type']: identity['service_type']
                         for identity in AGENT_SERVICES.values()}

# Device health as agents report it.
HEALTH_OK = 'OK'
HEALTH_DEGRADED = 'DEGRADED'
HEALTH_DOWN = 'DOWN'
HEALTH_UNKNOWN = 'UNKNOWN'
DEVICE_HEALTHS = (HEALTH_OK, HEALTH_DEGRADED, HEALTH_DOWN, HEALTH_UNKNOWN)
# What the scheduler places on. DEGRADED devices stay placeable: the agent
# reports them serving, only impaired (one uplink down, a failed disk in a
# mirror), and refusing them would turn a partial fault into failed
# placements; the device_health weigher prefers OK devices when there is a
# choice. UNKNOWN is refused: nobody has told us the device works.
PLACEABLE_HEALTHS = frozenset((HEALTH_OK, HEALTH_DEGRADED))

# How an agent came to manage a device (GET /v2.0/agents/{id}/devices):
# assigned by the server to a manager of its type (the health monitor may
# reassign it), or pinned (an admin's link, or the agent's own report:
# never undone by the server).
ASSIGNMENT_ASSIGNED = 'assigned'
ASSIGNMENT_PINNED = 'pinned'

# Where a device row came from: an agent's report, an admin, or a project
# registering its own (private) appliance.
DEVICE_SOURCE_REPORTED = 'reported'
DEVICE_SOURCE_ADMIN = 'admin'
DEVICE_SOURCE_PROJECT = 'project'
DEVICE_SOURCES = (DEVICE_SOURCE_REPORTED, DEVICE_SOURCE_ADMIN,
                  DEVICE_SOURCE_PROJECT)
# Devices the server assigns to manager agents: registered through the API
# by an admin or a project (a reported device is its reporting agent's).
ASSIGNED_SOURCES = (DEVICE_SOURCE_ADMIN, DEVICE_SOURCE_PROJECT)

# Resource lifecycle.
STATUS_PENDING_CREATE = 'PENDING_CREATE'
STATUS_PENDING_UPDATE = 'PENDING_UPDATE'
STATUS_PENDING_DELETE = 'PENDING_DELETE'
STATUS_ACTIVE = 'ACTIVE'
STATUS_ERROR = 'ERROR'
# What an agent answers (update_status) once a resource is off its device:
# a wire status, never stored.
STATUS_DELETED = 'DELETED'

# Operating status (Octavia's names): what the data plane does, beside the
# provisioning status above. Agents read it from their devices (a VIP and
# each of its members from haproxy's checks, a VPN connection from its IKE
# and child SAs) and report changes; None until the first report.
OPERATING_ONLINE = 'ONLINE'
OPERATING_DEGRADED = 'DEGRADED'
OPERATING_ERROR = 'ERROR'
OPERATING_OFFLINE = 'OFFLINE'
OPERATING_NO_MONITOR = 'NO_MONITOR'
OPERATING_DRAINING = 'DRAINING'
OPERATING_STATUSES = (OPERATING_ONLINE, OPERATING_DEGRADED, OPERATING_ERROR,
                      OPERATING_OFFLINE, OPERATING_NO_MONITOR,
                      OPERATING_DRAINING)
# A member in a report and in the stored statuses: its address and port as
# the VIP's spec gives them (unique within a VIP).
MEMBER_KEY = '{address}:{protocol_port}'
MAX_MEMBERS = 1000

# A VIP's statistics (Octavia's listener statistics). Counters only grow
# (the device's driver carries them across reloads; the server across
# restarts and moves); active_connections is a gauge, the current value.
STATS_COUNTERS = ('bytes_in', 'bytes_out', 'total_connections',
                  'request_errors')
STATS_GAUGES = ('active_connections',)
STATS_FIELDS = STATS_COUNTERS + STATS_GAUGES
# BigInteger, signed 64 bits on every backend.
MAX_DB_BIGINT = 2 ** 63 - 1

# Failover policies per resource type (see conf/health.py).
FAILOVER_REBIND_AND_MOVE = 'rebind_and_move'
FAILOVER_REBIND_ONLY = 'rebind_only'
FAILOVER_OFF = 'off'
FAILOVER_POLICIES = (FAILOVER_REBIND_AND_MOVE, FAILOVER_REBIND_ONLY,
                     FAILOVER_OFF)

# The end of the text, alike in ECMA-262 (OpenAPI's patterns) and in
# Python, for patterns both the API's documents and the code validate with:
# '$' is not (in Python it also matches before a final newline).
END_OF_TEXT = '(?![\\s\\S])'
# A device's name, whoever gives it (an admin, a tenant, an agent's report):
# it names its directory on the agent's host (the haproxy driver's default
# config_dir) and reaches terminals: no '/', not '.' or '..', no control
# characters (C0, DEL, C1).
DEVICE_NAME_PATTERN = '^(?!\\.\\.?{end})[^/\\x00-\\x1f\\x7f-\\x9f]+{end}'.format(
    end=END_OF_TEXT)

# Bounds on a heartbeat report: a bad or hostile agent must not be able to
# make the server store or parse without limit.
MAX_STRING_LENGTH = 255
MAX_CONFIGURATIONS_BYTES = 64 * 1024
MAX_DEVICES_PER_REPORT = 1000
# [agent] remote_device_types: device types an agent manages remotely.
MAX_REMOTE_DEVICE_TYPES = 32
# The server assigns a manager agent no more devices than this (its own
# included): each goes into its heartbeats (about 120 bytes with a name of
# 20 characters), which MAX_CONFIGURATIONS_BYTES bounds. The agent also
# leaves out of a heartbeat the remote devices that would not fit.
MAX_DEVICES_PER_MANAGER = 400
# The largest value of an integer column a report fills (agents.load,
# devices.capacity, agent_devices.load: sa.Integer, signed 32 bits on every
# backend). A larger one would fail the write, not just this report's.
MAX_DB_INTEGER = 2 ** 31 - 1

# Bounds on the values that reach a device's configuration (formats.py).
# An address, even IPv6 with an embedded IPv4, is well under 64 characters.
MAX_ADDRESS_LENGTH = 64
MAX_HOSTNAME_LENGTH = 253
# The column the spec is stored in bounds nothing; strongSwan does not
# either: 255 as Neutron's peer_id.
MAX_IKE_IDENTITY_LENGTH = 255
MAX_RESOURCE_ID_LENGTH = 64
MAX_PATH_LENGTH = 1024
# A VPN connection's pre-shared key, any characters (written base64).
MIN_PSK_LENGTH = 8
MAX_PSK_LENGTH = 255

# Stevedore namespaces, one per plugin kind.
NS_ALGORITHMS = 'agentsched.algorithms'
NS_DEVICE_ASSIGNERS = 'agentsched.device_assigners'
NS_FILTERS = 'agentsched.filters'
NS_WEIGHERS = 'agentsched.weighers'
NS_DEVICE_TYPES = 'agentsched.device_types'
NS_DEVICE_DRIVERS = 'agentsched.device_drivers'
NS_RESOURCE_TYPES = 'agentsched.resource_types'
NS_AGENT_SERVICES = 'agentsched.agent_services'
NS_API_EXTENSIONS = 'agentsched.api.extensions'
