"""The resumable zip of an export: one deterministic stream, cut into S3 multipart parts.

The archive is a byte stream fully determined by the plan (names, order) and the converted
images (services/export_images.py is deterministic). Parts are consecutive `part_size`
slices of that stream. After each uploaded part the builder checkpoints (heartbeat details):

    {"upload_id", "key", "part_size", "parts": [[number, etag], ...], "next_index",
     "records": [[crc, size, width, height, md5] | null, ...]}   # one per image written

`records` is the central directory (names come from the plan, offsets from the sizes) plus
the manifest row of every image already in the stream. A retried attempt (after a crash, a
timeout or a deploy) reads the checkpoint, checks the upload and its parts still exist,
keeps the records whose bytes were fully uploaded, re-converts the image that straddles the
last part boundary, drops the stream bytes already uploaded, and goes on from part n+1.
If the re-converted image does not match its record (a different Pillow, say), the upload
is abandoned and rebuilt from scratch rather than stitched into a corrupt archive.
"""

from __future__ import annotations

import csv
import io
import logging
import threading
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from activities.export_checkpoint import Checkpoint, Record
from core.storage import ObjectStore
from services import zipstream
from services.csv_safety import safe_cell
from services.export_images import UnreadableImage, convert
from services.export_plan import MANIFEST_NAME, PlannedImage
from workflows.export_types import BuildZipInput, ZipResult

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = (
    "file_name",
    "shot_id",
    "look",
    "shot_type",
    "sku",
    "media_id",
    "width",
    "height",
    "bytes",
    "md5",
)
MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
NO_UPLOAD_CODES = frozenset({"404", "NoSuchUpload", "NotFound"})


class ResumeMismatch(Exception):
    """The checkpoint does not describe the stream we regenerate: start over."""


def _etag(value: str) -> str:
    return value.strip('"')


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def manifest(items: list[PlannedImage], records: list[Record | None]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(MANIFEST_COLUMNS)
    for item, record in zip(items, records, strict=True):
        if record is None:
            continue
        # Names and the SKU are tenant text (safe_cell); ids, sizes and hashes are ours.
        writer.writerow(
            [
                safe_cell(item.file_name),
                item.shot_id,
                safe_cell(item.look),
                safe_cell(item.shot_type),
                safe_cell(item.sku),
                item.media_id,
                record.width,
                record.height,
                record.size,
                record.md5,
            ]
        )
    return out.getvalue().encode("utf-8")


class ZipBuild:
    """One attempt at building an export's archive (runs in a worker thread)."""

    def __init__(
        self,
        store: ObjectStore,
        data: BuildZipInput,
        items: list[PlannedImage],
        *,
        heartbeat: Callable[[dict[str, Any]], None],
        progress: Callable[[int, int], None],
    ) -> None:
        self.store = store
        self.data = data
        self.items = items
        self._heartbeat = heartbeat
        self._progress = progress
        # The activity's pulse thread reads the checkpoint while this thread extends it.
        self._lock = threading.Lock()
        self.checkpoint: Checkpoint | None = None

    # -- S3 ------------------------------------------------------------------------------

    @property
    def _s3(self) -> Any:
        return self.store.client

    def _create_upload(self) -> Checkpoint:
        upload = self._s3.create_multipart_upload(
            Bucket=self.store.bucket, Key=self.data.result_key, ContentType="application/zip"
        )
        return Checkpoint(upload["UploadId"], self.data.result_key, self.data.part_size)

    def _listed_parts(self, upload_id: str) -> dict[int, tuple[str, int]] | None:
        """Part number → (etag, size) of an upload; None when the upload is gone."""
        parts: dict[int, tuple[str, int]] = {}
        marker = 0
        while True:
            try:
                page = self._s3.list_parts(
                    Bucket=self.store.bucket,
                    Key=self.data.result_key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )
            except ClientError as error:
                if _error_code(error) in NO_UPLOAD_CODES:
                    return None
                raise
            for part in page.get("Parts", []):
                parts[part["PartNumber"]] = (_etag(part["ETag"]), part["Size"])
            if not page.get("IsTruncated"):
                return parts
            marker = page["NextPartNumberMarker"]

    def abort(self, upload_id: str | None = None) -> None:
        upload_id = upload_id or (self.checkpoint.upload_id if self.checkpoint else None)
        if not upload_id:
            return
        try:
            self._s3.abort_multipart_upload(
                Bucket=self.store.bucket, Key=self.data.result_key, UploadId=upload_id
            )
        except ClientError as error:
            if _error_code(error) not in NO_UPLOAD_CODES:
                raise

    def _upload_part(self, checkpoint: Checkpoint, body: bytes) -> None:
        number = len(checkpoint.parts) + 1
        answer = self._s3.upload_part(
            Bucket=self.store.bucket,
            Key=checkpoint.key,
            UploadId=checkpoint.upload_id,
            PartNumber=number,
            Body=body,
        )
        with self._lock:
            checkpoint.parts.append((number, _etag(answer["ETag"])))

    # -- checkpoints -----------------------------------------------------------------------

    def details(self) -> dict[str, Any] | None:
        """The current checkpoint as heartbeat details (None before the upload exists).
        Any checkpoint ever taken stays valid: a resume from an older one re-uploads parts
        that were uploaded since, with the same bytes."""
        with self._lock:
            return self.checkpoint.details() if self.checkpoint else None

    def _beat(self) -> None:
        details = self.details()
        if details is not None:
            self._heartbeat(details)

    def _resumable(self, details: Any) -> Checkpoint | None:
        """The previous attempt's checkpoint, if its upload and parts are still there."""
        if not details:
            return None
        checkpoint = Checkpoint.parse(
            details, key=self.data.result_key, part_size=self.data.part_size
        )
        if checkpoint is None or len(checkpoint.records) > len(self.items):
            return None
        listed = self._listed_parts(checkpoint.upload_id)
        if listed is None:
            return None
        for number, etag in checkpoint.parts:
            if listed.get(number) != (etag, checkpoint.part_size):
                log.warning("export zip: part %s of the checkpoint is not uploaded", number)
                self.abort(checkpoint.upload_id)
                return None
        return checkpoint

    # -- the stream ------------------------------------------------------------------------

    def run(self, details: Any) -> ZipResult:
        checkpoint = self._resumable(details)
        try:
            return self._build(checkpoint)
        except ResumeMismatch as mismatch:
            log.warning("export zip: cannot resume (%s); starting over", mismatch)
            self.abort()
            return self._build(None)

    def _build(self, resumed: Checkpoint | None) -> ZipResult:
        resumed_from = len(resumed.parts) if resumed else 0
        checkpoint = resumed or self._create_upload()
        with self._lock:
            self.checkpoint = checkpoint
        self._beat()
        uploaded = checkpoint.uploaded

        # Keep what is fully uploaded; the first entry crossing the boundary is redone.
        entries: list[zipstream.Entry] = []
        kept: list[Record | None] = []
        position = 0
        straddling: Record | None = None
        for item, record in zip(self.items, checkpoint.records, strict=False):
            if record is None:
                kept.append(None)
                continue
            span = zipstream.entry_span(item.file_name, record.size)
            if position + span > uploaded:
                straddling = record
                break
            entries.append(zipstream.Entry(item.file_name, record.crc, record.size, position))
            kept.append(record)
            position += span
        if position < uploaded and straddling is None:
            raise ResumeMismatch("the uploaded parts reach past the recorded images")
        with self._lock:
            checkpoint.records = kept
        skip = uploaded - position  # regenerated bytes that are already in the bucket
        buffer = bytearray()

        def emit(chunk: bytes) -> None:
            nonlocal skip
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            buffer.extend(chunk)

        def upload_full_parts() -> None:
            size = checkpoint.part_size
            while len(buffer) >= size:
                self._upload_part(checkpoint, bytes(buffer[:size]))
                del buffer[:size]
                self._beat()

        failed = sum(1 for r in kept if r is None)
        for index in range(len(kept), len(self.items)):
            item = self.items[index]
            converted = self._convert(item)
            if converted is None:
                with self._lock:
                    checkpoint.records.append(None)
                failed += 1
            else:
                record = Record(
                    zipstream.crc32(converted.data),
                    len(converted.data),
                    converted.width,
                    converted.height,
                    converted.md5,
                )
                if straddling is not None:
                    if (record.crc, record.size) != (straddling.crc, straddling.size):
                        raise ResumeMismatch(f"image {index} converts to different bytes")
                    straddling = None
                entries.append(zipstream.Entry(item.file_name, record.crc, record.size, position))
                emit(zipstream.local_header(item.file_name, record.crc, record.size))
                emit(converted.data)
                position += zipstream.entry_span(item.file_name, record.size)
                with self._lock:
                    checkpoint.records.append(record)
                upload_full_parts()
            self._progress(len(checkpoint.records) - failed, failed)

        # The tail (manifest, central directory) is cheap to redo: parts cut from it are
        # uploaded without moving the checkpoint, which stays within the image entries.
        records = checkpoint.records
        body = manifest(self.items, records)
        crc = zipstream.crc32(body)
        entries.append(zipstream.Entry(MANIFEST_NAME, crc, len(body), position))
        emit(zipstream.local_header(MANIFEST_NAME, crc, len(body)))
        emit(body)
        position += zipstream.entry_span(MANIFEST_NAME, len(body))
        emit(zipstream.central_directory(entries, position))
        parts = list(checkpoint.parts)
        tail = Checkpoint(checkpoint.upload_id, checkpoint.key, checkpoint.part_size, parts)
        self._upload_tail(tail, buffer)
        self._complete(tail)
        head = self.store.head(checkpoint.key)
        return ZipResult(
            result_key=checkpoint.key,
            size=int(head["ContentLength"]) if head else 0,
            processed=len(records) - failed,
            failed=failed,
            failed_indexes=[i for i, r in enumerate(records) if r is None],
            upload_id=checkpoint.upload_id,
            parts=len(tail.parts),
            resumed_from_part=resumed_from,
        )

    def _upload_tail(self, tail: Checkpoint, buffer: bytearray) -> None:
        size = tail.part_size
        while len(buffer) > size:
            self._upload_part(tail, bytes(buffer[:size]))
            del buffer[:size]
            self._beat()  # the image checkpoint, unchanged
        if buffer:
            self._upload_part(tail, bytes(buffer))

    def _complete(self, tail: Checkpoint) -> None:
        self._s3.complete_multipart_upload(
            Bucket=self.store.bucket,
            Key=tail.key,
            UploadId=tail.upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": f'"{e}"'} for n, e in tail.parts]},
        )

    def _convert(self, item: PlannedImage) -> Any:
        """The converted image, or None when the source is gone or unreadable (skipped:
        deterministic, so a resumed attempt skips it too)."""
        try:
            source = self.store.get(item.storage_key)
        except ClientError as error:
            if _error_code(error) in MISSING_CODES:
                log.warning("export zip: %s is missing; skipped", item.storage_key)
                return None
            raise
        try:
            return convert(source, fmt=self.data.format, max_dimension=self.data.max_dimension)
        except UnreadableImage as error:
            log.warning("export zip: %s skipped: %s", item.storage_key, error)
            return None
