"""P5: the orphan scan (OrphanScanWorkflow, dry run, through the production worker) over a
bucket of `objects` objects under `media/` without rows, against a bare paginated
`list_objects_v2` of the same bucket and prefix (1,000 keys a page, as the scan pages).

The bucket is the bench's own (created, filled, emptied and removed here): the scan is
given it explicitly, so it sees exactly these objects.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.figures import Figure, ratio
from bench.stack import BenchStack, Log

PAGE = 1000
PUT_THREADS = 32


def _client(stack: BenchStack) -> Any:
    from devstack.s3 import s3_client

    settings = stack.settings
    # One pooled connection per filling thread.
    return s3_client(
        settings.R2_ENDPOINT_URL,
        settings.R2_ACCESS_KEY_ID,
        settings.R2_SECRET_ACCESS_KEY,
        max_pool_connections=PUT_THREADS,
    )


def _fill(client: Any, bucket: str, count: int, log: Log, stop: threading.Event) -> float:
    began = time.perf_counter()

    def put(i: int) -> None:
        if stop.is_set():  # the run was stopped: asyncio cannot cancel a thread
            return
        # Spread over 256 "directories", like content-addressed media keys.
        client.put_object(
            Bucket=bucket, Key=f"media/{i % 256:02x}/{uuid.uuid4().hex}.png", Body=b"x"
        )

    with ThreadPoolExecutor(PUT_THREADS) as pool:
        for done, _ in enumerate(pool.map(put, range(count)), start=1):
            if done % 20_000 == 0:
                log(f"P5: {done:,}/{count:,} objects written")
    return time.perf_counter() - began


def _list_all(client: Any, bucket: str) -> int:
    seen, token = 0, None
    while True:
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": "media/", "MaxKeys": PAGE}
        if token:
            params["ContinuationToken"] = token
        page = client.list_objects_v2(**params)
        seen += len(page.get("Contents", []))
        if not page.get("IsTruncated"):
            return seen
        token = page["NextContinuationToken"]


def _empty(client: Any, bucket: str) -> None:
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": PAGE}):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


async def run(stack: BenchStack, *, objects: int, log: Log) -> None:
    from core.temporal import MAINTENANCE_QUEUE
    from workflows.maintenance_types import OrphanScanInput
    from workflows.media_cleanup import OrphanScanWorkflow

    client = _client(stack)
    bucket = f"bench-orphans-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()
    await asyncio.to_thread(client.create_bucket, Bucket=bucket)
    try:
        log(f"P5: writing {objects:,} objects into {bucket}")
        fill = await asyncio.to_thread(_fill, client, bucket, objects, log, stop)
        log(f"P5: written at {objects / fill:,.0f} objects/s")
        await stack.before_figure("P5")
        log("P5: bare list_objects_v2")
        began = time.perf_counter()
        listed = await asyncio.to_thread(_list_all, client, bucket)
        bare = time.perf_counter() - began
        if listed != objects:
            raise RuntimeError(f"listed {listed} of {objects} objects")
        log("P5: orphan scan (dry run)")
        began = time.perf_counter()
        result = await stack.client.execute_workflow(
            OrphanScanWorkflow.run,
            OrphanScanInput(dry_run=True, grace_seconds=0, bucket=bucket, page_size=PAGE),
            id=f"bench-orphan-scan-{uuid.uuid4()}",
            task_queue=stack.prefix + MAINTENANCE_QUEUE,
        )
        ours = time.perf_counter() - began
        found = result.counts.get("orphan_objects", 0)
        if found != objects:
            raise RuntimeError(f"the scan found {found} of {objects} orphans: {result.counts}")
        stack.record(
            Figure(
                id="P5",
                name=f"orphan scan over {objects:,} objects (dry run)",
                unit="objects/s",
                ours=round(objects / ours),
                baseline=round(objects / bare),
                baseline_name="bare paginated list_objects_v2, 1,000 keys a page",
                ratio=ratio(bare, ours),
                goal=">= 0.5",
                met=bare / ours >= 0.5,
                details={
                    "objects": objects,
                    "scan_s": round(ours, 2),
                    "list_s": round(bare, 2),
                    "workflow_runs": result.runs + 1,
                    "counts": result.counts,
                },
            )
        )
    finally:
        stop.set()
        await asyncio.to_thread(_empty, client, bucket)
