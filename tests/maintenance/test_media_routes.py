"""GET/PATCH/DELETE /media-resources/{id} and protect/unprotect, through the API with the
real worker deleting the object after the row."""

from __future__ import annotations

from fastapi import FastAPI

from core.storage import ObjectStore
from tests.helpers import Api, UserHandle
from tests.maintenance.support import add_media, attach, eventually, exists, put, row_exists


async def test_read_is_limited_to_the_callers_scope(
    mt_api: Api, mt_app: FastAPI, user: UserHandle, other_user: UserHandle, superuser: UserHandle
) -> None:
    org_media = await add_media(mt_app, organization_id=user.orgs[0], owner_id=user.id)
    personal = await add_media(mt_app, owner_id=user.id)

    for media in (org_media, personal):
        r = await mt_api.get(f"/media-resources/{media.id}", as_=user)
        assert r.status_code == 200, r.text
        assert r.json()["file_url"].startswith(f"/api/v1/files/{media.id}?exp=")
        assert (await mt_api.get(f"/media-resources/{media.id}", as_=other_user)).status_code == 404
    assert (await mt_api.get(f"/media-resources/{personal.id}", as_=superuser)).status_code == 200


async def test_patch_fills_only_empty_fields(
    mt_api: Api, mt_app: FastAPI, user: UserHandle
) -> None:
    media = await add_media(
        mt_app, organization_id=user.orgs[0], owner_id=user.id, caption="Original caption"
    )
    r = await mt_api.patch(
        f"/media-resources/{media.id}",
        as_=user,
        json={"caption": "Machine caption", "alt_text": "A red dress", "width": 800},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["caption"] == "Original caption"  # filled already: silently skipped
    assert body["alt_text"] == "A red dress"
    assert body["width"] == 800

    again = await mt_api.patch(
        f"/media-resources/{media.id}",
        as_=user,
        json={"alt_text": "Something else", "width": 1200, "height": 600, "caption": None},
    )
    assert again.status_code == 200, again.text
    body = again.json()
    assert (body["alt_text"], body["width"], body["height"]) == ("A red dress", 800, 600)
    assert body["caption"] == "Original caption"  # an explicit null never clears a value


async def test_protect_needs_an_owner_or_admin(
    api: Api, mt_api: Api, mt_app: FastAPI, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    member = await api.new_user(with_org=False)
    await api.add_member(org, user, member)
    media = await add_media(mt_app, organization_id=org, owner_id=user.id)

    assert (
        await mt_api.post(f"/media-resources/{media.id}/protect", as_=member)
    ).status_code == 403
    assert (
        await mt_api.post(f"/media-resources/{media.id}/protect", as_=other_user)
    ).status_code == 404
    r = await mt_api.post(f"/media-resources/{media.id}/protect", as_=user)
    assert r.status_code == 200 and r.json()["protected"] is True
    r = await mt_api.post(f"/media-resources/{media.id}/unprotect", as_=user)
    assert r.status_code == 200 and r.json()["protected"] is False


async def test_delete_refuses_protected_and_attached_media(
    mt_api: Api, mt_app: FastAPI, store: ObjectStore, user: UserHandle
) -> None:
    org = user.orgs[0]
    protected = await add_media(mt_app, organization_id=org, owner_id=user.id, protected=True)
    attached = await add_media(mt_app, organization_id=org, owner_id=user.id)
    await attach(mt_app, attached.id, slot="cover_image")

    r = await mt_api.delete(f"/media-resources/{protected.id}", as_=user)
    assert r.status_code == 409 and "protected" in r.json()["detail"]
    r = await mt_api.delete(f"/media-resources/{attached.id}", as_=user)
    assert r.status_code == 409
    assert "attached" in r.json()["detail"] and "PRODUCT" in r.json()["detail"]
    assert "cover_image" in r.json()["detail"]
    assert await row_exists(mt_app, protected.id) and await row_exists(mt_app, attached.id)


async def test_delete_removes_the_row_then_the_object(
    mt_api: Api, mt_app: FastAPI, store: ObjectStore, user: UserHandle
) -> None:
    media = await add_media(mt_app, organization_id=user.orgs[0], owner_id=user.id)
    await put(store, store.bucket, media.storage_key, b"jpeg bytes")

    r = await mt_api.delete(f"/media-resources/{media.id}", as_=user)
    assert r.status_code == 204, r.text
    assert not await row_exists(mt_app, media.id)  # committed before the workflow starts
    assert (await mt_api.get(f"/media-resources/{media.id}", as_=user)).status_code == 404

    async def gone() -> bool:
        return not await exists(store, store.bucket, media.storage_key)

    await eventually(gone, within=30, what="the object is deleted by MediaDeletionWorkflow")
