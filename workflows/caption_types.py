"""Payloads of CaptionWorkflow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaptionInput:
    media_id: str
    product_id: str | None = None  # also fill this product's description when empty
    # The whole run's deadline (CAPTION_DEADLINE_SECONDS when started); None: a run started
    # before deadlines were carried, which gets DEFAULT_DEADLINE_SECONDS.
    deadline_seconds: int | None = None


@dataclass(frozen=True)
class CaptionResult:
    caption: str | None
    filled: list[str]  # which empty fields were filled


@dataclass(frozen=True)
class ApplyCaptionInput:
    media_id: str
    product_id: str | None
    text: str
