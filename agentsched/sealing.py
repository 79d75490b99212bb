"""Secrets sealed to one host: only the agent they are for can open them.

A deploy or a sync carries device credentials and pre-shared keys; on a bus
that every node of the cloud can read, they travel as a Fernet token under
a key derived from the receiving host's signing key (signing.py). Only that
host, and the servers, can derive it.
"""

import base64
import hashlib
import hmac

from cryptography import fernet
import orjson

_SEAL_LABEL = b'agentsched seal\x00'


class CannotUnseal(ValueError):
    pass


def _fernet(raw_host_key):
    key = hmac.new(raw_host_key, _SEAL_LABEL, hashlib.sha256).digest()
    return fernet.Fernet(base64.urlsafe_b64encode(key))


def seal(keyring, host, document):
    """document as a token only host can open."""
    return _fernet(keyring.signing_key(host)).encrypt(
        orjson.dumps(document)).decode()


def unseal(keyring, host, token):
    """The document sealed to host; CannotUnseal if none of its keys opens
    it (the server's master key changed and this host's keys did not)."""
    keys = [_fernet(key) for key in keyring.verifying_keys(host)]
    if not keys or not isinstance(token, str):
        raise CannotUnseal('no key of host %r opens this secret' % host)
    try:
        return orjson.loads(fernet.MultiFernet(keys).decrypt(token.encode()))
    except (fernet.InvalidToken, orjson.JSONDecodeError):
        raise CannotUnseal('no key of host %r opens this secret' % host)


def _merge(message, secrets):
    """message with secrets folded in, one level deep: {'spec': {'psk': x}}
    adds psk to message['spec']."""
    merged = dict(message)
    for key, value in secrets.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = dict(merged[key], **value)
        else:
            merged[key] = value
    return merged


def seal_secrets(keyring, host, message):
    """A message for host with its 'secrets' sealed to host. With no
    keyring (no [signing] master keys) they are folded in clear, as before
    signing existed: the bus must then be TLS and trusted."""
    secrets = message.get('secrets')
    message = {k: v for k, v in message.items() if k != 'secrets'}
    if not secrets:
        return message
    if keyring is None:
        return _merge(message, secrets)
    # Bound to the message's id: a token copied into another message (a
    # device or resource of the attacker's choosing) does not open.
    message['sealed'] = seal(keyring, host, {'for': message.get('id'),
                                             'secrets': secrets})
    return message


def open_secrets(keyring, host, message):
    """The agent's side of seal_secrets: the message with its secrets
    opened and folded in (CannotUnseal if they are not for this host and
    this message)."""
    token = message.get('sealed')
    if token is None:
        return message
    if keyring is None:
        raise CannotUnseal('this agent has no [signing] host_keys to open '
                           'the secrets sent to it')
    sealed = unseal(keyring, host, token)
    if not isinstance(sealed, dict) or sealed.get('for') != message.get(
            'id') or not isinstance(sealed.get('secrets'), dict):
        raise CannotUnseal('the secrets sent with %r are not for it'
                           % message.get('id'))
    return _merge({k: v for k, v in message.items() if k != 'sealed'},
                  sealed['secrets'])
