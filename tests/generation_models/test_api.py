"""GET/POST /generation-models/, GET/PATCH/PUT/DELETE /generation-models/{id}: everybody
signed in reads the catalogue, only superusers write it; a model in use is retired, not
deleted; generate requests name a model by `model_id` or `model` (name)."""

from __future__ import annotations

import uuid

from fastapi import FastAPI

from models.generation import Generation, GenerationStatus
from models.generation_model import DEFAULT_MODEL_NAME
from tests.generation_models.support import generate, make_look, make_model
from tests.helpers import Api, UserHandle


async def test_the_default_model_is_seeded_and_listed_first(api: Api, user: UserHandle) -> None:
    r = await api.get("/generation-models/", as_=user)
    assert r.status_code == 200, r.text
    first = r.json()["data"][0]
    assert first["name"] == DEFAULT_MODEL_NAME and first["is_default"] is True
    assert first["provider"] == "fal_standard" and "BASE_GENERATION" in first["tool_types"]
    # Provider configs are operations' settings: hidden from users.
    assert first["provider_config"] is None
    assert (await api.get("/generation-models/")).status_code == 401


async def test_superuser_creates_reads_and_updates(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    created = await make_model(
        api,
        superuser,
        fallback_provider="vertex_ai",
        provider_config={"endpoint": "flux-pro"},
        max_output_width=2048,
        defaults={"width": 832, "height": 1216, "format": "png"},
    )
    assert created["provider_config"] == {"endpoint": "flux-pro"}
    assert created["defaults"]["width"] == 832 and created["is_active"] is True
    r = await api.get(f"/generation-models/{created['id']}", as_=user)
    assert r.status_code == 200 and r.json()["provider_config"] is None
    for method in (api.patch, api.put):
        r = await method(f"/generation-models/{created['id']}", as_=superuser, json={"beta": True})
        assert r.status_code == 200 and r.json()["beta"] is True, r.text
    r = await api.post(
        "/generation-models/", as_=superuser, json={"name": created["name"], "provider": "x"}
    )
    assert r.status_code == 409  # names are unique: generate requests resolve them


async def test_users_cannot_write_the_catalogue(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    model = await make_model(api, superuser)
    path = f"/generation-models/{model['id']}"
    body = {"name": "mine", "provider": "fal_standard"}
    assert (await api.post("/generation-models/", as_=user, json=body)).status_code == 403
    assert (await api.patch(path, as_=user, json={"beta": True})).status_code == 403
    assert (await api.delete(path, as_=user)).status_code == 403
    assert (await api.get(path, as_=user)).json()["beta"] is False


async def test_hostile_payloads_are_422_naming_the_field(api: Api, superuser: UserHandle) -> None:
    cases = [
        ({"provider": "Fal Standard"}, "provider"),
        ({"tool_types": ["TELEPORT"]}, "tool_types"),
        ({"provider_config": {"blob": "x" * 20_000}}, "provider_config"),
        ({"defaults": {"width": 10}}, "defaults"),
        ({"defaults": {"sampler": "ddim"}}, "defaults"),
        ({"max_size_pixels": 2**40}, "max_size_pixels"),
    ]
    for fields, field in cases:
        body = {"name": f"bad-{uuid.uuid4().hex[:6]}", "provider": "fal_standard", **fields}
        r = await api.post("/generation-models/", as_=superuser, json=body)
        assert r.status_code == 422, (fields, r.text)
        assert r.json()["detail"][0]["loc"][1] == field, r.text


async def test_unused_model_is_deleted_and_used_one_retired(
    api: Api, app: FastAPI, superuser: UserHandle, user: UserHandle
) -> None:
    unused = await make_model(api, superuser)
    r = await api.delete(f"/generation-models/{unused['id']}", as_=superuser)
    assert r.status_code == 204, r.text
    assert (await api.get(f"/generation-models/{unused['id']}", as_=user)).status_code == 404

    used = await make_model(api, superuser)
    async with app.state.sessionmaker() as session:
        session.add(Generation(model_id=uuid.UUID(used["id"]), model=used["name"]))
        await session.commit()
    r = await api.delete(f"/generation-models/{used['id']}", as_=superuser)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False and r.json()["retired_at"] is not None
    listed = (await api.get("/generation-models/", as_=user, params={"limit": 500})).json()
    assert used["id"] not in [m["id"] for m in listed["data"]]
    everything = await api.get(
        "/generation-models/", as_=user, params={"limit": 500, "include_retired": True}
    )
    assert used["id"] in [m["id"] for m in everything.json()["data"]]
    # Un-retired by PATCH.
    r = await api.patch(f"/generation-models/{used['id']}", as_=superuser, json={"is_active": True})
    assert r.json()["is_active"] is True and r.json()["retired_at"] is None


async def test_the_default_model_moves_and_cannot_be_retired(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    listed = (await api.get("/generation-models/", as_=user)).json()["data"]
    default = next(m for m in listed if m["is_default"])
    r = await api.delete(f"/generation-models/{default['id']}", as_=superuser)
    assert r.status_code == 409
    r = await api.patch(
        f"/generation-models/{default['id']}", as_=superuser, json={"is_active": False}
    )
    assert r.status_code == 409
    other = await make_model(api, superuser)
    try:
        r = await api.patch(
            f"/generation-models/{other['id']}", as_=superuser, json={"is_default": True}
        )
        assert r.status_code == 200 and r.json()["is_default"] is True, r.text
        old = await api.get(f"/generation-models/{default['id']}", as_=user)
        assert old.json()["is_default"] is False
    finally:  # the session's other tests expect the seeded default
        r = await api.patch(
            f"/generation-models/{default['id']}", as_=superuser, json={"is_default": True}
        )
        assert r.status_code == 200, r.text


async def test_generate_takes_model_id_or_name_and_defaults(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    world = await make_look(api, user)
    model = await make_model(api, superuser, provider="replicate")
    r = await generate(api, user, world, {"model_id": model["id"]})
    assert r.status_code == 202, r.text
    assert r.json()["model_id"] == model["id"] and r.json()["provider"] == "replicate"
    r = await generate(api, user, world, {"model": model["name"]})
    assert r.status_code == 202 and r.json()["model_id"] == model["id"], r.text
    r = await generate(api, user, world, {})
    assert r.status_code == 202, r.text
    assert r.json()["model"] == DEFAULT_MODEL_NAME and r.json()["provider"] == "fal_standard"


async def test_unknown_or_retired_model_is_refused(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    world = await make_look(api, user)
    for body, field in (
        ({"model_id": str(uuid.uuid4())}, "model_id"),
        ({"model_id": "not-a-uuid"}, "model_id"),
        ({"model": "no-such-model"}, "model"),
        ({"model": ""}, "model"),
    ):
        r = await generate(api, user, world, body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == field, r.text
    one, two = await make_model(api, superuser), await make_model(api, superuser)
    r = await generate(api, user, world, {"model_id": one["id"], "model": two["name"]})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "model"
    await api.patch(f"/generation-models/{one['id']}", as_=superuser, json={"is_active": False})
    r = await generate(api, user, world, {"model_id": one["id"]})
    assert r.status_code == 409 and "retired" in r.json()["detail"], r.text


async def test_retry_on_a_retired_model_is_409(
    api: Api, app: FastAPI, superuser: UserHandle, user: UserHandle
) -> None:
    model = await make_model(api, superuser)
    org = user.orgs[0]
    async with app.state.sessionmaker() as session:
        failed = Generation(
            organization_id=uuid.UUID(org),
            owner_id=uuid.UUID(user.id),
            model_id=uuid.UUID(model["id"]),
            model=model["name"],
            status=GenerationStatus.FAILED,
        )
        session.add(failed)
        await session.commit()
    await api.patch(f"/generation-models/{model['id']}", as_=superuser, json={"is_active": False})
    r = await api.post(f"/generations/{failed.id}/retry", as_=user, params={"organization_id": org})
    assert r.status_code == 409 and "retired" in r.json()["detail"], r.text
    async with app.state.sessionmaker() as session:
        row = await session.get(Generation, failed.id)
        assert row is not None and row.attempt == 1 and row.status == GenerationStatus.FAILED
