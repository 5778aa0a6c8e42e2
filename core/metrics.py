"""Prometheus metrics of the API and worker processes (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUEST_SECONDS = Histogram(
    "sartiq_http_request_duration_seconds",
    "HTTP request latency by route template (not raw path: ids would explode cardinality).",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WORKFLOWS_STARTED = Counter(
    "sartiq_workflows_started_total", "Workflow starts requested, by workflow type.", ["workflow"]
)
WORKFLOWS_FINISHED = Counter(
    "sartiq_workflows_finished_total",
    "Domain runs that reached an end, by workflow type and outcome.",
    ["workflow", "outcome"],
)
WEBSOCKET_CONNECTIONS = Gauge(
    "sartiq_websocket_connections", "Open WebSocket connections of this API process."
)
BRIDGE_LAG_SECONDS = Gauge(
    "sartiq_compute_event_bridge_lag_seconds",
    "Age of the last compute event when it was signalled to its workflow.",
)
BRIDGE_EVENTS = Counter(
    "sartiq_compute_event_bridge_events_total", "Compute events handled by the bridge."
)
BRIDGE_MALFORMED = Counter(
    "sartiq_compute_event_bridge_malformed_total",
    "Compute events the bridge refused as malformed (acknowledged, never signalled).",
)
