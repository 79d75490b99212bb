"""Tables. Queries use SQLAlchemy Core on these tables (see db/agents.py)."""

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy import orm

# MySQL's DATETIME keeps whole seconds unless asked; heartbeat lag and
# ordering need microseconds.
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')
# JSON documents are stored as text we serialize ourselves: the heartbeat path
# already has the string (it checks its size), so it is never encoded twice.
JSONText = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')
Name = sa.String(255)
UUID = sa.String(36)


class Base(orm.DeclarativeBase):
    pass


class Agent(Base):
    """An agent daemon, as Neutron's agents table describes one."""
    __tablename__ = 'agents'
    __table_args__ = (
        sa.UniqueConstraint('agent_type', 'host',
                            name='uniq_agents0agent_type0host'),
    )
    id = sa.Column(UUID, primary_key=True)
    agent_type = sa.Column(Name, nullable=False)
    binary = sa.Column(Name, nullable=False)
    topic = sa.Column(Name, nullable=False)
    host = sa.Column(Name, nullable=False)
    availability_zone = sa.Column(Name)
    admin_state_up = sa.Column(sa.Boolean, nullable=False, default=True,
                               server_default=sa.true())
    created_at = sa.Column(DateTime, nullable=False)
    started_at = sa.Column(DateTime, nullable=False)
    heartbeat_timestamp = sa.Column(DateTime, nullable=False)
    description = sa.Column(Name)
    configurations = sa.Column(JSONText, nullable=False)
    resource_versions = sa.Column(JSONText)
    load = sa.Column(sa.Integer, nullable=False, default=0,
                     server_default='0')
    resources_synced = sa.Column(sa.Boolean)
    # Set by an admin: judged dead whatever its heartbeats say, until unset
    # (fencing a flapping host; Nova's forced_down).
    forced_down = sa.Column(sa.Boolean, nullable=False, default=False,
                            server_default=sa.false())
    # Once an agent signed a report, unsigned ones for it are refused: its
    # identity is pinned to its host key (docs/security.md).
    signed = sa.Column(sa.Boolean, nullable=False, default=False,
                       server_default=sa.false())


class Device(Base):
    """An appliance that serves resources: the provider's (shared) or one
    project's (private)."""
    __tablename__ = 'devices'
    __table_args__ = (sa.UniqueConstraint('name', name='uniq_devices0name'),)
    id = sa.Column(UUID, primary_key=True)
    name = sa.Column(Name, nullable=False)
    device_type = sa.Column(Name, nullable=False)
    service_type = sa.Column(sa.String(32), nullable=False)
    capabilities = sa.Column(JSONText, nullable=False)
    capacity = sa.Column(sa.Integer, nullable=False, default=0)
    used = sa.Column(sa.Integer, nullable=False, default=0,
                     server_default='0')
    physical_info = sa.Column(JSONText, nullable=False)
    credentials = sa.Column(sa.Text)
    admin_state_up = sa.Column(sa.Boolean, nullable=False, default=True,
                               server_default=sa.true())
    # Indexed for the health monitor, which looks up the (few) DOWN devices
    # every check; set only when it changes (db/devices.set_health).
    health = sa.Column(sa.String(16), nullable=False, index=True)
    availability_zone = sa.Column(Name)
    source = sa.Column(sa.String(16), nullable=False)
    # The host whose report created it: its agents may link to it again
    # (after an admin deleted the agent), no other host may.
    reported_by = sa.Column(sa.String(255))
    # Its owner: NULL for the provider's shared devices (anyone's resources
    # go there), a project for that project's private appliance (only its
    # resources go there). Set at creation, never changed.
    project_id = sa.Column(Name, index=True)
    revision_number = sa.Column(sa.BigInteger, nullable=False, default=0,
                                server_default='0')
    created_at = sa.Column(DateTime, nullable=False)
    updated_at = sa.Column(DateTime)


class AgentDevice(Base):
    """Which agent reaches which device (many-to-many)."""
    __tablename__ = 'agent_devices'
    agent_id = sa.Column(UUID, sa.ForeignKey('agents.id', ondelete='CASCADE'),
                         primary_key=True)
    device_id = sa.Column(UUID,
                          sa.ForeignKey('devices.id', ondelete='CASCADE'),
                          primary_key=True, index=True)
    missing = sa.Column(sa.Boolean, nullable=False, default=False,
                        server_default=sa.false())
    health = sa.Column(sa.String(16))
    load = sa.Column(sa.Integer)
    updated_at = sa.Column(DateTime)
    # True: the server assigned the device to this agent (a manager of its
    # type, services/device_assignment.py) and may reassign it; false: an
    # admin's pin or the agent's own report, which the server never undoes.
    assigned = sa.Column(sa.Boolean, nullable=False, default=False,
                         server_default=sa.false())


class ManagerDeviceType(Base):
    """A device type an agent manages remotely (its [agent]
    remote_device_types, from its heartbeats): devices of that type that an
    admin registers are assigned to such agents."""
    __tablename__ = 'manager_device_types'
    agent_id = sa.Column(UUID, sa.ForeignKey('agents.id', ondelete='CASCADE'),
                         primary_key=True)
    device_type = sa.Column(Name, primary_key=True, index=True)


class Resource(Base):
    """A tenant's logical object (VIP, VPN connection) to be placed."""
    __tablename__ = 'resources'
    id = sa.Column(UUID, primary_key=True)
    project_id = sa.Column(Name, nullable=False, index=True)
    resource_type = sa.Column(sa.String(64), nullable=False)
    name = sa.Column(Name)
    spec = sa.Column(JSONText, nullable=False)
    requirements = sa.Column(JSONText, nullable=False)
    units = sa.Column(sa.Integer, nullable=False, default=1)
    flavor_id = sa.Column(UUID, sa.ForeignKey('flavors.id'))
    # Write-only fields of the spec (a VPN connection's psk), encrypted.
    secrets = sa.Column(sa.Text)
    # Indexed for the health monitor's look-ups of the (few) resources in
    # ERROR or PENDING_* every check.
    status = sa.Column(sa.String(16), nullable=False, index=True)
    status_description = sa.Column(Name)
    # What the data plane does (constants.OPERATING_STATUSES), as its agent
    # last reported; NULL until then. A VIP's members: {MEMBER_KEY: status}.
    operating_status = sa.Column(sa.String(16))
    member_statuses = sa.Column(JSONText)
    created_at = sa.Column(DateTime, nullable=False)
    updated_at = sa.Column(DateTime)


class ResourceStats(Base):
    """A VIP's statistics. The totals only grow: raw_* are the counters the
    device last reported (its driver's, monotone while the device keeps its
    files) and device_id the device they came from; a report from another
    device (a move) or a lower counter (a reset) starts a new run that adds
    to the totals."""
    __tablename__ = 'resource_stats'
    resource_id = sa.Column(UUID,
                            sa.ForeignKey('resources.id', ondelete='CASCADE'),
                            primary_key=True)
    device_id = sa.Column(UUID)
    bytes_in = sa.Column(sa.BigInteger, nullable=False, default=0)
    bytes_out = sa.Column(sa.BigInteger, nullable=False, default=0)
    total_connections = sa.Column(sa.BigInteger, nullable=False, default=0)
    request_errors = sa.Column(sa.BigInteger, nullable=False, default=0)
    active_connections = sa.Column(sa.BigInteger, nullable=False, default=0)
    raw_bytes_in = sa.Column(sa.BigInteger, nullable=False, default=0)
    raw_bytes_out = sa.Column(sa.BigInteger, nullable=False, default=0)
    raw_total_connections = sa.Column(sa.BigInteger, nullable=False,
                                      default=0)
    raw_request_errors = sa.Column(sa.BigInteger, nullable=False, default=0)
    updated_at = sa.Column(DateTime, nullable=False)


class Flavor(Base):
    """A service flavor, in the shape of Neutron's flavor framework."""
    __tablename__ = 'flavors'
    id = sa.Column(UUID, primary_key=True)
    name = sa.Column(Name, nullable=False)
    description = sa.Column(Name)
    service_type = sa.Column(sa.String(32), nullable=False)
    enabled = sa.Column(sa.Boolean, nullable=False, default=True,
                        server_default=sa.true())


class ServiceProfile(Base):
    """What a flavor means: metainfo holds the placement requirements."""
    __tablename__ = 'service_profiles'
    id = sa.Column(UUID, primary_key=True)
    description = sa.Column(Name)
    driver = sa.Column(Name)
    metainfo = sa.Column(JSONText, nullable=False)
    enabled = sa.Column(sa.Boolean, nullable=False, default=True,
                        server_default=sa.true())


class FlavorServiceProfile(Base):
    __tablename__ = 'flavor_service_profiles'
    flavor_id = sa.Column(UUID, sa.ForeignKey('flavors.id',
                                              ondelete='CASCADE'),
                          primary_key=True)
    service_profile_id = sa.Column(
        UUID, sa.ForeignKey('service_profiles.id', ondelete='CASCADE'),
        primary_key=True)


class Binding(Base):
    """resource -> (device, agent, generation); generation fences moves."""
    __tablename__ = 'bindings'
    resource_id = sa.Column(UUID,
                            sa.ForeignKey('resources.id', ondelete='CASCADE'),
                            primary_key=True)
    device_id = sa.Column(UUID, sa.ForeignKey('devices.id'), nullable=False,
                          index=True)
    agent_id = sa.Column(UUID, sa.ForeignKey('agents.id', ondelete='SET NULL'),
                         index=True)
    generation = sa.Column(sa.BigInteger, nullable=False, default=1)
    created_at = sa.Column(DateTime, nullable=False)
    updated_at = sa.Column(DateTime)


class SchedulerHealth(Base):
    """What the health monitor's leader last saw, for every server's API."""
    __tablename__ = 'scheduler_health'
    id = sa.Column(sa.Integer, primary_key=True, autoincrement=False)
    leader = sa.Column(Name, nullable=False)
    leader_since = sa.Column(DateTime, nullable=False)
    updated_at = sa.Column(DateTime, nullable=False)
    state = sa.Column(JSONText, nullable=False)


agents = Agent.__table__
devices = Device.__table__
agent_devices = AgentDevice.__table__
manager_device_types = ManagerDeviceType.__table__
resources = Resource.__table__
resource_stats = ResourceStats.__table__
bindings = Binding.__table__
flavors = Flavor.__table__
service_profiles = ServiceProfile.__table__
flavor_service_profiles = FlavorServiceProfile.__table__
scheduler_health = SchedulerHealth.__table__
