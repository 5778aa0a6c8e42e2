"""Simulator-only knobs (env prefix `COMPUTE_SIM_`) and the per-task `sim` overrides.

Shared variables (REDIS_URL, R2_*, COMPUTE_SERVER_ADMIN_TOKEN, COMPUTE_WEBHOOK_SECRET,
COMPUTE_EVENTS_STREAM) come from `core.config.Settings`; only what a real Compute Server
would not have lives here.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# A probability in 0-1.
Rate = Annotated[float, Field(ge=0.0, le=1.0)]


class SimConfig(BaseSettings):
    """Server-wide fault knobs; changeable at runtime (PUT /api/v1/sim/config)."""

    model_config = SettingsConfigDict(
        env_prefix="COMPUTE_SIM_", env_file=".env", env_ignore_empty=True, extra="ignore"
    )

    # Processing time of a task once running, spread over the progress steps.
    latency_ms: int = Field(default=200, ge=0, le=3_600_000)
    # task.progress events between task.started and the end.
    progress_steps: int = Field(default=3, ge=0, le=100)
    failure_rate: Rate = 0.0
    # Category of failures drawn from failure_rate.
    error_category: str = "provider_error"
    # A stuck task stays `running` until cancelled (exercises deadlines and reconcilers).
    stuck_rate: Rate = 0.0
    drop_event_rate: Rate = 0.0
    duplicate_event_rate: Rate = 0.0
    # Swap neighbouring events; the terminal event overtakes the one held back.
    reorder_events: bool = False
    # Fraction of task API requests (submit, status, result, cancel) answered 500, 502 or
    # 503 before anything is done: a flaky gateway in front of the server. A refused submit
    # creates no task, so the client's retry (same Idempotency-Key) is the first real one.
    http_error_rate: Rate = 0.0
    # Where to POST every event (signed with COMPUTE_WEBHOOK_SECRET); None = no webhook.
    webhook_url: str | None = None
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    # Fetching input images (generation references, caption/evaluation subjects).
    input_timeout_s: float = Field(default=5.0, gt=0)
    max_input_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    # Results name each output's key in the shared bucket (the backend then reads it there,
    # never from the URL). False: behave like a Compute Server with storage of its own,
    # whose results carry only URLs (the backend downloads them through its outbound guard).
    report_output_keys: bool = True
    # Lifetime of the presigned GET URLs in results (re-signed on every /result call).
    url_expires_s: int = Field(default=3600, gt=0, le=7 * 24 * 3600)
    # Largest output side rendered, so a typo cannot make the simulator allocate gigabytes.
    max_side: int = Field(default=4096, ge=16)
    max_outputs: int = Field(default=16, ge=1)
    # Finished tasks beyond this many are forgotten, oldest first.
    max_tasks: int = Field(default=50_000, ge=1)
    events_maxlen: int = Field(default=100_000, ge=1)

    def merged(self, changes: dict[str, Any]) -> SimConfig:
        """A validated copy with `changes` applied; unknown knobs raise `KeyError`."""
        unknown = sorted(set(changes) - set(type(self).model_fields))
        if unknown:
            raise KeyError(", ".join(unknown))
        # model_validate skips the env sources: the result is exactly current + changes.
        return type(self).model_validate({**self.model_dump(), **changes})


class TaskSim(BaseModel):
    """The optional `sim` object of a task body; every field set here beats `SimConfig`.

    `drop_events`/`duplicate_events` take a bool (all/none) or a 0-1 rate.
    """

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=3_600_000)
    progress_steps: int | None = Field(default=None, ge=0, le=100)
    # True fails with a stock message, a string fails with that message, False never fails.
    fail: bool | str | None = None
    error_category: str | None = None
    stuck: bool | None = None
    drop_events: bool | Rate | None = None
    duplicate_events: bool | Rate | None = None
    reorder_events: bool | None = None
    # Evaluation: fixed score; or one score per evaluation of the same entity_id, in order
    # (the last repeats), so a test can script "low, then high" across AGENTIC tries.
    score: Rate | None = None
    scores: list[Rate] | None = Field(default=None, min_length=1)
    # Caption: fixed text instead of the one derived from the image.
    caption: str | None = None
    # A generation that "completes" with outputs the backend must refuse: bytes that are not
    # an image, or a key in the result with no object behind it (a 404 on the output).
    broken_output: Literal["not_image", "missing"] | None = None
    # A provider that is down: a task whose `inputs.model.provider` is this one fails with
    # `provider_error` (the backend then tries the model's fallback provider).
    fail_provider: str | None = Field(default=None, max_length=128)


def rate(value: bool | float | None, default: float) -> float:
    if value is None:
        return default
    return float(value)


class ConfigHolder:
    """The live SimConfig, swapped whole: readers on the server's loop and a writer in the
    test thread (ComputeSimServer.set_config) never see a half-applied change."""

    def __init__(self, config: SimConfig) -> None:
        self._lock = threading.Lock()
        self._config = config

    def get(self) -> SimConfig:
        with self._lock:
            return self._config

    def set(self, config: SimConfig) -> SimConfig:
        with self._lock:
            self._config = config
            return config

    def update(self, changes: dict[str, Any]) -> SimConfig:
        """Apply `changes` (validated); raises KeyError / pydantic.ValidationError."""
        with self._lock:
            self._config = self._config.merged(changes)
            return self._config
