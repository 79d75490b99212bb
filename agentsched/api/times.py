"""The API's two ways of writing a time: Neutron's for agents, ISO 8601 in
UTC for everything else (devices, resources, the scheduler's health)."""

ISO_FORMAT = '%Y-%m-%dT%H:%M:%SZ'


def agent_time(value):
    """Neutron shows agent times as 'YYYY-MM-DD HH:MM:SS'."""
    # isoformat is several times cheaper than strftime, which shows in a
    # 10,000-row agent list.
    return value.isoformat(' ', 'seconds')


def iso_time(value):
    return value.strftime(ISO_FORMAT) if value else None
