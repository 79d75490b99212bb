"""The data plane's truth: operating status of resources and members, VIP
statistics.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0005'
down_revision = '0004'

DateTime = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                      'mariadb')
JSONText = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def _counter(name):
    return sa.Column(name, sa.BigInteger, nullable=False)


def upgrade():
    with op.batch_alter_table('resources') as batch:
        batch.add_column(sa.Column('operating_status', sa.String(16)))
        batch.add_column(sa.Column('member_statuses', JSONText))
    op.create_table(
        'resource_stats',
        sa.Column('resource_id', sa.String(36),
                  sa.ForeignKey('resources.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('device_id', sa.String(36)),
        *[_counter(name) for name in (
            'bytes_in', 'bytes_out', 'total_connections', 'request_errors',
            'active_connections', 'raw_bytes_in', 'raw_bytes_out',
            'raw_total_connections', 'raw_request_errors')],
        sa.Column('updated_at', DateTime, nullable=False),
    )
