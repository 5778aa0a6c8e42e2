"""The images of what every user may list (public subjects and shot types) are readable by
every user through GET /files/{id} with a bearer token, not only by the owning organization;
managing them (read, enrich, protect, delete the media resource) stays the owner's."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.helpers import Api, UserHandle
from tests.media.test_uploads import png, upload


async def _with_image(
    api: Api, who: UserHandle, path: str, body: dict[str, Any], org: str
) -> dict[str, Any]:
    # Bytes of their own: the same bytes would be one media, public through either entity.
    n = uuid.uuid4().int
    color = (n % 256, (n >> 8) % 256, (n >> 16) % 256)
    image = {"slot": "reference", "key": await upload(api, who, png(color))}
    return await api.create(path, {**body, "images": [image]}, as_=who, org=org)


def _image_id(item: dict[str, Any]) -> str:
    return str(item["images"][0]["media_resource_id"])


async def test_public_subject_and_shot_type_images_are_readable_by_other_orgs(
    api: Api, superuser: UserHandle, user: UserHandle
) -> None:
    r = await api.post("/organizations/", as_=superuser, json={"name": "Catalog HQ"})
    assert r.status_code == 201, r.text
    hq = r.json()["id"]
    public_subject = await _with_image(
        api, superuser, "/subjects/", {"name": "Ava", "is_public": True}, hq
    )
    public_type = await _with_image(
        api, superuser, "/shot-types/", {"name": "Front", "visibility": "public"}, hq
    )
    private_subject = await _with_image(api, superuser, "/subjects/", {"name": "Bo"}, hq)

    # The other organization's user lists them, with their images...
    mine = {"organization_id": user.orgs[0]}
    listed = await api.get(
        "/subjects/", as_=user, params={**mine, "include_public": "true", "limit": 500}
    )
    assert public_subject["id"] in {s["id"] for s in listed.json()["data"]}
    types = await api.get("/shot-types/", as_=user, params={**mine, "limit": 500})
    assert public_type["id"] in {t["id"] for t in types.json()["data"]}
    # ... and fetches them with its token.
    for item in (public_subject, public_type):
        r = await api.get(f"/files/{_image_id(item)}", as_=user)
        assert r.status_code == 302, r.text
        async with httpx.AsyncClient() as plain:
            assert (await plain.get(r.headers["location"])).status_code == 200
        # Reading the bytes is all: the media resource stays the owner's to manage.
        assert (await api.get(f"/media-resources/{_image_id(item)}", as_=user)).status_code == 404
        r = await api.delete(f"/media-resources/{_image_id(item)}", as_=user)
        assert r.status_code == 404
    # A private subject's image stays private.
    assert (await api.get(f"/files/{_image_id(private_subject)}", as_=user)).status_code == 404
    assert (await api.get(f"/files/{_image_id(private_subject)}", as_=superuser)).status_code == 302

    # Unpublished, its image is private again.
    r = await api.patch(
        f"/subjects/{public_subject['id']}",
        as_=superuser,
        params={"organization_id": hq},
        json={"is_public": False},
    )
    assert r.status_code == 200, r.text
    assert (await api.get(f"/files/{_image_id(public_subject)}", as_=user)).status_code == 404
