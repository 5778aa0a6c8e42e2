"""File names of exported images: the naming template, its placeholders, unique names."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from models.export_schemas import Placeholder, TemplateError, parse_template

MAX_STEM = 150
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SEPARATORS = re.compile(r"([_.-])[_.-]+")


def slug(value: object) -> str:
    """A value as it may appear in a file name: ASCII letters, digits, `.`, `_`, `-`."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    return _UNSAFE.sub("-", text.strip()).strip("-.")


def render(template: str, values: Mapping[str, object]) -> str:
    """The file stem for one image (without extension); never empty, never a path.

    Raises TemplateError for a template the API would refuse (an export stored before the
    API checked templates this strictly): never str.format on the tenant's text."""
    parts: list[str] = []
    for token in parse_template(template):
        if not isinstance(token, Placeholder):
            parts.append(token)
            continue
        if token.name not in values:
            raise TemplateError(f"no value for {{{token.name}}}")
        value = values[token.name]
        text = str(value) if isinstance(value, int) else slug(value)
        # zfill is what str.format's `0Nd` does to an integer (sign first, then zeros).
        parts.append(text.zfill(token.pad) if token.pad else text)
    stem = _UNSAFE.sub("-", "".join(parts))
    # Empty placeholders leave doubled or dangling separators behind: tidy them.
    stem = _SEPARATORS.sub(r"\1", stem).strip("._-")
    return stem[:MAX_STEM].rstrip("._-") or "image"


class UniqueNames:
    """Hands out names not given before (case-insensitively: archives get unpacked on
    case-insensitive file systems), appending `_2`, `_3`… on collision."""

    def __init__(self, reserved: tuple[str, ...] = ()) -> None:
        self._taken = {name.lower() for name in reserved}

    def take(self, stem: str, extension: str) -> str:
        candidate, counter = f"{stem}.{extension}", 1
        while candidate.lower() in self._taken:
            counter += 1
            candidate = f"{stem}_{counter}.{extension}"
        self._taken.add(candidate.lower())
        return candidate
