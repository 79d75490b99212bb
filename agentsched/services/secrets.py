"""Encryption at rest of secrets (device credentials, pre-shared keys).

Fernet with a list of keys: the first encrypts, any decrypts, so keys rotate
without downtime. The plaintext is a JSON document; the stored form is the
Fernet token, which reveals nothing but its length and time.
"""

import json
import os

from cryptography import fernet

KEY_FILE_NAME = 'secrets.key'


class NoEncryptionKey(RuntimeError):
    pass


class SecretBox:
    """Without keys it still builds, so a deployment with no secrets runs;
    it refuses on first use."""

    def __init__(self, keys):
        self._fernet = (fernet.MultiFernet([fernet.Fernet(k) for k in keys])
                        if keys else None)

    def _keys(self):
        if self._fernet is None:
            raise NoEncryptionKey(
                'No [secrets] encryption_keys configured: secrets cannot be '
                'stored. Generate one with "agentsched-manage secrets '
                'generate-key".')
        return self._fernet

    def encrypt(self, document):
        return self._keys().encrypt(
            json.dumps(document, sort_keys=True).encode()).decode()

    def decrypt(self, token):
        try:
            return json.loads(self._keys().decrypt(token.encode()))
        except fernet.InvalidToken:
            raise NoEncryptionKey('A stored secret cannot be decrypted with '
                                  'any configured key: was a key removed '
                                  'before "agentsched-manage secrets '
                                  'rotate" ran?')

    def rotate(self, token):
        """The token re-encrypted with the first key."""
        return self._keys().rotate(token.encode()).decode()


def generate_key():
    return fernet.Fernet.generate_key().decode()


def embedded_key(directory):
    """The embedded default's key, created on first use, readable by us only."""
    path = os.path.join(directory, KEY_FILE_NAME)
    try:
        with open(path) as key_file:
            return key_file.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(directory, exist_ok=True)
    key = generate_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, 'w') as key_file:
        key_file.write(key + '\n')
    return key


def from_conf(conf, embedded_directory=None):
    """The box for this deployment's keys; with none configured, the
    embedded default (embedded_directory set) keeps its own key file."""
    keys = list(conf.secrets.encryption_keys)
    if not keys and embedded_directory:
        keys = [embedded_key(embedded_directory)]
    return SecretBox(keys)
