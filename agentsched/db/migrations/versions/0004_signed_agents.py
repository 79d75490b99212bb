"""Identity: whether an agent has signed its reports; who reported a device.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'


def upgrade():
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('signed', sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('reported_by', sa.String(255)))
    # Devices reported before: the host of an agent linked to them.
    op.execute("""
UPDATE devices SET reported_by = (
    SELECT MIN(agents.host) FROM agents
    JOIN agent_devices ON agent_devices.agent_id = agents.id
    WHERE agent_devices.device_id = devices.id)
WHERE source = 'reported'
""")
