"""Service flavors and profiles; a resource's flavor and encrypted secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'

JSONText = sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'flavors',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.String(255)),
        sa.Column('service_type', sa.String(32), nullable=False),
        sa.Column('enabled', sa.Boolean, nullable=False,
                  server_default=sa.true()),
    )
    op.create_table(
        'service_profiles',
        sa.Column('id', sa.String(36), primary_key=True),
        sa.Column('description', sa.String(255)),
        sa.Column('driver', sa.String(255)),
        sa.Column('metainfo', JSONText, nullable=False),
        sa.Column('enabled', sa.Boolean, nullable=False,
                  server_default=sa.true()),
    )
    op.create_table(
        'flavor_service_profiles',
        sa.Column('flavor_id', sa.String(36),
                  sa.ForeignKey('flavors.id', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('service_profile_id', sa.String(36),
                  sa.ForeignKey('service_profiles.id', ondelete='CASCADE'),
                  primary_key=True),
    )
    with op.batch_alter_table('resources') as batch:
        batch.add_column(sa.Column('flavor_id', sa.String(36)))
        batch.add_column(sa.Column('secrets', sa.Text))
        batch.create_foreign_key('fk_resources_flavor_id', 'flavors',
                                 ['flavor_id'], ['id'])
