"""strongSwan: swanctl.conf rendering, the secrets file, swanctl or not."""

import logging
import os
import stat
import textwrap

import pytest

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import strongswan
from agentsched.agents.drivers import swanctl_config

PSK = 'psk-Otter-8841-never-logged'


def spec(**changes):
    document = {'peer_address': '203.0.113.9', 'peer_id': '203.0.113.9',
                'peer_cidrs': ['10.2.0.0/24'],
                'local_cidrs': ['10.1.0.0/24', '10.1.1.0/24'], 'psk': PSK}
    document.update(changes)
    return document


def resource(resource_id='c1', generation=1, config_dir=None, **changes):
    return {'id': resource_id, 'resource_type': 'vpn_connection',
            'name': 'to-branch', 'project_id': 'p', 'generation': generation,
            'spec': spec(**changes),
            'device': {'id': 'd1', 'name': 'gw-1',
                       'device_type': 'strongswan', 'credentials': None,
                       'physical_info': {'address': '198.51.100.1',
                                         'config_dir': str(config_dir)}}}


def test_connection_block():
    config, _secrets = swanctl_config.render({'c1': spec(
        ikepolicy={'ike_version': 'v2', 'encryption_algorithm': 'aes-256',
                   'auth_algorithm': 'sha256', 'pfs': 'group14',
                   'lifetime': {'units': 'seconds', 'value': 3600}},
        ipsecpolicy={'encryption_algorithm': 'aes-128',
                     'auth_algorithm': 'sha1', 'pfs': 'group5'},
        initiator='response-only')}, '198.51.100.1')
    assert config == textwrap.dedent('''\
        # Written by agentsched-agent; changes here are overwritten.
        connections {
            c1 {
                version = 2
                local_addrs = 198.51.100.1
                remote_addrs = 203.0.113.9
                proposals = aes256-sha256-modp2048
                rekey_time = 3600s
                dpd_delay = 30s
                local {
                    auth = psk
                    id = "198.51.100.1"
                }
                remote {
                    auth = psk
                    id = "203.0.113.9"
                }
                children {
                    c1 {
                        local_ts = 10.1.0.0/24,10.1.1.0/24
                        remote_ts = 10.2.0.0/24
                        esp_proposals = aes128-sha1-modp1536
                        mode = tunnel
                        start_action = none
                    }
                }
            }
        }
        include secrets.conf
        ''')
    assert PSK not in config


def test_bi_directional_starts_and_traps():
    # Started now, and trapped: charon does not retry a start that a peer
    # without the connection yet refused; the trap brings it up on traffic.
    config, _secrets = swanctl_config.render({'c1': spec()}, '198.51.100.1')
    assert '                start_action = trap|start\n' \
        '                dpd_action = restart\n' in config


def test_secrets_block_encodes_the_psk():
    _config, secrets = swanctl_config.render({'c1': spec(psk='a"b}\nc=d')},
                                             '198.51.100.1')
    # base64: no character of the key can end the value or add a line.
    assert 'secret = 0sYSJifQpjPWQ=' in secrets
    assert 'id-remote = "203.0.113.9"' in secrets


@pytest.mark.parametrize('changes', [
    {'peer_id': 'x"\n}'}, {'peer_address': '1.2.3.4 ; reboot'},
    {'local_cidrs': ['10.0.0.0/33']}])
def test_a_spec_cannot_inject_configuration(changes):
    with pytest.raises(swanctl_config.InvalidConnection):
        swanctl_config.render({'c1': spec(**changes)}, '198.51.100.1')


@pytest.fixture
def reports():
    return []


@pytest.fixture
def deployments_(reports, parsed_conf):
    return deployments.Deployments(
        lambda *args: reports.append(args), conf=parsed_conf)


def test_without_swanctl_deploy_fails_saying_so(tmp_path, monkeypatch,
                                                reports, deployments_,
                                                caplog):
    monkeypatch.setattr(strongswan, 'swanctl_binary', lambda: None)
    caplog.set_level(logging.DEBUG)
    deployments_.deploy(resource(config_dir=tmp_path))
    [(resource_id, generation, status, description)] = reports
    assert (resource_id, generation, status) == ('c1', 1,
                                                 constants.STATUS_ERROR)
    assert 'swanctl not installed' in description
    assert 'c1' not in deployments_.deployed
    # The files are written, the secrets for the owner only.
    mode = stat.S_IMODE(os.stat(tmp_path / 'secrets.conf').st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / 'connections.json').st_mode) == \
        0o600
    assert PSK not in (tmp_path / 'swanctl.conf').read_text()
    [health] = deployments_.device_health([{'name': 'gw-1',
                                            'device_type': 'strongswan'}])
    assert (health['health'], health['health_reason']) == (
        constants.HEALTH_DEGRADED, 'swanctl not installed')
    assert PSK not in caplog.text


def fake_swanctl(directory, exit_code=0, output=''):
    """A swanctl that records its arguments (and may fail, echoing the
    secrets file, as a careless tool might)."""
    script = directory / 'swanctl'
    script.write_text('#!/bin/sh\necho "$@" >> %s/calls\n%s\nexit %d\n' % (
        directory, output, exit_code))
    script.chmod(0o755)
    return directory / 'calls'


def test_with_swanctl_deploy_loads_all(tmp_path, monkeypatch, reports,
                                       deployments_):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    calls = fake_swanctl(bin_dir, output='echo "c1: IKEv2, no '
                                         'reauthentication"; echo "IKE_SAs:'
                                         ' 3 total, 0 half-open"')
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    config_dir = tmp_path / 'etc'
    deployments_.deploy(resource(config_dir=config_dir))
    assert reports[-1][2] == constants.STATUS_ACTIVE
    assert calls.read_text().split('\n')[0] == (
        '--load-all --noprompt --file %s/swanctl.conf' % config_dir)
    [health] = deployments_.device_health([{'name': 'gw-1',
                                            'device_type': 'strongswan'}])
    assert (health['health'], health['load']) == (constants.HEALTH_OK, 3)
    deployments_.undeploy({'id': 'c1', 'generation': 1})
    assert reports[-1][2] == constants.STATUS_DELETED
    assert 'c1 {' not in (config_dir / 'swanctl.conf').read_text()
    assert calls.read_text().count('--load-all') == 2


def test_health_loads_again_what_a_restarted_charon_lacks(
        tmp_path, monkeypatch, reports, deployments_):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    # Knows c1 but not c2 (e.g. charon restarted before c2's deploy).
    calls = fake_swanctl(bin_dir, output='echo "c1: IKEv2, no '
                                         'reauthentication"')
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    config_dir = tmp_path / 'etc'
    deployments_.deploy(resource(config_dir=config_dir))
    deployments_.deploy(resource('c2', config_dir=config_dir))
    assert calls.read_text().count('--load-all') == 2
    [health] = deployments_.device_health([{'name': 'gw-1',
                                            'device_type': 'strongswan'}])
    assert health['health'] == constants.HEALTH_OK
    assert calls.read_text().split('\n')[-4:-1] == [
        '--list-conns', '--load-all --noprompt --file %s/swanctl.conf'
        % config_dir, '--stats']


def test_swanctl_failure_is_an_error_without_the_psk(tmp_path, monkeypatch,
                                                     reports, deployments_,
                                                     caplog):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    config_dir = tmp_path / 'etc'
    fake_swanctl(bin_dir, exit_code=1,
                 output='cat %s/connections.json >&2' % config_dir)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    caplog.set_level(logging.DEBUG)
    deployments_.deploy(resource(config_dir=config_dir))
    status, description = reports[-1][2:]
    assert status == constants.STATUS_ERROR
    assert 'swanctl --load-all failed' in description
    assert PSK not in description
    assert PSK not in caplog.text


# What a real swanctl 5.9.8 prints when charon is not there: the error, its
# usage text, and (--load-all --file) a line per credential directory that
# is missing next to the file.
SWANCTL_NOISE = '''\
opening directory '/etc/gw/x509' failed: No such file or directory
opening directory '/etc/gw/private' failed: No such file or directory
connecting to 'unix:///run/gw.vici' failed: Connection refused
Error: connecting to 'unix:///run/gw.vici' URI failed: Connection refused
strongSwan 5.9.8 swanctl
usage:
  swanctl --load-all [--raw|--pretty] [--clear] [--noprompt]
           --help            (-h)  show usage information
''' + 'x' * 600


def test_a_swanctl_failure_says_the_error_not_the_noise(
        tmp_path, monkeypatch, reports, deployments_):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (tmp_path / 'noise').write_text(SWANCTL_NOISE)
    fake_swanctl(bin_dir, exit_code=2,
                 output='cat %s/noise >&2' % tmp_path)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    deployments_.deploy(resource(config_dir=tmp_path / 'etc'))
    status, description = reports[-1][2:]
    assert status == constants.STATUS_ERROR
    assert description == (
        "swanctl --load-all failed (exit 2): connecting to "
        "'unix:///run/gw.vici' failed: Connection refused; Error: connecting "
        "to 'unix:///run/gw.vici' URI failed: Connection refused")


def test_a_psk_with_a_newline_is_redacted_before_lines_are_joined(
        tmp_path, monkeypatch, reports, deployments_):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (tmp_path / 'echo').write_text('bad key psk-Otter\n8841 here\n')
    fake_swanctl(bin_dir, exit_code=22, output='cat %s/echo >&2' % tmp_path)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    deployments_.deploy(resource(config_dir=tmp_path / 'etc',
                                 psk='psk-Otter\n8841'))
    description = reports[-1][3]
    assert description.endswith('(exit 22): bad key *** here')


# Issue 13: a 168-character peer_address, an IPv6 address whose "zone" (any
# text after '%' but a '/', which ipaddress accepts) closes the connection
# and opens one of its own, for any peer; braces balanced, so swanctl would
# have loaded it. Padded with a comment to the length of the report.
INJECTED_PEER = (
    'fe80::1%eth0\n'
    '    }\n'
    '    evil {\n'
    '        children { evil { remote_ts = 0.0.0.0-255.255.255.255 } }\n'
    '        local { auth = psk }\n'
    '        remote { auth = psk }\n').ljust(168, '#')


def test_the_168_character_peer_address_is_refused():
    assert len(INJECTED_PEER) == 168
    with pytest.raises(swanctl_config.InvalidConnection,
                       match='peer_address'):
        swanctl_config.render({'c1': spec(peer_address=INJECTED_PEER)},
                              '198.51.100.1')


@pytest.mark.parametrize('changes', [
    {'peer_address': 'gw.example\n'},
    {'peer_address': 'fe80::1%eth0'},
    {'peer_id': 'branch\n'},
    {'peer_id': 'x' * 256},
    {'peer_cidrs': ['fe80::%eth0 } evil {/64']},
    {'local_cidrs': ['10.0.0.1%x']},
    {'peer_cidrs': '10.0.0.0/8'},
    {'ipsecpolicy': {'encapsulation_mode': 'tunnel\n}\nevil {'}},
    {'ikepolicy': {'auth_algorithm': 'sha1\n}\nevil {'}},
    {'ikepolicy': {'lifetime': {'units': 'seconds', 'value': '60s\n}'}}},
    {'psk': 7},
])
def test_unchecked_values_from_the_bus_are_refused(changes):
    with pytest.raises(swanctl_config.InvalidConnection):
        swanctl_config.render({'c1': spec(**changes)}, '198.51.100.1')


@pytest.mark.parametrize('resource_id', ['c1\n', 'c1 {', 'c.1'])
def test_a_connection_name_cannot_add_a_line(resource_id):
    with pytest.raises(swanctl_config.InvalidConnection):
        swanctl_config.render({resource_id: spec()}, '198.51.100.1')


@pytest.mark.parametrize('local', ['gw.example\n', 'fe80::1%eth0 }'])
def test_the_local_address_is_checked(local):
    with pytest.raises(swanctl_config.InvalidConnection):
        swanctl_config.render({'c1': spec()}, local)


def test_a_refused_value_is_the_deploys_error_without_the_psk(
        tmp_path, monkeypatch, reports, deployments_):
    monkeypatch.setattr(strongswan, 'swanctl_binary', lambda: None)
    deployments_.deploy(resource(config_dir=tmp_path,
                                 peer_address=INJECTED_PEER))
    [(resource_id, generation, status, description)] = reports
    assert (resource_id, status) == ('c1', constants.STATUS_ERROR)
    assert 'peer_address' in description and PSK not in description
    assert '\n' not in description
    assert not (tmp_path / 'swanctl.conf').exists()


# Issue 14: a tunnel's operating status from `swanctl --list-sas`. Real
# output of swanctl 5.9.8 (tests/functional/test_strongswan_tunnel.py's
# initiator), with a second connection half up and a third connecting.
LIST_SAS = '''\
c1: #1, ESTABLISHED, IKEv2, 19802772aeb4c98b_i* 6ef830efc26a3c10_r
  local  '192.0.2.1' @ 192.0.2.1[4500]
  remote '192.0.2.2' @ 192.0.2.2[4500]
  AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048
  established 0s ago, rekeying in 3505s
  c1: #2, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-128/HMAC_SHA2_256_128
    installed 0s ago, rekeying in 1683s, expires in 1980s
    in  9e0571de,    294 bytes,     6 packets,     0s ago
    out ab49585e,    294 bytes,     6 packets,     0s ago
    local  10.1.0.0/16
    remote 10.2.0.0/16
c2: #3, ESTABLISHED, IKEv2, 29802772aeb4c98b_i* 7ef830efc26a3c10_r
  local  '192.0.2.1' @ 192.0.2.1[500]
  remote '192.0.2.3' @ 192.0.2.3[500]
  established 2s ago, rekeying in 3505s
c3: #4, CONNECTING, IKEv2, 39802772aeb4c98b_i* 0000000000000000_r
  local  '192.0.2.1' @ 192.0.2.1[500]
  remote '192.0.2.4' @ 192.0.2.4[500]
  c3: #5, reqid 3, INSTALLED, TUNNEL, ESP:AES_CBC-128/HMAC_SHA2_256_128
'''


def test_tunnel_statuses_from_the_sas():
    assert strongswan.tunnel_statuses(LIST_SAS) == {
        'c1': constants.OPERATING_ONLINE,
        'c2': constants.OPERATING_DEGRADED}
    assert strongswan.tunnel_statuses('') == {}


def test_a_rekeyed_tunnel_stays_online():
    # An IKE SA rekeyed: the old one (REKEYED, without children) and the
    # new one; a child SA being rekeyed is still in the kernel.
    sas = ('c1: #1, REKEYED, IKEv2, a_i* b_r\n'
           'c1: #2, ESTABLISHED, IKEv2, c_i* d_r\n'
           '  c1: #3, reqid 1, REKEYING, TUNNEL, ESP:AES_CBC-128\n')
    assert strongswan.tunnel_statuses(sas) == {
        'c1': constants.OPERATING_ONLINE}
    halfway = ('c1: #2, ESTABLISHED, IKEv2, c_i* d_r\n'
               '  c1: #3, reqid 1, CREATED, TUNNEL, ESP:AES_CBC-128\n'
               'c1: #4, ESTABLISHED, IKEv2, e_i* f_r\n')
    assert strongswan.tunnel_statuses(halfway) == {
        'c1': constants.OPERATING_DEGRADED}


def test_operating_status_of_every_connection_deployed(
        tmp_path, monkeypatch, reports, deployments_, caplog):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (tmp_path / 'sas').write_text(LIST_SAS)
    calls = fake_swanctl(bin_dir, output='[ "$1" = --list-sas ] && '
                                         'cat %s/sas' % tmp_path)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    config_dir = tmp_path / 'etc'
    for name in ('c1', 'c2', 'c3', 'c4'):
        deployments_.deploy(resource(name, config_dir=config_dir))
    driver = deployments_.driver(resource(config_dir=config_dir)['device'])
    assert driver.operating_status() == {
        'c1': {'operating_status': constants.OPERATING_ONLINE},
        'c2': {'operating_status': constants.OPERATING_DEGRADED},
        'c3': {'operating_status': constants.OPERATING_OFFLINE},
        'c4': {'operating_status': constants.OPERATING_OFFLINE}}
    assert calls.read_text().split('\n')[-2] == '--list-sas'
    # charon does not answer: no tunnel can be said to be up.
    fake_swanctl(bin_dir, exit_code=1,
                 output='echo "connecting failed: %s" >&2' % PSK)
    caplog.set_level(logging.DEBUG)
    assert driver.operating_status() == dict.fromkeys(
        ('c1', 'c2', 'c3', 'c4'),
        {'operating_status': constants.OPERATING_OFFLINE})
    assert PSK not in caplog.text
    # Nor without swanctl.
    monkeypatch.setattr(strongswan, 'swanctl_binary', lambda: None)
    assert {status['operating_status'] for status in
            driver.operating_status().values()} == {
        constants.OPERATING_OFFLINE}
    for name in ('c1', 'c2', 'c3', 'c4'):
        driver.undeploy(name)
    assert driver.operating_status() == {}
