"""Notifications for the rest of the cloud (oslo.messaging's Notifier).

Neutron's event names and payload shapes where Neutron has them: agent.
create.end (a new agent registered by its first heartbeat), agent.update.end
and agent.delete.end ({"agent": {...}}, {"agent_id": id}); the same pattern
for devices (device.*), VIPs (vip.*) and VPN connections
(vpn_connection.*), and vip.failover.end / vpn_connection.failover.end with
the agent and device it went from and to. Sent after the change commits, at
INFO, publisher agentsched.<host>, on [oslo_messaging_notifications]
topics through its driver (messagingv2, log, noop; none by default: off,
and so in the embedded mode), on [oslo_messaging_notifications]
transport_url or the RPC bus. A notification that cannot be sent is logged,
never the caller's failure. No secret is in a payload: credentials and
pre-shared keys never, device physical_info only (no credentials).
"""

import json
import threading

from oslo_log import log as logging
import oslo_messaging
from oslo_messaging import opts as messaging_opts

from agentsched import messaging

LOG = logging.getLogger(__name__)

GROUP = 'oslo_messaging_notifications'
_lock = threading.Lock()
_notifier = None


def setup(conf):
    """Build the notifier from the configuration; until then (and with no
    driver configured) emit() sends nothing."""
    global _notifier
    with _lock:
        if _notifier is not None:
            return
        register_opts(conf)
        if not conf.oslo_messaging_notifications.driver:
            return
        if conf.oslo_messaging_notifications.transport_url:
            transport = oslo_messaging.get_notification_transport(conf)
        else:
            transport = messaging.get_transport(conf)
        _notifier = oslo_messaging.Notifier(
            transport, publisher_id='agentsched.%s' % conf.host)


def register_opts(conf):
    """[oslo_messaging_notifications], as oslo.messaging lists it."""
    for group, options in messaging_opts.list_opts():
        if group == GROUP:
            conf.register_opts(options, group=group)


def cleanup():
    global _notifier
    with _lock:
        _notifier = None


def emit(event_type, payload, context=None):
    """Send one notification at INFO, if notifications are on."""
    notifier = _notifier
    if notifier is None:
        return
    try:
        notifier.info(context or {}, event_type, payload)
    except Exception as exc:
        LOG.warning('Notification %s not sent: %s', event_type, exc)


def enabled():
    return _notifier is not None


# -- payloads: the API's fields, never a secret ------------------------------

def _time(value):
    return value.isoformat() if value is not None else None


def _json(text):
    return json.loads(text) if text else None


def agent_payload(row):
    return {'agent': {
        'id': row.id, 'agent_type': row.agent_type, 'binary': row.binary,
        'host': row.host, 'topic': row.topic,
        'availability_zone': row.availability_zone,
        'admin_state_up': row.admin_state_up,
        'description': row.description, 'forced_down': row.forced_down,
        'created_at': _time(row.created_at),
        'started_at': _time(row.started_at),
        'heartbeat_timestamp': _time(row.heartbeat_timestamp)}}


def device_payload(row):
    # physical_info holds no credentials (a column of their own).
    return {'device': {
        'id': row.id, 'name': row.name, 'device_type': row.device_type,
        'service_type': row.service_type,
        'capabilities': _json(row.capabilities), 'capacity': row.capacity,
        'physical_info': _json(row.physical_info),
        'admin_state_up': row.admin_state_up, 'health': row.health,
        'availability_zone': row.availability_zone,
        'project_id': getattr(row, 'project_id', None)}}


def resource_payload(row):
    """{<resource_type>: the resource with its spec}: the spec column holds
    no secret (they are encrypted in a column of their own)."""
    body = dict(_json(row.spec) or {})
    body.update(id=row.id, name=row.name, project_id=row.project_id,
                tenant_id=row.project_id, status=row.status,
                status_description=row.status_description,
                operating_status=row.operating_status)
    return {row.resource_type: body}


def failover_payload(resource_type, resource_id, action, source, target):
    """source, target: (agent_id, device_id)."""
    return {resource_type + '_id': resource_id, 'action': action,
            'from': {'agent_id': source[0], 'device_id': source[1]},
            'to': {'agent_id': target[0], 'device_id': target[1]}}
