"""REST API options ([DEFAULT] names are Neutron's; the rest in [api])."""

from oslo_config import cfg

from agentsched import constants

GROUP = 'api'

default_opts = [
    cfg.HostAddressOpt(
        'bind_host', default='127.0.0.1',
        help='Address the REST API listens on. The default keeps the API on '
             'loopback; set 0.0.0.0 (or a management address) to serve '
             'other hosts.'),
    cfg.PortOpt(
        'bind_port', default=constants.DEFAULT_API_PORT,
        help='Port the REST API listens on (Neutron\'s API uses 9696; '
             'agentsched defaults to %d so both fit on one host). 0 picks a '
             'free port, which is logged.' % constants.DEFAULT_API_PORT),
    cfg.StrOpt(
        'auth_strategy', default='noauth',
        choices=[('keystone', 'Keystone tokens, validated by '
                              'keystonemiddleware ([keystone_authtoken])'),
                 ('http_basic', 'HTTP basic auth against an htpasswd file '
                                'of bcrypt entries ([api] '
                                'http_basic_auth_user_file); every user is '
                                'an admin'),
                 ('noauth', 'No authentication: every request is an admin. '
                            'Refused unless bind_host is a loopback '
                            'address')],
        help='How API requests are authenticated.'),
    cfg.IntOpt(
        'api_workers', default=8, min=1,
        help='Threads serving API requests in each agentsched-server '
             'process. (Neutron\'s api_workers counts processes; run more '
             'agentsched-server processes behind a load balancer to scale '
             'out.)'),
    cfg.IntOpt(
        'backlog', default=4096, min=1,
        help='Listen backlog of the API socket (Neutron\'s default): '
             'connections the kernel queues while the server accepts. The '
             'kernel caps it at net.core.somaxconn.'),
    cfg.IntOpt(
        'client_socket_timeout', default=60, min=1,
        help='Seconds a client connection may stay silent (idle keep-alive, '
             'or a request arriving too slowly) before the server closes '
             'it. Idle connections hold a slot of [api] connection_limit, '
             'never a worker thread.'),
]

opts = [
    cfg.BoolOpt(
        'enabled', default=True,
        help='Serve the REST API from agentsched-server. Disable on servers '
             'that should only take heartbeats.'),
    cfg.StrOpt(
        'http_basic_auth_user_file', default='/etc/agentsched/htpasswd',
        help='htpasswd file with bcrypt entries (htpasswd -B) for '
             'auth_strategy = http_basic.'),
    cfg.StrOpt(
        'http_basic_identity_file',
        help='Projects and roles of the http_basic users: lines of '
             '"user:project_id:role[,role...]" (roles as keystone\'s: '
             'reader, member, admin). A user it does not list has no '
             'project and no role. Unset: every user of '
             'http_basic_auth_user_file is an admin of project "admin" '
             '(logged as a warning at start). Read on each request.'),
    cfg.IntOpt(
        'http_basic_failure_limit', default=10, min=1,
        help='Failed http_basic logins a source address may make in a '
             'minute; past it the address gets 429 with Retry-After, '
             'without a password check, until the minute is over.'),
    cfg.URIOpt(
        'public_endpoint', schemes=['http', 'https'],
        help='The URL clients reach this API at (e.g. '
             'https://lb-api.example.com:9797), used in pagination links. '
             'Unset: the proxy\'s X-Forwarded-Host and X-Forwarded-Proto '
             'when [oslo_middleware] enable_proxy_headers_parsing is on, '
             'else bind_host:bind_port (the host name when bind_host is a '
             'wildcard). The request\'s Host header is never used: a '
             'client could point other clients\' links anywhere. Set it '
             'behind a proxy or a WSGI container.'),
    cfg.IntOpt(
        'connection_limit', default=1000, min=1,
        help='Open client connections one server process serves at once; '
             'past it, new connections wait in the listen backlog. Each '
             'takes a file descriptor: keep it under the process\'s open '
             'files limit.'),
    cfg.IntOpt(
        'pagination_max_limit', default=1000, min=1,
        help='Largest page a list request returns, whatever its limit. A '
             'request without limit gets every row.'),
]


def register_opts(conf):
    conf.register_opts(default_opts)
    conf.register_opts(opts, group=GROUP)
