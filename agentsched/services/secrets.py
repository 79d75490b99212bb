"""Encryption at rest of secrets (device credentials, pre-shared keys).

Fernet with a list of keys: the first encrypts, any decrypts, so keys rotate
without downtime. The plaintext is a JSON document; the stored form is the
Fernet token, which reveals nothing but its length and time.
"""

import dataclasses
import json

from cryptography import fernet

from agentsched import key_files
from agentsched.db import encrypted as encrypted_db

KEY_FILE_NAME = 'secrets.key'
# Says why, never what: it ends in status descriptions and log lines.
UNDECRYPTABLE = ('A stored secret cannot be decrypted with any configured '
                 'key: was a key removed before "agentsched-manage secrets '
                 'rotate" ran?')
# Rows re-encrypted per transaction: a rotation never holds many row locks
# nor one long transaction while servers write.
ROTATE_BATCH = 100


class NoEncryptionKey(RuntimeError):
    pass


class Undecryptable(NoEncryptionKey):
    """Keys are configured, but none decrypts this token."""


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
        keys = self._keys()
        try:
            return json.loads(keys.decrypt(token.encode()))
        except fernet.InvalidToken:
            raise Undecryptable(UNDECRYPTABLE)

    def rotate(self, token):
        """The token re-encrypted with the first key."""
        keys = self._keys()
        try:
            return keys.rotate(token.encode()).decode()
        except fernet.InvalidToken:
            raise Undecryptable(UNDECRYPTABLE)


def generate_key():
    return fernet.Fernet.generate_key().decode()


def embedded_key(directory):
    """The embedded default's key, made on first use, readable by us only."""
    return key_files.read_or_create(directory, KEY_FILE_NAME, generate_key)


def from_conf(conf, embedded_directory=None):
    """The box for this deployment's keys; with none configured, the
    embedded default (embedded_directory set) keeps its own key file."""
    keys = list(conf.secrets.encryption_keys)
    if not keys and embedded_directory:
        keys = [embedded_key(embedded_directory)]
    return SecretBox(keys)


@dataclasses.dataclass
class Rotated:
    """What a rotation did to one kind of secret."""
    rotated: int = 0    # re-encrypted with the first key
    changed: int = 0    # rewritten meanwhile by a server: left as it is
    # Rows (id, name, token) under no configured key.
    undecryptable: list = dataclasses.field(default_factory=list)


def rotate_all(engine, box, batch_size=ROTATE_BATCH):
    """Re-encrypt every stored secret with the first key of box, while
    servers serve: {'devices': Rotated, 'resources': Rotated}."""
    return {kind: _rotate(engine, box, column, batch_size)
            for kind, column in encrypted_db.COLUMNS.items()}


def _rotate(engine, box, column, batch_size):
    """One encrypted column, in batches by id; a row a server rewrote
    meanwhile (with the first key already) is left as it is."""
    done = Rotated()
    after = ''
    while True:
        with engine.begin() as connection:
            rows = encrypted_db.tokens_after(connection, column, after,
                                             batch_size)
            for row in rows:
                try:
                    token = box.rotate(row.token)
                except Undecryptable:
                    done.undecryptable.append(row)
                    continue
                if encrypted_db.swap_token(connection, column, row.id,
                                           row.token, token):
                    done.rotated += 1
                else:
                    done.changed += 1
        if len(rows) < batch_size:
            return done
        after = rows[-1].id
