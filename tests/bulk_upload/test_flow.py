"""BulkUploadWorkflow end to end: REST → Temporal → activities → products, media, errors."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Replayer

from devstack.ports import free_port
from tests.bulk_upload.conftest import ImageServer
from tests.bulk_upload.support import (
    all_errors,
    bulk_events,
    csv_bytes,
    media_count,
    run_upload,
    start_direct,
    upload,
    wait_finished,
)
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history
from workflows.bulk_upload import BulkUploadWorkflow
from workflows.bulk_upload_types import BulkUploadProgress


async def _products(api: Api, user: UserHandle) -> dict[str, dict[str, Any]]:
    r = await api.get(
        "/products/", as_=user, params={"organization_id": user.orgs[0], "limit": 500}
    )
    assert r.status_code == 200, r.text
    return {p["sku"]: p for p in r.json()["data"]}


async def test_small_csv_with_images_and_every_row_error(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    images: ImageServer,
    small_image_cap: int,
) -> None:
    org = user.orgs[0]
    red, blue = images.url("/red.png"), images.url("/blue.jpg")
    closed = f"http://127.0.0.1:{free_port()}/x.png"  # free a moment ago: nobody listens
    rows = [
        ["D-1", "Silk dress", "apparel", "dress", "Long silk dress", red, blue, "summer|silk"],
        ["D-2", "Linen dress", "apparel", "dress", "", red, "", "summer, linen"],
        ["D-3", "Plain tee", "apparel", "t-shirt", "Cotton", "", "", ""],
        ["D-4", "", "apparel", "", "", "", "", ""],  # name missing
        ["D-1", "Silk dress again", "", "", "", "", "", ""],  # duplicate sku
        ["D-5", "Bad URL", "", "", "", "ftp://example.com/a.png", "", ""],
        ["D-6", "Big image", "", "", "", images.url("/big.png"), "", ""],
        ["D-7", "Html page", "", "", "", images.url("/page.html"), "", ""],
        ["D-8", "Fake png", "", "", "", images.url("/fake.png"), "", ""],
        ["D-9", "Missing image", "", "", "", images.url("/missing.png"), "", ""],
        ["D-10", "Unreachable", "", "", "", closed, "", ""],
        ["D-11", "Private network", "", "", "", "http://10.255.255.1/a.png", "", ""],
        ["D-12", "Metadata service", "", "", "", "", "http://169.254.169.254/latest", ""],
        ["D-13", "Redirected", "", "", "", images.url("/moved.png"), "", ""],
        ["D-14", "Too", "many", "values", "", "", "", "", "extra"],
        ["", "No sku", "", "", "", "", "", ""],
    ]
    r = await upload(api, user, csv_bytes(rows, bom=True))
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] == "pending"
    assert started["filename"] == "products.csv"
    assert started["workflow_id"] == f"bulk-upload-{started['id']}"
    assert started["temporal_ui_url"].endswith(started["workflow_id"])

    done = await wait_finished(api, user, started["id"])
    assert done["status"] == "completed", done
    assert (done["total_rows"], done["processed_rows"]) == (16, 16)
    assert (done["created_count"], done["updated_count"], done["failed_count"]) == (4, 0, 12)
    assert done["progress"] == 1.0

    errors = {e["row_number"]: e for e in await all_errors(api, user, started["id"])}
    expected = {
        5: ("name", "name is required"),
        6: ("sku", "duplicate sku 'D-1': already used on row 2"),
        7: ("cover_image_url", "cover_image_url must be an http(s) URL"),
        8: ("cover_image_url", "cover_image_url: image is larger than"),
        9: ("cover_image_url", "cover_image_url: is not an image (content type text/html)"),
        10: ("cover_image_url", "cover_image_url: Not a valid image"),
        11: ("cover_image_url", "cover_image_url: unreachable (HTTP 404)"),
        12: ("cover_image_url", "cover_image_url: unreachable (ConnectError)"),
        13: ("cover_image_url", "cover_image_url: refused: 10.255.255.1 resolves to a non-public"),
        14: ("back_image_url", "back_image_url: refused: 169.254.169.254 resolves to a non-public"),
        16: (None, "row has 9 values but the header has 8 columns"),
        17: ("sku", "sku is required"),
    }
    assert sorted(errors) == sorted(expected)
    for row_number, (field, message) in expected.items():
        assert errors[row_number]["field"] == field, errors[row_number]
        assert errors[row_number]["message"].startswith(message), errors[row_number]
    assert errors[5]["sku"] == "D-4"

    products = await _products(api, user)
    assert set(products) == {"D-1", "D-2", "D-3", "D-13"}
    silk = products["D-1"]
    assert silk["name"] == "Silk dress" and silk["tags"] == ["summer", "silk"]
    assert products["D-2"]["tags"] == ["summer", "linen"]
    assert products["D-3"]["cover_image_id"] is None
    # one URL named by two rows → one media resource attached to both products
    assert silk["cover_image_id"] == products["D-2"]["cover_image_id"] is not None
    slots = {i["slot"] for i in silk["images"]}
    assert slots == {"cover_image", "back_image"}
    assert products["D-13"]["cover_image_id"] is not None  # followed the redirect
    assert await media_count(app, org) == 3  # red, blue, green
    assert images.hits["/red.png"] == 1  # fetched once for the chunk

    # the error report in the bucket, linked from the upload
    assert done["error_report_url"]
    async with httpx.AsyncClient() as plain:
        report = (await plain.get(done["error_report_url"])).text
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0] == ["row_number", "sku", "field", "message"]
    assert [int(line[0]) for line in lines[1:]] == sorted(expected)
    assert lines[1][:3] == ["5", "D-4", "name"]

    # events: progress while running, then completed with the final counts
    kinds = [e["type"] for e in await bulk_events(app, org, started["id"])]
    assert kinds[0] == "bulk_upload.progress" and kinds[-1] == "bulk_upload.completed"
    final = (await bulk_events(app, org, started["id"]))[-1]["payload"]
    assert final["created_count"] == 4 and final["failed_count"] == 12

    # the workflow's progress query, and its history replays deterministically
    handle = temporal.get_workflow_handle(started["workflow_id"])
    progress = await handle.query(BulkUploadWorkflow.progress)
    assert (progress.status, progress.created, progress.failed) == ("completed", 4, 12)
    await Replayer(workflows=[BulkUploadWorkflow]).replay_workflow(await handle.fetch_history())

    # the same file again: every valid row is an update, images are not duplicated
    again = await run_upload(api, user, csv_bytes(rows, bom=True))
    assert (again["created_count"], again["updated_count"], again["failed_count"]) == (0, 4, 12)
    assert await media_count(app, org) == 3
    assert (await _products(api, user))["D-1"]["cover_image_id"] == silk["cover_image_id"]


async def test_update_keeps_values_of_empty_cells_and_replaces_images(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, images: ImageServer
) -> None:
    first = [
        ["U-1", "Coat", "apparel", "coat", "Warm wool coat", images.url("/red.png"), "", "winter"]
    ]
    done = await run_upload(api, user, csv_bytes(first))
    assert done["created_count"] == 1, done
    before = (await _products(api, user))["U-1"]

    second = [["U-1", "Coat v2", "", "", "", images.url("/green.png"), "", ""]]
    done = await run_upload(api, user, csv_bytes(second))
    assert (done["created_count"], done["updated_count"]) == (0, 1), done
    after = (await _products(api, user))["U-1"]
    assert after["id"] == before["id"]
    assert after["name"] == "Coat v2"
    assert after["description"] == "Warm wool coat" and after["tags"] == ["winter"]
    assert after["product_type"] == "coat"
    assert after["cover_image_id"] not in (None, before["cover_image_id"])
    assert [i["slot"] for i in after["images"]] == ["cover_image"]

    # columns absent from the header are left alone as well
    done = await run_upload(api, user, csv_bytes([["U-1", "Coat v3"]], header=("sku", "name")))
    assert done["updated_count"] == 1
    last = (await _products(api, user))["U-1"]
    assert last["name"] == "Coat v3" and last["cover_image_id"] == after["cover_image_id"]


async def test_continue_as_new_keeps_counts_exact(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, temporal: Client
) -> None:
    rows = [[f"C-{i}", f"Product {i}", "", "", "", "", "", ""] for i in range(53)]
    rows[20][1] = ""  # one bad row
    upload_id, handle = await start_direct(
        app, temporal, user, csv_bytes(rows), chunk_rows=10, continue_as_new_every=2
    )
    result: BulkUploadProgress = await handle.result()
    assert result.status == "completed"
    assert (result.created, result.failed, result.chunk_count, result.runs) == (52, 1, 6, 3)
    first = await temporal.get_workflow_handle(
        handle.id, run_id=handle.first_execution_run_id
    ).describe()
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    await record_history(
        temporal.get_workflow_handle(handle.id, run_id=handle.first_execution_run_id),
        "bulk_upload_continued_as_new",
    )
    await record_history(temporal.get_workflow_handle(handle.id), "bulk_upload_last_run")
    body = await wait_finished(api, user, upload_id)
    assert (body["total_rows"], body["created_count"], body["failed_count"]) == (53, 52, 1)
    assert [e["row_number"] for e in await all_errors(api, user, upload_id)] == [22]


async def test_cancel_stops_between_chunks_and_keeps_rows_done(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    images: ImageServer,
) -> None:
    # 60 rows, 5 per chunk, each naming a slow image: about half a second per chunk
    rows = [
        [f"K-{i}", f"Slow {i}", "", "", "", images.url("/slow.png") + f"?n={i}", "", ""]
        for i in range(60)
    ]
    upload_id, handle = await start_direct(app, temporal, user, csv_bytes(rows), chunk_rows=5)
    org = user.orgs[0]
    while True:
        body = (
            await api.get(f"/bulk-uploads/{upload_id}", as_=user, params={"organization_id": org})
        ).json()
        if body["processed_rows"] >= 5:
            break
        await asyncio.sleep(0.05)
    r = await api.post(
        f"/bulk-uploads/{upload_id}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "cancelled"
    result: BulkUploadProgress = await handle.result()
    assert result.status == "cancelled"
    await record_history(handle, "bulk_upload_cancelled")
    done = await wait_finished(api, user, upload_id)
    assert done["status"] == "cancelled"
    assert 5 <= done["processed_rows"] < 60
    assert done["created_count"] == done["processed_rows"]
    products = await _products(api, user)
    assert len([s for s in products if s.startswith("K-")]) == done["created_count"]
    # finished: a second cancel is a conflict
    r = await api.post(
        f"/bulk-uploads/{upload_id}/cancel", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 409
    kinds = [e["type"] for e in await bulk_events(app, org, upload_id)]
    assert kinds[-1] == "bulk_upload.completed"


async def test_unreadable_file_fails_the_upload(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI, temporal: Client
) -> None:
    # Arrives by presigned upload, so only its start is checked at once: the workflow
    # finds the bad byte further on and fails the upload with the reason.
    data = csv_bytes([["A", "ok"]]) + "Z,caf\xe9\r\n".encode("latin-1")
    upload_id, handle = await start_direct(app, temporal, user, data)
    await handle.result()
    done = await wait_finished(api, user, upload_id)
    assert done["status"] == "failed"
    assert "not UTF-8" in done["error_message"]
    assert done["processed_rows"] == 0
    kinds = [e["type"] for e in await bulk_events(app, user.orgs[0], upload_id)]
    assert kinds[-1] == "bulk_upload.failed"


async def test_cancel_from_temporal_ends_the_same_way(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    images: ImageServer,
) -> None:
    rows = [
        [f"T-{i}", f"Slow {i}", "", "", "", images.url("/slow.png") + f"?t={i}", "", ""]
        for i in range(40)
    ]
    upload_id, handle = await start_direct(app, temporal, user, csv_bytes(rows), chunk_rows=5)
    await asyncio.sleep(0.5)
    await handle.cancel()  # as an operator would, from the Temporal UI
    with pytest.raises(WorkflowFailureError):
        await handle.result()
    await record_history(handle, "bulk_upload_cancelled_by_temporal")
    done = await wait_finished(api, user, upload_id)
    assert done["status"] == "cancelled"
    assert done["processed_rows"] < 40


async def test_header_only_file_completes_with_nothing_to_do(
    api: Api, user: UserHandle, worker: dict[str, Any]
) -> None:
    done = await run_upload(api, user, b"sku,name\r\n")
    assert (done["status"], done["total_rows"], done["progress"]) == ("completed", 0, 1.0)
    assert done["error_report_url"] is None
