"""Encrypted columns, for key rotation: batches, swapped if unchanged."""

import sqlalchemy as sa

from agentsched.db import models

# What a rotation re-encrypts, by kind: each table has id and name.
COLUMNS = {'devices': models.devices.c.credentials,
           'resources': models.resources.c.secrets}


def tokens_after(connection, column, after_id, limit):
    """(id, name, token) of up to limit rows whose column is set, by id,
    after after_id: a rotation's batch."""
    table = column.table
    return connection.execute(
        sa.select(table.c.id, table.c.name, column.label('token'))
        .where(column.is_not(None), table.c.id > after_id)
        .order_by(table.c.id).limit(limit)).all()


def swap_token(connection, column, row_id, old, new):
    """Replace a row's token only if it still is old (a rotation beside
    servers that write it); False if not. Nothing else changes (a device's
    revision is kept: its credentials did not change)."""
    table = column.table
    return connection.execute(sa.update(table).where(
        table.c.id == row_id, column == old).values(
        {column.name: new})).rowcount == 1
