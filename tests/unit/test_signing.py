"""Signatures, replay windows and sealed secrets (signing.py, sealing.py)."""

import json

import pytest

from agentsched import sealing
from agentsched import signing

MASTER = signing.generate_master_key()
OTHER_MASTER = signing.generate_master_key()


def _server():
    return signing.Keyring.for_server([MASTER])


def _agent(host='h1', master=MASTER):
    return signing.Keyring.for_agent(host, [signing.host_key(master, host)])


def _wire(document):
    """What the receiver gets after the bus's JSON."""
    return json.loads(json.dumps(document))


def _signed(keyring=None, host='h1', arguments=None):
    signer = signing.Signer(keyring or _agent(host))
    arguments = arguments or {'agent_type': 'T', 'host': host}
    return arguments, signer.sign('sync', arguments, host, 'T')


def test_a_host_key_signs_what_the_master_key_verifies():
    arguments, signature = _signed()
    verifier = signing.Verifier(_server(), window=60)
    verifier.verify('sync', _wire(arguments), _wire(signature), 'h1', 'T')


def test_a_host_key_signs_only_as_its_host():
    signer = signing.Signer(_agent('h1'))
    with pytest.raises(signing.BadSignature):
        signer.sign('sync', {}, 'h2', 'T')


def test_another_hosts_key_does_not_verify():
    # h2's key signing a message that claims to be h1's.
    keyring = signing.Keyring.for_agent(
        'h1', [signing.host_key(MASTER, 'h2')])
    arguments, signature = _signed(keyring)
    verifier = signing.Verifier(_server(), window=60)
    with pytest.raises(signing.BadSignature, match='does not match'):
        verifier.verify('sync', arguments, signature, 'h1', 'T')


@pytest.mark.parametrize('change', [
    lambda a, s: a.update(host='h2'),
    lambda a, s: s.update(agent_type='U'),
    lambda a, s: s.update(seq=s['seq'] + 1),
    lambda a, s: s.update(ts=s['ts'] + 1),
    lambda a, s: s.update(mac='0' * 64),
])
def test_any_change_breaks_the_signature(change):
    arguments, signature = _signed()
    change(arguments, signature)
    verifier = signing.Verifier(_server(), window=60)
    with pytest.raises(signing.BadSignature):
        verifier.verify('sync', arguments, signature, 'h1',
                        signature['agent_type'])


def test_the_method_is_signed():
    arguments, signature = _signed()
    verifier = signing.Verifier(_server(), window=60)
    with pytest.raises(signing.BadSignature):
        verifier.verify('update_status', arguments, signature, 'h1', 'T')


def test_a_replay_is_refused():
    arguments, signature = _signed()
    verifier = signing.Verifier(_server(), window=60)
    verifier.verify('sync', arguments, signature, 'h1', 'T')
    with pytest.raises(signing.BadSignature, match='already taken'):
        verifier.verify('sync', arguments, signature, 'h1', 'T')


def test_out_of_order_within_the_window_is_taken_once():
    signer = signing.Signer(_agent())
    signed = [signer.sign('m', {'n': n}, 'h1', 'T') for n in range(10)]
    verifier = signing.Verifier(_server(), window=60)
    for n in [9, 0, 5, 1, 8, 2, 3, 4, 6, 7]:
        verifier.verify('m', {'n': n}, signed[n], 'h1', 'T')
    with pytest.raises(signing.BadSignature):
        verifier.verify('m', {'n': 5}, signed[5], 'h1', 'T')


def test_a_sequence_far_behind_is_refused():
    signer = signing.Signer(_agent())
    first = signer.sign('m', {}, 'h1', 'T')
    for _ in range(signing.SEQUENCE_WINDOW):
        last = signer.sign('m', {}, 'h1', 'T')
    verifier = signing.Verifier(_server(), window=60)
    verifier.verify('m', {}, last, 'h1', 'T')
    with pytest.raises(signing.BadSignature, match='too far behind'):
        verifier.verify('m', {}, first, 'h1', 'T')


def test_a_restarted_sender_has_a_new_boot_and_is_taken():
    verifier = signing.Verifier(_server(), window=60)
    for _ in range(2):
        arguments, signature = _signed()
        assert signature['seq'] == 1
        verifier.verify('sync', arguments, signature, 'h1', 'T')


def test_a_timestamp_outside_the_window_is_refused():
    arguments, signature = _signed()
    late = signing.Verifier(_server(), window=60,
                            clock=lambda: signature['ts'] + 61)
    with pytest.raises(signing.BadSignature, match='replay window'):
        late.verify('sync', arguments, signature, 'h1', 'T')


def test_forgeries_do_not_fill_the_replay_state():
    verifier = signing.Verifier(_server(), window=60)
    for n in range(50):
        arguments, signature = _signed()
        signature['mac'] = '%064x' % n
        with pytest.raises(signing.BadSignature):
            verifier.verify('sync', arguments, signature, 'h1', 'T')
    assert len(verifier._replays) == 0


def test_silent_senders_are_forgotten():
    guard = signing.ReplayGuard(forget_after=10)
    guard.check('h1', 'b1', 1, now=0)
    guard.check('h2', 'b2', 1, now=8)
    guard.check('h3', 'b3', 1, now=16)
    assert len(guard) == 2


@pytest.mark.parametrize('signature', [
    None, 'x', {}, {'v': 2}, {'v': 1, 'ts': 'now'},
    {'v': 1, 'ts': float('nan'), 'boot': 'b', 'seq': 1, 'mac': '0' * 64},
    {'v': 1, 'ts': 1.0, 'boot': 'b' * 65, 'seq': 1, 'mac': '0' * 64},
    {'v': 1, 'ts': 1.0, 'boot': 'b', 'seq': 2 ** 64, 'mac': '0' * 64},
    {'v': 1, 'ts': 1.0, 'boot': 'b', 'seq': True, 'mac': '0' * 64},
])
def test_malformed_signatures_are_refused(signature):
    verifier = signing.Verifier(_server(), window=60)
    with pytest.raises(signing.BadSignature):
        verifier.verify('sync', {}, signature, 'h1', 'T')


def test_a_hostile_host_name_fails_cleanly():
    verifier = signing.Verifier(_server(), window=60)
    arguments, signature = _signed()
    signature['host'] = 'h\ud8001'
    with pytest.raises(signing.BadSignature):
        verifier.verify('sync', {'x': '\ud800'}, signature, 'h\ud8001', 'T')


def test_rotated_master_keys_still_verify():
    old_agent = _agent('h1', master=OTHER_MASTER)
    arguments, signature = _signed(old_agent)
    both = signing.Keyring.for_server([MASTER, OTHER_MASTER])
    signing.Verifier(both, window=60).verify('sync', arguments, signature,
                                             'h1', 'T')


def test_the_server_signs_what_only_that_agent_verifies():
    signer = signing.Signer(_server())
    signature = signer.sign('deploy', {'resource': {}}, 'h1', 'T')
    signing.Verifier(_agent('h1'), window=60).verify(
        'deploy', {'resource': {}}, signature, 'h1', 'T')
    with pytest.raises(signing.BadSignature):
        signing.Verifier(_agent('h2'), window=60).verify(
            'deploy', {'resource': {}}, signature, 'h1', 'T')


def test_a_bad_host_key_is_refused_at_start():
    with pytest.raises(ValueError, match='agent-key'):
        signing.Keyring.for_agent('h1', ['not-a-key'])


def test_sealed_secrets_open_only_on_their_host():
    token = sealing.seal(_server(), 'h1', {'psk': 's3cret'})
    assert 's3cret' not in token
    assert sealing.unseal(_agent('h1'), 'h1', token) == {'psk': 's3cret'}
    for keyring, host in [(_agent('h2'), 'h2'), (_agent('h2'), 'h1'),
                          (_agent('h1', OTHER_MASTER), 'h1')]:
        with pytest.raises(sealing.CannotUnseal):
            sealing.unseal(keyring, host, token)


def test_sealed_secrets_open_only_in_the_message_they_were_sealed_in():
    sealed = sealing.seal_secrets(_server(), 'h1', {
        'id': 'r1', 'spec': {'peer': 'a'},
        'secrets': {'spec': {'psk': 's3cret'}}})
    assert sealing.open_secrets(_agent('h1'), 'h1', sealed)['spec'] == {
        'peer': 'a', 'psk': 's3cret'}
    # The same token pasted into a message of the attacker's choosing.
    forged = {'id': 'r2', 'spec': {'peer': 'evil'},
              'sealed': sealed['sealed']}
    with pytest.raises(sealing.CannotUnseal):
        sealing.open_secrets(_agent('h1'), 'h1', forged)


def test_a_servers_casts_keep_each_agents_sequence_dense():
    signer = signing.Signer(_server())
    for _ in range(signing.SEQUENCE_WINDOW + 10):
        signer.sign('deploy', {}, 'h2', 'T')
    assert signer.sign('deploy', {}, 'h1', 'T')['seq'] == 1
