"""`scheduler health show`: the health monitor as its leader last saw it."""

from cliff import show

from agentsched.cli import base


def _flatten(prefix, value, into):
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten('%s%s.' % (prefix, key) if isinstance(inner, dict)
                     else prefix + key, inner, into)
    else:
        into[prefix.rstrip('.')] = value


class ShowSchedulerHealth(base.APICommand, show.ShowOne):
    """Show the health monitor: leader, storm guards, failover counters."""

    def take_action(self, parsed_args):
        health = self.client.get('/v2.0/scheduler/health')[
            'scheduler_health']
        item = {}
        _flatten('', {key: value for key, value in health.items()
                      if key != 'monitor'}, item)
        _flatten('', health.get('monitor') or {}, item)
        fields = sorted(item)
        return fields, tuple(
            ', '.join('%(agent_type)s in %(availability_zone)s: '
                      '%(dead)d of %(total)d dead' % entry for entry in value)
            if isinstance(value, list) else value
            for value in (item[field] for field in fields))
