"""Agent end of the heartbeat RPC: Neutron's report_state, as its agents
send it."""

import datetime
import uuid

from agentsched import constants
from agentsched import messaging

# The cap: Neutron's PluginReportStateAPI's version, 1.2; the server
# endpoint (reports/endpoint.py) answers up to 1.4. Neutron's numbering:
#   1.0 - report_state(agent_state, time)
#   1.1 - report_state returns 'new', 'alive' or 'revived'
#   1.2 - has_alive_neutron_server (not called here)
# A signature travels inside agent_state, which every version takes.
REPORT_API_VERSION_CAP = '1.2'
# A call, 1.1: the agent reads the answer ('revived' makes it resync). No
# fallback below: a 1.0 server answers None, and an agent that took it for
# a status would never resync after an outage; a client capped at 1.0
# raises instead. A cast reads nothing: 1.0, which every server takes.
CALL_VERSION = '1.1'
CAST_VERSION = '1.0'


class StateReporter:

    def __init__(self, conf, timeout, signer=None):
        """signer: signs every report (signing.Signer); None sends them
        unsigned, as Neutron's agents do."""
        self._client = messaging.get_client(
            conf, conf.reports.topic, REPORT_API_VERSION_CAP,
            version_cap=REPORT_API_VERSION_CAP)
        self._timeout = timeout
        self._signer = signer
        # Asked once: reports are the agents' hot path, and
        # can_send_version() costs about 10 us.
        self._can_call = self._client.can_send_version(CALL_VERSION)

    def report_state(self, agent_state, use_call=True, context=None):
        """Send one report; with use_call, return the server's status."""
        if use_call and not self._can_call:
            raise messaging.VersionCapError(
                'report_state', CALL_VERSION, REPORT_API_VERSION_CAP,
                'the status answered')
        cctxt = self._client.prepare(
            version=CALL_VERSION if use_call else CAST_VERSION,
            timeout=self._timeout)
        method = cctxt.call if use_call else cctxt.cast
        return method(context or {}, 'report_state',
                      **self.arguments(agent_state))

    def arguments(self, agent_state):
        """report_state's keyword arguments for one report of agent_state,
        signed when the reporter signs: what goes on the wire."""
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
        return kwargs
