"""Migration 0007 on data: a look's inline outfit (products, reference URLs, styling
instruction, OUTFIT images) becomes an outfit the look references, and the downgrade puts
it back inline. Runs on a database of its own, migrated step by step."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from alembic import command

from devstack.database import (
    alembic_config,
    async_url,
    create_database,
    drop_database,
    plain_pg,
    with_database,
)


@pytest.fixture
async def database(stack_env: dict[str, str]) -> AsyncIterator[str]:
    server = plain_pg(stack_env["DATABASE_URL"])
    name = f"sartiq_migration_{uuid.uuid4().hex[:10]}"
    await create_database(server, name)
    try:
        yield with_database(server, name)
    finally:
        await drop_database(server, name)


async def _alembic(url: str, step: str, target: str) -> None:
    config = alembic_config(async_url(url), configure_logger=False)
    run = command.upgrade if step == "upgrade" else command.downgrade
    await asyncio.to_thread(run, config, target)


async def _seed_0006(conn: asyncpg.Connection) -> dict[str, uuid.UUID]:
    ids = {k: uuid.uuid4() for k in ("org", "shooting", "look", "bare", "a", "b", "media")}
    await conn.execute(
        "INSERT INTO organization (id, name, created_at, updated_at)"
        " VALUES ($1, 'O', now(), now())",
        ids["org"],
    )
    await conn.execute(
        "INSERT INTO shooting (id, name, archived, organization_id, created_at, updated_at)"
        " VALUES ($1, 'S', false, $2, now(), now())",
        ids["shooting"],
        ids["org"],
    )
    for product in ("a", "b"):
        await conn.execute(
            "INSERT INTO product (id, name, tags, organization_id, created_at, updated_at)"
            " VALUES ($1, $2, '[]', $3, now(), now())",
            ids[product],
            f"Product {product}",
            ids["org"],
        )
    for look, name, instruction, urls, position in (
        ("look", "Summer", "Tuck the shirt in", ["https://example.com/ref.jpg"], 0),
        ("bare", None, None, [], 1),
    ):
        await conn.execute(
            "INSERT INTO shooting_look (id, shooting_id, organization_id, name, position,"
            " outfit_instruction, outfit_reference_urls, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, now(), now())",
            ids[look],
            ids["shooting"],
            ids["org"],
            name,
            position,
            instruction,
            json.dumps(urls),
        )
    # Products in the look's order: b first.
    for position, product in enumerate(("b", "a")):
        await conn.execute(
            "INSERT INTO shooting_look_outfit_product (look_id, product_id, position)"
            " VALUES ($1, $2, $3)",
            ids["look"],
            ids[product],
            position,
        )
    await conn.execute(
        "INSERT INTO media_resource (id, resource_type, storage_key, content_hash, extension,"
        " file_size, protected, organization_id, created_at, updated_at)"
        " VALUES ($1, 'IMAGE', $2, 'h', 'jpg', 1, false, $3, now(), now())",
        ids["media"],
        f"media/{ids['media']}/file.jpg",
        ids["org"],
    )
    await conn.execute(
        "INSERT INTO media_resource_attachment (id, media_resource_id, entity_type, entity_id,"
        " slot, created_at) VALUES ($1, $2, 'OUTFIT', $3, 'image', now())",
        uuid.uuid4(),
        ids["media"],
        ids["look"],
    )
    return ids


async def test_inline_outfits_become_outfits_and_come_back(database: str) -> None:
    await _alembic(database, "upgrade", "0006")
    conn = await asyncpg.connect(database)
    try:
        ids = await _seed_0006(conn)
    finally:
        await conn.close()

    await _alembic(database, "upgrade", "0007")
    conn = await asyncpg.connect(database)
    try:
        outfits = await conn.fetch("SELECT * FROM outfit")
        assert len(outfits) == 1  # the bare look had nothing to migrate
        outfit = outfits[0]
        assert outfit["name"] == "Summer outfit"
        assert outfit["styling_instruction"] == "Tuck the shirt in"
        assert json.loads(outfit["reference_urls"]) == ["https://example.com/ref.jpg"]
        assert outfit["organization_id"] == ids["org"]
        looks = dict(await conn.fetch("SELECT id, outfit_id FROM shooting_look"))
        assert looks == {ids["look"]: outfit["id"], ids["bare"]: None}
        products = await conn.fetch(
            "SELECT product_id FROM outfit_product WHERE outfit_id = $1 ORDER BY position",
            outfit["id"],
        )
        assert [p["product_id"] for p in products] == [ids["b"], ids["a"]]
        attachment = await conn.fetchval(
            "SELECT entity_id FROM media_resource_attachment WHERE entity_type = 'OUTFIT'"
        )
        assert attachment == outfit["id"]
        default = await conn.fetchrow(
            "SELECT name, provider, is_default, is_active FROM generation_model"
        )
        assert tuple(default) == ("sartiq-standard", "fal_standard", True, True)
    finally:
        await conn.close()

    await _alembic(database, "downgrade", "0006")
    conn = await asyncpg.connect(database)
    try:
        look = await conn.fetchrow(
            "SELECT outfit_instruction, outfit_reference_urls FROM shooting_look WHERE id = $1",
            ids["look"],
        )
        assert look["outfit_instruction"] == "Tuck the shirt in"
        assert json.loads(look["outfit_reference_urls"]) == ["https://example.com/ref.jpg"]
        products = await conn.fetch(
            "SELECT product_id FROM shooting_look_outfit_product WHERE look_id = $1"
            " ORDER BY position",
            ids["look"],
        )
        assert [p["product_id"] for p in products] == [ids["b"], ids["a"]]
        attachment = await conn.fetchval(
            "SELECT entity_id FROM media_resource_attachment WHERE entity_type = 'OUTFIT'"
        )
        assert attachment == ids["look"]
        assert await conn.fetchval("SELECT to_regclass('outfit')") is None
    finally:
        await conn.close()

    # And up again to head: the seed finds nothing in its way.
    await _alembic(database, "upgrade", "head")
