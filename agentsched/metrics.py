"""Prometheus metrics (prometheus_client): the one home of their names.

Names follow Prometheus' conventions: agentsched_ prefix, base units
(seconds, bytes), _total on counters, labels of low cardinality only (a
type, a state, a route template; never a host, an id or a name).

Two kinds:
- instrumented here, by the code paths they time or count (placement,
  the REST API, RPC calls from agents, the heartbeat flush, and on the
  agent deploys and heartbeats), through the functions below, which do
  nothing while metrics are off ([metrics] enabled);
- read at scrape time (ServerCollector, AgentCollector) from what the
  process keeps anyway: the heartbeat counters, the health monitor's
  totals and guards, the inventory counts (three GROUP BY statements per
  scrape). The heartbeat path itself pays nothing per report.

Several processes (gunicorn workers for the API, report workers): set
PROMETHEUS_MULTIPROC_DIR as prometheus_client documents; a scrape (the API's
/metrics and serve()'s listener alike) then merges every process's
instrumented metrics, and adds the collectors of the process that serves it.
Report workers hand their heartbeat figures to the server's process through
shared memory whether or not it is set (server_metrics.py).
"""

import os
import threading
import time

import prometheus_client
from prometheus_client import core
from prometheus_client import multiprocess

PREFIX = 'agentsched_'
# Placement and API latencies: milliseconds to seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DEPLOY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                  60.0)

_enabled = True
_lock = threading.Lock()

# What a scrape reads. prometheus_client itself chooses its multiprocess
# mode at import, from the same variable.
if os.environ.get('PROMETHEUS_MULTIPROC_DIR'):
    _SCRAPED = core.CollectorRegistry()
    multiprocess.MultiProcessCollector(_SCRAPED)
else:
    _SCRAPED = prometheus_client.REGISTRY

PLACEMENT_SECONDS = prometheus_client.Histogram(
    PREFIX + 'placement_duration_seconds',
    'Time to place one resource (candidates, algorithm, claim).',
    buckets=LATENCY_BUCKETS)
PLACEMENTS = prometheus_client.Counter(
    PREFIX + 'placements',
    'Placements by outcome (placed, no_valid_candidate, already_bound, '
    'skipped, error) and, when nothing '
    'fits, the filter that refused the most candidates.',
    ['outcome', 'reason'])
CLAIM_RETRIES = prometheus_client.Counter(
    PREFIX + 'placement_claim_retries',
    'Claims lost to another scheduler, retried on a fresh snapshot.')
API_REQUESTS = prometheus_client.Counter(
    PREFIX + 'api_requests',
    'REST API requests by route template, method and status.',
    ['route', 'method', 'status'])
API_SECONDS = prometheus_client.Histogram(
    PREFIX + 'api_request_duration_seconds',
    'REST API request latency by route template and method.',
    ['route', 'method'], buckets=LATENCY_BUCKETS)
RPC_CALLS = prometheus_client.Counter(
    PREFIX + 'rpc_calls',
    'Calls from agents served, by method (sync, update_status, the data '
    'plane batches) and outcome (ok, refused, invalid).',
    ['method', 'outcome'])
FLUSH_SECONDS = prometheus_client.Histogram(
    PREFIX + 'heartbeat_flush_duration_seconds',
    'Time to write one flush of pending heartbeats.',
    buckets=LATENCY_BUCKETS)
# The agent's.
DEPLOY_SECONDS = prometheus_client.Histogram(
    PREFIX + 'agent_deploy_duration_seconds',
    'Time of one deploy on a device, by driver (device_type) and outcome '
    '(active, error).', ['driver', 'outcome'], buckets=DEPLOY_BUCKETS)
HEARTBEATS_SENT = prometheus_client.Counter(
    PREFIX + 'agent_heartbeats_sent',
    'Heartbeats this agent sent, by outcome (accepted, failed, refused, '
    'late: answered past fence_time after its sending, not counted).',
    ['outcome'])


def enable(on):
    global _enabled
    _enabled = bool(on)


def placement(seconds, outcome, reason=''):
    if _enabled:
        PLACEMENT_SECONDS.observe(seconds)
        PLACEMENTS.labels(outcome, reason).inc()


def claim_retry():
    if _enabled:
        CLAIM_RETRIES.inc()


def api_request(route, method, status, seconds):
    if _enabled:
        API_REQUESTS.labels(route, method, str(status)).inc()
        API_SECONDS.labels(route, method).observe(seconds)


def rpc_call(method, outcome='ok'):
    if _enabled:
        RPC_CALLS.labels(method, outcome).inc()


def flush(seconds):
    if _enabled:
        FLUSH_SECONDS.observe(seconds)


def deploy(driver, outcome, seconds):
    if _enabled:
        DEPLOY_SECONDS.labels(driver or 'unknown', outcome).observe(seconds)


def heartbeat_sent(outcome):
    if _enabled:
        HEARTBEATS_SENT.labels(outcome).inc()


def register(collector):
    """Add a scrape-time collector to what scrapes read; the returned
    callable removes it (a service stopping)."""
    with _lock:
        _SCRAPED.register(collector)

    def unregister():
        with _lock:
            try:
                _SCRAPED.unregister(collector)
            except KeyError:
                pass
    return unregister


def exposition():
    """(body, content type) of a scrape of this process."""
    return (prometheus_client.generate_latest(_SCRAPED),
            prometheus_client.CONTENT_TYPE_LATEST)


def serve(host, port):
    """A plain HTTP listener for /metrics on its own port (no auth: bind it
    where only Prometheus reaches). Returns the server (.shutdown())."""
    server, _thread = prometheus_client.start_http_server(
        port, addr=host, registry=_SCRAPED)
    return server


def gauge(name, documentation, labels, rows):
    """A GaugeMetricFamily from rows of (*label values, value)."""
    family = core.GaugeMetricFamily(PREFIX + name, documentation,
                                    labels=labels)
    for row in rows:
        family.add_metric([str(value) if value is not None else ''
                           for value in row[:-1]], row[-1])
    return family


def counter(name, documentation, labels, rows):
    family = core.CounterMetricFamily(PREFIX + name, documentation,
                                      labels=labels)
    for row in rows:
        family.add_metric([str(value) for value in row[:-1]], row[-1])
    return family


class Timer:
    """with Timer() as timer: ...; timer.seconds."""

    def __enter__(self):
        self._start = time.perf_counter()
        self.seconds = None
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self._start
        return False
