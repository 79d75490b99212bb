"""Configuration: every option group, registered on the global cfg.CONF.

agentsched always uses the global cfg.CONF: oslo.messaging 18.3 registers its
tracing options only there, and with a private ConfigOpts an RPC server
acknowledges casts and drops them without a log line.
"""

from oslo_config import cfg
from oslo_log import log as logging

from agentsched import constants
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

CONF = cfg.CONF

_MODULES = (default, database, reports, agent, api, secrets, signing,
            scheduler, health, metrics, quota)


def register_opts(conf=CONF):
    for module in _MODULES:
        module.register_opts(conf)


def parse_args(argv, default_config_files=None, messaging=True):
    """Register options, set agentsched's defaults and parse argv.

    messaging=False leaves oslo.messaging out, its options and its import
    (about 1 s of CPU, eventlet's through futurist): for a command that
    calls set_messaging_defaults() only if it reaches the bus.
    """
    register_opts(CONF)
    logging.register_options(CONF)
    if messaging:
        set_messaging_defaults()
    CONF(argv, project='agentsched',
         default_config_files=default_config_files)
    logging.setup(CONF, 'agentsched')


def set_messaging_defaults():
    """agentsched's defaults for oslo.messaging's options.

    Also the oslo.config.opts.defaults hook, so the sample shows them.
    transport_url left unset means in-process messaging (see messaging.py).
    Also after CONF was parsed: the options read the parsed files then.
    """
    import oslo_messaging  # here: see parse_args
    # Parsing a URL registers transport_url and control_exchange, which
    # oslo.messaging otherwise registers only when the first transport is
    # made; the commands read them before that.
    oslo_messaging.TransportURL.parse(CONF, constants.IN_PROCESS_TRANSPORT_URL)
    oslo_messaging.set_transport_defaults(
        control_exchange=constants.DEFAULT_CONTROL_EXCHANGE)
