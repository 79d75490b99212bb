"""Option lists for oslo-config-generator (see etc/agentsched/)."""

import copy

from agentsched.conf import agent
from agentsched.conf import api
from agentsched.conf import database
from agentsched.conf import default
from agentsched.conf import health
from agentsched.conf import metrics
from agentsched.conf import quota
from agentsched.conf import reports
from agentsched.conf import scheduler
from agentsched.conf import secrets
from agentsched.conf import signing


def list_opts():
    return [
        ('DEFAULT', copy.deepcopy(default.opts + api.default_opts)),
        (api.GROUP, copy.deepcopy(api.opts)),
        (database.GROUP, copy.deepcopy(database.opts)),
        (reports.GROUP, copy.deepcopy(reports.opts)),
        (agent.GROUP, copy.deepcopy(agent.opts)),
        (secrets.GROUP, copy.deepcopy(secrets.opts)),
        (signing.GROUP, copy.deepcopy(signing.opts)),
        (scheduler.GROUP, copy.deepcopy(scheduler.opts)),
        (health.GROUP, copy.deepcopy(health.opts)),
        (health.COORDINATION_GROUP, copy.deepcopy(health.coordination_opts)),
        (metrics.GROUP, copy.deepcopy(metrics.opts)),
        (quota.GROUP, copy.deepcopy(quota.opts)),
        ('device:example', copy.deepcopy(agent.device_opts)),
    ]
