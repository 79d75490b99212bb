"""Facts about the tables that code elsewhere relies on."""


def test_agent_dict_unpacks_the_agents_table_in_order():
    """extensions/agents.py unpacks result rows by position."""
    from agentsched.db import models
    assert [c.name for c in models.agents.columns] == [
        'id', 'agent_type', 'binary', 'topic', 'host', 'availability_zone',
        'admin_state_up', 'created_at', 'started_at', 'heartbeat_timestamp',
        'description', 'configurations', 'resource_versions', 'load',
        'resources_synced', 'forced_down', 'signed']
