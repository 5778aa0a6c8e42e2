"""GET /gallery/: the generated images of a shooting, for review."""

from __future__ import annotations

from typing import Any

from tests.generation.conftest import make_shot, wait_status
from tests.helpers import Api, UserHandle


async def _generate(
    api: Api, user: UserHandle, org: str, shot_id: str, outputs: int, **config: Any
) -> dict[str, Any]:
    r = await api.post(
        f"/shots/{shot_id}/generate",
        as_=user,
        params={"organization_id": org},
        json={"num_predictions": outputs, "config": config},
    )
    assert r.status_code == 202, r.text
    return await wait_status(api, user, org, r.json()["id"], {"completed", "failed"})


async def test_list_gallery_shows_every_image_of_the_shooting(
    api: Api, user: UserHandle, worker: dict[str, Any]
) -> None:
    world = await make_shot(api, user, shot_types=2)
    org, shooting_id = world["org"], world["shooting"]["id"]
    first_shot, second_shot = world["shot_ids"]
    params = {"organization_id": org, "shooting_id": shooting_id}

    empty = await api.get("/gallery/", as_=user, params=params)
    assert empty.status_code == 200, empty.text
    assert empty.json() == {"data": [], "count": 0}

    older = await _generate(api, user, org, first_shot, 2)
    newer = await _generate(api, user, org, first_shot, 1)
    other = await _generate(api, user, org, second_shot, 1)
    failed = await _generate(api, user, org, second_shot, 1, sim={"fail": "boom"})
    assert [g["status"] for g in (older, newer, other, failed)] == ["completed"] * 3 + ["failed"]

    r = await api.get("/gallery/", as_=user, params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 4 == len(body["data"])  # 2 + 1 + 1 images; none of the failure
    items = {item["prediction_id"]: item for item in body["data"]}
    predictions = {p["id"]: (g, p) for g in (older, newer, other) for p in g["predictions"]}
    assert set(items) == set(predictions)

    for prediction_id, item in items.items():
        generation, prediction = predictions[prediction_id]
        assert item["generation_id"] == generation["id"]
        assert item["shot_id"] == generation["shot_id"]
        assert item["look_id"] == world["look"]["id"]
        assert item["media_resource_id"] == prediction["media_resource_id"]
        assert item["file_url"].startswith(f"/api/v1/files/{prediction['media_resource_id']}?exp=")
        assert item["file_url"] == prediction["file_url"]
        assert item["seed"] == prediction["seed"] and item["score"] == prediction["score"]
        assert (item["width"], item["height"]) == (256, 320)
        assert item["dominant_color"].startswith("#")
        assert item["shot_status"] == "in_review"
        # The newest generation of each shot is its current revision.
        assert item["in_current_revision"] == (generation["id"] in (newer["id"], other["id"]))
    shot_types = {item["shot_id"]: item["shot_type_id"] for item in body["data"]}
    assert len(set(shot_types.values())) == 2

    # Ordered by shot, newest generation first within a shot.
    by_shot = [item["shot_id"] for item in body["data"]]
    assert by_shot == sorted(by_shot, key=by_shot.index)  # each shot's images together
    first_shot_items = [item for item in body["data"] if item["shot_id"] == first_shot]
    assert first_shot_items[0]["generation_id"] == newer["id"]

    # Filters and paging.
    current = (await api.get("/gallery/", as_=user, params={**params, "current_only": True})).json()
    assert {i["generation_id"] for i in current["data"]} == {newer["id"], other["id"]}
    assert current["count"] == 2
    one_shot = (
        await api.get("/gallery/", as_=user, params={**params, "shot_id": first_shot})
    ).json()
    assert one_shot["count"] == 3
    page = (await api.get("/gallery/", as_=user, params={**params, "skip": 1, "limit": 2})).json()
    assert page["count"] == 4
    assert [i["prediction_id"] for i in page["data"]] == [
        i["prediction_id"] for i in body["data"][1:3]
    ]

    # Approving changes the status reviewers see.
    r = await api.post(f"/shots/{first_shot}/approve", as_=user, params={"organization_id": org})
    assert r.status_code == 200, r.text
    after = (await api.get("/gallery/", as_=user, params={**params, "shot_id": first_shot})).json()
    assert {i["shot_status"] for i in after["data"]} == {"approved"}


async def test_list_gallery_of_another_organization_is_404(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    world = await make_shot(api, user)
    shooting_id = world["shooting"]["id"]
    for params in (
        {"organization_id": world["org"]},  # not a member
        {"organization_id": other_user.orgs[0]},  # its own org: the shooting is not there
        {},  # personal scope
    ):
        r = await api.get(
            "/gallery/", as_=other_user, params={**params, "shooting_id": shooting_id}
        )
        assert r.status_code == 404, (params, r.text)
    r = await api.get("/gallery/", as_=user, params={"organization_id": world["org"]})
    assert r.status_code == 422  # shooting_id is required
