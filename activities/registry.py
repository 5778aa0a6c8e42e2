"""Which activities run on which task queue, built from one worker's clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from activities.batch import BatchActivities
from activities.bulk_upload import BulkUploadActivities
from activities.caption import CaptionActivities
from activities.clients import Clients
from activities.export import ExportActivities
from activities.generation import GenerationActivities
from activities.mail import MailActivities
from activities.maintenance import MaintenanceActivities
from activities.media_cleanup import MediaCleanupActivities
from core.temporal import DEFAULT_QUEUE, GENERATIONS_QUEUE, MAINTENANCE_QUEUE


def activities_by_queue(clients: Clients) -> dict[str, list[Callable[..., Any]]]:
    generation = GenerationActivities(
        settings=clients.settings,
        sessionmaker=clients.sessionmaker,
        redis=clients.redis,
        compute=clients.compute,
        store=clients.store,
    )
    maintenance = MaintenanceActivities(
        clients.sessionmaker, redis=clients.redis, settings=clients.settings
    )
    queues: dict[str, list[Callable[..., Any]]] = {
        GENERATIONS_QUEUE: [
            generation.mark_processing,
            generation.submit_task,
            generation.poll_task,
            generation.fetch_result,
            generation.cancel_task,
            generation.store_outputs,
            generation.record_try,
            generation.record_progress,
            generation.complete_generation,
            generation.record_and_complete,
            generation.finish_generation,
        ],
        MAINTENANCE_QUEUE: [maintenance.delete_expired_sessions],
    }
    # Features add their activity classes here: one block per feature, merged by queue.
    batch = BatchActivities(
        settings=clients.settings, sessionmaker=clients.sessionmaker, redis=clients.redis
    )
    # Beside the batch workflow and its children (GENERATIONS_QUEUE, see workflows/registry).
    queues[GENERATIONS_QUEUE].extend(batch.activities())
    caption = CaptionActivities(clients)
    queues.setdefault(DEFAULT_QUEUE, []).extend(
        [
            caption.submit_caption,
            caption.caption_status,
            caption.caption_text,
            caption.apply_caption,
            caption.cancel_caption,
        ]
    )
    mail = MailActivities(
        settings=clients.settings, sessionmaker=clients.sessionmaker, redis=clients.redis
    )
    queues.setdefault(DEFAULT_QUEUE, []).append(mail.send)
    media_cleanup = MediaCleanupActivities(
        settings=clients.settings, sessionmaker=clients.sessionmaker, store=clients.store
    )
    queues.setdefault(MAINTENANCE_QUEUE, []).extend(
        [
            maintenance.write_usage_report,
            maintenance.reconcile_generations,
            media_cleanup.delete_object,
            media_cleanup.record_dead_letter,
            media_cleanup.retry_dead_letters,
            media_cleanup.record_retry_report,
            media_cleanup.start_orphan_scan,
            media_cleanup.scan_orphan_page,
            media_cleanup.finish_orphan_scan,
        ]
    )
    bulk_upload = BulkUploadActivities(clients)
    queues.setdefault(DEFAULT_QUEUE, []).extend(
        [
            bulk_upload.plan,
            bulk_upload.fetch_images,
            bulk_upload.apply_chunk,
            bulk_upload.finish,
        ]
    )
    export = ExportActivities(
        settings=clients.settings,
        sessionmaker=clients.sessionmaker,
        redis=clients.redis,
        store=clients.store,
    )
    queues.setdefault(DEFAULT_QUEUE, []).extend(export.activities())
    return queues
