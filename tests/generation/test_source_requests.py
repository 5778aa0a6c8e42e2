"""Generate requests of the strategies with a source image, refused before anything starts
(no worker needed): 422 naming the field for a bad payload, 404 for another organization's
source, 409 for a source without an image, an output the model cannot make, and VIDEO."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from models.generation import Generation, GenerationStrategy, Prediction, ShotGenerateRequest
from models.media import MediaResource
from services import generation_source
from services.generation_checks import RuleBroken
from tests.generation.look_world import png, upload
from tests.generation_models.support import make_model
from tests.helpers import Api, UserHandle

LOOK = {"width": 128, "height": 160}


async def _shot(api: Api, user: UserHandle) -> dict[str, Any]:
    org = user.orgs[0]
    shot_type = await api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    shooting = await api.create("/shootings/", {"name": "SS27"}, as_=user, org=org)
    look = await api.create(
        f"/shootings/{shooting['id']}/looks",
        {"shot_type_ids": [shot_type["id"]], **LOOK},
        as_=user,
        org=org,
    )
    return {"org": org, "shooting_id": shooting["id"], "shot_id": look["shot_ids"][0]}


async def _generate(api: Api, user: UserHandle, shot: dict[str, Any], body: Any) -> httpx.Response:
    return await api.post(
        f"/shots/{shot['shot_id']}/generate",
        as_=user,
        params={"organization_id": shot["org"]},
        json=body,
    )


async def _media_id(api: Api, user: UserHandle, size: tuple[int, int] = (100, 120)) -> str:
    """A media of the user's organization: an uploaded product cover image."""
    key = await upload(api, user, png((90, 90, 90), size))
    made = await api.create(
        "/products/",
        {
            "name": "Src",
            "sku": uuid.uuid4().hex[:8],
            "images": [{"slot": "cover_image", "key": key}],
        },
        as_=user,
        org=user.orgs[0],
    )
    return made["images"][0]["media_resource_id"]


async def _prediction(app: FastAPI, user: UserHandle, media_id: str | None) -> str:
    """A prediction of the user's organization (rows only workflows make, inserted)."""
    org, owner = uuid.UUID(user.orgs[0]), uuid.UUID(user.id)
    async with app.state.sessionmaker() as session:
        generation = Generation(organization_id=org, owner_id=owner)
        session.add(generation)
        await session.flush()
        prediction = Prediction(
            generation_id=generation.id,
            organization_id=org,
            media_resource_id=uuid.UUID(media_id) if media_id else None,
        )
        session.add(prediction)
        await session.commit()
        return str(prediction.id)


def _loc(r: httpx.Response) -> list[Any]:
    assert r.status_code == 422, r.text
    return r.json()["detail"][0]["loc"]


async def test_payload_rules_name_the_field(api: Api, user: UserHandle) -> None:
    shot = await _shot(api, user)
    media_id = await _media_id(api, user)
    cases = [
        ({"strategy": "EDITING"}, ["body", "source_prediction_id"]),
        (
            {
                "strategy": "REFINE",
                "source_prediction_id": str(uuid.uuid4()),
                "source_media_id": media_id,
            },
            ["body", "source_media_id"],
        ),
        ({"source_media_id": media_id}, ["body", "source_media_id"]),
        (
            {"strategy": "GENERATE", "source_prediction_id": media_id},
            ["body", "source_prediction_id"],
        ),
        (
            {"strategy": "EDITING", "source_media_id": media_id, "config": {"upscale": 2}},
            ["body", "config", "upscale"],
        ),
        (
            {"strategy": "REFINE", "source_media_id": media_id, "config": {"upscale": 5}},
            ["body", "config", "upscale"],
        ),
        ({"strategy": "REFINE", "source_media_id": "nope"}, ["body", "source_media_id"]),
    ]
    for body, loc in cases:
        assert _loc(await _generate(api, user, shot, body)) == loc, body
    r = await api.post(
        "/generations",
        as_=user,
        params={"organization_id": shot["org"]},
        json={"shot_id": shot["shot_id"], "strategy": "FACE_FIXING"},
    )
    assert _loc(r) == ["body", "source_prediction_id"]


async def test_another_organizations_source_is_not_found(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    shot = await _shot(api, user)
    theirs = await _media_id(api, other_user)
    their_prediction = await _prediction(app, other_user, theirs)
    for body in (
        {"strategy": "REFINE", "source_media_id": theirs},
        {"strategy": "EDITING", "source_prediction_id": their_prediction},
        {"strategy": "EDITING", "source_prediction_id": str(uuid.uuid4())},
    ):
        r = await _generate(api, user, shot, body)
        assert r.status_code == 404, (body, r.text)
        assert "Source" in r.json()["detail"]


async def test_a_source_without_an_image_is_a_conflict(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    shot = await _shot(api, user)
    pending = await _prediction(app, user, None)
    r = await _generate(api, user, shot, {"strategy": "EDITING", "source_prediction_id": pending})
    assert r.status_code == 409, r.text
    assert "has no image" in r.json()["detail"]
    # A media that is not an image (a video, say) is no source either.
    org, owner = uuid.UUID(user.orgs[0]), uuid.UUID(user.id)
    video_id = uuid.uuid4()
    async with app.state.sessionmaker() as session:
        session.add(
            MediaResource(
                id=video_id,
                organization_id=org,
                owner_id=owner,
                storage_key=f"media/{video_id}/file.mp4",
                content_hash=uuid.uuid4().hex,
                extension="mp4",
                content_type="video/mp4",
            )
        )
        await session.commit()
    r = await _generate(
        api, user, shot, {"strategy": "IMAGE_ADJUSTING", "source_media_id": str(video_id)}
    )
    assert r.status_code == 409 and "not an image" in r.json()["detail"], r.text


async def test_refine_output_must_pass_the_models_maximum(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    shot = await _shot(api, user)
    media_id = await _media_id(api, user, (100, 120))
    model = await make_model(api, superuser, max_output_width=150)
    # 100 px upscaled 2x is 200 px: above the model's 150.
    body = {"strategy": "REFINE", "source_media_id": media_id, "model_id": model["id"]}
    r = await _generate(api, user, shot, body)
    assert r.status_code == 409, r.text
    assert "Output width 200" in r.json()["detail"]


async def test_video_is_not_supported_yet(api: Api, user: UserHandle) -> None:
    shot = await _shot(api, user)
    r = await _generate(api, user, shot, {"strategy": "VIDEO"})
    assert r.status_code == 409 and "not supported yet" in r.json()["detail"], r.text
    r = await api.post(
        f"/shootings/{shot['shooting_id']}/generate",
        as_=user,
        params={"organization_id": shot["org"]},
        json={"strategy": "VIDEO"},
    )
    assert r.status_code == 409 and "not supported yet" in r.json()["detail"], r.text


async def test_a_batch_takes_no_source_strategy(api: Api, user: UserHandle) -> None:
    shot = await _shot(api, user)
    for body, loc in (
        ({"strategy": "REFINE"}, ["body", "strategy"]),
        ({"source_media_id": str(uuid.uuid4())}, ["body", "source_media_id"]),
    ):
        r = await api.post(
            f"/shootings/{shot['shooting_id']}/generate",
            as_=user,
            params={"organization_id": shot["org"]},
            json=body,
        )
        assert _loc(r) == loc, body


@pytest.mark.parametrize(
    ("source", "factor", "expected"),
    [
        ((128, 160), None, (256, 320)),
        ((128, 160), 4, (512, 640)),
        ((None, None), None, (2048, 2560)),  # size unknown: the look's, doubled
    ],
)
def test_refine_output_size(
    source: tuple[Any, Any], factor: int | None, expected: tuple[int, int]
) -> None:
    request = ShotGenerateRequest.model_validate(
        {
            "strategy": GenerationStrategy.REFINE,
            "source_media_id": str(uuid.uuid4()),
            "config": {"upscale": factor} if factor else {},
        }
    )
    found = generation_source.Source(None, uuid.uuid4(), *source)
    look = {"width": 1024, "height": 1280, "format": "png"}
    output, upscale = generation_source.output_for(found, request, look)
    assert (output["width"], output["height"], output["format"]) == (*expected, "png")
    assert upscale == (factor or 2)


def test_an_output_beyond_the_largest_side_is_refused() -> None:
    request = ShotGenerateRequest.model_validate(
        {"strategy": "REFINE", "source_media_id": str(uuid.uuid4()), "config": {"upscale": 2}}
    )
    big = generation_source.Source(None, uuid.uuid4(), 5000, 4000)
    with pytest.raises(RuleBroken, match="10000x8000"):
        generation_source.output_for(big, request, {"width": 1, "height": 1, "format": "jpg"})
    small = generation_source.Source(None, uuid.uuid4(), 40, 60)
    edit = ShotGenerateRequest.model_validate(
        {"strategy": "EDITING", "source_media_id": str(uuid.uuid4())}
    )
    with pytest.raises(RuleBroken, match="40x60"):
        generation_source.output_for(small, edit, {"width": 1, "height": 1, "format": "jpg"})
