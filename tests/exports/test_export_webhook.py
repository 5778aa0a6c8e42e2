"""Webhook target: each image POSTed, signed, retried with backoff; a refused image is
counted as failed and the others are still delivered. Every delivery carries Standard
Webhooks headers and, for one more release, the old `X-Sartiq-Signature`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image
from standardwebhooks import Webhook
from standardwebhooks.webhooks import hmac_data
from temporalio.client import Client

from services import export_webhook
from services.export_webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.exports.support import approve, generated_shots, shot, wait_export
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history

SECRET = "webhook-secret-for-tests"
SPEC_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def standard_webhooks_valid(key: bytes, body: bytes, headers: Any) -> bool:
    """A receiver's Standard Webhooks check of a binary body, with the package's HMAC.

    `standardwebhooks.Webhook.verify` itself takes the body as UTF-8 text (it decodes
    bytes), so it cannot check a multipart body holding image bytes; this is its algorithm
    on the raw bytes, which is what the specification signs. Text bodies are checked with
    `Webhook.verify` itself in tests/core/test_webhook_signing.py and below."""
    msg_id, stamp = headers.get("webhook-id"), headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and stamp and signatures) or abs(time.time() - int(stamp)) > 300:
        return False
    digest = hmac_data(key, f"{msg_id}.{stamp}.".encode() + body)
    return f"v1,{base64.b64encode(digest).decode()}" in signatures.split(" ")


@dataclass
class Receiver:
    """A tiny webhook receiver: verifies signatures, fails on request."""

    url: str = ""
    fail_once: set[int] = field(default_factory=set)  # answer 500 the first time
    refuse: set[int] = field(default_factory=set)  # answer 400 every time
    attempts: list[tuple[int, int]] = field(default_factory=list)  # (index, status answered)
    delivered: dict[int, dict[str, Any]] = field(default_factory=dict)
    bad_signatures: int = 0
    bad_standard_signatures: int = 0
    webhook_ids: list[tuple[int, str]] = field(default_factory=list)  # (index, webhook-id)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: Any, body: bytes) -> int:
        # Both schemes, as a receiver moving from the old header to the new one checks them.
        if not verify(body, SECRET, headers.get(SIGNATURE_HEADER)):
            with self.lock:
                self.bad_signatures += 1
            return 401
        if not standard_webhooks_valid(SECRET.encode(), body, headers):
            with self.lock:
                self.bad_standard_signatures += 1
            return 401
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        metadata = json.loads(parts["metadata"].get_content())
        index = metadata["index"]
        assert headers[DELIVERY_HEADER].endswith(f":{index}")
        with self.lock:
            self.webhook_ids.append((index, headers["webhook-id"]))
            if index in self.refuse:
                status = 400
            elif index in self.fail_once and all(i != index for i, _ in self.attempts):
                status = 500
            else:
                status = 200
                self.delivered[index] = {
                    "metadata": metadata,
                    "filename": parts["file"].get_filename(),
                    "data": parts["file"].get_payload(decode=True),
                }
            self.attempts.append((index, status))
        return status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            status = state.handle(self.headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sartiq"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


async def test_webhook_delivers_each_image_signed_retrying_failures(
    api: Api,
    user: UserHandle,
    worker: dict[str, Any],
    app: FastAPI,
    temporal: Client,
    receiver: Receiver,
) -> None:
    world = await generated_shots(api, user, shot_types=2, outputs=[2, 1])
    org, (first, second) = world["org"], world["shot_ids"]
    await approve(api, user, org, first)
    await approve(api, user, org, second)
    receiver.fail_once = {1}  # the second image fails once, then is accepted
    receiver.refuse = {2}  # the third is refused for good (the second shot's only image)

    r = await api.post(
        "/exports/",
        as_=user,
        params={"organization_id": org},
        json={
            "shooting_id": world["shooting"]["id"],
            "format": "webp",
            "max_dimension": 100,
            "naming_template": "{look}_{shot_type}_{n}",
            "target": "webhook",
            "webhook_url": receiver.url,
            "webhook_secret": SECRET,
        },
    )
    assert r.status_code == 202, r.text
    assert SECRET not in r.text
    done = await wait_export(api, user, org, r.json()["id"], within=90)

    assert done["status"] == "completed", done
    assert (done["total_images"], done["processed_images"], done["failed_images"]) == (3, 2, 1)
    assert done["download_url"] is None
    assert receiver.bad_signatures == 0
    assert receiver.bad_standard_signatures == 0
    # webhook-id: <export id>:<index>, the same on the retry (a receiver drops a duplicate)
    assert receiver.webhook_ids.count((1, f"{done['id']}:1")) == 2
    assert all(wid == f"{done['id']}:{index}" for index, wid in receiver.webhook_ids)
    assert sorted(receiver.delivered) == [0, 1]
    assert receiver.attempts.count((1, 500)) == 1 and (1, 200) in receiver.attempts
    # a 400 is final: no retry
    assert receiver.attempts.count((2, 400)) == 1
    for index, name in ((0, "look-1_Front-0_1.webp"), (1, "look-1_Front-0_2.webp")):
        got = receiver.delivered[index]
        assert got["filename"] == name
        meta = got["metadata"]
        assert (meta["file_name"], meta["shot_id"], meta["total"]) == (name, first, 3)
        image = Image.open(io.BytesIO(got["data"]))
        assert (image.format, image.size) == ("WEBP", (80, 100))
        assert meta["md5"] == hashlib.md5(got["data"]).hexdigest()
        assert meta["bytes"] == len(got["data"]) and meta["content_type"] == "image/webp"
    # only shots with a delivered image count as exported
    assert (await shot(api, user, org, first))["exported_at"] is not None
    assert (await shot(api, user, org, second))["exported_at"] is None
    await record_history(
        temporal.get_workflow_handle(done["workflow_id"]), "export_webhook_partial"
    )


# -- the delivery format, without a run ------------------------------------------------------


def _parts(content_type: str, body: bytes) -> list[Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    return list(message.iter_parts())


def test_multipart_body_keeps_its_parts_order_and_metadata() -> None:
    # bytes that look like multipart syntax must survive untouched
    data = b"\x89PNG\r\n--not-a-boundary\r\n\x00\xff" * 10
    metadata = {"event": "export.image", "index": 2, "file_name": "look 1_back.png", "sku": "é"}
    body, content_type = export_webhook.multipart_body(
        metadata, "look 1_back.png", "image/png", data
    )
    assert content_type.startswith("multipart/form-data; boundary=")
    meta, file = _parts(content_type, body)
    assert meta.get_param("name", header="content-disposition") == "metadata"
    assert meta.get_filename() is None and meta.get_content_type() == "application/json"
    raw_meta = meta.get_payload(decode=True)
    assert raw_meta == json.dumps(metadata, separators=(",", ":"), sort_keys=True).encode()
    assert file.get_param("name", header="content-disposition") == "file"
    assert file.get_filename() == "look 1_back.png"
    assert file.get_content_type() == "image/png"
    assert file.get_payload(decode=True) == data
    # a fresh boundary each time
    assert export_webhook.multipart_body(metadata, "x.png", "image/png", data)[1] != content_type


@pytest.mark.parametrize(("secret", "key"), [(SECRET, SECRET.encode()), (SPEC_SECRET, b"k" * 32)])
def test_delivery_headers_are_standard_webhooks_beside_the_old_signature(
    secret: str, key: bytes
) -> None:
    body, content_type = export_webhook.multipart_body({"index": 0}, "a.png", "image/png", b"\xff")
    headers = export_webhook.headers(
        body, secret, delivery_id="export-1:0", content_type=content_type
    )
    assert headers["Content-Type"] == content_type
    assert headers["webhook-id"] == headers[DELIVERY_HEADER] == "export-1:0"
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 5
    assert standard_webhooks_valid(key, body, headers)
    assert not standard_webhooks_valid(key, body + b"x", headers)
    # the deprecated header still signs the same body, keyed by the secret's UTF-8 bytes
    assert verify(body, secret, headers[SIGNATURE_HEADER])
    # ...and a text body is accepted by the package's own verify
    text = b'{"event":"export.image"}'
    text_headers = export_webhook.headers(text, secret, delivery_id="e:1", content_type="x")
    receiver = Webhook(secret if secret.startswith("whsec_") else secret.encode())
    assert receiver.verify(text, text_headers) == {"event": "export.image"}


@pytest.mark.parametrize("header", ["sha256=é", "sha256=" + "ä" * 64, "\udcff", ""])
def test_old_signature_check_answers_any_header(header: str) -> None:
    """A receiver's check of X-Sartiq-Signature with a non-ASCII value: False, never the
    TypeError hmac.compare_digest raises for a non-ASCII str."""
    assert verify(b"body", SECRET, header) is False
    assert verify(b"body", SECRET, export_webhook.signature(b"body", SECRET))
