"""Nothing stranded: every delete path of an entity with media removes its attachments in the
same transaction (services/attachments.py), so the orphan scan reclaims the media, row and
object. Deleting an organization with media works and leaves nothing behind either.

The entities' images live in the app's bucket, shared with the rest of the session: the scan
runs on it with a one-day row grace after backdating this test's media rows only, and with
object and job-file ages far in the future, so it touches nothing of any other test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select, update
from temporalio.client import Client

from core.storage import ObjectStore
from core.temporal import MAINTENANCE_QUEUE
from models.media import EntityType, MediaResource, MediaResourceAttachment
from models.shot import RevisionStatus, Shot
from services import shots as shot_service
from tests.helpers import Api, UserHandle
from tests.maintenance.support import add_media, exists, put, row_exists
from tests.media.test_uploads import png, upload
from workflows.maintenance_types import OrphanScanInput, OrphanScanResult
from workflows.media_cleanup import OrphanScanWorkflow

DAY = 86_400
NEVER = 10 * 365 * DAY  # objects, temp uploads and job files: never old enough here


async def _media_of(app: FastAPI, entity_type: EntityType, entity_id: str) -> list[MediaResource]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            select(MediaResource)
            .join(MediaResourceAttachment)
            .where(
                MediaResourceAttachment.entity_type == entity_type,
                MediaResourceAttachment.entity_id == uuid.UUID(entity_id),
            )
        )
        return list(rows)


async def _attachments(app: FastAPI, media: list[MediaResource]) -> int:
    async with app.state.sessionmaker() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(MediaResourceAttachment)
            .where(MediaResourceAttachment.media_resource_id.in_([m.id for m in media]))
        )
        return int(found or 0)


async def _backdate(app: FastAPI, media: list[MediaResource]) -> None:
    async with app.state.sessionmaker() as session:
        await session.execute(
            update(MediaResource)
            .where(MediaResource.id.in_([m.id for m in media]))
            .values(created_at=datetime.now(UTC) - timedelta(days=2))
        )
        await session.commit()


async def _scan(client: Client, queues: str) -> OrphanScanResult:
    handle = await client.start_workflow(
        OrphanScanWorkflow.run,
        OrphanScanInput(
            grace_seconds=DAY,
            object_grace_seconds=NEVER,
            temp_max_age_seconds=NEVER,
            job_files_max_age_seconds=NEVER,
        ),
        id=f"orphan-scan-test-{uuid.uuid4()}",
        task_queue=queues + MAINTENANCE_QUEUE,
    )
    return await handle.result()


async def _reclaimed(
    app: FastAPI, store: ObjectStore, client: Client, queues: str, media: list[MediaResource]
) -> None:
    """The media are no longer attached, and one scan removes row and object of each."""
    assert media
    assert await _attachments(app, media) == 0
    await _backdate(app, media)
    await _scan(client, queues)
    for item in media:
        assert not await row_exists(app, item.id)
        assert not await exists(store, store.bucket, item.storage_key)


async def _image(api: Api, user: UserHandle, slot: str = "reference") -> dict[str, Any]:
    """An uploaded image (not a product cover: that would start a caption workflow)."""
    n = uuid.uuid4().int  # bytes of its own (the same bytes would be one, shared media)
    color = (n % 256, (n >> 8) % 256, (n >> 16) % 256)
    return {"slot": slot, "key": await upload(api, user, png(color))}


async def _plant(
    app: FastAPI, store: ObjectStore, kind: EntityType, entity_id: str, org: str | None
) -> MediaResource:
    """An image attached to an entity no route attaches to (looks, revisions, presets)."""
    media = await add_media(app, organization_id=org)
    await put(store, store.bucket, media.storage_key)
    async with app.state.sessionmaker() as session:
        session.add(
            MediaResourceAttachment(
                media_resource_id=media.id,
                entity_type=kind,
                entity_id=uuid.UUID(entity_id),
                slot="reference",
                created_at=datetime.now(UTC),
            )
        )
        await session.commit()
    return media


async def _revision_image(
    app: FastAPI,
    store: ObjectStore,
    shot_id: str,
    org: str,
    status: RevisionStatus = RevisionStatus.IN_REVIEW,
) -> MediaResource:
    """A revision of the shot (as a generation makes one) with an image."""
    async with app.state.sessionmaker() as session:
        shot = await session.get(Shot, uuid.UUID(shot_id))
        assert shot is not None
        revision = await shot_service.create_revision(
            session, shot, generation_id=None, status=status
        )
        await session.commit()
    return await _plant(app, store, EntityType.SHOT_REVISION, str(revision.id), org)


async def test_deleting_a_product_reclaims_its_images_but_not_shared_ones(
    mt_api: Api,
    mt_app: FastAPI,
    mt_temporal: Client,
    mt_queues: str,
    store: ObjectStore,
    user: UserHandle,
) -> None:
    org = user.orgs[0]
    product = await mt_api.create(
        "/products/",
        {"name": "P", "images": [await _image(mt_api, user), await _image(mt_api, user, "back")]},
        as_=user,
        org=org,
    )
    media = await _media_of(mt_app, EntityType.PRODUCT, product["id"])
    assert len(media) == 2
    for item in media:
        assert await exists(store, store.bucket, item.storage_key)
    # The same bytes in another product: one media, still attached there.
    data = png((1, 2, 250))
    keep = await mt_api.create(
        "/products/",
        {"name": "K", "images": [{"slot": "reference", "key": await upload(mt_api, user, data)}]},
        as_=user,
        org=org,
    )
    gone = await mt_api.create(
        "/products/",
        {"name": "G", "images": [{"slot": "reference", "key": await upload(mt_api, user, data)}]},
        as_=user,
        org=org,
    )
    shared = await _media_of(mt_app, EntityType.PRODUCT, keep["id"])
    params = {"organization_id": org}
    for entity in (product, gone):
        r = await mt_api.delete(f"/products/{entity['id']}", as_=user, params=params)
        assert r.status_code == 204, r.text
    await _reclaimed(mt_app, store, mt_temporal, mt_queues, media)
    assert await row_exists(mt_app, shared[0].id)
    assert await exists(store, store.bucket, shared[0].storage_key)


async def test_deleting_a_subject_style_or_shot_type_reclaims_its_images(
    mt_api: Api,
    mt_app: FastAPI,
    mt_temporal: Client,
    mt_queues: str,
    store: ObjectStore,
    user: UserHandle,
) -> None:
    org = user.orgs[0]
    params = {"organization_id": org}
    media: list[MediaResource] = []
    for path, kind in (
        ("/subjects/", EntityType.SUBJECT),
        ("/styles/", EntityType.STYLE),
        ("/shot-types/", EntityType.SHOT_TYPE),
    ):
        created = await mt_api.create(
            path, {"name": "X", "images": [await _image(mt_api, user)]}, as_=user, org=org
        )
        mine = await _media_of(mt_app, kind, created["id"])
        assert len(mine) == 1
        # Attached: the media cannot be deleted on its own (409 names the entity).
        r = await mt_api.delete(f"/media-resources/{mine[0].id}", as_=user)
        assert r.status_code == 409 and kind.value in r.json()["detail"]
        r = await mt_api.delete(f"{path}{created['id']}", as_=user, params=params)
        assert r.status_code == 204, r.text
        media += mine
    await _reclaimed(mt_app, store, mt_temporal, mt_queues, media)


async def test_deleting_a_background_preset_reclaims_its_images(
    mt_api: Api,
    mt_app: FastAPI,
    mt_temporal: Client,
    mt_queues: str,
    store: ObjectStore,
    user: UserHandle,
) -> None:
    org = user.orgs[0]
    preset = await mt_api.create("/background-presets/", {"name": "Studio"}, as_=user, org=org)
    media = [await _plant(mt_app, store, EntityType.BACKGROUND_PRESET, preset["id"], org)]
    r = await mt_api.delete(
        f"/background-presets/{preset['id']}", as_=user, params={"organization_id": org}
    )
    assert r.status_code == 204, r.text
    await _reclaimed(mt_app, store, mt_temporal, mt_queues, media)


async def _look(api: Api, user: UserHandle, shooting_id: str, *types: str) -> dict[str, Any]:
    return await api.create(
        f"/shootings/{shooting_id}/looks",
        {"name": "L", "shot_type_ids": list(types)},
        as_=user,
        org=user.orgs[0],
    )


async def test_deleting_an_outfit_shooting_look_or_shot_reclaims_their_images(
    mt_api: Api,
    mt_app: FastAPI,
    mt_temporal: Client,
    mt_queues: str,
    store: ObjectStore,
    user: UserHandle,
) -> None:
    org = user.orgs[0]
    params = {"organization_id": org}
    front = (await mt_api.create("/shot-types/", {"name": "Front"}, as_=user, org=org))["id"]
    back = (await mt_api.create("/shot-types/", {"name": "Back"}, as_=user, org=org))["id"]
    media: list[MediaResource] = []

    # An outfit's images (outfits outlive looks: they go with the outfit or its org).
    outfit = await mt_api.create("/outfits/", {"name": "O"}, as_=user, org=org)
    media.append(await _plant(mt_app, store, EntityType.OUTFIT, outfit["id"], org))
    r = await mt_api.delete(f"/outfits/{outfit['id']}", as_=user, params=params)
    assert r.status_code == 204, r.text

    # A shooting: its shots' revision images.
    shooting = await mt_api.create("/shootings/", {"name": "S"}, as_=user, org=org)
    look = await _look(mt_api, user, shooting["id"], front, back)
    for shot_id in look["shot_ids"]:
        media.append(await _revision_image(mt_app, store, shot_id, org))
    r = await mt_api.delete(f"/shootings/{shooting['id']}", as_=user, params=params)
    assert r.status_code == 204, r.text

    # A look on its own, and a shot dropped from a look (its shot type removed).
    shooting = await mt_api.create("/shootings/", {"name": "T"}, as_=user, org=org)
    look = await _look(mt_api, user, shooting["id"], front)
    media.append(await _revision_image(mt_app, store, look["shot_ids"][0], org))
    r = await mt_api.delete(f"/shooting-looks/{look['id']}", as_=user, params=params)
    assert r.status_code == 204, r.text
    look = await _look(mt_api, user, shooting["id"], front, back)
    dropped = next(s for s in look["shot_ids"])
    # Only a shot whose revisions are all pending may be dropped.
    media.append(await _revision_image(mt_app, store, dropped, org, RevisionStatus.PENDING))
    shots = await mt_api.get("/shots/", as_=user, params={**params, "look_id": look["id"]})
    kept_type = next(s["shot_type_id"] for s in shots.json()["data"] if s["id"] != dropped)
    r = await mt_api.patch(
        f"/shooting-looks/{look['id']}",
        as_=user,
        params=params,
        json={"shot_type_ids": [kept_type]},
    )
    assert r.status_code == 200, r.text
    await _reclaimed(mt_app, store, mt_temporal, mt_queues, media)


async def test_deleting_an_organization_with_media_reclaims_all_of_it(
    mt_api: Api,
    mt_app: FastAPI,
    mt_temporal: Client,
    mt_queues: str,
    store: ObjectStore,
    user: UserHandle,
) -> None:
    r = await mt_api.post("/organizations/", as_=user, json={"name": "Short-lived"})
    assert r.status_code == 201, r.text
    org = r.json()["id"]
    media: list[MediaResource] = []
    for path, kind in (
        ("/products/", EntityType.PRODUCT),
        ("/subjects/", EntityType.SUBJECT),
        ("/styles/", EntityType.STYLE),
        ("/shot-types/", EntityType.SHOT_TYPE),
    ):
        created = await mt_api.create(
            path, {"name": "X", "images": [await _image(mt_api, user)]}, as_=user, org=org
        )
        media += await _media_of(mt_app, kind, created["id"])
    shot_type = await mt_api.create("/shot-types/", {"name": "Front"}, as_=user, org=org)
    shooting = await mt_api.create("/shootings/", {"name": "S"}, as_=user, org=org)
    look = await mt_api.create(
        f"/shootings/{shooting['id']}/looks",
        {"shot_type_ids": [shot_type["id"]]},
        as_=user,
        org=org,
    )
    media.append(await _revision_image(mt_app, store, look["shot_ids"][0], org))
    media.append(await _plant(mt_app, store, EntityType.ORGANIZATION, org, org))
    # Protected media of the organization go too: nobody is left to unprotect them.
    r = await mt_api.post(f"/media-resources/{media[0].id}/protect", as_=user)
    assert r.status_code == 200, r.text
    # Media no entity shows any more (an earlier product's, say) are the organization's too.
    media.append(await add_media(mt_app, organization_id=org))
    await put(store, store.bucket, media[-1].storage_key)

    r = await mt_api.delete(f"/organizations/{org}", as_=user)
    assert r.status_code == 204, r.text
    assert (await mt_api.get(f"/organizations/{org}", as_=user)).status_code == 404
    for item in media:  # released to the scan: no organization, nobody's to read
        assert (await mt_api.get(f"/files/{item.id}", as_=user)).status_code == 404
    await _reclaimed(mt_app, store, mt_temporal, mt_queues, media)
