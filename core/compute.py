"""The backend's client for the Compute Server (DESIGN.md §6): contract models, an async
HTTP client, error classification for retries, and webhook signatures.

Imported by Temporal activities, so it only pulls in pydantic and httpx at import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from core import webhook_signing

if TYPE_CHECKING:
    from core.config import Settings

API_PREFIX = "/api/v1"
WEBHOOK_SIGNATURE_HEADER = "X-Compute-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"

TaskType = Literal["generation", "caption", "evaluation"]
TaskStatus = Literal["pending", "running", "completed", "failed", "cancelled"]
EventType = Literal[
    "task.started", "task.progress", "task.completed", "task.failed", "task.cancelled"
]
ImageFormat = Literal["jpg", "png", "webp"]

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "failed", "cancelled"})
RETRYABLE_STATUS_CODES: frozenset[int] = frozenset({408, 429})


def _normalise_format(value: object) -> object:
    # "jpeg"/"JPG" are common spellings of the same thing; the contract uses "jpg".
    if isinstance(value, str):
        value = value.strip().lower()
        return "jpg" if value == "jpeg" else value
    return value


def _fraction(value: object) -> object:
    """Progress as a 0-1 fraction. DOMAIN §3.4 notes some payloads use 0-100 percentages,
    so anything above 1 is read as a percentage rather than rejected. Stream fields are
    strings: a number in one is read the same; anything else is left for validation."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 1:
        return min(float(value) / 100.0, 1.0)
    return value


Progress = Annotated[float, BeforeValidator(_fraction), Field(ge=0.0, le=1.0)]


class _Response(BaseModel):
    # The real server sends more than the contract names (created_at, type, ...): ignore it.
    model_config = ConfigDict(extra="ignore")


# --- requests ---------------------------------------------------------------------------


class OutputSpec(BaseModel):
    width: int = Field(default=1024, gt=0)
    height: int = Field(default=1024, gt=0)
    format: Annotated[ImageFormat, BeforeValidator(_normalise_format)] = "jpg"


class TaskCreate(BaseModel):
    type: TaskType
    entity_id: str = Field(min_length=1)
    inputs: dict[str, Any] = Field(default_factory=dict)
    num_outputs: int = Field(default=1, ge=1)
    output: OutputSpec = Field(default_factory=OutputSpec)
    # Fault-injection knobs understood by compute_sim only (see compute_sim/config.py);
    # left out of the request body when None so the real server never sees the field.
    sim: dict[str, Any] | None = None


# --- responses --------------------------------------------------------------------------


class TaskRef(_Response):
    id: str
    status: TaskStatus


class TaskState(_Response):
    id: str
    status: TaskStatus
    progress: Progress = 0.0
    error_message: str | None = None
    error_category: str | None = None
    # What the entity's timings read (services/timings.py), when the server tells them.
    entity_id: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL_STATUSES


class OutputImage(_Response):
    url: str
    seed: int | None = None
    # Object key in the bucket, when the server shares one with us (compute_sim does):
    # lets the backend copy server-side instead of downloading.
    key: str | None = None


class TaskOutput(_Response):
    images: list[OutputImage] = Field(default_factory=list)
    text: str | None = None
    score: float | None = None


class TaskResult(_Response):
    id: str
    status: TaskStatus
    output: TaskOutput = Field(default_factory=TaskOutput)
    error_message: str | None = None
    error_category: str | None = None


class TaskEvent(_Response):
    """A task lifecycle event, as XADDed to the events stream and POSTed to the webhook.

    Events are hints (at-least-once, possibly reordered): confirm with `get_task`.
    Stream encoding: every field is a string, fields whose value is None are omitted,
    `progress` is a decimal 0-1 fraction and `timestamp` is ISO 8601 in UTC.
    """

    event_type: EventType
    task_id: str
    status: TaskStatus | None = None
    task_type: str | None = None
    entity_id: str | None = None
    progress: Progress | None = None
    error_message: str | None = None
    error_category: str | None = None
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # Per-task emission counter (1, 2, ...): lets a consumer spot stale, reordered events.
    seq: int | None = None

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def to_stream_fields(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for name, value in self.model_dump(exclude_none=True).items():
            fields[name] = value.isoformat() if isinstance(value, datetime) else str(value)
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[bytes | str, Any]) -> Self:
        """The one parser of events: XREAD/XREADGROUP fields (bytes or str) and the
        webhook's JSON object alike. Empty strings and nulls count as absent; anything
        that breaks the contract raises pydantic's ValidationError naming the field."""
        decoded: dict[str, Any] = {}
        for key, value in fields.items():
            name = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if value is not None and value != "":
                decoded[name] = value
        return cls.model_validate(decoded)


# --- errors -----------------------------------------------------------------------------


class ComputeError(Exception):
    """A failed Compute call. `retryable` says whether the same call may succeed later
    (5xx, 408, 429, timeouts, connection errors) or never will (other 4xx, bad payloads)."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"ComputeError({self.message!r}, retryable={self.retryable}, "
            f"status_code={self.status_code})"
        )


def is_retryable_status(status_code: int) -> bool:
    return status_code >= 500 or status_code in RETRYABLE_STATUS_CODES


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:500]
    return str(body)[:500]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date; callers fall back to their own backoff


def _quote(task_id: str) -> str:
    # Task ids come from the server, but a stray "/" must not change the route.
    return quote(task_id, safe="")


# --- client -----------------------------------------------------------------------------

_M = TypeVar("_M", bound=BaseModel)


class ComputeClient:
    """Async client of the Compute Server; one pooled connection set per instance.

    Create one per process (or per activity class) and `aclose()` it on shutdown.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_connections: int = 100,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        base = base_url.rstrip("/")
        # Accept a base URL given with or without the API prefix.
        if base.endswith(API_PREFIX):
            base = base[: -len(API_PREFIX)]
        self.base_url = base
        self._http = httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=min(20, max_connections),
            ),
            transport=transport,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> ComputeClient:
        """COMPUTE_SERVER_API_URL and COMPUTE_SERVER_ADMIN_TOKEN of `settings`."""
        return cls(settings.COMPUTE_SERVER_API_URL, settings.COMPUTE_SERVER_ADMIN_TOKEN, **kwargs)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def create_task(self, task: TaskCreate, *, idempotency_key: str) -> TaskRef:
        body = task.model_dump(mode="json", exclude_none=True)
        response = await self._request(
            "POST",
            f"{API_PREFIX}/tasks",
            json=body,
            headers={IDEMPOTENCY_HEADER: idempotency_key},
        )
        return self._parse(response, TaskRef)

    async def get_task(self, task_id: str) -> TaskState:
        response = await self._request("GET", f"{API_PREFIX}/tasks/{_quote(task_id)}")
        return self._parse(response, TaskState)

    async def get_result(self, task_id: str) -> TaskResult:
        response = await self._request("GET", f"{API_PREFIX}/tasks/{_quote(task_id)}/result")
        return self._parse(response, TaskResult)

    async def cancel_task(self, task_id: str) -> TaskState:
        response = await self._request("POST", f"{API_PREFIX}/tasks/{_quote(task_id)}/cancel")
        return self._parse(response, TaskState)

    async def health(self) -> bool:
        """True when the server answers /health with 2xx; never raises."""
        try:
            response = await self._http.get("/health")
        except httpx.HTTPError:
            return False
        return response.is_success

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ComputeError(
                f"Compute {method} {path} timed out: {type(exc).__name__}", retryable=True
            ) from exc
        except httpx.TransportError as exc:
            # Connection refused/reset, DNS, protocol errors: the server may come back.
            raise ComputeError(
                f"Compute {method} {path} unreachable: {type(exc).__name__}: {exc}",
                retryable=True,
            ) from exc
        if response.is_success:
            return response
        raise ComputeError(
            f"Compute {method} {path} -> {response.status_code}: {_detail(response)}",
            retryable=is_retryable_status(response.status_code),
            status_code=response.status_code,
            retry_after=_retry_after(response),
        )

    @staticmethod
    def _parse(response: httpx.Response, model: type[_M]) -> _M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            # A 2xx that breaks the contract will not fix itself on retry.
            raise ComputeError(
                f"Compute answered {response.status_code} with an unexpected body: {exc}",
                retryable=False,
                status_code=response.status_code,
            ) from exc


# --- webhook signatures -----------------------------------------------------------------


def sign_webhook(secret: str, body: bytes) -> str:
    """The `X-Compute-Signature` value for `body`: `sha256=<hex HMAC-SHA256>`."""
    return webhook_signing.hex_signature(secret, body)


def verify_webhook(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` (the header value, anything at all) signs exactly `body`;
    constant-time, through the one comparison helper."""
    return webhook_signing.verify_hex_signature(secret, body, signature)


__all__ = [
    "TERMINAL_STATUSES",
    "WEBHOOK_SIGNATURE_HEADER",
    "ComputeClient",
    "ComputeError",
    "EventType",
    "ImageFormat",
    "OutputImage",
    "OutputSpec",
    "TaskCreate",
    "TaskEvent",
    "TaskOutput",
    "TaskRef",
    "TaskResult",
    "TaskState",
    "TaskStatus",
    "TaskType",
    "is_retryable_status",
    "sign_webhook",
    "verify_webhook",
]
