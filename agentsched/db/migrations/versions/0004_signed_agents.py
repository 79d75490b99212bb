"""Agent identity: whether an agent has signed its reports.

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
