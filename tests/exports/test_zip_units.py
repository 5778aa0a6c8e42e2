"""The archive format and the resume algorithm, without services: an in-memory bucket that
can be told to fail, and every possible crash point."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError
from PIL import Image

from activities.export_zip import MANIFEST_COLUMNS, ZipBuild
from models.export_schemas import template_error
from services import zipstream
from services.export_images import convert
from services.export_naming import UniqueNames, render
from services.export_plan import PlannedImage
from workflows.export_types import BuildZipInput

PART = 5 * 1024 * 1024


class Crash(Exception):
    """Stands for the worker dying."""


def _missing(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code}}, "op")


class FakeS3:
    """The multipart calls ZipBuild makes, in memory; `crash_after` parts it raises."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, dict[int, bytes]] = {}
        self.created = 0
        self.part_uploads = 0
        self.crash_after: int | None = None

    def create_multipart_upload(self, **kw: Any) -> dict[str, Any]:
        self.created += 1
        upload_id = f"upload-{self.created}"
        self.uploads[upload_id] = {}
        return {"UploadId": upload_id}

    def upload_part(self, *, UploadId: str, PartNumber: int, Body: bytes, **kw: Any) -> dict:
        if self.crash_after is not None and self.part_uploads >= self.crash_after:
            raise Crash()
        if UploadId not in self.uploads:
            raise _missing("NoSuchUpload")
        self.part_uploads += 1
        self.uploads[UploadId][PartNumber] = Body
        return {"ETag": f'"{hashlib.md5(Body).hexdigest()}"'}

    def list_parts(self, *, UploadId: str, **kw: Any) -> dict[str, Any]:
        if UploadId not in self.uploads:
            raise _missing("NoSuchUpload")
        parts = [
            {"PartNumber": n, "ETag": f'"{hashlib.md5(b).hexdigest()}"', "Size": len(b)}
            for n, b in sorted(self.uploads[UploadId].items())
        ]
        return {"Parts": parts, "IsTruncated": False}

    def complete_multipart_upload(
        self, *, Key: str, UploadId: str, MultipartUpload: dict, **kw: Any
    ) -> dict:
        stored = self.uploads.pop(UploadId)
        numbers = [p["PartNumber"] for p in MultipartUpload["Parts"]]
        assert numbers == list(range(1, len(numbers) + 1))
        for n in numbers[:-1]:
            assert len(stored[n]) >= PART, "S3 refuses parts under 5 MiB but the last"
        self.objects[Key] = b"".join(stored[n] for n in numbers)
        return {}

    def abort_multipart_upload(self, *, UploadId: str, **kw: Any) -> dict:
        if self.uploads.pop(UploadId, None) is None:
            raise _missing("NoSuchUpload")
        return {}


class FakeStore:
    bucket = "test"

    def __init__(self) -> None:
        self.client = FakeS3()

    def get(self, key: str) -> bytes:
        if key not in self.client.objects:
            raise _missing("NoSuchKey")
        return self.client.objects[key]

    def head(self, key: str) -> dict[str, Any] | None:
        data = self.client.objects.get(key)
        return {"ContentLength": len(data)} if data is not None else None


def _noise_png(seed: int, size: tuple[int, int]) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=0)
    return out.getvalue()


@pytest.fixture(scope="module")
def sources() -> list[bytes]:
    # ~2.4 MB each, uncompressed PNG: 7 images make an archive of about 4 parts
    return [_noise_png(i, (900, 900)) for i in range(7)]


def _setup(sources: list[bytes], *, missing: int | None = None) -> tuple[FakeStore, list]:
    store = FakeStore()
    items = []
    for i, data in enumerate(sources):
        key = f"media/{i}/file.png"
        if i != missing:
            store.client.objects[key] = data
        items.append(
            PlannedImage(
                media_id=f"m{i}",
                storage_key=key,
                file_name=f"img_{i}.png",
                shot_id=f"s{i}",
                look="look-1",
                shot_type="Front",
                sku="SKU",
                source_bytes=len(data),
            )
        )
    return store, items


def _run(store: FakeStore, items: list, details: Any, beats: list) -> Any:
    data = BuildZipInput("e1", "plan", "exports/e1/a.zip", "original", None, len(items), PART)
    build = ZipBuild(
        store,  # type: ignore[arg-type]
        data,
        items,
        heartbeat=beats.append,
        progress=lambda done, failed: None,
    )
    return build.run(details)


def test_uninterrupted_archive_is_a_valid_zip_with_a_manifest(sources: list[bytes]) -> None:
    store, items = _setup(sources, missing=3)
    result = _run(store, items, None, [])
    archive = zipfile.ZipFile(io.BytesIO(store.client.objects["exports/e1/a.zip"]))
    assert archive.testzip() is None
    names = [f"img_{i}.png" for i in range(7) if i != 3]
    assert archive.namelist() == [*names, "manifest.csv"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in archive.infolist())
    assert archive.read("img_0.png") == sources[0]  # `original`: untouched
    manifest = archive.read("manifest.csv").decode().splitlines()
    assert manifest[0] == ",".join(MANIFEST_COLUMNS) and len(manifest) == 7
    assert (result.processed, result.failed, result.failed_indexes) == (6, 1, [3])
    assert result.parts >= 3 and result.resumed_from_part == 0


@pytest.mark.parametrize("crash_after", [0, 1, 2, 3])
def test_a_crash_after_any_part_resumes_to_the_same_bytes(
    sources: list[bytes], crash_after: int
) -> None:
    store, items = _setup(sources)
    _run(store, items, None, [])
    expected = store.client.objects.pop("exports/e1/a.zip")

    store, items = _setup(sources)
    beats: list[dict[str, Any]] = []
    store.client.crash_after = crash_after
    with pytest.raises(Crash):
        _run(store, items, None, beats)
    store.client.crash_after = None
    uploads_before = store.client.part_uploads
    result = _run(store, items, beats[-1], [])

    assert store.client.objects["exports/e1/a.zip"] == expected
    assert store.client.created == 1  # the same upload, continued
    assert result.resumed_from_part == crash_after
    # only the parts after the checkpoint were uploaded again
    assert store.client.part_uploads - uploads_before == result.parts - crash_after


def test_an_older_checkpoint_still_resumes_correctly(sources: list[bytes]) -> None:
    """Heartbeats are throttled: the one Temporal holds may predate parts uploaded since."""
    store, items = _setup(sources)
    _run(store, items, None, [])
    expected = store.client.objects.pop("exports/e1/a.zip")
    store, items = _setup(sources)
    beats: list[dict[str, Any]] = []
    store.client.crash_after = 3
    with pytest.raises(Crash):
        _run(store, items, None, beats)
    store.client.crash_after = None
    stale = next(b for b in beats if len(b["parts"]) == 1)
    _run(store, items, stale, [])
    assert store.client.objects["exports/e1/a.zip"] == expected


def test_a_checkpoint_that_does_not_match_starts_over(sources: list[bytes]) -> None:
    store, items = _setup(sources)
    beats: list[dict[str, Any]] = []
    store.client.crash_after = 2
    with pytest.raises(Crash):
        _run(store, items, None, beats)
    store.client.crash_after = None
    checkpoint = dict(beats[-1])
    # the images from the third on (so the one straddling the last part boundary, too) now
    # convert to other bytes
    for index in range(2, len(items)):
        store.client.objects[items[index].storage_key] = _noise_png(90 + index, (900, 900))
    result = _run(store, items, checkpoint, [])
    assert store.client.created == 2 and result.resumed_from_part == 0
    assert store.client.uploads == {}  # the abandoned upload was aborted
    assert zipfile.ZipFile(io.BytesIO(store.client.objects["exports/e1/a.zip"])).testzip() is None

    # an upload that vanished (aborted, expired) is started again too
    store, items = _setup(sources)
    gone = {**checkpoint, "upload_id": "upload-404"}
    assert _run(store, items, gone, []).resumed_from_part == 0


def test_zip64_records_are_read_by_zipfile() -> None:
    entries, body, offset = [], b"", 0
    for name, data in (("a.txt", b"hello"), ("b.txt", b"world!")):
        crc = zipstream.crc32(data)
        body += zipstream.local_header(name, crc, len(data), force_zip64=True) + data
        entries.append(zipstream.Entry(name, crc, len(data), offset))
        offset = len(body)
    body += zipstream.central_directory(entries, offset, force_zip64=True)
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert archive.read("b.txt") == b"world!"


def test_conversion_keeps_aspect_and_is_deterministic() -> None:
    source = _noise_png(1, (300, 120))
    for fmt, kind in (("jpg", "JPEG"), ("png", "PNG"), ("webp", "WEBP")):
        first = convert(source, fmt=fmt, max_dimension=100)
        assert first.data == convert(source, fmt=fmt, max_dimension=100).data
        image = Image.open(io.BytesIO(first.data))
        assert (image.format, image.size, first.extension) == (kind, (100, 40), fmt)
    untouched = convert(source, fmt="original", max_dimension=None)
    assert untouched.data == source and (untouched.width, untouched.height) == (300, 120)


def test_names_from_the_template_are_safe_and_unique() -> None:
    values = {
        "sku": "AB/12",
        "product": "Robe d'été",
        "shot_type": "Front full",
        "look": "",
        "shooting": "SS27",
        "n": 3,
        "shot_id": "x",
    }
    assert render("{sku}_{shot_type}_{n:02d}", values) == "AB-12_Front-full_03"
    assert render("{look}_{product}", values) == "Robe-d-ete"
    assert render("{look}", values) == "image"
    names = UniqueNames(reserved=("manifest.csv",))
    assert [names.take("a", "png") for _ in range(3)] == ["a.png", "a_2.png", "a_3.png"]
    assert names.take("A", "png") == "A_4.png"  # case-insensitive
    assert names.take("manifest", "csv") == "manifest_2.csv"
    assert template_error("{sku}_{n}") is None
    assert "unknown placeholder" in (template_error("{sku}_{color}") or "")
