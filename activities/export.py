"""Side effects of ExportWorkflow: database, object store, webhook target, events.

Database work runs in `async def` activities. Image and bucket work (Pillow, boto3) and the
webhook POSTs (httpx, sync) run in sync activities on the worker's thread pool; when one of
those needs the database (progress, the webhook secret) it hands a coroutine to the
worker's event loop instead of blocking it.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from botocore.exceptions import ClientError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities import permanent
from activities.export_sync import Pulse, Throttled
from activities.export_zip import ZipBuild
from core import events, outbound
from core.config import Settings
from core.db import session_scope
from core.storage import ObjectStore
from core.temporal import ui_url
from models.export_schemas import ExportPublic, TemplateError
from models.jobs import JOB_FINAL_STATUSES, Export, JobStatus
from services import export_plan, exports
from services import export_webhook as webhook
from services.export_images import CONTENT_TYPES, UnreadableImage, convert
from services.export_plan import PlannedImage
from workflows.export_types import (
    BuildZipInput,
    CleanupInput,
    DeliverInput,
    DeliveryResult,
    ExportInput,
    ExportPlan,
    ExportProgressInput,
    FinishExportInput,
    ZipResult,
)

T = TypeVar("T")

# A delivery's whole exchange (upload included) and the receiver's answer, which is read
# only to free the connection.
WEBHOOK_LIMITS = outbound.Limits(
    max_bytes=1024 * 1024, total_seconds=120.0, connect_seconds=10.0, read_seconds=60.0
)
WEBHOOK_USER_AGENT = "sartiq-webhooks/1.0"
PROGRESS_EVERY_SECONDS = 2.0  # a zip's progress reaches the database at most this often
PLAN_CACHE_SIZE = 16
LOOP_CALL_TIMEOUT = 30.0
EVENT_TYPES = {
    JobStatus.COMPLETED: "export.completed",
    JobStatus.FAILED: "export.failed",
    JobStatus.CANCELLED: "export.updated",  # DESIGN §7 has no export.cancelled
}


class ExportActivities:
    """Built once per worker with its clients (inside the worker's running event loop)."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: Redis,
        store: ObjectStore,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.redis = redis
        self.store = store
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # built outside a loop: the first async activity records it
            self._loop = None
        # Through the outbound guard: the target is a tenant's choice.
        self._http = outbound.OutboundClient(
            outbound.allow_list(settings), user_agent=WEBHOOK_USER_AGENT, limits=WEBHOOK_LIMITS
        )
        self._lock = threading.Lock()
        self._plans: OrderedDict[str, list[PlannedImage]] = OrderedDict()
        self._targets: OrderedDict[str, tuple[str, str]] = OrderedDict()

    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.plan,
            self.record_progress,
            self.build_zip,
            self.deliver,
            self.cleanup,
            self.finish,
        ]

    # -- helpers ---------------------------------------------------------------------------

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the worker's loop from a sync activity's thread."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("ExportActivities was built outside the worker's event loop")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(LOOP_CALL_TIMEOUT)

    def _plan_items(self, key: str) -> list[PlannedImage]:
        """The plan's images, cached: every delivery of an export reads the same plan."""
        with self._lock:
            if key in self._plans:
                self._plans.move_to_end(key)
                return self._plans[key]
        items = permanent.parsed(
            export_plan.loads, permanent.stored(self.store, key, "plan"), "plan"
        )
        with self._lock:
            self._plans[key] = items
            while len(self._plans) > PLAN_CACHE_SIZE:
                self._plans.popitem(last=False)
        return items

    def _public(self, export: Export) -> ExportPublic:
        key = exports.download_key(export)
        return exports.public(
            export,
            ui_url=lambda wid: ui_url(self.settings, wid),
            # Presigning is local computation (no request), fine inside the loop.
            download_url=self.store.presigned_get(key) if key else None,
        )

    async def _publish(self, public: ExportPublic, kind: str, dedupe: str) -> None:
        await events.publish(
            self.redis,
            type=kind,
            payload=public.model_dump(mode="json"),
            organization_id=public.organization_id,
            user_id=public.owner_id,
            dedupe_key=f"export:{public.id}:{dedupe}",
        )

    # -- database --------------------------------------------------------------------------

    @activity.defn(name="export.plan")
    async def plan(self, data: ExportInput) -> ExportPlan:
        """Mark the export running and fix its list of images (into the bucket)."""
        self._loop = self._loop or asyncio.get_running_loop()
        export_id = uuid.UUID(data.export_id)
        key = export_plan.plan_key(export_id)
        async with session_scope(self.sessionmaker) as session:
            export = await _load(session, export_id)
            finished = export.status in JOB_FINAL_STATUSES
            items: list[PlannedImage] = []
            shooting_name = None
            bad_template: str | None = None
            if not finished:
                try:
                    items, shooting_name = await export_plan.resolve(session, export)
                except TemplateError as error:
                    # A template stored before the API refused it: no retry can fix it, so
                    # the export fails with the reason (plan.error) instead of retrying.
                    bad_template = f"naming_template: {error}"
                await asyncio.to_thread(
                    self.store.put, key, export_plan.dumps(items), content_type="application/json"
                )
                exports.mark_running(export, len(items))
                await session.flush()
            public = self._public(export)
            plan = ExportPlan(
                export_id=data.export_id,
                organization_id=str(export.organization_id) if export.organization_id else None,
                owner_id=str(export.owner_id) if export.owner_id else None,
                target=export.target.value,
                format=export.format.value,
                max_dimension=export.max_dimension,
                plan_key=key,
                total=len(items),
                deadline_at=_deadline(export, self.settings) if not finished else None,
                deadline_seconds=self.settings.EXPORT_DEADLINE_SECONDS,
                result_key=export_plan.result_key(export, shooting_name),
                part_size=export_plan.part_size(items),
                already_finished=finished,
                status=export.status.value,
                error=bad_template or (_plan_error(export, len(items)) if not finished else None),
            )
        if not finished:
            await self._publish(public, "export.updated", "running")
        return plan

    @activity.defn(name="export.record_progress")
    async def record_progress(self, data: ExportProgressInput) -> None:
        await self._record_progress(data.export_id, data.processed, data.failed)

    async def _record_progress(self, export_id: str, processed: int, failed: int) -> None:
        async with session_scope(self.sessionmaker) as session:
            export = await _load(session, uuid.UUID(export_id))
            changed = exports.set_progress(export, processed, failed)
            await session.flush()
            public = self._public(export)
        if changed:
            await self._publish(public, "export.updated", f"progress:{processed}:{failed}")

    @activity.defn(name="export.finish")
    async def finish(self, data: FinishExportInput) -> str:
        """The final status; a completed export marks its shots exported. Returns the status
        the export ends with: the first final state recorded wins."""
        status = JobStatus(data.status)
        shot_ids: set[uuid.UUID] = set()
        if status == JobStatus.COMPLETED and data.plan_key:
            items = await asyncio.to_thread(self._plan_items, data.plan_key)
            failed = set(data.failed_indexes)
            shot_ids = {uuid.UUID(i.shot_id) for n, i in enumerate(items) if n not in failed}
        async with session_scope(self.sessionmaker) as session:
            export = await _load(session, uuid.UUID(data.export_id))
            changed = exports.finish(
                export,
                status=status,
                processed=data.processed,
                failed=data.failed,
                result_key=data.result_key,
                error_message=data.error_message,
            )
            if changed and export.completed_at is not None:
                await exports.mark_shots_exported(session, shot_ids, export.completed_at)
            await session.flush()
            public = self._public(export)
        if changed:
            await self._publish(public, EVENT_TYPES[status], status.value)
        return public.status.value

    async def _webhook_target(self, export_id: str) -> tuple[str, str]:
        async with self.sessionmaker() as session:
            export = await session.get(Export, uuid.UUID(export_id))
        if export is None or not export.webhook_url or not export.webhook_secret:
            raise ApplicationError("the export has no webhook target", non_retryable=True)
        return export.webhook_url, export.webhook_secret

    # -- object store and webhook (sync: the worker's thread pool) -------------------------

    @activity.defn(name="export.build_zip")
    def build_zip(self, data: BuildZipInput) -> ZipResult:
        """Stream the archive into a multipart upload, resuming from the last heartbeat."""
        items = self._plan_items(data.plan_key)
        report = Throttled(
            lambda done, failed: self._on_loop(self._record_progress(data.export_id, done, failed)),
            every=PROGRESS_EVERY_SECONDS,
        )
        build = ZipBuild(self.store, data, items, heartbeat=activity.heartbeat, progress=report)
        info = activity.info()
        details = info.heartbeat_details
        timeout = info.heartbeat_timeout.total_seconds() if info.heartbeat_timeout else 30.0
        try:
            with Pulse(build.details, every=max(0.5, timeout / 4)):
                result = build.run(details[0] if details else None)
        except CancelledError:
            # Only a cancel request ends the upload: after a timeout or a worker shutdown the
            # next attempt resumes it.
            reason = activity.cancellation_details()
            if reason is not None and reason.cancel_requested:
                with activity.shield_thread_cancel_exception():
                    build.abort()
            raise
        except ApplicationError as error:
            if error.non_retryable:
                build.abort()
            raise
        report.flush(result.processed, result.failed)
        return result

    @activity.defn(name="export.deliver")
    def deliver(self, data: DeliverInput) -> DeliveryResult:
        """POST one image to the webhook target (see services/export_webhook.py)."""
        item = self._plan_items(data.plan_key)[data.index]
        url, secret = self._target(data.export_id)
        activity.heartbeat(data.index)
        try:
            source = self.store.get(item.storage_key)
            converted = convert(source, fmt=data.format, max_dimension=data.max_dimension)
        except UnreadableImage as error:
            raise ApplicationError(
                str(error), type="UnreadableImage", non_retryable=True
            ) from error
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise ApplicationError(
                    f"{item.storage_key} is missing", type="MissingImage", non_retryable=True
                ) from error
            raise
        metadata = {
            "event": webhook.EVENT,
            "export_id": data.export_id,
            "index": data.index,
            "total": data.total,
            "file_name": item.file_name,
            "shot_id": item.shot_id,
            "media_id": item.media_id,
            "look": item.look,
            "shot_type": item.shot_type,
            "sku": item.sku,
            "content_type": CONTENT_TYPES[converted.extension],
            "width": converted.width,
            "height": converted.height,
            "bytes": len(converted.data),
            "md5": converted.md5,
        }
        body, content_type = webhook.multipart_body(
            metadata, item.file_name, CONTENT_TYPES[converted.extension], converted.data
        )
        headers = webhook.headers(
            body, secret, delivery_id=f"{data.export_id}:{data.index}", content_type=content_type
        )
        activity.heartbeat(data.index)
        try:
            # Redirects are not followed: a signed delivery goes where it was configured to.
            response = self._http.request(
                "POST", url, content=body, headers=headers, follow_redirects=False
            )
        except outbound.OutboundError as error:
            # A refused or invalid target stays refused; a network failure may pass.
            raise ApplicationError(
                f"webhook {error.message}", type="WebhookError", non_retryable=not error.transient
            ) from None
        if response.is_success:
            return DeliveryResult(data.index, response.status_code, len(converted.data))
        # 5xx, 408 and 429 may pass on a later try; any other refusal will not.
        retryable = response.status_code >= 500 or response.status_code in (408, 429)
        raise ApplicationError(
            f"webhook answered {response.status_code}",
            type="WebhookError",
            non_retryable=not retryable,
        )

    def _target(self, export_id: str) -> tuple[str, str]:
        with self._lock:
            if export_id in self._targets:
                return self._targets[export_id]
        target = self._on_loop(self._webhook_target(export_id))
        with self._lock:
            self._targets[export_id] = target
            while len(self._targets) > PLAN_CACHE_SIZE:
                self._targets.popitem(last=False)
        return target

    @activity.defn(name="export.cleanup")
    def cleanup(self, data: CleanupInput) -> int:
        """Abort every unfinished multipart upload of the export (a crashed or cancelled
        attempt leaves one behind); without a result, also remove a partial archive."""
        prefix = f"exports/{data.export_id}/"
        client, bucket = self.store.client, self.store.bucket
        aborted = 0
        key_marker = upload_marker = ""
        while True:
            page = client.list_multipart_uploads(
                Bucket=bucket, Prefix=prefix, KeyMarker=key_marker, UploadIdMarker=upload_marker
            )
            for upload in page.get("Uploads", []):
                activity.heartbeat(aborted)
                try:
                    client.abort_multipart_upload(
                        Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                    )
                    aborted += 1
                except ClientError as error:
                    if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchUpload"):
                        raise
            if not page.get("IsTruncated"):
                break
            key_marker = page.get("NextKeyMarker", "")
            upload_marker = page.get("NextUploadIdMarker", "")
        if data.delete_result and data.result_key:
            self.store.delete(data.result_key)
        return aborted


async def _load(session: AsyncSession, export_id: uuid.UUID) -> Export:
    with permanent.row_must_exist():  # a deleted export ends its run at once
        return await exports.load_for_update(session, export_id)


def _deadline(export: Export, settings: Settings) -> datetime:
    """Fixed from when the export started running: a retried plan keeps the same one."""
    started = export.started_at or datetime.now(UTC)
    return started + timedelta(seconds=settings.EXPORT_DEADLINE_SECONDS)


def _plan_error(export: Export, total: int) -> str | None:
    if total == 0:
        which = "approved images" if export.only_approved else "images"
        return f"No {which} to export"
    if total > export_plan.MAX_IMAGES:
        return f"{total} images: an export holds at most {export_plan.MAX_IMAGES}; split it"
    return None
