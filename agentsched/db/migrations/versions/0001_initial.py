"""Agents, devices, agent_devices, resources and bindings: first form.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql', 'mariadb')
JSONText = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'agents',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('agent_type', sa.String(255), nullable=False),
        sa.Column('binary', sa.String(255), nullable=False),
        sa.Column('topic', sa.String(255), nullable=False),
        sa.Column('host', sa.String(255), nullable=False),
        sa.Column('availability_zone', sa.String(255)),
        sa.Column('admin_state_up', sa.Boolean, nullable=False,
                  server_default=sa.true()),
        sa.Column('created_at', DateTime, nullable=False),
        sa.Column('started_at', DateTime, nullable=False),
        sa.Column('heartbeat_timestamp', DateTime, nullable=False),
        sa.Column('description', sa.String(255)),
        sa.Column('configurations', JSONText, nullable=False),
        sa.Column('resource_versions', JSONText),
        sa.Column('load', sa.Integer, nullable=False, server_default='0'),
        sa.Column('resources_synced', sa.Boolean),
        sa.UniqueConstraint('agent_type', 'host',
                            name='uniq_agents0agent_type0host'),
    )
    op.create_table(
        'devices',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('device_type', sa.String(255), nullable=False),
        sa.Column('service_type', sa.String(32), nullable=False),
        sa.Column('capabilities', JSONText, nullable=False),
        sa.Column('capacity', sa.Integer, nullable=False),
        sa.Column('used', sa.Integer, nullable=False, server_default='0'),
        sa.Column('physical_info', JSONText, nullable=False),
        sa.Column('credentials', sa.Text),
        sa.Column('admin_state_up', sa.Boolean, nullable=False,
                  server_default=sa.true()),
        sa.Column('health', sa.String(16), nullable=False),
        sa.Column('availability_zone', sa.String(255)),
        sa.Column('source', sa.String(16), nullable=False),
        sa.Column('revision_number', sa.BigInteger, nullable=False,
                  server_default='0'),
        sa.Column('created_at', DateTime, nullable=False),
        sa.Column('updated_at', DateTime),
        sa.UniqueConstraint('name', name='uniq_devices0name'),
    )
    op.create_table(
        'agent_devices',
        sa.Column('agent_id', sa.String(36),
                  sa.ForeignKey('agents.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('device_id', sa.String(36),
                  sa.ForeignKey('devices.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('missing', sa.Boolean, nullable=False,
                  server_default=sa.false()),
        sa.Column('health', sa.String(16)),
        sa.Column('load', sa.Integer),
        sa.Column('updated_at', DateTime),
    )
    op.create_index('ix_agent_devices_device_id', 'agent_devices',
                    ['device_id'])
    op.create_table(
        'resources',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(255), nullable=False),
        sa.Column('resource_type', sa.String(64), nullable=False),
        sa.Column('name', sa.String(255)),
        sa.Column('spec', JSONText, nullable=False),
        sa.Column('requirements', JSONText, nullable=False),
        sa.Column('units', sa.Integer, nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('status_description', sa.String(255)),
        sa.Column('created_at', DateTime, nullable=False),
        sa.Column('updated_at', DateTime),
    )
    op.create_index('ix_resources_project_id', 'resources', ['project_id'])
    op.create_table(
        'bindings',
        sa.Column('resource_id', sa.String(36),
                  sa.ForeignKey('resources.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('device_id', sa.String(36), sa.ForeignKey('devices.id'),
                  nullable=False),
        sa.Column('agent_id', sa.String(36),
                  sa.ForeignKey('agents.id', ondelete='SET NULL')),
        sa.Column('generation', sa.BigInteger, nullable=False),
        sa.Column('created_at', DateTime, nullable=False),
        sa.Column('updated_at', DateTime),
    )
    op.create_index('ix_bindings_device_id', 'bindings', ['device_id'])
    op.create_index('ix_bindings_agent_id', 'bindings', ['agent_id'])
