"""agentsched-manage: database migrations and admin chores."""

import logging
import sys

from oslo_config import cfg
import sqlalchemy as sa

from agentsched import conf as agentsched_conf
from agentsched import constants
from agentsched import liveness
from agentsched import signing
from agentsched.db import agents as agents_db
from agentsched.db import engine as db_engine
from agentsched.db import migration
from agentsched.services import secrets


def db_upgrade(conf):
    # Which migrations ran is what an operator wants to see here.
    logging.getLogger('alembic').setLevel(logging.INFO)
    engine = db_engine.create_engine(conf)
    migration.upgrade(engine, conf.command.revision)
    print('Database at %s' % migration.current(engine))


def db_current(conf):
    engine = db_engine.create_engine(conf)
    current = migration.current(engine)
    head = migration.head()
    print('%s%s' % (current or 'none (not migrated)',
                    ' (head)' if current == head else
                    ', head is %s: run "agentsched-manage db upgrade"' % head))
    return 0 if current == head else 1


def agent_list(conf):
    engine = _migrated_engine(conf)
    with engine.connect() as connection:
        rows = agents_db.list_all(connection)
    now = liveness.utcnow()
    header = ('id', 'agent_type', 'host', 'availability_zone', 'alive',
              'admin_state_up', 'heartbeat_timestamp')
    table = [header] + [(
        row.id, row.agent_type, row.host, row.availability_zone or '',
        ':-)' if liveness.agent_is_alive(row, conf.agent_down_time, now)
        else 'xxx',
        str(row.admin_state_up),
        row.heartbeat_timestamp.strftime('%Y-%m-%d %H:%M:%S'))
        for row in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for row in table:
        print('  '.join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip())


def _migrated_engine(conf):
    engine = db_engine.create_engine(conf)
    if migration.current(engine) is None:
        sys.exit('The database at %s is not migrated: run "agentsched-manage '
                 'db upgrade"' % engine.url.render_as_string(
                     hide_password=True))
    return engine


# The cap of server_stats's client: the newest version of the server's
# StatusEndpoint (namespace 'status', server.py) it sends. Its history:
#   1.0 - get_report_stats
STATUS_API_VERSION_CAP = '1.0'


def server_stats(conf):
    # The one command on the bus: only it pays for oslo.messaging's import
    # (main parses without it).
    import oslo_messaging
    from agentsched import messaging
    agentsched_conf.set_messaging_defaults()
    if messaging.is_in_process(conf):
        sys.exit('transport_url is not set: the embedded server\'s '
                 'messaging is inside its own process; its counters are in '
                 'its log ("Heartbeats: ...")')
    client = messaging.get_client(conf, constants.PLUGIN_TOPIC,
                                  STATUS_API_VERSION_CAP, timeout=10,
                                  version_cap=STATUS_API_VERSION_CAP)
    try:
        stats = client.prepare(namespace='status', version='1.0').call(
            {}, 'get_report_stats')
    except oslo_messaging.MessagingTimeout:
        sys.exit('No agentsched-server answered on the %s topic within 10 '
                 's' % constants.PLUGIN_TOPIC)
    for key, value in sorted(stats.items()):
        print('%s: %s' % (key, value))


def signing_generate_key(conf):
    print(signing.generate_master_key())


def agent_key(conf):
    """A host's signing keys, one per master key, the signing one first."""
    if not conf.signing.master_keys:
        sys.exit('No [signing] master_keys configured: make one with '
                 '"agentsched-manage signing generate-key"')
    for master_key in conf.signing.master_keys:
        print(signing.host_key(master_key, conf.command.agent_host))


def secrets_generate_key(conf):
    print(secrets.generate_key())


def secrets_rotate(conf):
    """Re-encrypt every stored secret with the first configured key, beside
    running servers; exit 1 if some secret is under no configured key."""
    box = secrets.SecretBox(list(conf.secrets.encryption_keys))
    engine = _migrated_engine(conf)
    done = secrets.rotate_all(engine, box)
    devices, resources = done['devices'], done['resources']
    print('Re-encrypted with the first key of [secrets] encryption_keys: '
          'the credentials of %d devices, the secrets of %d resources' % (
              devices.rotated, resources.rotated))
    print('Changed meanwhile by a server (written with the first key '
          'already): %d devices, %d resources' % (
              devices.changed, resources.changed))
    print('Undecryptable: %d devices, %d resources' % (
        len(devices.undecryptable), len(resources.undecryptable)))
    if not (devices.undecryptable or resources.undecryptable):
        return 0
    for row in devices.undecryptable:
        print('  device %s (%s): credentials' % (row.id, row.name))
    for row in resources.undecryptable:
        print('  resource %s: secrets' % row.id)
    print('These were encrypted with a key that is not in [secrets] '
          'encryption_keys. If you still have it, add it after the first '
          'key and run this again. If it is lost, so are these secrets: set '
          'the credentials of each device again ("agentsched device set"), '
          'delete each resource and create it again with its secrets (a '
          'VPN connection\'s psk). Until then their agents get these '
          'devices without credentials and leave these resources as they '
          'are, in ERROR.', file=sys.stderr)
    return 1


def _add_commands(subparsers):
    db = subparsers.add_parser('db', help='database schema').add_subparsers(
        dest='db_command', required=True)
    upgrade = db.add_parser('upgrade', help='migrate to a revision')
    upgrade.add_argument('revision', nargs='?', default='head')
    upgrade.set_defaults(func=db_upgrade)
    db.add_parser('current', help='show the revision').set_defaults(
        func=db_current)
    agent = subparsers.add_parser('agent', help='agents').add_subparsers(
        dest='agent_command', required=True)
    agent.add_parser('list', help='agents with their alive state'
                     ).set_defaults(func=agent_list)
    keys = subparsers.add_parser('secrets', help='encryption keys'
                                 ).add_subparsers(dest='secrets_command',
                                                  required=True)
    keys.add_parser('generate-key', help='print a new Fernet key'
                    ).set_defaults(func=secrets_generate_key)
    keys.add_parser('rotate', help='re-encrypt stored secrets with the '
                    'first key').set_defaults(func=secrets_rotate)
    signing_keys = subparsers.add_parser(
        'signing', help='message signing keys').add_subparsers(
        dest='signing_command', required=True)
    signing_keys.add_parser('generate-key', help='print a new master key'
                            ).set_defaults(func=signing_generate_key)
    host_key = subparsers.add_parser(
        'agent-key', help='print the signing keys of an agent host, for its '
        '[signing] host_keys')
    host_key.add_argument('agent_host', metavar='HOST',
                          help='the agent\'s host option')
    host_key.set_defaults(func=agent_key)
    server = subparsers.add_parser('server', help='running servers'
                                   ).add_subparsers(dest='server_command',
                                                    required=True)
    server.add_parser('stats', help='heartbeat counters of one server'
                      ).set_defaults(func=server_stats)


def main(argv=None):
    conf = agentsched_conf.CONF
    conf.register_cli_opt(cfg.SubCommandOpt(
        'command', title='commands', handler=_add_commands))
    agentsched_conf.parse_args(sys.argv[1:] if argv is None else argv,
                               messaging=False)
    # Alembic's "Context impl" lines would bury the output of every command.
    logging.getLogger('alembic').setLevel(logging.WARNING)
    try:
        return conf.command.func(conf) or 0
    except sa.exc.OperationalError as exc:
        sys.exit('Database error: %s' % exc.orig)
    except secrets.NoEncryptionKey as exc:
        sys.exit(str(exc))
