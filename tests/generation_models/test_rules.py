"""The business rules of services/generation_checks.py: pure checks, the 409 of a single
generate (nothing created), and a batch that skips the shots breaking one (reason recorded)
and plans the rest."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from models.generation import Generation, GenerationStrategy, ShootingGenerateRequest
from services import batch_plan, batches
from services.generation_checks import (
    STRATEGY_TOOL_TYPES,
    GenerationFacts,
    GuidelineFacts,
    ModelFacts,
    problems,
)
from services.tenancy import Scope
from tests.generation.look_world import png, upload
from tests.generation_models.support import generate, make_look, make_model
from tests.helpers import Api, UserHandle

SUBJECT = uuid.uuid4()
MODEL = ModelFacts(
    name="m",
    tool_types=frozenset({"BASE_GENERATION"}),
    max_output_width=1024,
    max_output_height=1024,
    max_size_pixels=800_000,
)


def _facts(**changes: Any) -> GenerationFacts:
    fields: dict[str, Any] = {
        "strategy": GenerationStrategy.GENERATE,
        "width": 800,
        "height": 800,
        "subject_id": SUBJECT,
        "model": MODEL,
    }
    return GenerationFacts(**{**fields, **changes})


def _guideline(*subjects: uuid.UUID) -> GuidelineFacts:
    return GuidelineFacts(id=uuid.uuid4(), name="G", subject_ids=frozenset(subjects))


def test_every_strategy_maps_to_tool_types() -> None:
    assert set(STRATEGY_TOOL_TYPES) == set(GenerationStrategy)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({}, None),
        ({"width": 1100}, "width 1100"),
        ({"height": 1100}, "height 1100"),
        ({"width": 1000, "height": 1000}, "pixels"),
        ({"strategy": GenerationStrategy.REFINE}, "UPSCALING"),
        ({"model": None, "width": 5000}, None),  # no model: nothing to check it against
        ({"look_guidelines": [_guideline(uuid.uuid4())]}, "does not allow"),
        ({"look_guidelines": [_guideline(SUBJECT)]}, None),
        ({"look_guidelines": [_guideline()]}, None),  # no list: every subject
        ({"default_guidelines": [_guideline(uuid.uuid4())]}, "does not allow"),
        # The look's own guidelines decide over the shooting's default ones.
        (
            {
                "look_guidelines": [_guideline(SUBJECT)],
                "default_guidelines": [_guideline(uuid.uuid4())],
            },
            None,
        ),
        ({"subject_id": None, "look_guidelines": [_guideline(uuid.uuid4())]}, None),
    ],
)
def test_rules(changes: dict[str, Any], needle: str | None) -> None:
    found = problems(_facts(**changes))
    if needle is None:
        assert found == []
    else:
        assert len(found) == 1 and needle in found[0], found


def test_fixes_run_on_an_editing_model() -> None:
    editing = ModelFacts(name="e", tool_types=frozenset({"IMAGE_EDITING"}))
    for strategy in ("BACKGROUND_FIXING", "FACE_FIXING", "IMAGE_ADJUSTING", "EDITING"):
        assert problems(_facts(strategy=GenerationStrategy(strategy), model=editing)) == []
    assert problems(_facts(model=editing))  # GENERATE needs BASE_GENERATION


async def _generations_of(app: FastAPI, shot_id: str) -> int:
    async with app.state.sessionmaker() as session:
        query = select(func.count()).where(Generation.shot_id == uuid.UUID(shot_id))
        return int(await session.scalar(query) or 0)


async def test_generate_breaking_a_rule_is_409_and_creates_nothing(
    api: Api, app: FastAPI, superuser: UserHandle, user: UserHandle
) -> None:
    org = user.orgs[0]
    small = await make_model(api, superuser, max_output_width=256)
    tiny = await make_model(api, superuser, max_size_pixels=4096 * 10)
    editing = await make_model(api, superuser, tool_types=["IMAGE_EDITING"])
    allowed = await api.create("/subjects/", {"name": "Ava"}, as_=user, org=org)
    other = await api.create("/subjects/", {"name": "Bea"}, as_=user, org=org)
    guideline = await api.create(
        "/guidelines/", {"name": "Only Ava", "subject_ids": [allowed["id"]]}, as_=user, org=org
    )
    world = await make_look(
        api, user, look={"subject_id": other["id"], "guidelines": [guideline["id"]]}
    )
    r = await generate(api, user, world, {})
    assert r.status_code == 409 and "Only Ava" in r.json()["detail"], r.text
    fine = await make_look(api, user)  # 512 x 640 (support.make_look)
    # REFINE works on a source image (services/generation_source.py): one of the org's.
    key = await upload(api, user, png((90, 90, 90), (100, 120)))
    made = await api.create(
        "/products/",
        {"name": "Src", "images": [{"slot": "cover_image", "key": key}]},
        as_=user,
        org=org,
    )
    refine = {"strategy": "REFINE", "source_media_id": made["images"][0]["media_resource_id"]}
    for body, needle in (
        ({"model_id": small["id"]}, "width 512"),
        ({"model_id": tiny["id"]}, "pixels"),
        ({"model_id": editing["id"]}, "BASE_GENERATION"),
        ({"model_id": editing["id"], **refine}, "UPSCALING"),
    ):
        r = await generate(api, user, fine, body)
        assert r.status_code == 409 and needle in r.json()["detail"], (body, r.text)
    r = await api.post(
        "/generations",
        as_=user,
        params={"organization_id": org},
        json={"shot_id": fine["shot_id"], "model_id": small["id"]},
    )
    assert r.status_code == 409, r.text
    assert await _generations_of(app, world["shot_id"]) == 0
    assert await _generations_of(app, fine["shot_id"]) == 0


async def test_a_batch_skips_the_shots_that_break_a_rule(
    api: Api, app: FastAPI, superuser: UserHandle, user: UserHandle
) -> None:
    """Planned through the services the batch workflow's activity calls (no worker)."""
    org = user.orgs[0]
    allowed = await api.create("/subjects/", {"name": "Ava"}, as_=user, org=org)
    other = await api.create("/subjects/", {"name": "Bea"}, as_=user, org=org)
    guideline = await api.create(
        "/guidelines/", {"name": "Only Ava", "subject_ids": [allowed["id"]]}, as_=user, org=org
    )
    world = await make_look(api, user, look={"subject_id": allowed["id"]})
    shooting_id = world["shooting"]["id"]
    bad = await api.create(
        f"/shootings/{shooting_id}/looks",
        {
            "subject_id": other["id"],
            "guidelines": [guideline["id"]],
            "shot_type_ids": [world["look"]["shot_type_ids"][0]],
        },
        as_=user,
        org=org,
    )
    scope = Scope(user_id=uuid.UUID(user.id), organization_id=uuid.UUID(org), role=None)
    async with app.state.sessionmaker() as session:
        batch, created = await batches.active_or_new(
            session, scope, uuid.UUID(shooting_id), ShootingGenerateRequest()
        )
        assert created and batch.request["model_id"] is not None  # the default, by id
        page = await batch_plan.plan_page(
            session, batch, after=None, limit=10, completed=0, failed=0, cancelled=0, skipped=0
        )
        await session.commit()
        batch_id = batch.id
    assert [str(shot) for _g, shot in page.items] == [world["shot_id"]]
    assert page.skipped == 1 and page.done
    path = f"/shootings/{shooting_id}/generations/{batch_id}"
    r = await api.get(path, as_=user, params={"organization_id": org})
    assert r.status_code == 200, r.text
    (skipped,) = r.json()["skipped_shots"]
    assert skipped["shot_id"] == bad["shot_ids"][0] and "Only Ava" in skipped["reason"]
    assert await _generations_of(app, bad["shot_ids"][0]) == 0


async def test_a_batch_start_refuses_an_unknown_or_retired_model(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    world = await make_look(api, user)
    path = f"/shootings/{world['shooting']['id']}/generate"
    params = {"organization_id": world["org"]}
    r = await api.post(path, as_=user, params=params, json={"model": "no-such-model"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][-1] == "model", r.text
    retired = await make_model(api, superuser)
    await api.patch(f"/generation-models/{retired['id']}", as_=superuser, json={"is_active": False})
    r = await api.post(path, as_=user, params=params, json={"model_id": retired["id"]})
    assert r.status_code == 409, r.text
