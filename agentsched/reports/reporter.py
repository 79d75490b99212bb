"""Agent end of the heartbeat RPC: Neutron's report_state, as its agents send it."""

import datetime
import uuid

from agentsched import constants
from agentsched import messaging

# Neutron's PluginReportStateAPI speaks 1.2; the server endpoint is 1.4.
REPORT_API_VERSION = '1.2'


class StateReporter:

    def __init__(self, conf, timeout, signer=None):
        """signer: signs every report (signing.Signer); None sends them
        unsigned, as Neutron's agents do."""
        self._client = messaging.get_client(
            conf, conf.reports.topic, REPORT_API_VERSION)
        self._timeout = timeout
        self._signer = signer

    def report_state(self, agent_state, use_call=True, context=None):
        """Send one report; with use_call, return the server's status."""
        agent_state = dict(agent_state, uuid=str(uuid.uuid4()))
        agent_state.pop('signature', None)
        kwargs = {
            'agent_state': {'agent_state': agent_state},
            'time': datetime.datetime.now(datetime.timezone.utc).strftime(
                constants.REPORT_TIME_FORMAT),
        }
        if self._signer is not None:
            # Inside agent_state: Neutron's kwargs stay as they are, and
            # the signature covers everything else sent.
            agent_state['signature'] = self._signer.sign(
                'report_state', kwargs, agent_state['host'],
                agent_state['agent_type'])
        cctxt = self._client.prepare(timeout=self._timeout)
        method = cctxt.call if use_call else cctxt.cast
        return method(context or {}, 'report_state', **kwargs)
