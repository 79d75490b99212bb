"""Indexes for the health monitor's look-ups: devices by health (the few
DOWN ones, whose bindings fail over) and resources by status (the few in
ERROR or PENDING_*), so a check reads those rows, not every device and
resource (docs/benchmarks.md, "The health check's SQL").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = '0008'
down_revision = '0007'


def upgrade():
    op.create_index('ix_devices_health', 'devices', ['health'])
    op.create_index('ix_resources_status', 'resources', ['status'])
