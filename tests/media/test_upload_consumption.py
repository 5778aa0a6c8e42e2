"""A create consumes its temp uploads only when its transaction commits: one refused on a
later image leaves the earlier uploads usable for the next try (services/uploads.py)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from tests.helpers import Api, UserHandle
from tests.media.test_uploads import png, upload


async def test_a_refused_create_leaves_its_uploads_usable(
    api: Api, user: UserHandle, app: FastAPI
) -> None:
    org = user.orgs[0]
    store = app.state.store
    not_an_image = await upload(api, user, b"definitely not a png" * 10)
    for path, body, second in (
        # the second image was never uploaded (or has expired)
        ("/products/", {"name": "P", "sku": "UC-1"}, "temp/nothing_1_here.png"),
        # the second one is not an image
        ("/subjects/", {"name": "S"}, not_an_image),
    ):
        first = await upload(api, user, png((7, 77, 177)))
        images = [{"slot": "cover_image", "key": first}, {"slot": "back_image", "key": second}]
        r = await api.post(
            path, as_=user, params={"organization_id": org}, json={**body, "images": images}
        )
        assert r.status_code == 400, r.text
        assert await asyncio.to_thread(store.head, first) is not None, "first upload was consumed"

        created = await api.create(path, {**body, "images": images[:1]}, as_=user, org=org)
        assert [i["slot"] for i in created["images"]] == ["cover_image"]
        # Committed: now the temp object is gone (moved to the media's key).
        assert await asyncio.to_thread(store.head, first) is None
