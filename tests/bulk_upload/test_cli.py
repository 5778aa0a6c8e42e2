"""`sartiq bulk-upload`: argument handling, and a real run against the API over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

import cli
from core.config import Settings
from devstack.ports import free_port
from tests.bulk_upload.support import csv_bytes
from tests.helpers import UserHandle

runner = CliRunner()


@pytest.fixture(scope="module")
def api_url(settings: Settings) -> Iterator[str]:
    """The API served over HTTP by uvicorn in a thread (its own app instance and loop)."""
    from api.main import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_arguments_are_checked(tmp_path: Path) -> None:
    result = runner.invoke(cli.app, ["bulk-upload", str(tmp_path / "missing.csv"), "--org", "x"])
    assert result.exit_code == 2
    path = tmp_path / "p.csv"
    path.write_bytes(b"sku,name\n")
    result = runner.invoke(cli.app, ["bulk-upload", str(path)])
    assert result.exit_code == 2
    assert "--org" in result.output


def test_unreachable_api_is_a_clean_failure(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_bytes(b"sku,name\n")
    args = ["bulk-upload", str(path), "--org", "x", "--token", "t"]
    result = runner.invoke(cli.app, [*args, "--api", f"http://127.0.0.1:{free_port()}"])
    assert result.exit_code == 1
    assert "cannot reach the API" in result.output


async def test_upload_follows_progress_to_the_end(
    api_url: str, user: UserHandle, worker: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(csv_bytes([["CLI-1", "Skirt"], ["CLI-2", ""]], header=("sku", "name")))
    # the API URL comes from the running stack's stack.json; login with e-mail and password
    (tmp_path / "stack.json").write_text(json.dumps({"env": {"API_URL": api_url}}))
    args = [
        "bulk-upload",
        str(path),
        "--org",
        user.orgs[0],
        "--state-dir",
        str(tmp_path),
        "--email",
        user.email,
        "--password",
        user.password,
        "--poll",
        "0.2",
    ]
    # in a thread: the worker runs on this test's event loop meanwhile
    result = await asyncio.to_thread(runner.invoke, cli.app, args)
    assert result.exit_code == 0, result.output
    assert "completed: 2 rows, 1 created, 0 updated, 1 failed" in result.output
    assert "row 3 (CLI-2): name is required" in result.output
    assert "error report: http" in result.output

    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"sku,name,price\nA,B,1\n")
    args = ["bulk-upload", str(bad), "--org", user.orgs[0], "--api", api_url]
    result = await asyncio.to_thread(runner.invoke, cli.app, [*args, "--token", user.access_token])
    assert result.exit_code == 1
    assert "Unknown column: price" in result.output
