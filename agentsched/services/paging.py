"""What every service's list needs: the marker row a page starts after."""

from agentsched import exceptions


def marker_row(connection, get, marker_id, what):
    """The row a page starts after, or None; Invalid if marker_id names
    nothing (what: 'an agent', 'a device', ...)."""
    if marker_id is None:
        return None
    row = get(connection, marker_id)
    if row is None:
        raise exceptions.Invalid('marker %s is not %s id' % (marker_id, what))
    return row
