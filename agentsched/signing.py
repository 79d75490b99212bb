"""Signed messages on a hostile bus: who sent this, and is it fresh.

Every compute and network node of a cloud holds the bus credentials, so
anything on the bus may be forged or replayed. agentsched's agents and
servers sign what they send with HMAC-SHA256 under a key per host derived
from a deployment secret: host key = HMAC(master key, host). A server
verifies any host without a table of keys, and a compromised host can sign
only as itself (docs/security.md).

A signature covers the method, its arguments (canonical JSON), the host and
agent type the message speaks for, a timestamp, and the sender's boot id and
sequence number. A receiver refuses a timestamp outside its replay window
and a (boot, sequence) it has already taken.
"""

import base64
import hashlib
import hmac
import itertools
import math
import os
import threading
import time
import uuid

import orjson

from agentsched import key_files

VERSION = 1
# How far out of order one sender's messages may arrive: an agent's calls
# leave from several threads (deploys run in parallel), on two topics.
SEQUENCE_WINDOW = 256
_MASK = (1 << SEQUENCE_WINDOW) - 1
_HOST_KEY_LABEL = b'agentsched host key\x00'
_MAX_SEQUENCE = 2 ** 63 - 1


class BadSignature(ValueError):
    """A message that is not taken. str() is the reason, for the log."""


def generate_master_key():
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _encode(text):
    # A hostile host name may hold a lone surrogate: it must fail the MAC,
    # not raise.
    return text.encode('utf-8', 'surrogatepass')


def _derive(master_key, host):
    return hmac.new(_encode(master_key), _HOST_KEY_LABEL + _encode(host),
                    hashlib.sha256).digest()


def host_key(master_key, host):
    """One host's key as provisioned on it ([signing] host_keys)."""
    return base64.urlsafe_b64encode(_derive(master_key, host)).decode()


def _decode_host_key(text):
    try:
        key = base64.urlsafe_b64decode(text.encode())
    except ValueError:
        key = b''
    if len(key) != 32:
        raise ValueError('[signing] host_keys: %d characters is not a key '
                         'printed by agentsched-manage agent-key' % len(text))
    return key


class Keyring:
    """The raw keys one process signs and verifies with, by host."""

    def __init__(self, signing_key, verifying_keys):
        self.signing_key = signing_key        # host -> key or None
        self.verifying_keys = verifying_keys  # host -> [key, ...]

    @classmethod
    def for_server(cls, master_keys):
        """Every host's keys, derived from the deployment's master keys."""
        if not master_keys:
            return None
        first = master_keys[0]
        return cls(lambda host: _derive(first, host),
                   lambda host: [_derive(m, host) for m in master_keys])

    @classmethod
    def for_agent(cls, own_host, host_keys):
        """One host's own keys: it signs and verifies as itself only."""
        if not host_keys:
            return None
        keys = [_decode_host_key(k) for k in host_keys]
        return cls(lambda host: keys[0] if host == own_host else None,
                   lambda host: keys if host == own_host else [])


def _canonical(method, arguments, host, agent_type, ts, boot, sequence):
    return orjson.dumps(
        [VERSION, method, host, agent_type, ts, boot, sequence, arguments],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


class Signer:
    """Signs as one sender: one boot id, and a sequence per host signed
    for, so a server's casts to thousands of agents never push one agent's
    out of its receiver's window."""

    def __init__(self, keyring):
        self._keyring = keyring
        self._boot = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._sequences = {}   # host -> itertools.count

    def sign(self, method, arguments, host, agent_type):
        """The signature of a message speaking for (agent_type, host)."""
        ts = time.time()
        with self._lock:
            counter = self._sequences.get(host)
            if counter is None:
                counter = self._sequences[host] = itertools.count(1)
            sequence = next(counter)
        key = self._keyring.signing_key(host)
        if key is None:
            raise BadSignature('no key to sign as host %r' % host)
        mac = hmac.new(key, _canonical(method, arguments, host, agent_type,
                                       ts, self._boot, sequence),
                       hashlib.sha256).hexdigest()
        return {'v': VERSION, 'host': host, 'agent_type': agent_type,
                'ts': ts, 'boot': self._boot, 'seq': sequence, 'mac': mac}


def _check_shape(signature):
    if not isinstance(signature, dict):
        raise BadSignature('signature: not an object')
    if signature.get('v') != VERSION:
        raise BadSignature('signature: version %r is not %d' % (
            signature.get('v'), VERSION))
    ts, boot = signature.get('ts'), signature.get('boot')
    sequence, mac = signature.get('seq'), signature.get('mac')
    if not (isinstance(ts, (int, float)) and not isinstance(ts, bool) and
            math.isfinite(ts)):
        raise BadSignature('signature: ts is not a number')
    if not (isinstance(boot, str) and 0 < len(boot) <= 64):
        raise BadSignature('signature: bad boot id')
    if not (isinstance(sequence, int) and not isinstance(sequence, bool) and
            0 < sequence <= _MAX_SEQUENCE):
        raise BadSignature('signature: bad sequence number')
    if not (isinstance(mac, str) and len(mac) == 64):
        raise BadSignature('signature: bad mac')


class Verifier:
    """Checks signatures, freshness and replays for one receiver."""

    def __init__(self, keyring, window, clock=time.time):
        self._keyring = keyring
        self._window = window
        self._clock = clock
        self._replays = ReplayGuard(forget_after=3 * window)

    def verify(self, method, arguments, signature, host, agent_type):
        """Raise BadSignature unless signature is a fresh, first-seen
        signature of (method, arguments) by host speaking as agent_type."""
        _check_shape(signature)
        if signature.get('host') != host or \
                signature.get('agent_type') != agent_type:
            raise BadSignature('signature: signed for another sender')
        now = self._clock()
        skew = signature['ts'] - now
        if abs(skew) > self._window:
            raise BadSignature('signature: timestamp %+.0f s from this '
                               'clock, outside the replay window of %d s'
                               % (skew, self._window))
        try:
            payload = _canonical(method, arguments, host, agent_type,
                                 signature['ts'], signature['boot'],
                                 signature['seq'])
        except TypeError as exc:
            raise BadSignature('arguments are not canonical JSON: %s' % exc)
        mac = signature['mac']
        for key in self._keyring.verifying_keys(host):
            expected = hmac.new(key, payload, hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected, mac):
                break
        else:
            raise BadSignature('signature does not match the key of host '
                               '%r' % host)
        # Only after the MAC: forgeries must not fill the replay state.
        self._replays.check(host, signature['boot'], signature['seq'], now)


class ReplayGuard:
    """Sequence numbers seen per (host, boot), as IPsec's anti-replay
    window: the highest taken and a bitmap of the SEQUENCE_WINDOW below.

    In memory, per receiving process: a replay delivered to another server
    is caught by the timestamp only (docs/security.md).
    """

    def __init__(self, forget_after):
        self._forget_after = forget_after
        self._lock = threading.Lock()
        self._senders = {}   # (host, boot) -> [highest, bitmap, last seen]
        self._next_sweep = 0.0

    def check(self, host, boot, sequence, now):
        key = (host, boot)
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            entry = self._senders.get(key)
            if entry is None:
                self._senders[key] = [sequence, 1, now]
                return
            highest, seen = entry[0], entry[1]
            if sequence > highest:
                shift = sequence - highest
                seen = (((seen << shift) & _MASK) | 1
                        if shift < SEQUENCE_WINDOW else 1)
                highest = sequence
            else:
                offset = highest - sequence
                if offset >= SEQUENCE_WINDOW:
                    raise BadSignature(
                        'replay: sequence %d is too far behind %d'
                        % (sequence, highest))
                if (seen >> offset) & 1:
                    raise BadSignature('replay: sequence %d of this sender '
                                       'was already taken' % sequence)
                seen |= 1 << offset
            entry[0], entry[1], entry[2] = highest, seen, now

    def _sweep(self, now):
        # A sender silent this long can only be replayed with a timestamp
        # outside the window, so it can be forgotten.
        cutoff = now - self._forget_after
        for key in [k for k, e in self._senders.items() if e[2] < cutoff]:
            del self._senders[key]
        self._next_sweep = now + self._forget_after

    def __len__(self):
        with self._lock:
            return len(self._senders)


KEY_FILE_NAME = 'signing.key'


def server_keyring(conf, embedded_directory=None):
    """The servers' keyring from [signing] master_keys; with none, the
    embedded default (embedded_directory set) keeps its own key file, and
    any other deployment runs unsigned (None)."""
    keys = list(conf.signing.master_keys)
    if not keys and embedded_directory:
        keys = [key_files.read_or_create(embedded_directory, KEY_FILE_NAME,
                                         generate_master_key)]
    return Keyring.for_server(keys)
