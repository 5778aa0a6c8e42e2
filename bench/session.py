"""A signed-up user with an organization, over real HTTP and one WebSocket, as a client
of the running API sees it."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from typing import Any

TERMINAL_EVENTS = ("generation.completed", "generation.failed", "generation.cancelled")


class Session:
    def __init__(self, api_url: str, *, connections: int = 100) -> None:
        import httpx

        self.api_url = api_url
        # Idle connections are dropped well before uvicorn's 5 s keep-alive timeout: at equal
        # timeouts a request sent on a connection the server is closing fails (ReadError).
        limits = httpx.Limits(
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=2.0,
        )
        self.http = httpx.AsyncClient(base_url=api_url + "/api/v1", timeout=120, limits=limits)
        self.org = ""
        self.token = ""
        self.headers: dict[str, str] = {}
        # generation id -> (wall-clock time the terminal event arrived, its type)
        self._finished: dict[str, tuple[float, str]] = {}
        self._waiters: dict[str, asyncio.Future[tuple[float, str]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._conn: Any = None

    async def sign_up(self) -> None:
        email = f"bench-{uuid.uuid4().hex[:10]}@example.com"
        password = uuid.uuid4().hex
        r = await self.http.post("/users/signup", json={"email": email, "password": password})
        r.raise_for_status()
        r = await self.http.post(
            "/login/access-token", data={"username": email, "password": password}
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        r = await self.http.post("/organizations/", json={"name": "Bench"}, headers=self.headers)
        r.raise_for_status()
        self.org = r.json()["id"]

    @property
    def params(self) -> dict[str, str]:
        return {"organization_id": self.org}

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.http.post(path, json=body, headers=self.headers, params=self.params)
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text}")
        return dict(r.json())

    async def get(self, path: str, **params: Any) -> dict[str, Any]:
        r = await self.http.get(path, headers=self.headers, params={**self.params, **params})
        r.raise_for_status()
        return dict(r.json())

    async def shots(self, count: int, size: int) -> list[str]:
        """`count` shots in one shooting (at most 10 shot types per look)."""
        product = await self.create("/products/", {"name": "Dress", "sku": uuid.uuid4().hex[:8]})
        per_look = min(count, 10)
        types = [
            (await self.create("/shot-types/", {"name": f"Angle {i}"}))["id"]
            for i in range(per_look)
        ]
        shooting = await self.create("/shootings/", {"name": f"Bench {count}"})
        shot_ids: list[str] = []
        for _ in range(math.ceil(count / per_look)):
            look = await self.create(
                f"/shootings/{shooting['id']}/looks",
                {
                    "main_product_id": product["id"],
                    "shot_type_ids": types,
                    "width": size,
                    "height": size,
                },
            )
            shot_ids += look["shot_ids"]
        return shot_ids[:count]

    async def connect(self) -> None:
        from websockets.asyncio.client import connect

        # A one-time ticket, as a browser would: tokens never travel in URLs.
        r = await self.http.post("/ws/ticket", headers=self.headers)
        r.raise_for_status()
        url = self.api_url.replace("http://", "ws://") + f"/api/v1/ws?ticket={r.json()['ticket']}"
        self._conn = await connect(url, open_timeout=10, max_queue=None)
        hello = json.loads(await self._conn.recv())
        if hello.get("type") != "auth.success":
            raise RuntimeError(f"socket refused: {hello}")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._conn:
            seen = time.time()
            message = json.loads(raw)
            if message.get("type") not in TERMINAL_EVENTS:
                continue
            generation_id = message["payload"]["id"]
            self._finished[generation_id] = (seen, message["type"])
            waiter = self._waiters.pop(generation_id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result((seen, message["type"]))

    async def finished(self, generation_id: str) -> tuple[float, str]:
        """When (time.time()) the generation's terminal event arrived, and its type."""
        if generation_id in self._finished:
            return self._finished[generation_id]
        waiter = self._waiters.setdefault(generation_id, asyncio.get_running_loop().create_future())
        return await waiter

    async def generate(self, shot_id: str, outputs: int = 1) -> str:
        r = await self.http.post(
            f"/shots/{shot_id}/generate",
            json={"num_predictions": outputs},
            headers=self.headers,
            params=self.params,
        )
        if r.status_code != 202:
            raise RuntimeError(f"generate: {r.status_code} {r.text}")
        return str(r.json()["id"])

    async def generate_and_wait(self, shot_id: str, within: float) -> tuple[str, float]:
        """(generation id, wall-clock arrival of its generation.completed)."""
        generation_id = await self.generate(shot_id)
        async with asyncio.timeout(within):
            seen, kind = await self.finished(generation_id)
        if kind != "generation.completed":
            raise RuntimeError(f"generation {generation_id} ended with {kind}")
        return generation_id, seen

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.http.aclose()
