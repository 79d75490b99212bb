"""The agentsched cliff App: global options, authentication, the API client.

Authentication is keystoneauth1's plugin loading, as in OpenStack's own
clients: --os-auth-type none (the default; no credentials sent),
http_basic (--os-username/--os-password), password (Keystone: --os-auth-url
...), admin_token (alias token_endpoint: --os-token).
"""

import getpass
import importlib.metadata
import logging
import os
import sys

from cliff import app
from cliff import commandmanager
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import loading
from keystoneauth1 import noauth
import urllib3

from agentsched.cli import client as api_client
from agentsched import constants

NAMESPACE = 'agentsched.cli'
DEFAULT_URL = 'http://127.0.0.1:%d' % constants.DEFAULT_API_PORT
DEFAULT_AUTH_TYPE = 'none'
# osc-lib's name for what keystoneauth1 calls admin_token.
_AUTH_TYPE_ALIASES = {'token_endpoint': 'admin_token'}


def _version():
    try:
        return importlib.metadata.version('agentsched')
    except importlib.metadata.PackageNotFoundError:
        return 'unknown'


class AgentschedApp(app.App):

    def __init__(self, argv):
        # keystoneauth1 adds the options of the plugin --os-auth-type names
        # (--os-username, ...) only after reading argv, and cliff builds
        # the parser here, in App.__init__: so argv comes first.
        self._argv = argv
        self._client = None
        super().__init__(
            description='Admin CLI of the agentsched REST API',
            version=_version(),
            command_manager=commandmanager.CommandManager(NAMESPACE),
            deferred_help=True)

    def build_option_parser(self, description, version, argparse_kwargs=None):
        # admin_token's endpoint option also answers to --os-url; ours,
        # added last, must win it.
        argparse_kwargs = dict(argparse_kwargs or {},
                               conflict_handler='resolve')
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        loading.register_auth_argparse_arguments(parser, self._argv,
                                                 default=DEFAULT_AUTH_TYPE)
        loading.register_session_argparse_arguments(parser)
        parser.add_argument(
            '--os-url', metavar='<url>',
            default=os.environ.get('AGENTSCHED_URL'),
            help='Base URL of the agentsched API (env AGENTSCHED_URL; '
                 'default %s)' % DEFAULT_URL)
        return parser

    def configure_logging(self):
        super().configure_logging()
        if not self.options.debug and self.options.verbose_level < 2:
            # keystoneauth1 warns on the way to an error we report in one
            # line anyway (e.g. failed version discovery before a refused
            # connection); -v -v or --debug show it.
            logging.getLogger('keystoneauth').setLevel(logging.ERROR)

    def run_subcommand(self, argv):
        """cliff echoes a mistyped command line whole, passwords and psks
        included: name only the words that are parts of command names."""
        try:
            self.command_manager.find_command(argv)
        except ValueError:
            words = {word for name, _ in self.command_manager
                     for word in name.split()}
            shown = []
            for word in argv:
                if word not in words:
                    break
                shown.append(word)
            self.stderr.write(
                "agentsched: %s is not an agentsched command (its other "
                "arguments are not shown). See 'agentsched --help'.\n" % (
                    "'%s'" % ' '.join(shown) if shown else 'this'))
            return 2
        return super().run_subcommand(argv)

    @property
    def client(self):
        """The API client, built on first use so that help needs no auth."""
        if self._client is None:
            try:
                session = self._session()
            except ks_exceptions.ClientException as exc:
                raise api_client.CLIError(
                    'Cannot set up authentication: %s' %
                    api_client.one_line(exc)) from exc
            self._client = api_client.Client(session, self._url())
        return self._client

    def _url(self):
        options = self.options
        return (options.os_url or getattr(options, 'os_endpoint', None) or
                DEFAULT_URL)

    def _session(self):
        options = self.options
        _prompt_for_password(options)
        auth = loading.load_auth_from_argparse_arguments(options)
        if isinstance(auth, noauth.NoAuth):
            # keystoneauth1's none plugin still sends "X-Auth-Token:
            # notused"; without a plugin nothing is sent at all.
            auth = None
        if options.insecure:
            # Asked for on the command line: no warning on every request.
            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        return loading.load_session_from_argparse_arguments(
            options, auth=auth, app_name='agentsched', app_version=_version())


def _prompt_for_password(options):
    """Ask for a missing password on a terminal, as OpenStack clients do."""
    if getattr(options, 'os_username', None) and \
            hasattr(options, 'os_password') and \
            options.os_password is None and sys.stdin.isatty():
        options.os_password = getpass.getpass('Password: ')


def normalize_argv(argv):
    """argv with osc-lib's auth type names changed to keystoneauth1's."""
    result = []
    for index, arg in enumerate(argv):
        previous = argv[index - 1] if index else None
        if previous in ('--os-auth-type', '--os-auth-plugin'):
            arg = _AUTH_TYPE_ALIASES.get(arg, arg)
        elif arg.startswith(('--os-auth-type=', '--os-auth-plugin=')):
            name, _, value = arg.partition('=')
            arg = '%s=%s' % (name, _AUTH_TYPE_ALIASES.get(value, value))
        result.append(arg)
    return result


def main(argv):
    argv = normalize_argv(argv)
    env_type = os.environ.get('OS_AUTH_TYPE')
    if env_type in _AUTH_TYPE_ALIASES:
        os.environ['OS_AUTH_TYPE'] = _AUTH_TYPE_ALIASES[env_type]
    try:
        shell = AgentschedApp(argv)
    except ks_exceptions.ClientException as exc:
        # An unknown --os-auth-type fails while the parser is built, before
        # cliff's own error handling exists.
        sys.stderr.write('agentsched: %s\n' % api_client.one_line(exc))
        return 1
    return shell.run(argv)
