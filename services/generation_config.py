"""The generation `config` checks that need the settings: at the API (a 422 naming the key)
and in the worker, which parses the stored config again before anything reaches the
workflow or compute (rows stored before these rules, or by an older API, are not trusted).

The model itself (keys, types, static bounds) is models/generation.py GenerationConfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from core.config import Settings
from models.generation import GenerationConfig
from services.errors import DomainError, Unprocessable

DEFAULT_SIZE = 1024
DEFAULT_FORMAT = "jpg"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_MIN_CONFIDENCE = 0.7
MAX_ERROR_CHARS = 500


class ConfigRefused(Unprocessable):
    """A 422 in FastAPI's shape whose `loc` names the key (`["body", "config", key]`)."""

    def __init__(self, key: str, message: str) -> None:
        DomainError.__init__(
            self, [{"loc": ["body", "config", key], "msg": message, "type": "value_error"}]
        )


class InvalidStoredConfig(ValueError):
    """A stored config the worker refuses: no retry can fix it."""


def check_request(config: GenerationConfig, settings: Settings) -> None:
    """What the model cannot check alone: the deadline range of this deployment, and `sim`
    (simulator fault knobs) only where the compute server is compute_sim."""
    if config.sim is not None and not settings.is_development:
        raise ConfigRefused("sim", "config.sim is only accepted in development")
    low, high = deadline_range(settings)
    if config.deadline_seconds is not None and not low <= config.deadline_seconds <= high:
        raise ConfigRefused(
            "deadline_seconds", f"config.deadline_seconds must be from {low} to {high}"
        )


def deadline_range(settings: Settings) -> tuple[int, int]:
    high = settings.GENERATION_DEADLINE_SECONDS
    return min(settings.GENERATION_DEADLINE_MIN_SECONDS, high), high


@dataclass(frozen=True)
class WorkerConfig:
    """The stored config as the worker uses it: validated, defaults filled in, the deadline
    clamped to the current settings, `sim` dropped outside development."""

    width: int
    height: int
    format: str
    prompt: str | None
    negative_prompt: str | None
    seed: int | None
    max_attempts: int
    min_confidence_score: float
    deadline_seconds: int
    poll_interval_seconds: int
    sim: dict[str, Any] | None
    upscale: int | None = None  # REFINE's factor (set when the generation was created)


def for_worker(stored: Mapping[str, Any] | None, settings: Settings) -> WorkerConfig:
    """Parse a generation row's config with the API's model; InvalidStoredConfig when it
    does not pass (the caller fails the generation for good)."""
    try:
        config = GenerationConfig.model_validate(dict(stored or {}))
    except ValidationError as error:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        message = f"invalid generation config: {problems}"[:MAX_ERROR_CHARS]
        raise InvalidStoredConfig(message) from None
    low, high = deadline_range(settings)
    deadline = config.deadline_seconds or settings.GENERATION_DEADLINE_SECONDS
    output = config.output
    return WorkerConfig(
        width=output.width if output else DEFAULT_SIZE,
        height=output.height if output else DEFAULT_SIZE,
        format=output.format.value if output else DEFAULT_FORMAT,
        prompt=config.prompt,
        negative_prompt=config.negative_prompt,
        seed=config.seed,
        max_attempts=config.max_attempts or DEFAULT_MAX_ATTEMPTS,
        min_confidence_score=(
            DEFAULT_MIN_CONFIDENCE
            if config.min_confidence_score is None
            else config.min_confidence_score
        ),
        # Settings may have changed since the row was stored: clamp rather than fail.
        deadline_seconds=min(max(deadline, low), high),
        poll_interval_seconds=(
            config.poll_interval_seconds or settings.GENERATION_POLL_INTERVAL_SECONDS
        ),
        # Fault knobs never reach a real compute server.
        sim=config.sim if settings.is_development else None,
        upscale=config.upscale,
    )
