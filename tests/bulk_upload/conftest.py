"""Bulk upload tests: the real worker (workflows and activities) on the session's services,
the API in-process, and a local HTTP server for the images the CSVs name."""

from __future__ import annotations

import io
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from PIL import Image

from core.config import Settings


def _image(color: tuple[int, int, int], fmt: str, size: int = 32) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), color).save(out, fmt)
    return out.getvalue()


def _noise_png(size: int) -> bytes:
    """A PNG that does not compress (random pixels): ~3 bytes per pixel."""
    rng = random.Random(7)
    image = Image.frombytes(
        "RGB", (size, size), bytes(rng.getrandbits(8) for _ in range(size * size * 3))
    )
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


RED_PNG = _image((200, 20, 20), "PNG")
BLUE_JPG = _image((20, 20, 200), "JPEG")
GREEN_PNG = _image((20, 200, 20), "PNG")
BIG_PNG = _noise_png(160)  # ~77 KB: over the cap the tests set (see `small_image_cap`)


class ImageServer:
    """Images (and failures) on 127.0.0.1; counts requests per path."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                server.hits[path] = server.hits.get(path, 0) + 1
                route = server.routes.get(path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status, headers, body, delay = route
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.routes: dict[str, tuple[int, dict[str, str], bytes, float]] = {
            "/red.png": (200, {"Content-Type": "image/png"}, RED_PNG, 0),
            "/blue.jpg": (200, {"Content-Type": "image/jpeg"}, BLUE_JPG, 0),
            "/green.png": (200, {"Content-Type": "image/png"}, GREEN_PNG, 0),
            "/big.png": (200, {"Content-Type": "image/png"}, BIG_PNG, 0),
            "/page.html": (200, {"Content-Type": "text/html"}, b"<html>hi</html>", 0),
            "/fake.png": (200, {"Content-Type": "image/png"}, b"this is not a png", 0),
            "/moved.png": (302, {"Location": "/green.png"}, b"", 0),
            "/slow.png": (200, {"Content-Type": "image/png"}, RED_PNG, 0.4),
        }
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="session")
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def small_image_cap(gen_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> int:
    """Images above 50 KB are refused (BIG_PNG is above, the others far below): the session
    worker's activities read the cap from the settings they were built with."""
    monkeypatch.setattr(gen_settings, "BULK_UPLOAD_MAX_IMAGE_BYTES", 50_000)
    assert len(BIG_PNG) > 50_000
    return 50_000
