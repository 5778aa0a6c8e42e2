"""The bulk upload routes: what is refused at once, the presigned path, tenancy."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.jobs import BulkUpload
from tests.bulk_upload.support import csv_bytes, run_upload, upload, wait_finished
from tests.helpers import Api, UserHandle


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (b"sku,name,colour\r\n", "Unknown column: colour"),
        (b"sku,product_type\r\n", "Missing required column: name"),
        (b"name,description\r\n", "Missing required column: sku"),
        (b"sku,name,Name\r\n", "Duplicated column: name"),
        (b"sku,,name\r\n", "Column 2 of the header has no name"),
        (b"sku;name;tags\r\n", "separate columns with commas"),
        (b"", "The file is empty"),
    ],
)
async def test_header_problems_are_refused_at_once(
    api: Api, user: UserHandle, header: bytes, problem: str
) -> None:
    r = await upload(api, user, header + b"A,Dress,x\r\n" if header else b"")
    assert r.status_code == 400, r.text
    assert problem in r.json()["detail"]


async def test_header_is_case_and_space_insensitive_and_bom_is_accepted(
    api: Api, user: UserHandle, worker: dict[str, Any]
) -> None:
    data = b"\xef\xbb\xbf SKU , Name \r\nH-1,Hat\r\n"
    done = await run_upload(api, user, data)
    assert (done["status"], done["created_count"]) == ("completed", 1)


async def test_other_encodings_and_non_csv_files_are_refused(api: Api, user: UserHandle) -> None:
    latin1 = "sku,name\r\nA,Café\r\n".encode("latin-1")
    r = await upload(api, user, latin1)
    assert r.status_code == 400
    assert "not UTF-8" in r.json()["detail"]
    utf16 = "sku,name\r\nA,Dress\r\n".encode("utf-16")
    assert (await upload(api, user, utf16)).status_code == 400
    r = await upload(api, user, b"\x89PNG...", filename="photo.png", content_type="image/png")
    assert r.status_code == 400
    assert "Only CSV" in r.json()["detail"]
    org = {"organization_id": user.orgs[0]}
    r = await api.post(
        "/bulk-uploads/",
        as_=user,
        params=org,
        content=b"sku,name",
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 415
    r = await api.post(
        "/bulk-uploads/", as_=user, params=org, files={"other": ("a.csv", b"sku,name\n")}
    )
    assert r.status_code == 400
    assert "`file`" in r.json()["detail"]


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd.csv", "passwd.csv"),
        ("C:\\Users\\me\\catalog.csv", "catalog.csv"),
        ("\x1b[31mred.csv", "[31mred.csv"),  # a terminal escape
        ("invoice\u202evsc.exe", "invoicevsc.exe"),  # the RTL override showed "exe.csv"
        ("n" * 300 + ".csv", "n" * 255),
    ],
)
async def test_the_recorded_file_name_is_cleaned_up(
    api: Api, user: UserHandle, filename: str, shown: str
) -> None:
    # Found by tests/chaos/test_bad_input.py: the client's name was recorded and shown back
    # as sent (path parts, terminal escapes, bidi overrides). The bytes were always stored at
    # bulk-uploads/{id}/source.csv.
    r = await upload(api, user, b"sku,name\r\nA,Dress\r\n", filename=filename)
    assert r.status_code == 202, r.text
    assert r.json()["filename"] == shown


async def test_too_large_a_body_is_refused_before_reading_it(api: Api, user: UserHandle) -> None:
    r = await api.post(
        "/bulk-uploads/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        content=b"--x--\r\n",
        headers={
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": str(300 * 1024 * 1024),
        },
    )
    assert r.status_code == 413


async def test_presigned_upload_by_temp_key(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    data = csv_bytes([["P-1", "Scarf", "accessories", "", "", "", "", "wool"]])
    org = {"organization_id": user.orgs[0]}
    r = await api.post(
        "/uploads/presigned-url",
        as_=user,
        json={
            "filename": "catalog.csv",
            "content_type": "text/csv",
            "size": len(data),
            "purpose": "bulk_csv",
        },
    )
    assert r.status_code == 200, r.text
    presigned = r.json()
    async with httpx.AsyncClient() as plain:
        put = await plain.put(presigned["upload_url"], content=data, headers=presigned["headers"])
    assert put.status_code == 200, put.text
    r = await api.post("/bulk-uploads/", as_=user, params=org, json={"temp_key": presigned["key"]})
    assert r.status_code == 202, r.text
    assert r.json()["filename"] == "catalog.csv"
    done = await wait_finished(api, user, r.json()["id"])
    assert (done["status"], done["created_count"]) == ("completed", 1)
    # the temp object moved under bulk-uploads/{id}/
    assert app.state.store.head(presigned["key"]) is None
    assert app.state.store.head(f"bulk-uploads/{done['id']}/source.csv") is not None

    for body, status in (
        ({"temp_key": presigned["key"]}, 400),  # gone: already used
        ({"temp_key": "media/abc/file.jpg"}, 400),  # not a temp upload
        ({"temp_key": "temp/../media/x"}, 400),
        ({}, 422),
    ):
        r = await api.post("/bulk-uploads/", as_=user, params=org, json=body)
        assert r.status_code == status, (body, r.text)


async def test_list_read_errors_and_other_organizations(
    api: Api, user: UserHandle, other_user: UserHandle, worker: dict[str, Any]
) -> None:
    data = csv_bytes([["L-1", "Belt"], ["L-2", ""]], header=("sku", "name"))
    done = await run_upload(api, user, data)
    org = {"organization_id": user.orgs[0]}
    listed = (
        await api.get("/bulk-uploads/", as_=user, params={**org, "status": "completed"})
    ).json()
    assert done["id"] in [u["id"] for u in listed["data"]]
    errors = (await api.get(f"/bulk-uploads/{done['id']}/errors", as_=user, params=org)).json()
    assert errors == {
        "data": [{"row_number": 3, "sku": "L-2", "field": "name", "message": "name is required"}],
        "count": 1,
    }
    # personal scope sees none of the organization's uploads
    personal = (await api.get("/bulk-uploads/", as_=user)).json()
    assert done["id"] not in [u["id"] for u in personal["data"]]

    for params in (None, org, {"organization_id": other_user.orgs[0]}):
        for method, path in (
            ("GET", f"/bulk-uploads/{done['id']}"),
            ("GET", f"/bulk-uploads/{done['id']}/errors"),
            ("POST", f"/bulk-uploads/{done['id']}/cancel"),
        ):
            r = await api.request(method, path, as_=other_user, params=params)
            assert r.status_code == 404, (method, path, params, r.text)
    r = await api.post(
        "/bulk-uploads/", as_=other_user, params=org, files={"file": ("a.csv", data)}
    )
    assert r.status_code == 404


async def test_personal_uploads_upsert_personal_products(
    api: Api, user: UserHandle, worker: dict[str, Any], app: FastAPI
) -> None:
    data = csv_bytes([["ME-1", "Mine"]], header=("sku", "name"))
    outcomes = []
    for _ in range(2):
        r = await api.post(
            "/bulk-uploads/", as_=user, files={"file": ("mine.csv", data, "text/csv")}
        )
        assert r.status_code == 202, r.text
        assert r.json()["organization_id"] is None
        done = await wait_finished(api, user, r.json()["id"], personal=True)
        outcomes.append((done["created_count"], done["updated_count"]))
    assert outcomes == [(1, 0), (0, 1)]
    products = (await api.get("/products/", as_=user, params={"sku": "ME-1"})).json()
    assert products["count"] == 1 and products["data"][0]["organization_id"] is None
    async with app.state.sessionmaker() as session:
        row = await session.get(BulkUpload, uuid.UUID(done["id"]))
        assert row is not None and row.owner_id == uuid.UUID(user.id)
