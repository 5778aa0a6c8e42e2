"""Every org-scoped route answers 404 to a caller outside the resource's scope.

The routes come from the app's OpenAPI schema, so a new route is covered as soon as it
exists: a path segment with no fixture below fails the test until one is added.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI

from models.generation import Generation
from models.jobs import Export
from models.media import MediaResource
from tests.helpers import PREFIX, Api, UserHandle

# Routes that are not tenant-scoped: the caller's own account, auth, superuser admin, health,
# and the global catalogue of generation models (everybody reads it, superusers write it:
# tests/generation_models/test_api.py checks both).
EXEMPT_PREFIXES = (
    "/admin",
    "/generation-models",
    "/login",
    "/logout",
    "/users",
    "/utils",
    "/password-recovery",
    "/reset-password",
)
PARAM = re.compile(r"\{(\w+)\}")


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A minimal valid value for a JSON schema (enough to get past payload validation)."""
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return _example(options[0], components) if options else None
    if "allOf" in schema:
        return _example(schema["allOf"][0], components)
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", []))
        props = schema.get("properties", {})
        return {k: _example(v, components) for k, v in props.items() if k in required}
    if kind == "array":
        return [_example(schema["items"], components)] * schema.get("minItems", 0)
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return str(uuid.uuid4())
        if fmt == "email":
            return "somebody@example.com"
        if fmt == "date-time":
            return datetime.now(UTC).isoformat()
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return max(schema.get("minimum", 1), schema.get("exclusiveMinimum", 0) + 1)
    if kind == "boolean":
        return False
    return None


async def _insert_generation_and_media(
    app: FastAPI, victim: UserHandle, shot_id: str
) -> tuple[str, str]:
    """Rows the API creates only through workflows, inserted directly."""
    org, owner = uuid.UUID(victim.orgs[0]), uuid.UUID(victim.id)
    async with app.state.sessionmaker() as session:
        generation = Generation(organization_id=org, owner_id=owner, shot_id=uuid.UUID(shot_id))
        media_id = uuid.uuid4()
        media = MediaResource(
            id=media_id,
            organization_id=org,
            owner_id=owner,
            storage_key=f"media/{media_id}/file.jpg",
            content_hash=uuid.uuid4().hex,
            extension="jpg",
        )
        session.add_all([generation, media])
        await session.commit()
        return str(generation.id), str(media.id)


async def _victim_world(api: Api, app: FastAPI, victim: UserHandle) -> dict[str, str]:
    """One of every org-scoped resource in the victim's organization, keyed by the path
    segment that names its collection."""
    org = victim.orgs[0]

    async def make(path: str, body: dict[str, Any]) -> str:
        return (await api.create(path, body, as_=victim, org=org))["id"]

    shot_type = await make("/shot-types/", {"name": "Front full body"})
    guideline = await make("/guidelines/", {"name": "Guide"})
    rule = await make(
        f"/guidelines/{guideline}/shot-type-rules/",
        {"rule_kind": "PLACEMENT", "rule_value": "center", "shot_type_id": shot_type},
    )
    shooting = await make("/shootings/", {"name": "SS27"})
    look = await api.create(
        f"/shootings/{shooting}/looks", {"shot_type_ids": [shot_type]}, as_=victim, org=org
    )
    generation, media = await _insert_generation_and_media(app, victim, look["shot_ids"][0])
    async with app.state.sessionmaker() as session:  # exports are run by a workflow
        export = Export(organization_id=uuid.UUID(org), owner_id=uuid.UUID(victim.id), shot_ids=[])
        session.add(export)
        await session.commit()
    from models.jobs import BulkUpload  # bulk uploads are run by a workflow

    async with app.state.sessionmaker() as session:
        bulk_upload = BulkUpload(
            organization_id=uuid.UUID(org), owner_id=uuid.UUID(victim.id), source_key="x.csv"
        )
        session.add(bulk_upload)
        await session.commit()
    from models.shooting_generation import ShootingGeneration  # batches run by a workflow

    async with app.state.sessionmaker() as session:
        batch = ShootingGeneration(
            organization_id=uuid.UUID(org),
            owner_id=uuid.UUID(victim.id),
            requested_by=uuid.UUID(victim.id),
            shooting_id=uuid.UUID(shooting),
            status="running",
            total=1,
        )
        batch.workflow_id = f"shooting-generation-{batch.id}"
        session.add(batch)
        await session.commit()
    # An invitation of the victim's organization to an address that is not the attacker's:
    # neither its organization's routes nor the invitee's (accept, decline) may reach it.
    invitation = await api.invite(org, victim, f"invitee-{uuid.uuid4().hex[:8]}@example.com")
    product = await make("/products/", {"name": "Dress"})
    outfit = await make("/outfits/", {"name": "Look 1", "product_ids": [product]})
    return {
        "invitations": invitation["id"],
        "bulk-uploads": str(bulk_upload.id),
        "generations": generation,
        "exports": str(export.id),
        "files": media,
        "media-resources": media,
        "organizations": org,
        "members": victim.id,
        "products": product,
        "outfits": outfit,
        "subjects": await make("/subjects/", {"name": "Ava"}),
        "styles": await make("/styles/", {"name": "Editorial"}),
        "shot-types": shot_type,
        "background-presets": await make("/background-presets/", {"name": "White"}),
        "resolution-presets": await make(
            "/resolution-presets/", {"name": "Square", "width": 1024, "height": 1024}
        ),
        "guidelines": guideline,
        "shot-type-rules": rule,
        "shootings": shooting,
        # A collection nested under another is keyed "parent/collection" when its ids differ
        # from the top-level collection of the same name (a shooting's batch generations).
        "shootings/generations": str(batch.id),
        "shooting-looks": look["id"],
        "looks": look["id"],
        "shots": look["shot_ids"][0],
    }


def _scoped_operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    schema = app.openapi()
    ops = []
    for path, methods in schema["paths"].items():
        route = path.removeprefix(PREFIX)
        if route.startswith(EXEMPT_PREFIXES):
            continue
        for method, op in methods.items():
            query = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
            if PARAM.search(route) or "organization_id" in query:
                ops.append((method.upper(), route, op))
    return ops


def _fill(route: str, world: dict[str, str]) -> str:
    """Replace each `{param}` with the victim's resource of the preceding collection."""
    parts = route.strip("/").split("/")
    for i, part in enumerate(parts):
        if PARAM.fullmatch(part):
            collection = parts[i - 1]
            nested = f"{parts[i - 3]}/{collection}" if i >= 3 else ""
            key = nested if nested in world else collection
            assert key in world, (
                f"no tenancy fixture for '{collection}' in {route}: add one to _victim_world"
            )
            parts[i] = world[key]
    return "/" + "/".join(parts) + ("/" if route.endswith("/") else "")


async def test_other_organization_gets_404_on_every_scoped_route(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    victim, attacker = user, other_user
    world = await _victim_world(api, app, victim)
    components = app.openapi().get("components", {}).get("schemas", {})
    failures: list[str] = []
    checked = 0
    for method, route, op in _scoped_operations(app):
        path = _fill(route, world)
        body = None
        if "requestBody" in op:
            content = op["requestBody"]["content"]
            if "application/json" in content:
                body = _example(content["application/json"]["schema"], components)
        accepts_org = any(p["name"] == "organization_id" for p in op.get("parameters", []))
        scopes: list[dict[str, str] | None] = [None]
        if accepts_org:
            # the victim's org (not a member), the attacker's own org, and personal scope
            scopes = [{"organization_id": victim.orgs[0]}, {"organization_id": attacker.orgs[0]}]
            if PARAM.search(route):
                scopes.append({})
        elif not PARAM.search(route):
            continue
        for params in scopes:
            if (
                params is not None
                and "organization_id" in params
                and params["organization_id"] == attacker.orgs[0]
                and not PARAM.search(route)
            ):
                continue  # a collection in the attacker's own org is legitimately its own
            r = await api.request(method, path, as_=attacker, params=params, json=body)
            checked += 1
            if r.status_code != 404:
                failures.append(f"{method} {path} {params}: {r.status_code} {r.text[:120]}")
    assert not failures, "\n".join(failures)
    assert checked > 50

    # Nothing the attacker tried changed the victim's resources.
    for collection in ("products", "outfits", "shootings", "shots", "guidelines", "shot-types"):
        r = await api.get(
            f"/{collection}/{world[collection]}",
            as_=victim,
            params={"organization_id": victim.orgs[0]},
        )
        assert r.status_code == 200, f"{collection}: {r.status_code}"
    r = await api.get(
        f"/shootings/{world['shootings']}/generations/{world['shootings/generations']}",
        as_=victim,
        params={"organization_id": victim.orgs[0]},
    )
    assert r.status_code == 200 and r.json()["status"] == "running", r.text  # not cancelled


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": "string", "minLength": 3}, "xxx"),
        ({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 64}]}, 64),
        ({"type": "array", "items": {"type": "string"}}, []),
        (
            {"type": "object", "required": ["a"], "properties": {"a": {"enum": ["z"]}, "b": {}}},
            {"a": "z"},
        ),
    ],
)
def test_example_payloads_follow_the_schema(schema: dict, expected: Any) -> None:
    assert _example(schema, {}) == expected
