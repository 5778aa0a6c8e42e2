"""Which services a stack can embed, and the variables by which each is given instead."""

from __future__ import annotations

from devstack.mail import MailService
from devstack.postgres import PostgresService
from devstack.redis import RedisService
from devstack.s3 import S3Service
from devstack.service import EmbeddedService
from devstack.temporal import TemporalService

ALL_SERVICES = ("postgres", "redis", "s3", "temporal", "mail")
# The variable whose presence means "this service is provided, don't start one".
REPLACED_BY = {
    "postgres": "DATABASE_URL",
    "redis": "REDIS_URL",
    "s3": "R2_ENDPOINT_URL",
    "temporal": "TEMPORAL_ADDRESS",
    "mail": "SMTP_HOST",
}
# Every variable a service contributes to the app's environment.
SERVICE_VARS = {
    "postgres": ("DATABASE_URL",),
    "redis": ("REDIS_URL",),
    "s3": ("R2_ENDPOINT_URL", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME"),
    "temporal": ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_UI_URL"),
    "mail": ("SMTP_HOST", "SMTP_PORT", "SMTP_TLS"),
}
SERVICE_CLASSES: dict[str, type[EmbeddedService]] = {
    "postgres": PostgresService,
    "redis": RedisService,
    "s3": S3Service,
    "temporal": TemporalService,
    "mail": MailService,
}
