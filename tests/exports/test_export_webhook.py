"""Webhook target: each image POSTed, signed, retried with backoff; a refused image is
counted as failed and the others are still delivered."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi import FastAPI
from PIL import Image
from temporalio.client import Client

from services.export_webhook import DELIVERY_HEADER, SIGNATURE_HEADER, verify
from tests.exports.support import approve, generated_shots, shot, wait_export
from tests.helpers import Api, UserHandle
from tests.workflows.conftest import record_history

SECRET = "webhook-secret-for-tests"


@dataclass
class Receiver:
    """A tiny webhook receiver: verifies signatures, fails on request."""

    url: str = ""
    fail_once: set[int] = field(default_factory=set)  # answer 500 the first time
    refuse: set[int] = field(default_factory=set)  # answer 400 every time
    attempts: list[tuple[int, int]] = field(default_factory=list)  # (index, status answered)
    delivered: dict[int, dict[str, Any]] = field(default_factory=dict)
    bad_signatures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, headers: Any, body: bytes) -> int:
        if not verify(body, SECRET, headers.get(SIGNATURE_HEADER)):
            with self.lock:
                self.bad_signatures += 1
            return 401
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
        metadata = json.loads(parts["metadata"].get_content())
        index = metadata["index"]
        assert headers[DELIVERY_HEADER].endswith(f":{index}")
        with self.lock:
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
