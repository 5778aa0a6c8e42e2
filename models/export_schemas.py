"""API schemas of exports (the `export` table lives in models/jobs.py)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from pydantic import AnyHttpUrl, field_validator, model_validator
from sqlmodel import Field, SQLModel

from models.base import RecordPublic, TenantPublic
from models.jobs import ExportFormat, ExportTarget, JobStatus

DEFAULT_TEMPLATE = "{sku}_{shot_type}_{n}"
# sku: the look's main product SKU; product: its name; shot_type, look, shooting: names;
# n: the image's 1-based position in its shot's revision; shot_id: the shot's UUID.
PLACEHOLDERS = ("sku", "product", "shot_type", "look", "shooting", "n", "shot_id")
# The only format spec there is: `{n:0Nd}`, n zero-padded to N digits (N from 1 to 6).
MAX_PAD = 6
# A template is read by this tokenizer, never by str.format: str.format on tenant text
# allows attribute and index access (`{sku.__class__}`) and widths that allocate
# gigabytes (`{n:0999999999d}`). Order matters: doubled braces before placeholders.
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]|[^{}]+")
_FIELD = re.compile(r"([a-z_]+)(?::0([1-9][0-9]{0,2})d)?")


class TemplateError(ValueError):
    """A naming template that cannot be used (at the API: a 422; in the worker: the
    export fails with this message)."""


@dataclass(frozen=True, slots=True)
class Placeholder:
    name: str
    pad: int = 0  # 0: the value as it is


Token = str | Placeholder  # a str is literal text


def parse_template(template: str) -> list[Token]:
    """The template as literal text and placeholders, or TemplateError saying why not."""
    tokens: list[Token] = []
    for match in _TOKEN.finditer(template):
        text = match.group(0)
        if text in ("{{", "}}"):
            tokens.append(text[0])  # a literal brace, as str.format reads them
        elif text in ("{", "}"):
            raise TemplateError(
                f"unbalanced {text!r} at position {match.start()}; "
                f"write {text * 2} for a literal brace"
            )
        elif text.startswith("{"):
            tokens.append(_placeholder(match.group(1)))
        else:
            tokens.append(text)
    if not any(isinstance(t, Placeholder) for t in tokens):
        raise TemplateError(
            f"the template uses no placeholder; use some of {', '.join(PLACEHOLDERS)}"
        )
    return tokens


def _placeholder(body: str) -> Placeholder:
    field = _FIELD.fullmatch(body)
    name = field.group(1) if field else re.split(r"[.\[!:]", body, maxsplit=1)[0]
    if name not in PLACEHOLDERS:
        raise TemplateError(f"unknown placeholder {{{name}}}; allowed: {', '.join(PLACEHOLDERS)}")
    if field is None:
        raise TemplateError(
            f"{{{body}}} is not supported: a placeholder is {{name}}, and the only format is "
            f"{{n:0Nd}} (N from 1 to {MAX_PAD})"
        )
    pad = field.group(2)
    if pad is None:
        return Placeholder(name)
    if name != "n" or not 1 <= int(pad) <= MAX_PAD:
        raise TemplateError(
            f"{{{body}}} is not supported: the only format is {{n:0Nd}} (N from 1 to {MAX_PAD})"
        )
    return Placeholder(name, int(pad))


def template_error(template: str) -> str | None:
    """Why `template` is not a usable naming template, or None when it is."""
    try:
        parse_template(template)
    except TemplateError as error:
        return str(error)
    return None


# Body of POST /exports/.
class ExportCreate(SQLModel):
    shooting_id: uuid.UUID | None = None
    shot_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=1000)
    only_approved: bool = True
    format: ExportFormat = ExportFormat.ORIGINAL
    max_dimension: int | None = Field(default=None, ge=64, le=8192)
    naming_template: str = Field(default=DEFAULT_TEMPLATE, min_length=1, max_length=255)
    target: ExportTarget = ExportTarget.ZIP
    webhook_url: AnyHttpUrl | None = Field(default=None, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=8, max_length=255)

    @field_validator("naming_template")
    @classmethod
    def _check_template(cls, template: str) -> str:
        # A field validator, so the 422's `loc` names naming_template.
        problem = template_error(template)
        if problem:
            raise ValueError(f"naming_template: {problem}")
        return template

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.shooting_id is None) == (self.shot_ids is None):
            raise ValueError("give exactly one of shooting_id or shot_ids")
        if self.target == ExportTarget.WEBHOOK:
            if self.webhook_url is None or not self.webhook_secret:
                raise ValueError("a webhook target needs webhook_url and webhook_secret")
        elif self.webhook_url is not None or self.webhook_secret is not None:
            raise ValueError("webhook_url and webhook_secret are only for the webhook target")
        return self


# What the API returns: never the webhook secret.
class ExportPublic(RecordPublic, TenantPublic):
    shooting_id: uuid.UUID | None
    shot_ids: list[uuid.UUID]
    only_approved: bool
    format: ExportFormat
    max_dimension: int | None
    naming_template: str
    target: ExportTarget
    webhook_url: str | None
    status: JobStatus
    progress: float
    total_images: int
    processed_images: int
    failed_images: int
    error_message: str | None
    workflow_id: str | None
    temporal_ui_url: str | None = None
    started_at: datetime | None
    completed_at: datetime | None
    # A presigned GET of the zip, once a zip export has completed.
    download_url: str | None = None
