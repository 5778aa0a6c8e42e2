"""A deletion that keeps failing lands in the dead letters; the retry clears it later.

The failure is real, not mocked: the deletion targets a bucket that does not exist yet, so
S3 answers every DeleteObject with NoSuchBucket until the test creates the bucket — the
shape of an outage of the store that later recovers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI
from sqlalchemy import select
from temporalio.client import Client

from core.storage import ObjectStore
from core.temporal import MAINTENANCE_QUEUE
from models.media import MediaDeletionDeadLetter
from services import maintenance
from tests.maintenance.support import (
    add_media,
    exists,
    make_bucket,
    put,
    remove_media,
    run_workflow,
)
from workflows.maintenance_types import (
    DeadLetterRetryInput,
    MediaDeletionInput,
)
from workflows.media_cleanup import DeadLetterRetryWorkflow, MediaDeletionWorkflow


async def _letter(app: FastAPI, key: str) -> MediaDeletionDeadLetter | None:
    async with app.state.sessionmaker() as session:
        return await session.scalar(
            select(MediaDeletionDeadLetter).where(MediaDeletionDeadLetter.storage_key == key)
        )


async def test_failed_deletion_is_dead_lettered_then_retried(
    mt_temporal: Client, mt_queues: str, mt_app: FastAPI, store: ObjectStore, scratch_bucket: str
) -> None:
    key = f"media/{uuid.uuid4()}/file.jpg"
    result = await run_workflow(
        mt_temporal,
        MediaDeletionWorkflow.run,
        MediaDeletionInput(
            storage_key=key,
            media_resource_id=None,
            bucket=scratch_bucket,  # does not exist (yet): NoSuchBucket on every attempt
            max_attempts=3,
            initial_interval_seconds=0.1,
        ),
        queues=mt_queues,
        name="media-deletion",
        record="media_deletion_dead_lettered",
    )
    assert result.outcome == "dead_lettered"
    letter = await _letter(mt_app, key)
    assert letter is not None and letter.resolved_at is None
    assert letter.attempts == 1 and letter.last_attempted_at is not None
    assert "NoSuchBucket" in (letter.error_message or "")

    # Still failing: the retry counts a second round, with backoff by attempts.
    # batch_size 1 makes the run ask for a second batch: with zero backoff it must not take
    # the letter it just failed again in the same run.
    retry = DeadLetterRetryInput(
        bucket=scratch_bucket,
        storage_keys=[key],
        backoff_base_seconds=0,
        max_attempts=5,
        batch_size=1,
    )
    outcome = await mt_temporal.execute_workflow(
        DeadLetterRetryWorkflow.run,
        retry,
        id=f"dead-letter-retry-test-{uuid.uuid4()}",
        task_queue=mt_queues + MAINTENANCE_QUEUE,
    )
    assert (outcome.attempted, outcome.resolved, outcome.failed) == (1, 0, 1)
    letter = await _letter(mt_app, key)
    assert letter is not None and letter.attempts == 2 and letter.resolved_at is None

    # The store recovers: the next retry deletes the object and resolves the letter.
    await make_bucket(store, scratch_bucket)
    await put(store, scratch_bucket, key)
    outcome = await run_workflow(
        mt_temporal,
        DeadLetterRetryWorkflow.run,
        retry,
        queues=mt_queues,
        name="dead-letter-retry",
        record="dead_letter_retry_resolved",
    )
    assert (outcome.attempted, outcome.resolved, outcome.failed) == (1, 1, 0)
    letter = await _letter(mt_app, key)
    assert letter is not None and letter.resolved_at is not None and letter.attempts == 3
    assert not await exists(store, scratch_bucket, key)


async def test_backoff_and_giving_up(
    mt_temporal: Client, mt_queues: str, mt_app: FastAPI, scratch_bucket: str
) -> None:
    waiting, exhausted = (f"media/{uuid.uuid4()}/file.jpg" for _ in range(2))
    async with mt_app.state.sessionmaker() as session:
        for key in (waiting, exhausted):
            await maintenance.record_dead_letter(
                session, storage_key=key, media_resource_id=None, error_message="boom"
            )
        row = await session.scalar(
            select(MediaDeletionDeadLetter).where(MediaDeletionDeadLetter.storage_key == exhausted)
        )
        assert row is not None
        row.attempts = 5
        await session.commit()

    outcome = await mt_temporal.execute_workflow(
        DeadLetterRetryWorkflow.run,
        # One failed round a moment ago: not due before 15 min; the other is past max.
        DeadLetterRetryInput(
            bucket=scratch_bucket, storage_keys=[waiting, exhausted], max_attempts=5
        ),
        id=f"dead-letter-retry-test-{uuid.uuid4()}",
        task_queue=mt_queues + MAINTENANCE_QUEUE,
    )
    assert outcome.attempted == 0
    for key in (waiting, exhausted):
        letter = await _letter(mt_app, key)
        assert letter is not None and letter.resolved_at is None
    async with mt_app.state.sessionmaker() as session:
        given_up = await maintenance.given_up_dead_letters(
            session, max_attempts=5, storage_keys=[waiting, exhausted]
        )
    assert given_up == [exhausted]


async def test_a_key_in_use_again_is_never_deleted(
    mt_temporal: Client, mt_queues: str, mt_app: FastAPI, store: ObjectStore
) -> None:
    """Media ids derive from the content: the same bytes uploaded again after a deletion
    come back at the same key before the deletion ran. The object must stay."""
    media = await add_media(mt_app)
    await put(store, store.bucket, media.storage_key)
    try:
        result = await mt_temporal.execute_workflow(
            MediaDeletionWorkflow.run,
            MediaDeletionInput(storage_key=media.storage_key, media_resource_id=str(media.id)),
            id=f"media-deletion-test-{uuid.uuid4()}",
            task_queue=mt_queues + MAINTENANCE_QUEUE,
        )
        assert result.outcome == "in_use"
        assert await exists(store, store.bucket, media.storage_key)

        async with mt_app.state.sessionmaker() as session:
            await maintenance.record_dead_letter(
                session,
                storage_key=media.storage_key,
                media_resource_id=media.id,
                error_message="earlier failure",
                attempted=False,
            )
            await session.commit()
        outcome = await mt_temporal.execute_workflow(
            DeadLetterRetryWorkflow.run,
            DeadLetterRetryInput(storage_keys=[media.storage_key]),
            id=f"dead-letter-retry-test-{uuid.uuid4()}",
            task_queue=mt_queues + MAINTENANCE_QUEUE,
        )
        assert outcome.resolved == 1
        assert await exists(store, store.bucket, media.storage_key)
        letter = await _letter(mt_app, media.storage_key)
        assert letter is not None and letter.resolved_at is not None
        assert letter.resolved_at <= datetime.now(UTC)
    finally:
        await remove_media(mt_app, media.id)
