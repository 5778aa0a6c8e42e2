"""Compute outputs are stored through the one ingest path, like uploads: the same bytes give
the same stored result (sRGB conversion, MD5 dedup, canonical key, media id) whichever way
they came in, and bytes ingest refuses fail the generation for good."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from fastapi import FastAPI
from PIL import Image, ImageCms
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.generation import GenerationActivities
from core.storage import ObjectStore
from models.media import MediaResource
from services import ingest
from tests.generation.images import WIDE_GAMUT_NAME, cmyk_jpeg, pixel_bomb_png, tagged
from tests.helpers import Api, UserHandle
from tests.media.test_uploads import upload
from workflows.types import OutputImage, StoredOutput, StoreOutputsInput

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


def _put_output(store: ObjectStore, data: bytes, index: int = 0) -> OutputImage:
    """Bytes where compute writes an output, named by key as compute_sim's results do."""
    key = f"compute/{uuid.uuid4()}/{index}.png"
    store.put(key, data, content_type="image/png")
    return OutputImage(url="http://compute.invalid/never-fetched", seed=7, key=key)


async def _store_outputs(
    activities: GenerationActivities, user: UserHandle, org: str | None, *images: OutputImage
) -> list[StoredOutput]:
    data = StoreOutputsInput(
        generation_id=str(uuid.uuid4()), organization_id=org, owner_id=user.id, images=list(images)
    )
    # Sync activity: run in a thread as the worker does (boto3 and Pillow block).
    return await asyncio.to_thread(ActivityEnvironment().run, activities.store_outputs, data)


async def _uploaded(
    api: Api, app: FastAPI, user: UserHandle, org: str, data: bytes, fmt: str
) -> MediaResource:
    """The media row an upload of `data` (presigned PUT, then a product) ends up as."""
    key = await upload(api, user, data, content_type=CONTENT_TYPES[fmt])
    product = await api.create(
        "/products/",
        {"name": "P", "images": [{"slot": "cover_image", "key": key}]},
        as_=user,
        org=org,
    )
    async with app.state.sessionmaker() as session:
        row = await session.get(MediaResource, uuid.UUID(product["cover_image_id"]))
    assert row is not None
    return row


@pytest.mark.parametrize(
    ("fmt", "data", "converted"),
    [
        ("PNG", tagged("PNG"), True),
        ("JPEG", tagged("JPEG"), True),
        ("JPEG", cmyk_jpeg(), False),  # no profile: kept as it came, on both paths
    ],
    ids=["png-wide-gamut", "jpeg-wide-gamut", "jpeg-cmyk"],
)
async def test_a_compute_output_is_stored_like_the_same_upload(
    api: Api,
    user: UserHandle,
    app: FastAPI,
    activities: GenerationActivities,
    fmt: str,
    data: bytes,
    converted: bool,
) -> None:
    org = user.orgs[0]
    store: ObjectStore = app.state.store
    row = await _uploaded(api, app, user, org, data, fmt)
    uploaded = await asyncio.to_thread(store.get, row.storage_key)

    (output,) = await _store_outputs(activities, user, org, _put_output(store, data))

    # the same media: id, hash, key and bytes
    assert output.media_id == str(row.id)
    assert output.content_hash == row.content_hash
    assert f"media/{output.media_id}/file.{output.extension}" == row.storage_key
    assert (output.width, output.height, output.file_size) == (row.width, row.height, len(uploaded))
    assert output.color_profile == row.color_profile
    assert output.dominant_color == row.dominant_color
    assert output.seed == 7
    with Image.open(io.BytesIO(uploaded)) as image:
        icc = image.info.get("icc_profile")
        assert image.format == fmt
    if converted:
        assert output.color_profile is not None and "srgb" in output.color_profile.lower()
        assert icc is not None
        name = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc)))
        assert "srgb" in name.lower() and WIDE_GAMUT_NAME not in name
        assert uploaded != data
    else:
        assert uploaded == data

    # a retried activity finds the object and answers the same
    again = await _store_outputs(activities, user, org, _put_output(store, data))
    assert again == [output]


async def test_a_converted_output_stored_again_later_is_the_same_media(
    user: UserHandle, app: FastAPI, activities: GenerationActivities
) -> None:
    """A retry (after a worker crash) converts again: littlecms stamps the sRGB profile it
    writes with the time, so without a fixed profile the bytes, MD5 and id changed."""
    store: ObjectStore = app.state.store
    data = tagged("JPEG", color=(200, 30, 90))
    first = await _store_outputs(activities, user, user.orgs[0], _put_output(store, data))
    await asyncio.sleep(1.1)  # the profile's time stamp has seconds
    second = await _store_outputs(activities, user, user.orgs[0], _put_output(store, data))
    assert second == first
    direct = await asyncio.to_thread(
        ingest.store_image, store, data, organization_id=uuid.UUID(user.orgs[0]), owner_id=None
    )
    assert str(direct.media_id) == first[0].media_id


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (pixel_bomb_png(), "too many pixels"),
        (b"<html>not an image</html>", "not a valid image"),
        (b"GIF89a" + b"\0" * 64, "not a valid image"),
    ],
    ids=["pixel-bomb", "html", "broken-gif"],
)
async def test_an_output_ingest_refuses_fails_for_good(
    user: UserHandle, app: FastAPI, activities: GenerationActivities, data: bytes, message: str
) -> None:
    store: ObjectStore = app.state.store
    good = _put_output(store, tagged("PNG", color=(1, 2, 3)))
    with pytest.raises(ApplicationError) as caught:
        await _store_outputs(activities, user, user.orgs[0], good, _put_output(store, data, 1))
    error = caught.value
    assert error.non_retryable, error
    assert error.type == "BadOutput"
    assert "output 2" in error.message and message in error.message.lower(), error.message


async def test_a_personal_generation_output_is_scoped_to_its_owner(
    user: UserHandle, app: FastAPI, activities: GenerationActivities
) -> None:
    """No organization: the media id derives from the owner, as an upload's does."""
    store: ObjectStore = app.state.store
    data = tagged("PNG", color=(5, 6, 7))
    mine = await _store_outputs(activities, user, None, _put_output(store, data))
    theirs = await _store_outputs(activities, user, user.orgs[0], _put_output(store, data))
    assert mine[0].content_hash == theirs[0].content_hash
    assert mine[0].media_id != theirs[0].media_id
