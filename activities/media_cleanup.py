"""Side effects of media cleanup: deleting objects after their rows, dead letters, and the
orphan scan's pages. boto3 blocks, so every bucket call runs in a thread (`asyncio.to_thread`)
and the database work around it stays on the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from core.config import Settings
from core.db import session_scope
from core.storage import ObjectStore
from models.jobs import JobStatus
from services import job_files, maintenance
from workflows.maintenance_types import (
    DeadLetterBatchResult,
    DeadLetterInput,
    DeadLetterRetryInput,
    DeadLetterRetryResult,
    DeleteObjectInput,
    FinishReportInput,
    OrphanPageInput,
    OrphanPageResult,
    OrphanScanInput,
    OrphanScanPlan,
)

log = logging.getLogger(__name__)

ORPHAN_SCAN = "orphan_scan"
DEAD_LETTER_RETRY = "dead_letter_retry"
DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes
PREFIXES = {"media": "media/", "temp": "temp/", **job_files.PREFIXES}


def delete_keys(client: Any, bucket: str, keys: Sequence[str]) -> dict[str, str]:
    """Delete keys in DeleteObjects batches; returns the error of each key that failed
    (a missing key is not an error). A request that fails as a whole fails all its keys."""
    errors: dict[str, str] = {}
    for start in range(0, len(keys), DELETE_BATCH):
        batch = list(keys[start : start + DELETE_BATCH])
        try:
            response = client.delete_objects(
                Bucket=bucket,
                Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True},
            )
        except (ClientError, BotoCoreError) as exc:
            errors.update({k: _s3_error(exc) for k in batch})
            continue
        for error in response.get("Errors", []):
            if error.get("Code") != "NoSuchKey":
                errors[error["Key"]] = f"{error.get('Code')}: {error.get('Message')}"
    return errors


def list_page(
    client: Any, bucket: str, prefix: str, token: str | None, page_size: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of `list_objects_v2` and the token of the next one (None at the end)."""
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
    if token:
        params["ContinuationToken"] = token
    response = client.list_objects_v2(**params)
    following = response.get("NextContinuationToken") if response.get("IsTruncated") else None
    return response.get("Contents", []), following


def _s3_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code')}: {error.get('Message')}"
    return f"{type(exc).__name__}: {exc}"


def _add(counts: dict[str, int], **values: int) -> None:
    for key, value in values.items():
        counts[key] = counts.get(key, 0) + value


class MediaCleanupActivities:
    """Built once per worker with its database sessionmaker and object store."""

    def __init__(
        self,
        *,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: ObjectStore,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.store = store

    def _bucket(self, bucket: str | None) -> str:
        return bucket or self.store.bucket

    # -- deletion after commit -------------------------------------------------------------

    @activity.defn(name="media.delete_object")
    async def delete_object(self, data: DeleteObjectInput) -> str:
        """Idempotent: S3 answers a delete of a missing key with success. Raises (and is
        retried by the workflow's policy) on any S3 failure."""
        async with self.sessionmaker() as session:
            if await maintenance.key_in_use(session, data.storage_key):
                # Same bytes uploaded again since the row was deleted: the object is live.
                return "in_use"
        bucket = self._bucket(data.bucket)
        await asyncio.to_thread(
            self.store.client.delete_object, Bucket=bucket, Key=data.storage_key
        )
        return "deleted"

    @activity.defn(name="media.record_dead_letter")
    async def record_dead_letter(self, data: DeadLetterInput) -> None:
        async with session_scope(self.sessionmaker) as session:
            await maintenance.record_dead_letter(
                session,
                storage_key=data.storage_key,
                media_resource_id=uuid.UUID(data.media_resource_id)
                if data.media_resource_id
                else None,
                error_message=data.error_message,
            )
        activity.logger.warning("dead-lettered %s: %s", data.storage_key, data.error_message)

    # -- dead-letter retry -----------------------------------------------------------------

    @activity.defn(name="media.retry_dead_letters")
    async def retry_dead_letters(self, data: DeadLetterRetryInput) -> DeadLetterBatchResult:
        """One batch of due letters, locked for the batch (SKIP LOCKED: two runs never take
        the same letter). A retried activity finds the letters it resolved already gone
        from the due set, so it never counts or deletes twice."""
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            letters = await maintenance.due_dead_letters(
                session,
                limit=data.batch_size,
                max_attempts=data.max_attempts,
                backoff_base_seconds=data.backoff_base_seconds,
                backoff_max_seconds=data.backoff_max_seconds,
                storage_keys=data.storage_keys,
                attempted_before=datetime.fromisoformat(data.attempted_before)
                if data.attempted_before
                else None,
            )
            live = {
                letter.storage_key
                for letter in letters
                if await maintenance.key_in_use(session, letter.storage_key)
            }
            to_delete = [letter.storage_key for letter in letters if letter.storage_key not in live]
            errors = await asyncio.to_thread(
                delete_keys, self.store.client, self._bucket(data.bucket), to_delete
            )
            resolved = failed = given_up = 0
            for letter in letters:
                letter.attempts += 1
                letter.last_attempted_at = now
                error = errors.get(letter.storage_key)
                if error is None:
                    letter.resolved_at = now
                    resolved += 1
                    continue
                letter.error_message = error
                failed += 1
                if letter.attempts >= data.max_attempts:
                    given_up += 1
                    log.error(
                        "giving up deleting %s after %d rounds: %s",
                        letter.storage_key,
                        letter.attempts,
                        error,
                    )
        return DeadLetterBatchResult(
            attempted=len(letters), resolved=resolved, failed=failed, given_up=given_up
        )

    @activity.defn(name="media.record_retry_report")
    async def record_retry_report(self, data: DeadLetterRetryResult) -> None:
        async with session_scope(self.sessionmaker) as session:
            await maintenance.record_report(
                session,
                kind=DEAD_LETTER_RETRY,
                workflow_id=activity.info().workflow_id,
                counts=dataclasses.asdict(data),
                details={},
            )

    # -- orphan scan -----------------------------------------------------------------------

    @activity.defn(name="media.start_orphan_scan")
    async def start_orphan_scan(self, data: OrphanScanInput) -> OrphanScanPlan:
        """The report row and the cutoffs, fixed once for the whole scan (every later run
        after continue-as-new uses the same ones). A retry finds its own report."""
        workflow_id = activity.info().workflow_id
        grace = data.grace_seconds
        if grace is None:
            grace = self.settings.ORPHAN_GRACE_HOURS * 3600
        object_grace = data.object_grace_seconds if data.object_grace_seconds is not None else grace
        jobs_age = data.job_files_max_age_seconds
        if jobs_age is None:
            jobs_age = self.settings.JOB_FILES_MAX_AGE_HOURS * 3600
        now = datetime.now(UTC)
        async with session_scope(self.sessionmaker) as session:
            report = await maintenance.running_report(
                session, kind=ORPHAN_SCAN, workflow_id=workflow_id
            ) or await maintenance.start_report(
                session, kind=ORPHAN_SCAN, dry_run=data.dry_run, workflow_id=workflow_id
            )
            report.details = {
                "grace_seconds": grace,
                "object_grace_seconds": object_grace,
                "temp_max_age_seconds": data.temp_max_age_seconds,
                "job_files_max_age_seconds": jobs_age,
                "bucket": self._bucket(data.bucket),
            }
            report_id = str(report.id)
        return OrphanScanPlan(
            report_id=report_id,
            row_cutoff=(now - timedelta(seconds=grace)).isoformat(),
            object_cutoff=(now - timedelta(seconds=object_grace)).isoformat(),
            temp_cutoff=(now - timedelta(seconds=data.temp_max_age_seconds)).isoformat(),
            jobs_cutoff=(now - timedelta(seconds=jobs_age)).isoformat(),
        )

    @activity.defn(name="media.scan_orphan_page")
    async def scan_orphan_page(self, data: OrphanPageInput) -> OrphanPageResult:
        if data.phase == "rows":
            return await self._scan_rows(data)
        return await self._scan_objects(data)

    async def _scan_rows(self, data: OrphanPageInput) -> OrphanPageResult:
        """(a) unused rows past the grace period: delete the rows (committed first), then
        their objects; an object that cannot be deleted becomes a dead letter."""
        cutoff = datetime.fromisoformat(data.plan.row_cutoff)
        after = uuid.UUID(data.cursor) if data.cursor else None
        counts: dict[str, int] = {}
        async with session_scope(self.sessionmaker) as session:
            page = await maintenance.orphan_candidates(
                session, after=after, created_before=cutoff, limit=data.page_size
            )
            orphans = [c for c in page if not c.protected]
            _add(
                counts,
                scanned=len(page),
                orphan_rows=len(orphans),
                skipped_protected=len(page) - len(orphans),
            )
            deleted: list[tuple[uuid.UUID, str]] = []
            if not data.dry_run:
                deleted = await maintenance.delete_orphan_rows(
                    session, [c.id for c in orphans], created_before=cutoff
                )
        activity.heartbeat(data.cursor)
        if deleted:
            errors = await asyncio.to_thread(
                delete_keys, self.store.client, self._bucket(data.bucket), [k for _, k in deleted]
            )
            async with session_scope(self.sessionmaker) as session:
                for media_id, key in deleted:
                    if key in errors:
                        await maintenance.record_dead_letter(
                            session,
                            storage_key=key,
                            media_resource_id=media_id,
                            error_message=errors[key],
                        )
            _add(counts, deleted=len(deleted) - len(errors), errors=len(errors))
        following = str(page[-1].id) if len(page) == data.page_size else None
        return OrphanPageResult(next_cursor=following, counts=counts)

    async def _scan_objects(self, data: OrphanPageInput) -> OrphanPageResult:
        """(b) `media/` objects without a row, (c) `temp/` objects past their TTL, (d) job
        files past their age that no job needs (services/job_files.py)."""
        bucket = self._bucket(data.bucket)
        objects, following = await asyncio.to_thread(
            list_page,
            self.store.client,
            bucket,
            PREFIXES[data.phase],
            data.cursor,
            data.page_size,
        )
        activity.heartbeat(data.cursor)
        keys = [o["Key"] for o in objects]
        counts: dict[str, int] = {"scanned": len(keys)}
        if data.phase == "media":
            cutoff = datetime.fromisoformat(data.plan.object_cutoff)
            async with self.sessionmaker() as session:
                owned = await maintenance.keys_with_rows(session, keys)
            unowned = [o for o in objects if o["Key"] not in owned]
            old = [o["Key"] for o in unowned if o["LastModified"] < cutoff]
            _add(counts, orphan_objects=len(old), skipped_fresh=len(unowned) - len(old))
        elif data.phase in job_files.PREFIXES:
            cutoff = datetime.fromisoformat(data.plan.jobs_cutoff or data.plan.temp_cutoff)
            aged = [o["Key"] for o in objects if o["LastModified"] < cutoff]
            async with self.sessionmaker() as session:
                old = await job_files.unneeded(session, data.phase, aged, stale_before=cutoff)
            _add(counts, job_files=len(old), kept_job_files=len(keys) - len(old))
        else:
            cutoff = datetime.fromisoformat(data.plan.temp_cutoff)
            old = [o["Key"] for o in objects if o["LastModified"] < cutoff]
            _add(counts, temp_objects=len(old), skipped_fresh=len(keys) - len(old))
        if old and not data.dry_run:
            errors = await asyncio.to_thread(delete_keys, self.store.client, bucket, old)
            for key, error in errors.items():
                # Left in place: the next scan finds the same orphan again.
                activity.logger.warning("could not delete orphan %s: %s", key, error)
            _add(counts, deleted=len(old) - len(errors), errors=len(errors))
        return OrphanPageResult(next_cursor=following, counts=counts)

    @activity.defn(name="media.finish_orphan_scan")
    async def finish_orphan_scan(self, data: FinishReportInput) -> None:
        async with session_scope(self.sessionmaker) as session:
            await maintenance.finish_report(
                session,
                uuid.UUID(data.report_id),
                status=JobStatus(data.status),
                counts=data.counts,
                details=dict(data.details),
            )
