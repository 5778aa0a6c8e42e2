"""Small real HTTP servers that record what reaches them (attack targets for the tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# A behaviour answers one request: (status, headers, body chunks); a chunk may be a float,
# a pause in seconds between chunks (to drip a body).
Behaviour = Callable[[str, str], tuple[int, dict[str, str], list[bytes | float]]]


def ok(_method: str, _path: str) -> tuple[int, dict[str, str], list[bytes | float]]:
    return 200, {"Content-Type": "image/png", "Content-Length": "3"}, [b"png"]


@dataclass
class Recorder:
    """Where the requests went: (method, path, headers)."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def hits(self) -> int:
        with self.lock:
            return len(self.requests)


@contextmanager
def serve(host: str = "127.0.0.1", behaviour: Behaviour = ok) -> Iterator[Recorder]:
    """A threading HTTP server on `host` (any loopback address works on Linux)."""
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            with recorder.lock:
                recorder.requests.append((self.command, self.path, dict(self.headers)))
            status, headers, chunks = behaviour(self.command, self.path)
            self.send_response(status)
            chunked = "Content-Length" not in headers
            for name, value in headers.items():
                self.send_header(name, value)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in chunks:
                    if isinstance(chunk, float):
                        time.sleep(chunk)
                        continue
                    if chunked:
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    else:
                        self.wfile.write(chunk)
                    self.wfile.flush()
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up on purpose (a cap was reached)

        do_GET = do_POST = do_HEAD = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    recorder.url = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
