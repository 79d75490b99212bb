"""Keyset paging: sorted pages that start after a marker row."""

import sqlalchemy as sa


def page(statement, columns, sort, marker=None, limit=None, reverse=False,
         id_key='id'):
    """Order, cut and page a SELECT.

    columns: {sort key: column expression}; sort: [(key, ascending)] (the id
    is appended so the order is total); marker: the row the previous page
    ended on; reverse: the page before the marker instead (the caller
    reverses the rows it gets back).
    """
    keys = list(sort)
    if id_key not in [key for key, _ in keys]:
        keys.append((id_key, keys[0][1] if keys else True))
    if reverse:
        keys = [(key, not ascending) for key, ascending in keys]
    if marker is not None:
        statement = statement.where(_after(marker, keys, columns))
    statement = statement.order_by(*[
        columns[key].asc() if ascending else columns[key].desc()
        for key, ascending in keys])
    if limit is not None:
        statement = statement.limit(limit)
    return statement


def _after(marker, keys, columns):
    """Rows strictly after the marker row in the order of keys."""
    clauses = []
    for index, (key, ascending) in enumerate(keys):
        equal = [columns[k] == _value(marker, k) for k, _ in keys[:index]]
        # A bound parameter, not a literal: SQLAlchemy refuses '<' and '>'
        # against a Python True/False (a boolean sort key with a marker).
        column = columns[key]
        value = sa.bindparam(None, _value(marker, key), type_=column.type)
        clauses.append(sa.and_(*equal, column > value if ascending
                               else column < value))
    return sa.or_(*clauses)


def _value(marker, key):
    # Nullable text columns sort as '' (see the callers' columns), so the
    # marker's NULL compares as '' too.
    value = getattr(marker, key)
    return '' if value is None else value
