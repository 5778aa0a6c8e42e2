"""The Alembic migrations and the SQLModel tables describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

import models
from core.config import Settings


async def test_migrated_schema_matches_the_models(settings: Settings) -> None:
    # `settings` points at a database the harness migrated with `alembic upgrade head`.
    engine = create_async_engine(settings.async_database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), models.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], f"models and migrations disagree; run `sartiq makemigration`: {diff}"


def test_every_table_has_a_primary_key_and_named_constraints() -> None:
    for table in models.metadata.sorted_tables:
        assert table.primary_key.columns, table.name
        for constraint in table.constraints:
            assert constraint.name, f"{table.name}: unnamed constraint {constraint}"


def test_timestamps_are_timezone_aware() -> None:
    for table in models.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("_at"):
                assert getattr(column.type, "timezone", False), f"{table.name}.{column.name}"
