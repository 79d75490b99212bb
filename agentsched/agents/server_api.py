"""The agent's calls to the server (services/agent_sync.py answers)."""

from agentsched import constants
from agentsched import messaging
from agentsched import signing

# The cap: the newest version of AgentSyncEndpoint (namespace 'agent') this
# client sends. Its history, in full in services/agent_sync.py:
#   1.0 - sync(agent_type, host)
#   1.1 - sync's answer has 'resources'; update_status
#   1.2 - sync's answer has 'elsewhere'
#   1.3 - sync's answer has 'withheld' and a device's 'credentials_error'
#   1.4 - signature on both methods; update_status names its agent
#   1.5 - update_operating_status, update_statistics
# Servers are upgraded before agents (docs/protocol.md), so the agent asks
# for what it needs and a server at 1.5 answers every call it makes.
SYNC_API_VERSION_CAP = '1.5'
_SIGNED_VERSION = '1.4'


class ServerAPI:

    def __init__(self, conf, timeout, signer=None, verifier=None,
                 enforce=True):
        """signer: signs every call (signing.Signer); None sends them
        unsigned, which servers with master keys refuse. verifier: checks
        sync's answer is the server's, for this request (enforce False
        also takes an unsigned one, while a fleet turns signing on)."""
        self._client = messaging.get_client(
            conf, constants.PLUGIN_TOPIC, SYNC_API_VERSION_CAP,
            timeout=timeout, version_cap=SYNC_API_VERSION_CAP)
        self._signer = signer
        self._verifier = verifier
        self._enforce = enforce

    def _call(self, method, version, reason, sender, kwargs):
        """Call method at version (reason: what that version brings), or at
        1.4 at least when signed: the signature kwarg is 1.4, and a signed
        call is never sent in an older form (a server with master
        keys refuses unsigned calls). sender: (agent_type, host) of the
        calling agent, which signs; in kwargs only when the form of the
        call takes them. The signature is added to kwargs."""
        if self._signer is not None and _older(version, _SIGNED_VERSION):
            version, reason = _SIGNED_VERSION, 'a signed call'
        version = messaging.require_version(self._client, method, version,
                                            reason)
        if self._signer is not None:
            agent_type, host = sender
            kwargs['signature'] = self._signer.sign(method, kwargs, host,
                                                    agent_type)
        return self._client.prepare(namespace='agent', version=version).call(
            {}, method, **kwargs)

    def _check_answer(self, answer, request, agent_type, host):
        """BadSignature unless answer is signed by a server for request
        (signature of the call): a reply on the bus is anyone's to race."""
        if self._verifier is None:
            return answer
        if not isinstance(answer, dict):
            raise signing.BadSignature('sync answered %s' %
                                       type(answer).__name__)
        answer = dict(answer)
        signature = answer.pop('signature', None)
        if signature is None and not self._enforce:
            return answer
        self._verifier.verify('sync_answer', {
            'request': (request or {}).get('mac'), 'answer': answer},
            signature, host, agent_type)
        return answer

    def assigned_resources(self, agent_type, host):
        """What the server assigns to this agent now (the RPC method
        'sync', its wire name since 1.0)."""
        # 1.3, the version of what the agent reads: converge() leaves alone
        # the 'elsewhere' (1.2) and 'withheld' (1.3) resources and undeploys
        # every other one it holds that the answer does not list. No
        # fallback to an older form: asking for less would claim the agent
        # can do without those lists; a capped client raises instead.
        kwargs = {'agent_type': agent_type, 'host': host}
        answer = self._call('sync', '1.3', "'withheld' in the answer",
                            (agent_type, host), kwargs)
        return self._check_answer(answer, kwargs.get('signature'),
                                  agent_type, host)

    def update_status(self, agent_type, host, resource_id, generation,
                      status, description):
        kwargs = {'resource_id': resource_id, 'generation': generation,
                  'status': status, 'description': description}
        if self._signer is None and not self._client.can_send_version('1.4'):
            # Fallback, unsigned only: the 1.1 form, without the sending
            # agent. A server older than 1.4 fences a status by generation
            # alone, as it always did; not sending it would leave the
            # server without the outcome of the deploy or undeploy.
            return self._call('update_status', '1.1', 'the method itself',
                              (agent_type, host), kwargs)
        return self._call('update_status', '1.4', 'naming the sending agent',
                          (agent_type, host),
                          dict(kwargs, agent_type=agent_type, host=host))

    def update_operating_status(self, agent_type, host, statuses):
        """One batch of statuses (services/data_plane.py); VersionCapError
        from a client capped below 1.5."""
        return self._call('update_operating_status', '1.5',
                          'the method itself', (agent_type, host),
                          {'agent_type': agent_type, 'host': host,
                           'statuses': statuses})

    def update_statistics(self, agent_type, host, statistics):
        return self._call('update_statistics', '1.5', 'the method itself',
                          (agent_type, host),
                          {'agent_type': agent_type, 'host': host,
                           'statistics': statistics})


def _older(version, than):
    def parts(text):
        return tuple(int(part) for part in text.split('.'))
    return parts(version) < parts(than)
