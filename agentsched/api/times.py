"""The API's two ways of writing a time: Neutron's for agents, ISO 8601 in
UTC for everything else (devices, resources, the scheduler's health)."""

import orjson

ISO_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def agent_times(values):
    """Neutron's 'YYYY-MM-DD HH:MM:SS' of each naive datetime in values (a
    list or tuple), as str: what value.isoformat(' ', 'seconds') gives,
    microseconds cut, not rounded.

    For a whole list's times at once: orjson writes them all in C as
    '"YYYY-MM-DDTHH:MM:SS"' (the T, there only, becomes the space) and one
    loads gives back the strings, about a quarter of isoformat's cost a
    time, which showed as the largest share of a 100,000-agent list's
    server time (docs/benchmarks.md)."""
    return orjson.loads(orjson.dumps(
        values, option=orjson.OPT_OMIT_MICROSECONDS).replace(b'T', b' '))


def agent_time(value):
    return agent_times((value,))[0]


def iso_time(value):
    return value.strftime(ISO_FORMAT) if value else None
