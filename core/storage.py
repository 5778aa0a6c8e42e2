"""S3/R2 client construction (the full storage service grows with the media issue)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

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
        ),
    )
