"""Capability constraints of a placement request: checked, compiled, told.

A request names capabilities a device must have, each with a constraint:
  - a plain value (True, 'gold', 5): the device's value equals it;
  - {'in': [values]}: the device's value is one of them;
  - {'min': number}: the device's value is a number >= it.
A device that lacks the capability fails every form.
"""

import numbers


class InvalidRequest(ValueError):
    """A placement request that cannot be evaluated; str() says why."""


# Never equal to, nor in a list of, anything a request names.
_MISSING = object()
_EMPTY = {}
# Capabilities arrive as JSON: its numbers are ints and floats.
_NUMBER_TYPES = (int, float)


def _is_number(value):
    # bool is an int to Python, but "ssl_offload: true" is no quantity.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate(capabilities):
    """Raise InvalidRequest unless every constraint has a known form."""
    if not isinstance(capabilities, dict):
        raise InvalidRequest('capabilities must be a mapping of name to '
                                'constraint, not %r' % (capabilities,))
    for name, constraint in capabilities.items():
        if not isinstance(constraint, dict):
            continue
        if len(constraint) != 1 or not ({'in', 'min'} & set(constraint)):
            raise InvalidRequest(
                'capability %s: a constraint mapping has exactly one key, '
                '"in" or "min", not %s' % (name, sorted(constraint)))
        if 'in' in constraint and not isinstance(
                constraint['in'], (list, tuple, set, frozenset)):
            raise InvalidRequest('capability %s: "in" takes a list, not '
                                    '%r' % (name, constraint['in']))
        if 'min' in constraint and not _is_number(constraint['min']):
            raise InvalidRequest('capability %s: "min" takes a number, '
                                    'not %r' % (name, constraint['min']))


def keep_matching(candidates, capabilities):
    """The candidates whose device meets every constraint, in order.

    One list comprehension per constraint, with no function call per
    candidate: this filter may see every candidate of a large fleet.
    """
    for name, constraint in capabilities.items():
        if not candidates:
            break
        if isinstance(constraint, dict) and 'min' in constraint:
            minimum = constraint['min']
            # type() is bool for booleans, so they are no numbers here.
            candidates = [
                c for c in candidates
                if type(value := (c.capabilities or _EMPTY).get(name))
                in _NUMBER_TYPES and value >= minimum]
        elif isinstance(constraint, dict):
            # A list, not a set: device values may be unhashable (lists).
            allowed = list(constraint['in'])
            candidates = [
                c for c in candidates
                if (c.capabilities or _EMPTY).get(name, _MISSING) in allowed]
        else:
            candidates = [
                c for c in candidates
                if (c.capabilities or _EMPTY).get(name, _MISSING)
                == constraint]
    return candidates


def describe(capabilities):
    """Plain words for the constraints: 'ssl_offload, tier in (gold), ...'."""
    parts = []
    for name, constraint in sorted(capabilities.items()):
        if constraint is True:
            parts.append(name)
        elif isinstance(constraint, dict) and 'min' in constraint:
            parts.append('%s >= %s' % (name, constraint['min']))
        elif isinstance(constraint, dict):
            parts.append('%s in (%s)' % (
                name, ', '.join(str(v) for v in constraint['in'])))
        else:
            parts.append('%s = %s' % (name, constraint))
    return ', '.join(parts)
