"""Reading a compute task's output images and storing them as media (sync: boto3 and
Pillow in the worker's threads).

Outputs are stored through services/ingest.py, the path uploads and bulk-upload images
take: pixel-bomb check, non-sRGB profiles converted to sRGB, MD5 dedup per scope, the
canonical key `media/{id}/file.{ext}`. Bytes ingest refuses fail the generation for good.

Compute writes outputs into our bucket under `compute/` and names the key in the result:
those are read from the bucket, never fetched from the result's URL (compute_sim's URLs
are loopback presigned URLs; any URL is the compute server's choice). Only an output
without a key is downloaded, through the outbound guard.
"""

from __future__ import annotations

import uuid

from temporalio import activity
from temporalio.exceptions import ApplicationError

from core import outbound
from core.storage import ObjectStore
from services import ingest
from services.errors import BadRequest
from workflows.types import OutputImage, StoredOutput, StoreOutputsInput

MAX_OUTPUT_BYTES = 50 * 1024 * 1024
OUTPUT_LIMITS = outbound.Limits(max_bytes=MAX_OUTPUT_BYTES, total_seconds=120.0)
COMPUTE_PREFIX = "compute/"  # where compute writes outputs in our bucket (DESIGN §8)


def _bad_output(message: str, kind: str = "BadOutput") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


class OutputReader:
    """Built once per worker with the store and the outbound allow list."""

    def __init__(self, store: ObjectStore, allow: outbound.AllowList) -> None:
        self.store = store
        self._http = outbound.OutboundClient(
            allow, user_agent="sartiq-worker/1.0", limits=OUTPUT_LIMITS
        )

    def read(self, image: OutputImage) -> bytes:
        """The output's bytes; a non-retryable ApplicationError when no retry can help."""
        return self._from_bucket(image.key) if image.key is not None else self._download(image.url)

    def _from_bucket(self, key: str) -> bytes:
        if not key.startswith(COMPUTE_PREFIX) or ".." in key:
            raise _bad_output(f"output key {key!r} is outside {COMPUTE_PREFIX}")
        head = self.store.head(key)
        if head is None:
            raise _bad_output(f"output {key} does not exist", "MissingOutput")
        if int(head.get("ContentLength", 0)) > MAX_OUTPUT_BYTES:
            raise _bad_output("output is too large")
        return self.store.get(key)

    def _download(self, url: str) -> bytes:
        try:
            response = self._http.request("GET", url)
        except outbound.OutboundError as error:
            raise ApplicationError(
                f"output download {error.message}",
                type="OutputDownload",
                non_retryable=not error.transient,
            ) from None
        code = response.status_code
        if code >= 300:
            raise ApplicationError(
                f"output download answered {code}",
                type="OutputDownload",
                non_retryable=code < 500 and code not in (404, 408, 429),
            )
        return response.content

    def close(self) -> None:
        self._http.close()


def _scope(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def ingest_outputs(reader: OutputReader, data: StoreOutputsInput) -> list[StoredOutput]:
    """Read each output and store it like an upload. Idempotent: a retry finds the object
    and the same media id, both derived from the stored bytes and the scope."""
    organization_id, owner_id = _scope(data.organization_id), _scope(data.owner_id)
    stored = []
    for index, image in enumerate(data.images):
        activity.heartbeat(image.key or image.url)
        content = reader.read(image)
        try:
            file = ingest.store_image(
                reader.store, content, organization_id=organization_id, owner_id=owner_id
            )
        except BadRequest as error:
            # Not an image we accept, or a pixel bomb: the same bytes fail every retry.
            raise _bad_output(f"compute output {index + 1} refused: {error.detail}") from None
        stored.append(
            StoredOutput(
                media_id=str(file.media_id),
                content_hash=file.content_hash,
                extension=file.extension,
                content_type=file.content_type,
                file_size=file.file_size,
                # ingest read them from a decodable image: never None here
                width=file.width or 0,
                height=file.height or 0,
                dominant_color=file.dominant_color or "",
                seed=image.seed,
                color_profile=file.color_profile,
            )
        )
    return stored
