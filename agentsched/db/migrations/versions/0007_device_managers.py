"""Devices scheduled to agents: which links the server assigned, and which
device types each agent manages remotely.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0006'


def upgrade():
    # False: an admin's pin or the agent's own report, never undone by the
    # health monitor; true: the server assigned it, and may reassign it.
    with op.batch_alter_table('agent_devices') as batch:
        batch.add_column(sa.Column('assigned', sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        'manager_device_types',
        sa.Column('agent_id', sa.String(36),
                  sa.ForeignKey('agents.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('device_type', sa.String(255), primary_key=True),
    )
    op.create_index('ix_manager_device_types_device_type',
                    'manager_device_types', ['device_type'])
