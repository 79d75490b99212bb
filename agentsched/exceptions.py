"""The domain's refusals: what a service will not do, and why.

Services raise these; the REST API maps each class to an HTTP status in one
table (api/errors.py), other callers (RPC endpoints, the monitor, the CLI's
manage commands) read the message. `code` names the refusal for clients: the
API sends it as NeutronError.type (AgentNotFound, AgentInUse, ...); None keeps
the HTTP status's own type name.
"""


class AgentschedError(Exception):
    code = None

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(AgentschedError):
    """The thing asked for does not exist, or is not the caller's to see."""


class Invalid(AgentschedError):
    """The request is malformed or breaks a rule of its own fields."""


class Conflict(AgentschedError):
    """The request is well formed but the current state refuses it."""


class NoValidCandidate(Conflict):
    """No live agent and device can take the resource (placement said no)."""
    code = 'NoValidCandidate'


class StaleRevision(AgentschedError):
    """An If-Match precondition names a revision that is no longer current."""
