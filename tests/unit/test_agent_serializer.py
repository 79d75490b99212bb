"""The agents' batch serializer (extensions/agents.py _agent_dicts, with
api/times.agent_times) writes the bytes the one-agent-at-a-time
serializer it replaced wrote, field for field."""

import datetime
import random

import orjson

from agentsched import liveness
from agentsched.api import times
from agentsched.extensions import agents as agents_extension

NOW = datetime.datetime(2026, 11, 27, 2, 0, 0, 500000)
SINCE = NOW - datetime.timedelta(seconds=75)


def _reference(row, alive_since):
    """The serializer before the batch one, as it was."""
    (agent_id, agent_type, binary, topic, host, availability_zone,
     admin_state_up, created_at, started_at, heartbeat_timestamp,
     description, configurations, _resource_versions, _load,
     resources_synced, forced_down, _signed) = row
    return {
        'id': agent_id, 'agent_type': agent_type, 'binary': binary,
        'topic': topic, 'host': host, 'admin_state_up': admin_state_up,
        'alive': liveness.is_alive(heartbeat_timestamp, forced_down,
                                   alive_since),
        'created_at': created_at.isoformat(' ', 'seconds'),
        'started_at': started_at.isoformat(' ', 'seconds'),
        'heartbeat_timestamp': heartbeat_timestamp.isoformat(' ', 'seconds'),
        'description': description,
        'configurations': orjson.Fragment(configurations),
        'availability_zone': availability_zone,
        'resources_synced': resources_synced,
        'forced_down': forced_down,
    }


def _rows():
    """Rows in the agents table's column order: None where the column
    allows it, unicode and JSON-escaped text, times on and between
    seconds, alive and dead and forced down."""
    return [
        ('a1', 'Loadbalancer agent', 'agentsched-agent', 't', 'h1', 'nova',
         True, NOW, NOW, NOW, None, '{}', None, 0, None, False, False),
        ('a2', 'DHCP agent', 'neutron-dhcp-agent', 'dhcp_agent',
         'hôte-ü "quoted" \\ \n\t', None, False,
         datetime.datetime(2026, 1, 1, 0, 0, 0),
         datetime.datetime(2026, 1, 1, 0, 0, 0, 999999),
         SINCE - datetime.timedelta(microseconds=1), 'décrit \u2028 ✓',
         '{"devices":[{"name":"d\\u00e9","capacity":10}],"nested":'
         '{"a":null,"b":[1.5,true]}}', '{"x":"1.0"}', 7, True, False, True),
        ('a3', 't', 'b', 't', 'h3', 'az', True,
         datetime.datetime(1999, 12, 31, 23, 59, 59, 1), SINCE, SINCE,
         '', '{"k":"T 12:00:00T"}', None, 0, False, True, False),
    ]


def test_a_batch_is_what_one_row_at_a_time_was():
    rows = _rows()
    assert orjson.dumps(agents_extension._agent_dicts(rows, SINCE)) == \
        orjson.dumps([_reference(row, SINCE) for row in rows])
    fields = ['host', 'alive', 'created_at', 'configurations']
    assert orjson.dumps(agents_extension._agent_dicts(rows, SINCE, fields)) \
        == orjson.dumps([{field: _reference(row, SINCE)[field]
                          for field in fields} for row in rows])
    assert agents_extension._agent_dicts([], SINCE) == []
    assert orjson.dumps(agents_extension._agent_dict(rows[1], SINCE)) == \
        orjson.dumps(_reference(rows[1], SINCE))


def test_agent_times_are_isoformat_to_the_second():
    samples = [datetime.datetime.min, datetime.datetime.max,
               datetime.datetime(2026, 11, 27, 0, 0, 0),
               datetime.datetime(2026, 11, 27, 0, 0, 0, 999999)]
    generator = random.Random(17)
    samples += [datetime.datetime(2026, 1, 1) + datetime.timedelta(
        microseconds=generator.randrange(10 ** 14)) for _ in range(1000)]
    expected = [value.isoformat(' ', 'seconds') for value in samples]
    assert times.agent_times(samples) == expected
    assert [times.agent_time(value) for value in samples] == expected
