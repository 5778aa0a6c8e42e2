"""The clients a worker process shares between its activity classes."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.compute import ComputeClient
from core.config import Settings
from core.storage import ObjectStore


@dataclass(frozen=True)
class Clients:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis
    compute: ComputeClient
    store: ObjectStore
