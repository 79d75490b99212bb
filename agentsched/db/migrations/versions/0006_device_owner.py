"""Devices get an owner: NULL for the provider's shared devices, a project
for a tenant's private appliance.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from alembic import op
import sqlalchemy as sa

revision = '0006'
down_revision = '0005'


def upgrade():
    with op.batch_alter_table('devices') as batch:
        batch.add_column(sa.Column('project_id', sa.String(255)))
        batch.create_index('ix_devices_project_id', ['project_id'])
