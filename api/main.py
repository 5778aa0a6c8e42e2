"""The FastAPI application: `uvicorn api.main:app`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from api.body_limits import BodyLimitMiddleware, body_limits
from api.errors import install_error_handlers
from api.middleware import RequestContextMiddleware
from api.rate_limits import RateLimiter
from api.routes import api_router, metrics
from api.security_headers import SecurityHeadersMiddleware
from api.ws_sessions import SocketRegistry
from core import log_redaction
from core.config import Settings, get_settings
from core.db import create_engine, create_sessionmaker, session_scope
from core.event_hub import EventHub
from core.logging import configure as configure_logging
from core.security import use_fast_password_hashing
from core.storage import ObjectStore
from core.temporal import LazyClient
from services import presets, users

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    log_redaction.install()  # uvicorn's access log would print tickets and signatures
    if settings.json_logs:
        configure_logging(json_logs=True, level=settings.LOG_LEVEL)
    if settings.ENVIRONMENT == "test":
        use_fast_password_hashing(settings.ENVIRONMENT)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings, application_name="sartiq-api")
        app.state.settings = settings
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        app.state.redis = Redis.from_url(settings.REDIS_URL)
        app.state.store = ObjectStore(settings)
        app.state.temporal = LazyClient(settings)
        async with session_scope(app.state.sessionmaker) as session:
            await users.ensure_first_superuser(session, settings)
            await presets.ensure_system_presets(session)
        app.state.rate_limiter = RateLimiter(settings)
        # The one pub/sub link of this process.
        app.state.event_hub = EventHub(app.state.redis, settings)
        # Revocations from any API process reach this one's sockets through the hub.
        app.state.socket_registry = SocketRegistry(app.state.event_hub, app.state.sessionmaker)
        await app.state.event_hub.start()
        try:
            yield
        finally:
            await app.state.event_hub.stop()
            await app.state.redis.aclose()
            await engine.dispose()

    app = FastAPI(
        title=f"{settings.PROJECT_NAME} API",
        version="0.1.0",
        openapi_url=f"{settings.API_V1_STR}/openapi.json",
        lifespan=lifespan,
    )
    # Middleware added later wraps what was added before. Outermost first: request id,
    # security headers, CORS, then the body caps, innermost so that a 413 still carries
    # the others' headers, yet before any route reads a byte (the webhook's HMAC included).
    families, default_limit = body_limits(settings)
    app.add_middleware(BodyLimitMiddleware, limits=families, default=default_limit)
    if settings.BACKEND_CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.BACKEND_CORS_ORIGINS,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    install_error_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    app.add_middleware(RequestContextMiddleware)
    if settings.TRUSTED_PROXIES:
        # Outermost: the client address is settled before anything reads it (rate limits,
        # logs). Only these peers' X-Forwarded-For is believed; uvicorn's own proxy-header
        # handling is switched off where we start it (--no-proxy-headers).
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.TRUSTED_PROXIES)
    app.include_router(metrics.router)  # /metrics at the root, where scrapers look
    app.include_router(api_router, prefix=settings.API_V1_STR)
    # The live page: plain HTML + one script, no build step.
    app.mount("/app", StaticFiles(directory=STATIC_DIR, html=True), name="app")
    return app


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` builds the app on first access, so importing this module
    # (tests, tooling) reads no settings.
    if name == "app":
        global app
        app = create_app()
        return app
    raise AttributeError(name)
