"""Heartbeat reports as agents send them, for tests."""

import datetime

from agentsched import constants
from agentsched.reports import schema


def agent_state(host, agent_type=constants.AGENT_TYPE_LOADBALANCER, **extra):
    state = {'agent_type': agent_type, 'binary': constants.AGENT_BINARY,
             'host': host, 'topic': 'agentsched-lbaas-agent',
             'availability_zone': 'nova', 'configurations': {}}
    state.update(extra)
    return state


def report_kwargs(host, **extra):
    """report_state's kwargs exactly as Neutron's PluginReportStateAPI sends."""
    return {'agent_state': {'agent_state': agent_state(host, **extra)},
            'time': datetime.datetime.now(datetime.timezone.utc).strftime(
                constants.REPORT_TIME_FORMAT)}


def report(host, **extra):
    return schema.parse(report_kwargs(host, **extra))
