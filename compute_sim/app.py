"""The simulator's FastAPI app: clients are opened in the lifespan, on the serving loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from compute_sim.config import ConfigHolder, SimConfig
from compute_sim.events import EventPublisher
from compute_sim.routes import public, router
from compute_sim.runner import TaskRunner
from compute_sim.simulator import Simulator
from compute_sim.store import TaskStore
from core.config import Settings
from core.storage import s3_client


def create_app(settings: Settings, config: SimConfig | None = None) -> FastAPI:
    """The Compute Server simulator for `settings` (Redis, bucket, token, webhook secret).

    `app.state.config` (a ConfigHolder) exists before startup so an in-process owner can
    change knobs at any time; `app.state.sim` exists while the app runs.
    """
    holder = ConfigHolder(config if config is not None else SimConfig())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.REDIS_URL)
        # Input images and webhooks; redirects followed because CDNs and short links use them.
        http = httpx.AsyncClient(
            follow_redirects=True, limits=httpx.Limits(max_connections=100), timeout=10.0
        )
        s3 = await asyncio.to_thread(s3_client, settings)
        publisher = EventPublisher(
            redis=redis,
            stream=settings.COMPUTE_EVENTS_STREAM,
            webhook_secret=settings.COMPUTE_WEBHOOK_SECRET,
            http=http,
            config=holder.get,
        )
        runner = TaskRunner(
            publisher=publisher,
            s3=s3,
            bucket=settings.R2_BUCKET_NAME,
            http=http,
            config=holder.get,
        )
        app.state.sim = Simulator(
            settings=settings, config=holder, store=TaskStore(), runner=runner, s3=s3
        )
        try:
            yield
        finally:
            await runner.shutdown()
            await http.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Sartiq Compute Server (simulator)",
        description="The Compute Server contract of DESIGN.md §6, with fault knobs.",
        lifespan=lifespan,
    )
    app.state.config = holder
    app.include_router(public)
    app.include_router(router)
    return app
