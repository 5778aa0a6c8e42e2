"""One service of a running stack stopped and started again in place (the fault suite's
outages): same port, same data, a new process."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from devstack import DevstackError, Stack
from tests.devstack.test_stack import clean_environ


def test_restart_keeps_port_and_persisted_data(tmp_path: Path) -> None:
    # Not ephemeral: a production Redis persists, so its data must survive a clean restart.
    stack = Stack(tmp_path / "state", environ=clean_environ(), services=["redis"])
    with stack as env:
        url = env["REDIS_URL"]
        with redis.Redis.from_url(url) as client:
            client.set("survivor", "before the restart")
            client.xadd("stream", {"m": "1"})
        (proc,) = stack._embedded["redis"].processes
        pid_before = proc.pid

        stack.restart("redis")

        (proc,) = stack._embedded["redis"].processes
        assert proc.pid != pid_before
        assert stack.env is not None and stack.env["REDIS_URL"] == url
        with redis.Redis.from_url(url) as client:
            assert client.get("survivor") == b"before the restart"
            assert client.xlen("stream") == 1

        stack.stop_service("redis")
        with (
            pytest.raises(redis.ConnectionError),
            redis.Redis.from_url(url, socket_connect_timeout=1) as client,
        ):
            client.ping()
        stack.start_service("redis")
        stack.start_service("redis")  # already running: nothing happens
        assert len(stack._embedded["redis"].processes) == 1
        with redis.Redis.from_url(url) as client:
            assert client.get("survivor") == b"before the restart"


def test_restart_of_a_service_not_embedded_is_refused(tmp_path: Path) -> None:
    stack = Stack(tmp_path / "state", environ=clean_environ(), services=["redis"])
    with pytest.raises(DevstackError, match="not started"):
        stack.restart("redis")
    with stack, pytest.raises(DevstackError, match="not embedded"):
        stack.restart("postgres")
