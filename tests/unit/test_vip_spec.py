"""A VIP's spec as the API takes it (services/resource_types/vip.py): the
schema, then the strict formats of what reaches haproxy.cfg (issue 14's
health monitor and members' admin_state_up)."""

import pytest

from agentsched.services import resource_types
from agentsched.services.resource_types import vip

MONITOR = {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2,
           'max_retries_down': 3, 'http_method': 'HEAD',
           'url_path': '/healthz?deep=1', 'expected_codes': '200-204'}


def spec(**changes):
    document = {'address': '192.0.2.10', 'protocol': 'HTTP',
                'protocol_port': 80,
                'members': [{'address': '10.0.0.1', 'protocol_port': 8080,
                             'weight': 2, 'admin_state_up': False}],
                'health_monitor': dict(MONITOR)}
    document.update(changes)
    return document


@pytest.fixture(scope='module')
def kind():
    return vip.VIP()


@pytest.mark.parametrize('changes', [
    {}, {'health_monitor': None},
    {'health_monitor': {'type': 'PING', 'delay': 1, 'timeout': 1,
                        'max_retries': 1}},
    {'health_monitor': {'type': 'TCP', 'delay': 86400, 'timeout': 86400,
                        'max_retries': 10, 'max_retries_down': 10}},
    {'health_monitor': dict(MONITOR, type='HTTPS')},
    {'health_monitor': dict(MONITOR, expected_codes='200,202,302')},
])
def test_good_specs_pass(kind, changes):
    kind.validate(spec(**changes))


def test_the_stored_spec_keeps_what_was_given(kind):
    given = spec(health_monitor={'type': 'TCP', 'delay': 2, 'timeout': 1,
                                 'max_retries': 1})
    kind.validate(given)
    # The defaults are the renderer's: nothing was added.
    assert given['health_monitor'] == {'type': 'TCP', 'delay': 2,
                                       'timeout': 1, 'max_retries': 1}


def monitor(**changes):
    return {'health_monitor': dict(MONITOR, **changes)}


def without(field):
    document = dict(MONITOR)
    del document[field]
    return {'health_monitor': document}


@pytest.mark.parametrize('changes, message', [
    # The schema.
    (monitor(type='ICMP'), 'health_monitor.type must be one of'),
    (monitor(delay=0), 'health_monitor.delay must be bigger than or equal '
                       'to 1'),
    (monitor(delay=86401), 'health_monitor.delay must be smaller than or '
                           'equal to 86400'),
    (monitor(timeout='3'), 'health_monitor.timeout must be integer'),
    (monitor(max_retries=11), 'health_monitor.max_retries must be smaller'),
    (monitor(max_retries_down=0), 'health_monitor.max_retries_down must be '
                                  'bigger'),
    (monitor(http_method='FETCH'), 'health_monitor.http_method must be one '
                                   'of'),
    (monitor(url_path='/' + 'x' * 255), 'health_monitor.url_path must be '
                                        'shorter'),
    (monitor(expected_codes=''), 'health_monitor.expected_codes must be '
                                 'longer'),
    (monitor(interval=5), 'health_monitor must not contain'),
    (without('type'), "health_monitor must contain"),
    (without('delay'), "health_monitor must contain"),
    (without('timeout'), "health_monitor must contain"),
    (without('max_retries'), "health_monitor must contain"),
    ({'health_monitor': 'HTTP'}, 'health_monitor must be object or null'),
    ({'members': [{'address': '10.0.0.1', 'protocol_port': 80,
                   'admin_state_up': 'false'}]},
     r'members\[0\].admin_state_up must be boolean'),
    # The formats: what haproxy.cfg gets.
    (monitor(timeout=6), r'vip.health_monitor.timeout \(6 s\) must not be '
                         r'longer than its delay \(5 s\)'),
    (monitor(url_path='/a b'), 'vip.health_monitor.url_path must start '
                               'with / and have only'),
    (monitor(url_path='/a\nb'), 'vip.health_monitor.url_path must start'),
    (monitor(url_path='/a\r\nHost: x'), 'vip.health_monitor.url_path must'),
    (monitor(url_path='/a"b'), 'vip.health_monitor.url_path must start'),
    (monitor(url_path="/a'b"), 'vip.health_monitor.url_path must start'),
    (monitor(url_path='/a#b'), 'vip.health_monitor.url_path must start'),
    (monitor(url_path='/a\\x0ab'), 'vip.health_monitor.url_path must'),
    (monitor(url_path='healthz'), 'vip.health_monitor.url_path must start'),
    (monitor(expected_codes='2xx'), 'vip.health_monitor.expected_codes must '
                                    r'be a code \(200\)'),
    (monitor(expected_codes='200, 202'), 'vip.health_monitor.expected_codes'
                                         ' must be a code'),
    (monitor(expected_codes='204-200'), 'vip.health_monitor.expected_codes:'
                                        ' a range must go up'),
    (monitor(expected_codes='99,200'), 'vip.health_monitor.expected_codes '
                                       'must be a code'),
    (monitor(expected_codes='200,600'), 'vip.health_monitor.expected_codes:'
                                        ' every code must be from 100 to '
                                        '599'),
    ({'health_monitor': {'type': 'TCP', 'delay': 2, 'timeout': 1,
                         'max_retries': 1, 'url_path': '/'}},
     'vip.health_monitor.url_path applies to HTTP and HTTPS monitors only, '
     'not TCP'),
    ({'health_monitor': {'type': 'PING', 'delay': 2, 'timeout': 1,
                         'max_retries': 1, 'http_method': 'GET'}},
     'vip.health_monitor.http_method applies to HTTP and HTTPS monitors '
     'only, not PING'),
])
def test_each_bad_value_is_refused_saying_why(kind, changes, message):
    with pytest.raises(resource_types.InvalidResource, match=message):
        kind.validate(spec(**changes))


def test_an_update_replaces_the_monitor_whole(kind):
    # services/resources.py merges the changes into the stored spec (a
    # monitor is replaced, not merged) and checks the result.
    with pytest.raises(resource_types.InvalidResource, match='longer than'):
        kind.validate(spec(health_monitor={'type': 'TCP', 'delay': 1,
                                           'timeout': 2, 'max_retries': 1}),
                      partial=True)
    kind.validate(spec(health_monitor=None), partial=True)
