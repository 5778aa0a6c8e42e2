"""Payloads of CaptionWorkflow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CaptionInput:
    media_id: str
    product_id: str | None = None  # also fill this product's description when empty


@dataclass(frozen=True)
class CaptionResult:
    caption: str | None
    filled: list[str]  # which empty fields were filled


@dataclass(frozen=True)
class ApplyCaptionInput:
    media_id: str
    product_id: str | None
    text: str
