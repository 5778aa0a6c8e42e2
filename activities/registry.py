"""Which activities run on which task queue, built from one worker's clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.caption import CaptionActivities
from activities.clients import Clients
from activities.generation import GenerationActivities
from activities.maintenance import MaintenanceActivities
from core.temporal import DEFAULT_QUEUE, GENERATIONS_QUEUE, MAINTENANCE_QUEUE


def activities_by_queue(clients: Clients) -> dict[str, list[Callable[..., Any]]]:
    generation = GenerationActivities(
        settings=clients.settings,
        sessionmaker=clients.sessionmaker,
        redis=clients.redis,
        compute=clients.compute,
        store=clients.store,
    )
    maintenance = MaintenanceActivities(clients.sessionmaker)
    queues: dict[str, list[Callable[..., Any]]] = {
        GENERATIONS_QUEUE: [
            generation.plan_batch,
            generation.mark_processing,
            generation.submit_task,
            generation.poll_task,
            generation.fetch_result,
            generation.cancel_task,
            generation.store_outputs,
            generation.record_try,
            generation.record_progress,
            generation.complete_generation,
            generation.finish_generation,
        ],
        MAINTENANCE_QUEUE: [maintenance.delete_expired_sessions],
    }
    # Features add their activity classes here: one block per feature, merged by queue.
    caption = CaptionActivities(clients)
    queues.setdefault(DEFAULT_QUEUE, []).extend(
        [
            caption.submit_caption,
            caption.caption_status,
            caption.caption_text,
            caption.apply_caption,
        ]
    )
    return queues
