"""Failover: an agent's forced_down flag, the health monitor's shared state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0003'
down_revision = '0002'

JSONText = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')
DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                      'mariadb')


def upgrade():
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('forced_down', sa.Boolean, nullable=False,
                                   server_default=sa.false()))
    op.create_table(
        'scheduler_health',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=False),
        sa.Column('leader', sa.String(255), nullable=False),
        sa.Column('leader_since', DateTime, nullable=False),
        sa.Column('updated_at', DateTime, nullable=False),
        sa.Column('state', JSONText, nullable=False),
    )
