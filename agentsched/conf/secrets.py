"""[secrets] options: encryption at rest of device credentials and PSKs."""

from oslo_config import cfg

GROUP = 'secrets'

opts = [
    cfg.ListOpt(
        'encryption_keys', default=[], secret=True,
        help='Fernet keys (url-safe base64 of 32 random bytes; make one '
             'with agentsched-manage secrets generate-key). The first key '
             'encrypts; every key decrypts, so keys rotate by putting a new '
             'key first, running agentsched-manage secrets rotate, then '
             'removing the old key. Empty: the embedded default keeps a key '
             'file under state_path; other deployments refuse to store '
             'secrets.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
