"""Object storage (S3/R2): client construction, keys, and the blocking operations the
activities and services need. Every function here blocks: call it from a sync activity or
through `asyncio.to_thread`."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from core.config import Settings


def s3_client(settings: Settings, *, public: bool = False, timeout: float = 10.0) -> Any:
    """A boto3 S3 client; `public` signs URLs for the browser-facing endpoint."""
    endpoint = (settings.R2_PUBLIC_ENDPOINT_URL if public else None) or settings.r2_endpoint
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=settings.R2_ACCESS_KEY_ID,
        aws_secret_access_key=settings.R2_SECRET_ACCESS_KEY,
        region_name=settings.R2_REGION if settings.R2_REGION != "auto" else "us-east-1",
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            connect_timeout=timeout,
            read_timeout=timeout,
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=50,
        ),
    )


def media_key(media_id: uuid.UUID | str, extension: str) -> str:
    """The one canonical location of a media resource's bytes."""
    return f"media/{media_id}/file.{extension}"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, *, max_length: int = 100) -> str:
    """A file name safe in a key: no path parts, no odd characters, bounded length."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "file"
    return cleaned[-max_length:]


def temp_key(filename: str) -> str:
    return f"temp/{uuid.uuid4().hex}_{int(time.time())}_{safe_filename(filename)}"


class ObjectStore:
    """The bucket operations of the app, on one pooled client."""

    def __init__(self, settings: Settings, client: Any | None = None) -> None:
        self.settings = settings
        self.bucket = settings.R2_BUCKET_NAME
        self.client = client or s3_client(settings)
        self._public_client: Any | None = None

    @property
    def public_client(self) -> Any:
        if self._public_client is None:
            self._public_client = (
                s3_client(self.settings, public=True)
                if self.settings.R2_PUBLIC_ENDPOINT_URL
                else self.client
            )
        return self._public_client

    def put(self, key: str, data: bytes, *, content_type: str | None = None) -> None:
        extra = {"ContentType": content_type} if content_type else {}
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **extra)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def head(self, key: str) -> dict[str, Any] | None:
        """Object metadata, or None when it does not exist."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def copy(self, source: str, target: str) -> None:
        self.client.copy_object(
            Bucket=self.bucket, Key=target, CopySource={"Bucket": self.bucket, "Key": source}
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def presigned_get(self, key: str, *, expires_in: int = 3600) -> str:
        return self.public_client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_in
        )

    def public_url(self, key: str, *, expires_in: int = 3600) -> str:
        """The browser-facing URL: the CDN when there is one, else a short-lived presigned GET
        (the embedded store is never opened to anonymous reads)."""
        if self.settings.R2_PUBLIC_URL:
            return f"{self.settings.R2_PUBLIC_URL.rstrip('/')}/{key}"
        return self.presigned_get(key, expires_in=expires_in)
