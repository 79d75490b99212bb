"""Who may report what: signatures on heartbeats, and unsigned agents' limits.

With [signing] master keys (docs/security.md) a report must be signed by its
host's key, except for the agent types an operator lets report unsigned
(Neutron's, which cannot sign). Whatever the keys, a report of such a type
carries no agentsched device list: Neutron's L2 agents put a port count
under configurations['devices'], and it is theirs.
"""

from oslo_log import log as logging

from agentsched import constants
from agentsched import signing
from agentsched.reports import schema

LOG = logging.getLogger(__name__)


class ReportTrust:

    def __init__(self, verifier, unsigned_agent_types, enforce=True):
        """verifier: signing.Verifier, None when no master keys are
        configured (nothing is verified; every report is unsigned).
        enforce: False takes unsigned reports of any type while a fleet
        turns signing on; a signature present is still checked."""
        self._verifier = verifier
        self._enforce = enforce
        own = set(unsigned_agent_types) & set(constants.SERVICE_BY_AGENT_TYPE)
        if own:
            LOG.warning('[signing] unsigned_agent_types lists agentsched\'s '
                        'own %s: ignored, they always sign',
                        ', '.join(sorted(own)))
        self._unsigned_agent_types = frozenset(unsigned_agent_types) - own

    @property
    def verifies(self):
        return self._verifier is not None

    def check(self, report, kwargs):
        """Set report.signed and report.device_list, or raise InvalidReport.

        kwargs: report_state's, as signed (parse took the signature out).
        """
        state = report.state
        agent_type = state['agent_type']
        report.device_list = agent_type not in self._unsigned_agent_types
        if self._verifier is None:
            return
        if report.signature is None:
            if report.device_list and self._enforce:
                raise schema.InvalidReport(
                    'agent type %r must sign its reports' % agent_type[:64])
            return
        try:
            self._verifier.verify('report_state', kwargs, report.signature,
                                  state['host'], agent_type)
        except signing.BadSignature as exc:
            raise schema.InvalidReport(str(exc))
        report.signed = True
