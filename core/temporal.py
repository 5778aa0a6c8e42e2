"""Temporal client, data converter, task queues and typed search attribute keys."""

from __future__ import annotations

import asyncio
import uuid

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.config import Settings
from core.payloads import data_converter

# Task queues (DESIGN §5): latency-sensitive generations apart from batch/maintenance work.
GENERATIONS_QUEUE = "generations"
DEFAULT_QUEUE = "default"
MAINTENANCE_QUEUE = "maintenance"
TASK_QUEUES = (GENERATIONS_QUEUE, DEFAULT_QUEUE, MAINTENANCE_QUEUE)

# Custom search attributes every run carries so operators can find it in the Temporal UI.
# The dev server registers exactly these at start (devstack/temporal.py); a production
# namespace registers them once (docker-compose's one-shot service).
ORGANIZATION_ID = SearchAttributeKey.for_keyword("OrganizationId")
SHOOTING_ID = SearchAttributeKey.for_keyword("ShootingId")
ENTITY_ID = SearchAttributeKey.for_keyword("EntityId")
ENTITY_TYPE = SearchAttributeKey.for_keyword("EntityType")
# The domain's status of the run's entity (workflows/run_status.py keeps it true at every
# end). Named `SartiqStatus`: a custom `Status` takes the place of the Temporal UI's own
# status column (UI 2.54). `Status` stays registered while runs started before the rename
# exist (they carry it until their next status change clears it).
STATUS = SearchAttributeKey.for_keyword("SartiqStatus")
LEGACY_STATUS = SearchAttributeKey.for_keyword("Status")

SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: "Keyword"
    for key in (ORGANIZATION_ID, SHOOTING_ID, ENTITY_ID, ENTITY_TYPE, STATUS, LEGACY_STATUS)
}

# DESIGN §5 priorities: lower runs first; fairness is keyed by organization. Here, not in
# core/starts.py: schedules and the batch workflow set them too, and neither may import
# start helpers.
PRIORITY_INTERACTIVE = 1
PRIORITY_BATCH_CHILD = 3
PRIORITY_JOB = 4
PRIORITY_MAINTENANCE = 5


def fairness_key(organization_id: uuid.UUID | str | None, owner_id: uuid.UUID | str | None) -> str:
    """One fairness bucket per organization (or, for personal work, per owner)."""
    return f"org:{organization_id}" if organization_id else f"user:{owner_id}"


async def connect(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client with the pydantic data converter (every process uses this one helper)."""
    return await Client.connect(
        settings.TEMPORAL_ADDRESS,
        namespace=settings.TEMPORAL_NAMESPACE,
        data_converter=data_converter,
        api_key=settings.TEMPORAL_API_KEY,
        tls=settings.TEMPORAL_TLS,
        runtime=runtime,
    )


def metrics_runtime(port: int) -> Runtime:
    """A runtime exporting the SDK's worker metrics (slots, latencies, polls) for Prometheus."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"127.0.0.1:{port}"))
    )


def ui_url(settings: Settings, workflow_id: str | None) -> str | None:
    """Link to a workflow's runs in the Temporal UI."""
    if not workflow_id or not settings.TEMPORAL_UI_URL:
        return None
    base = settings.TEMPORAL_UI_URL.rstrip("/")
    return f"{base}/namespaces/{settings.TEMPORAL_NAMESPACE}/workflows/{workflow_id}"


class LazyClient:
    """Connects on first use, so the API starts (and serves CRUD) while Temporal is down."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client
