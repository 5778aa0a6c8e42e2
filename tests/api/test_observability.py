"""Metrics, request ids and JSON logs."""

from __future__ import annotations

import json
import logging

from core import logging as log_context
from core.logging import JsonFormatter
from tests.helpers import Api, UserHandle


async def test_metrics_expose_http_latency_by_route_template(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    await api.get("/products/", as_=user)
    r = await api.client.get("/metrics", headers=superuser.headers)
    assert r.status_code == 200
    text = r.text
    assert 'route="/products/"' in text
    assert "sartiq_websocket_connections" in text
    # ids never become labels
    assert user.id not in text


async def test_every_response_carries_a_request_id(api: Api) -> None:
    r = await api.get("/utils/health-check/")
    assert len(r.headers["x-request-id"]) == 32
    given = await api.get("/utils/health-check/", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"


def test_json_log_lines_carry_the_context() -> None:
    token = log_context.request_id.set("req-1")
    org = log_context.organization_id.set("org-9")
    try:
        record = logging.LogRecord("sartiq", logging.INFO, __file__, 1, "hello %s", ("x",), None)
        record.workflow_id = "generation-1"
        line = json.loads(JsonFormatter().format(record))
    finally:
        log_context.request_id.reset(token)
        log_context.organization_id.reset(org)
    assert line["message"] == "hello x"
    assert line["request_id"] == "req-1" and line["organization_id"] == "org-9"
    assert line["workflow_id"] == "generation-1"
