"""Temporal client, data converter, task queues and typed search attribute keys."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

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
STATUS = SearchAttributeKey.for_keyword("Status")

SEARCH_ATTRIBUTES: dict[str, str] = {
    key.name: "Keyword" for key in (ORGANIZATION_ID, SHOOTING_ID, ENTITY_ID, ENTITY_TYPE, STATUS)
}
