"""The agentsched commands as a python-openstackclient (OSC) plugin.

OSC finds this module through the 'openstack.cli.extension' entry point and
the commands through 'openstack.agentsched.v2' (setup.py): `openstack
agentsched agent list`, `openstack agentsched vip create ...`. They are the
classes of the standalone `agentsched` CLI; here their API client comes from
make_client below, over the keystoneauth session OSC has already set up
(auth, TLS, timeouts, --os-region-name, --os-interface).

The endpoint, first found wins:

1. --os-agentsched-endpoint (env OS_AGENTSCHED_ENDPOINT; in clouds.yaml
   agentsched_endpoint);
2. what osc-lib resolves for the service type agent-scheduler: an
   agent_scheduler_endpoint_override in clouds.yaml (or env
   OS_AGENT_SCHEDULER_ENDPOINT_OVERRIDE), else --os-endpoint with
   --os-auth-type none or admin_token, else the Keystone catalog's
   agent-scheduler endpoint of --os-region-name and --os-interface.

The API's paths start with /v2.0, so the endpoint is the server's root
(http://host:9797, as Neutron registers its own); a catalog entry that ends
in /v2.0 is taken too.

This module imports nothing of OSC: agentsched does not need it installed.
"""

import json
import logging
import os
import sys

from keystoneauth1 import exceptions as ks_exceptions

from agentsched.cli import client as api_client
from agentsched.cli import devices as cli_devices

API_NAME = 'agentsched'
DEFAULT_API_VERSION = '2.0'
API_VERSION_OPTION = 'os_agentsched_api_version'
# The major version names the command group, openstack.agentsched.v2.
API_VERSIONS = {'2': 'agentsched.cli.client.Client',
                '2.0': 'agentsched.cli.client.Client'}
# Its type in the Keystone service catalog.
SERVICE_TYPE = 'agent-scheduler'
_VERSION_SUFFIX = '/v2.0'


def make_client(instance):
    """The API client, for osc-lib's ClientManager (instance), which calls
    this on a command's first use of client_manager.agentsched."""
    url = instance.get_configuration().get('agentsched_endpoint')
    if not url:
        try:
            url = instance.get_endpoint_for_service_type(
                SERVICE_TYPE, region_name=instance.region_name,
                interface=instance.interface)
        except ks_exceptions.EndpointNotFound:
            url = None
        except ks_exceptions.ClientException as exc:
            raise api_client.CLIError(
                'Cannot find the agentsched API endpoint: %s' %
                api_client.one_line(exc)) from exc
    if not url:
        raise api_client.CLIError(
            'No agentsched API endpoint: none given (--os-agentsched-'
            'endpoint, or --os-endpoint with --os-auth-type none) and no %s '
            'endpoint in the service catalog (interface %s%s)' % (
                SERVICE_TYPE, instance.interface or 'public',
                ', region %s' % instance.region_name
                if instance.region_name else ''))
    url = url.rstrip('/')
    if url.endswith(_VERSION_SUFFIX):
        url = url[:-len(_VERSION_SUFFIX)]
    return api_client.Client(
        instance.session, url,
        url_options='--os-agentsched-endpoint, --os-endpoint or the '
                    'service catalog')


def build_option_parser(parser):
    """OSC's hook for global options, called as it builds its parser."""
    parser.add_argument(
        '--os-agentsched-api-version', metavar='<version>',
        default=os.environ.get('OS_AGENTSCHED_API_VERSION') or
        DEFAULT_API_VERSION,
        help='agentsched API version, default=%s '
             '(Env: OS_AGENTSCHED_API_VERSION)' % DEFAULT_API_VERSION)
    parser.add_argument(
        '--os-agentsched-endpoint', metavar='<url>',
        default=os.environ.get('OS_AGENTSCHED_ENDPOINT'),
        help='agentsched API URL, e.g. http://127.0.0.1:9797, instead of '
             'the service catalog\'s %s endpoint '
             '(Env: OS_AGENTSCHED_ENDPOINT)' % SERVICE_TYPE)
    _mask_secret_arguments(sys.argv[1:])
    return parser


# -- secrets on OSC's command line -----------------------------------------
# The requests that carry secrets are not logged (the client sends them with
# log=False), and the commands mask them in their errors (devices.hiding).
# But osc-lib logs the whole command line, from -v up ("START with
# options: ..."), and masks only the values of options it knows as secret
# (--password, ...): not --psk, --credential or --credentials-json.

def _secret_values(argv):
    """The secrets given to agentsched's options in argv: --psk's value,
    --credential's values, --credentials-json and a --spec-json that has a
    psk (as typed, and each string in them)."""
    documents, raw = [], []
    for index, arg in enumerate(argv):
        option, equals, value = arg.partition('=')
        if option not in ('--psk', '--credential', '--credentials-json',
                          '--spec-json'):
            continue
        if not equals:
            if index + 1 >= len(argv):
                continue
            value = argv[index + 1]
        if option == '--psk':
            documents.append(value)
        elif option == '--credential':
            _key, pair, secret = value.partition('=')
            # Without '=' the command refuses it; it may be a secret still.
            documents.append(secret if pair else value)
        else:
            try:
                document = json.loads(value)
            except ValueError:
                document = value
            if option == '--spec-json':
                if not isinstance(document, dict) or 'psk' not in document:
                    continue
                document = document['psk']
            # The text typed may escape what the document holds.
            raw.append(value)
            documents.append(document)
    return cli_devices.secret_values(raw + documents)


class _MaskingFilter(logging.Filter):
    """Masks the given values in every record of a logger."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = secrets

    def filter(self, record):
        message = record.getMessage()
        masked = cli_devices.masked(message, self.secrets)
        if masked != message:
            record.msg, record.args = masked, ()
        return True


# The logger of osc-lib's shell, which writes the command line.
_ARGV_LOGGER = 'osc_lib.shell'


def _mask_secret_arguments(argv):
    """argv: sys.argv's, which `openstack` runs (a program handing OSC's
    shell an argv of its own is not covered). Any command line with these
    options gets them masked, another plugin's --psk too: masking only."""
    secrets = _secret_values(argv)
    if not secrets:
        return
    logger = logging.getLogger(_ARGV_LOGGER)
    if not any(isinstance(f, _MaskingFilter) for f in logger.filters):
        logger.addFilter(_MaskingFilter(secrets))
