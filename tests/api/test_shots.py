"""Shots: list filters, read with current revision, patch, review state machine, tenancy."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import FastAPI

from models.media import EntityType, MediaResource, MediaResourceAttachment
from models.shot import RevisionStatus, Shot
from services import shots as shot_service
from tests.api.test_looks import add_revision, insert, owned, q, shooting, shot_type
from tests.helpers import Api, UserHandle


async def _look(api: Api, app: FastAPI, user: UserHandle, org: str | None, n: int = 2) -> dict:
    sid = await shooting(api, user, org)
    types = [await shot_type(app, user, org) for _ in range(n)]
    return await api.create(f"/shootings/{sid}/looks", {"shot_type_ids": types}, as_=user, org=org)


async def test_create_revision_numbers_versions_and_sets_current(
    app: FastAPI, api: Api, user: UserHandle
) -> None:
    look = await _look(api, app, user, None, n=1)
    shot_id = uuid.UUID(look["shot_ids"][0])
    async with app.state.sessionmaker() as session:
        shot = await session.get(Shot, shot_id)
        assert shot is not None
        first = await shot_service.create_revision(session, shot, generation_id=None)
        second = await shot_service.create_revision(
            session, shot, generation_id=None, status=RevisionStatus.PENDING
        )
        await session.commit()
    assert (first.version, second.version) == (1, 2)
    assert first.status == RevisionStatus.IN_REVIEW
    body = (await api.get(f"/shots/{shot_id}", as_=user)).json()
    assert body["current_revision_id"] == str(second.id) and body["status"] == "pending"
    assert body["current_revision"]["version"] == 2
    revisions = (await api.get(f"/shots/{shot_id}/revisions", as_=user)).json()
    assert revisions["count"] == 2 and [r["version"] for r in revisions["data"]] == [1, 2]


async def test_read_shot_embeds_revision_media(api: Api, app: FastAPI, user: UserHandle) -> None:
    look = await _look(api, app, user, None, n=1)
    shot_id = look["shot_ids"][0]
    revision = await add_revision(app, shot_id)
    media = []
    for position in (1, 0):
        media_id = await insert(
            app,
            MediaResource(
                storage_key=f"media/{uuid.uuid4()}/file.jpg",
                content_hash=uuid.uuid4().hex,
                extension="jpg",
                **owned(user, None),
            ),
        )
        await insert(
            app,
            MediaResourceAttachment(
                media_resource_id=uuid.UUID(media_id),
                entity_type=EntityType.SHOT_REVISION,
                entity_id=revision.id,
                slot="images",
                position=position,
                created_at=datetime.now(UTC),
            ),
        )
        media.append(media_id)
    body = (await api.get(f"/shots/{shot_id}", as_=user)).json()
    assert body["status"] == "in_review"
    assert body["current_revision"]["media_resource_ids"] == media[::-1]


async def test_list_shots_filters(api: Api, app: FastAPI, user: UserHandle) -> None:
    org = user.orgs[0]
    look = await _look(api, app, user, org, n=3)
    other_look = await _look(api, app, user, org, n=1)
    await add_revision(app, look["shot_ids"][0])
    await add_revision(app, look["shot_ids"][1], RevisionStatus.PENDING)

    async def ids(**params: str) -> list[str]:
        r = await api.get("/shots/", as_=user, params={"organization_id": org, **params})
        assert r.status_code == 200, r.text
        assert r.json()["count"] == len(r.json()["data"])
        return [s["id"] for s in r.json()["data"]]

    assert await ids(look_id=look["id"]) == look["shot_ids"]
    assert await ids(shooting_id=other_look["shooting_id"]) == other_look["shot_ids"]
    assert await ids(look_id=look["id"], status="in_review") == look["shot_ids"][:1]
    assert await ids(look_id=look["id"], status="pending") == look["shot_ids"][1:]
    assert len(await ids()) == 4
    r = await api.get("/shots/", as_=user, params={"status": "bogus"})
    assert r.status_code == 422


async def test_update_shot_notes_position_and_current_revision(
    api: Api, app: FastAPI, user: UserHandle
) -> None:
    look = await _look(api, app, user, None)
    shot_id, sibling = look["shot_ids"]
    first = await add_revision(app, shot_id)
    await add_revision(app, shot_id, RevisionStatus.PENDING)
    foreign = await add_revision(app, sibling)
    path = f"/shots/{shot_id}"
    r = await api.patch(path, as_=user, json={"notes": "crop tighter", "position": 7})
    assert r.status_code == 200 and r.json()["notes"] == "crop tighter"
    assert r.json()["position"] == 7 and r.json()["status"] == "pending"
    r = await api.patch(path, as_=user, json={"current_revision_id": str(first.id)})
    assert r.status_code == 200 and r.json()["status"] == "in_review"
    r = await api.patch(path, as_=user, json={"current_revision_id": str(foreign.id)})
    assert r.status_code == 404
    assert (await api.get(path, as_=user)).json()["current_revision_id"] == str(first.id)


async def test_approve_and_reject_state_machine(api: Api, app: FastAPI, user: UserHandle) -> None:
    look = await _look(api, app, user, None, n=1)
    shot_id = look["shot_ids"][0]
    approve, reject = f"/shots/{shot_id}/approve", f"/shots/{shot_id}/reject"
    r = await api.post(approve, as_=user)
    assert r.status_code == 409 and r.json()["detail"] == "Shot has no revision in review"
    await add_revision(app, shot_id, RevisionStatus.PENDING)
    assert (await api.post(reject, as_=user)).status_code == 409

    await add_revision(app, shot_id)
    r = await api.post(approve, as_=user, json={"notes": "great"})
    assert r.status_code == 200, r.text
    revision = r.json()["current_revision"]
    assert r.json()["status"] == "approved" and revision["notes"] == "great"
    assert revision["reviewed_at"] is not None
    assert (await api.post(approve, as_=user)).status_code == 409  # already approved
    r = await api.post(reject, as_=user)  # unapprove
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert (await api.post(reject, as_=user)).status_code == 409  # already rejected
    r = await api.post(approve, as_=user)  # re-approve
    assert r.status_code == 200 and r.json()["status"] == "approved"


async def test_review_sets_reviewer(api: Api, app: FastAPI, user: UserHandle) -> None:
    look = await _look(api, app, user, None, n=1)
    revision = await add_revision(app, look["shot_ids"][0])
    await api.post(f"/shots/{look['shot_ids'][0]}/reject", as_=user)
    async with app.state.sessionmaker() as session:
        from models.shot import ShotRevision

        row = await session.get(ShotRevision, revision.id)
        assert row is not None and str(row.reviewed_by_id) == user.id
        assert row.status == RevisionStatus.REJECTED


async def test_shot_routes_other_users_shot_is_404(
    api: Api, app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    look = await _look(api, app, user, org, n=1)
    shot_id = look["shot_ids"][0]
    await add_revision(app, shot_id)
    path = f"/shots/{shot_id}"
    for params in ({}, {"organization_id": other_user.orgs[0]}):
        assert (await api.get(path, as_=other_user, params=params)).status_code == 404
        r = await api.patch(path, as_=other_user, params=params, json={"notes": "x"})
        assert r.status_code == 404
        for action in ("approve", "reject"):
            r = await api.post(f"{path}/{action}", as_=other_user, params=params)
            assert r.status_code == 404
        r = await api.get(f"{path}/revisions", as_=other_user, params=params)
        assert r.status_code == 404
        r = await api.get("/shots/", as_=other_user, params={**params, "look_id": look["id"]})
        assert r.json()["count"] == 0
    assert (await api.get(path, as_=other_user, params=q(org))).status_code == 404
    assert (await api.get(path, as_=user, params=q(org))).status_code == 200
    assert (await api.get(path, as_=user)).status_code == 404
