"""Application settings, read from the environment (and `.env`) once per process."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Literal, Self

from pydantic import AnyUrl, BeforeValidator, EmailStr, Field, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Dev defaults that make `sartiq dev` work with no configuration. Outside development
# they are refused (see `_refuse_default_secrets`).
DEV_JWT_SECRET = "sartiq-dev-jwt-secret-change-me-in-production"
DEV_COMPUTE_TOKEN = "sartiq-dev-compute-token"
DEV_WEBHOOK_SECRET = "sartiq-dev-webhook-secret"
DEV_SUPERUSER_PASSWORD = "changethis"
DEV_S3_ACCESS_KEY = "sartiq-dev"
DEV_S3_SECRET_KEY = "sartiq-dev-secret"


def _split_csv(value: object) -> object:
    if isinstance(value, str) and not value.startswith("["):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_ignore_empty=True, extra="ignore")

    # Unset means production: only `sartiq dev`, the tests and the bench (which set it) get
    # the dev defaults, so a deployment that forgets it refuses default secrets.
    ENVIRONMENT: Literal["development", "test", "staging", "production"] = "production"
    PROJECT_NAME: str = "Sartiq"
    API_V1_STR: str = "/api/v1"
    API_PORT: int = 8000
    SARTIQ_STATE_DIR: str = ".sartiq"
    FRONTEND_HOST: str = "http://localhost:3000"
    BACKEND_CORS_ORIGINS: Annotated[list[str], BeforeValidator(_split_csv)] = []

    # Auth
    JWT_SECRET: str = DEV_JWT_SECRET
    JWT_ALGORITHM: Literal["HS256"] = "HS256"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 60
    # Signed file URLs for <img src> (core/file_urls.py): valid at least this long, their
    # expiry rounded up to the window so repeated reads give identical (cacheable) URLs.
    FILE_URL_TTL_SECONDS: int = Field(default=3600, ge=60)
    FILE_URL_WINDOW_SECONDS: int = Field(default=600, ge=1)
    # Lifetime of a one-time WebSocket ticket (POST /ws/ticket), single use.
    WS_TICKET_SECONDS: int = Field(default=30, ge=5, le=300)
    # WebSocket sessions (api/ws.py): how long an unauthenticated socket may wait for its
    # auth message; an optional cap on a socket's lifetime (unset: none); whether a socket
    # lives no longer than its access token; how long a close frame the client does not read
    # is waited for before the socket is abandoned.
    WS_AUTH_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    WS_MAX_CONNECTION_SECONDS: float | None = Field(default=None, gt=0)
    WS_CLOSE_AT_TOKEN_EXPIRY: bool = True
    WS_CLOSE_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)
    REFRESH_TOKEN_EXPIRE_DAYS: int = 30
    RESET_TOKEN_EXPIRE_HOURS: int = 1
    # An organization invitation can be accepted for this long after it was (re)sent.
    INVITATION_EXPIRE_DAYS: int = Field(default=7, ge=1, le=90)
    FIRST_SUPERUSER: EmailStr = "admin@example.com"
    FIRST_SUPERUSER_PASSWORD: str = DEV_SUPERUSER_PASSWORD
    SIGNUP_ENABLED_DEFAULT: bool = True

    # E-mail (password recovery, invitations). Without SMTP_HOST the mail goes to the log;
    # `sartiq dev` and the tests run a local SMTP server (devstack/mailbox.py) and set these.
    SMTP_HOST: str | None = None
    SMTP_PORT: int = 587
    SMTP_USER: str | None = None
    SMTP_PASSWORD: str | None = None
    SMTP_TLS: bool = True
    EMAILS_FROM_EMAIL: EmailStr = "noreply@example.com"

    # Postgres. Plain `postgresql://` URLs are accepted; the async driver is chosen here.
    DATABASE_URL: str = "postgresql://postgres@127.0.0.1:5432/sartiq"
    DATABASE_POOL_SIZE: int = 10
    DATABASE_MAX_OVERFLOW: int = 10

    REDIS_URL: str = "redis://127.0.0.1:6379/0"

    # Real-time events (core/events.py): entries kept per scope stream (approximate
    # trimming); how long a dedupe key suppresses a second publish; the most events replayed
    # at once (past it the client must resync); undelivered events a subscriber may hold
    # before it is dropped. Every process must agree on the stream length: replay decides
    # from it whether a stream may have been trimmed.
    EVENT_STREAM_MAXLEN: int = Field(default=1000, ge=1)
    EVENT_DEDUPE_TTL_SECONDS: int = Field(default=3600, ge=1)
    EVENT_REPLAY_LIMIT: int = Field(default=1000, ge=1)
    EVENT_SUBSCRIBER_QUEUE_SIZE: int = Field(default=256, ge=1)
    # The event hub's pub/sub link (core/event_hub.py): first and largest delay between
    # reconnect attempts; an idle connection is pinged after KEEPALIVE and declared dead if
    # nothing answers within KEEPALIVE_TIMEOUT; start() waits this long for the first
    # subscription (the API starts anyway while Redis is down).
    EVENT_HUB_RECONNECT_MIN_SECONDS: float = Field(default=0.1, gt=0)
    EVENT_HUB_RECONNECT_MAX_SECONDS: float = Field(default=5.0, gt=0)
    EVENT_HUB_KEEPALIVE_SECONDS: float = Field(default=10.0, gt=0)
    EVENT_HUB_KEEPALIVE_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0)
    EVENT_HUB_START_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0)

    # Compute Server
    COMPUTE_SERVER_API_URL: str = "http://127.0.0.1:9000"
    COMPUTE_SERVER_ADMIN_TOKEN: str = DEV_COMPUTE_TOKEN
    COMPUTE_WEBHOOK_SECRET: str = DEV_WEBHOOK_SECRET
    COMPUTE_EVENTS_STREAM: str = "compute:events"
    COMPUTE_EVENTS_GROUP: str = "sartiq-bridge"
    COMPUTE_REQUEST_TIMEOUT_SECONDS: float = 15.0

    # Generations
    GENERATION_DEADLINE_SECONDS: int = Field(default=1800, ge=10)
    # Lowest `config.deadline_seconds` a request may ask for (the one above is the highest).
    GENERATION_DEADLINE_MIN_SECONDS: int = Field(default=60, ge=1)
    # Without events the workflow asks compute for the status this often.
    GENERATION_POLL_INTERVAL_SECONDS: int = Field(default=15, ge=1)
    SHOOTING_MAX_CONCURRENT_GENERATIONS: int = Field(default=4, ge=1, le=100)

    # Media cleanup: unattached media rows (and `media/` objects without a row) younger than
    # this are never removed by the orphan scan (uploads in flight, attachments to come).
    ORPHAN_GRACE_HOURS: int = Field(default=24, ge=0)

    # Server-side requests to addresses a tenant chose (bulk-upload images, webhooks) never
    # reach a private, loopback or link-local address, except these hosts, IPs or CIDRs
    # (comma-separated; e.g. an internal image host, or local receivers in dev and tests).
    OUTBOUND_ALLOWED_HOSTS: str = ""
    # Its former name (bulk-upload images only); still read, merged into the list above.
    BULK_UPLOAD_ALLOWED_HOSTS: str = ""

    # Bulk uploads (activities/bulk_upload.py): the largest image a CSV may name (as for
    # presigned product images), downloads in flight per chunk, and plans kept in memory
    # per worker (every chunk activity of an upload reads the same one).
    # A bulk-upload CSV: its size (as the presigned `bulk_csv` uploads) and rows (which keep
    # the plan, and each workflow run's history, small).
    BULK_UPLOAD_MAX_CSV_BYTES: int = Field(default=200 * 1024 * 1024, ge=1024)
    BULK_UPLOAD_MAX_ROWS: int = Field(default=1_000_000, ge=1)
    BULK_UPLOAD_MAX_IMAGE_BYTES: int = Field(default=25 * 1024 * 1024, ge=1024)
    BULK_UPLOAD_IMAGE_FETCH_CONCURRENCY: int = Field(default=8, ge=1, le=64)
    BULK_UPLOAD_PLAN_CACHE_SIZE: int = Field(default=8, ge=1)

    # Deadlines of whole runs, fixed when a run starts (carried across continue-as-new):
    # past it the run ends `failed` with a message naming the setting, cleaning up as any
    # failure does. An export (zip or webhook), a bulk upload (all its chunks and images),
    # a caption (the compute task included, which is then cancelled).
    EXPORT_DEADLINE_SECONDS: int = Field(default=6 * 3600, ge=5, le=7 * 24 * 3600)
    BULK_UPLOAD_DEADLINE_SECONDS: int = Field(default=24 * 3600, ge=5, le=7 * 24 * 3600)
    CAPTION_DEADLINE_SECONDS: int = Field(default=600, ge=5, le=24 * 3600)
    # A mail (recovery, invitation) retried while the SMTP server is down or refuses for a
    # while; past this its run ends `failed`.
    MAIL_DEADLINE_SECONDS: int = Field(default=6 * 3600, ge=5, le=24 * 3600)

    # Object store (Cloudflare R2 in production; SeaweedFS in dev)
    R2_ACCOUNT_ID: str | None = None
    R2_ENDPOINT_URL: str | None = None
    R2_PUBLIC_ENDPOINT_URL: str | None = None
    R2_ACCESS_KEY_ID: str = DEV_S3_ACCESS_KEY
    R2_SECRET_ACCESS_KEY: str = DEV_S3_SECRET_KEY
    R2_BUCKET_NAME: str = "sartiq"
    R2_PUBLIC_URL: str | None = None
    R2_REGION: str = "auto"
    CLOUDFLARE_IMAGE_TRANSFORMATIONS_ENABLED: bool = False

    # Temporal
    TEMPORAL_ADDRESS: str = "127.0.0.1:7233"
    TEMPORAL_NAMESPACE: str = "default"
    TEMPORAL_UI_URL: str = "http://127.0.0.1:8233"
    TEMPORAL_API_KEY: str | None = None
    # Prefixed to every task queue: isolates workers sharing one Temporal (tests, previews).
    TASK_QUEUE_PREFIX: str = ""
    TEMPORAL_TLS: bool = False

    # "auto": JSON lines outside development (for log shippers), readable text in dev.
    LOG_FORMAT: Literal["auto", "json", "text"] = "auto"
    LOG_LEVEL: str = "INFO"
    # Worker metrics (0 = off): our own on this port, the Temporal SDK's on the next one.
    WORKER_METRICS_PORT: int = Field(default=0, ge=0, le=65534)

    HEALTH_CHECK_TIMEOUT_SECONDS: float = Field(default=2.0, gt=0)
    # Rate limits (`limits` syntax: "N/second|minute|hour|day" or "N per 15 minutes"),
    # counted in Redis and shared by every API process. Per client address: login, signup,
    # password recovery and reset, refresh. Per account and address: failed logins (an
    # attacker's address is stopped for that account, the owner's own address is not). Per
    # user: generation starts, exports, bulk uploads.
    RATE_LIMITS_ENABLED: bool = True
    RATE_LIMIT_LOGIN: str = "30/minute"
    RATE_LIMIT_LOGIN_FAILURES: str = "10 per 15 minutes"
    RATE_LIMIT_SIGNUP: str = "10/hour"
    RATE_LIMIT_PASSWORD_RECOVERY: str = "10/hour"
    RATE_LIMIT_REFRESH: str = "60/minute"
    RATE_LIMIT_GENERATIONS: str = "120/minute"
    RATE_LIMIT_EXPORTS: str = "30/minute"
    RATE_LIMIT_BULK_UPLOADS: str = "30/minute"
    # Invitations mail an address of the inviter's choosing: bounded per user.
    RATE_LIMIT_INVITATIONS: str = "60/hour"
    # Addresses (or CIDRs) of the reverse proxies in front of the API, whose
    # X-Forwarded-For names the client; unset: the peer's address is the client's.
    TRUSTED_PROXIES: Annotated[list[str], BeforeValidator(_split_csv)] = []

    # Bearer token (besides a superuser's) for /metrics and the system health check, for
    # scrapers and probes that have no user; unset: superusers only.
    METRICS_TOKEN: str | None = Field(default=None, min_length=16)

    # Request body caps in bytes, counted as the body arrives (api/body_limits.py maps route
    # families to them); over the cap the API answers 413 without reading the rest.
    BODY_LIMIT_DEFAULT_BYTES: int = Field(default=1024 * 1024, ge=1024)
    # POST /tasks/webhook: checked before its HMAC is computed over the body.
    BODY_LIMIT_COMPUTE_WEBHOOK_BYTES: int = Field(default=256 * 1024, ge=1024)
    # Login, token refresh, logout, password recovery and reset: small forms.
    BODY_LIMIT_AUTH_BYTES: int = Field(default=16 * 1024, ge=1024)
    # Multipart CSV posted to POST /bulk-uploads/: the 200 MB CSV cap plus framing, a little
    # above the route's own check so its clearer "larger than 200 MB" answers first.
    BODY_LIMIT_BULK_UPLOAD_BYTES: int = Field(default=201 * 1024 * 1024, ge=1024)

    # Orphan scan: files under bulk-uploads/ and exports/ that no job needs any more (its row
    # is gone, or a bulk upload's working files after it ended or went silent) are removed
    # once older than this (services/job_files.py).
    JOB_FILES_MAX_AGE_HOURS: int = Field(default=24, ge=0)

    # Batch generations of a shooting (workflows/shooting_generation.py): shots planned per
    # page (one activity creates their pending generations), and pages per workflow run
    # before it continues as new (sooner if Temporal suggests it), which bounds each run's
    # history whatever the batch's size. The window (generations in flight) is the admin
    # setting `max_concurrent_shot_generations`.
    BATCH_PAGE_SIZE: int = Field(default=100, ge=1, le=1000)
    BATCH_PAGES_PER_RUN: int = Field(default=5, ge=1, le=100)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def async_database_url(self) -> str:
        url = self.DATABASE_URL
        for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+asyncpg://" + url[len(prefix) :]
        return url

    @computed_field  # type: ignore[prop-decorator]
    @property
    def r2_endpoint(self) -> str | None:
        if self.R2_ENDPOINT_URL:
            return self.R2_ENDPOINT_URL
        if self.R2_ACCOUNT_ID:
            return f"https://{self.R2_ACCOUNT_ID}.r2.cloudflarestorage.com"
        return None

    @property
    def json_logs(self) -> bool:
        return self.LOG_FORMAT == "json" or (
            self.LOG_FORMAT == "auto" and self.ENVIRONMENT in ("staging", "production")
        )

    @property
    def is_development(self) -> bool:
        return self.ENVIRONMENT in ("development", "test")

    def _check_default_secret(self, name: str, value: str | None, default: str) -> None:
        if value != default:
            return
        raise ValueError(
            f'{name} has its development default and ENVIRONMENT is "{self.ENVIRONMENT}"; set a '
            f'secret value for "{name}" (or ENVIRONMENT=development on a development machine).'
        )

    @model_validator(mode="after")
    def _check_rate_limits(self) -> Self:
        # A typo in a limit would otherwise surface at the first request it guards.
        from limits import parse

        for name in type(self).model_fields:
            if name.startswith("RATE_LIMIT_") and name != "RATE_LIMITS_ENABLED":
                try:
                    parse(getattr(self, name))
                except ValueError:
                    raise ValueError(f"{name}: not a rate limit (e.g. 30/minute)") from None
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Self:
        if self.is_development:
            return self  # dev/test defaults are the point of `sartiq dev`; don't nag
        self._check_default_secret("JWT_SECRET", self.JWT_SECRET, DEV_JWT_SECRET)
        self._check_default_secret(
            "COMPUTE_SERVER_ADMIN_TOKEN", self.COMPUTE_SERVER_ADMIN_TOKEN, DEV_COMPUTE_TOKEN
        )
        self._check_default_secret(
            "COMPUTE_WEBHOOK_SECRET", self.COMPUTE_WEBHOOK_SECRET, DEV_WEBHOOK_SECRET
        )
        self._check_default_secret(
            "FIRST_SUPERUSER_PASSWORD", self.FIRST_SUPERUSER_PASSWORD, DEV_SUPERUSER_PASSWORD
        )
        self._check_default_secret(
            "R2_SECRET_ACCESS_KEY", self.R2_SECRET_ACCESS_KEY, DEV_S3_SECRET_KEY
        )
        if len(self.JWT_SECRET) < 32:
            raise ValueError("JWT_SECRET must be at least 32 characters outside development.")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; tests clear the cache after changing the environment."""
    return Settings()


__all__ = ["AnyUrl", "Settings", "get_settings"]
