"""Cells of the CSV files we write (export manifests, bulk-upload error reports).

A spreadsheet opening a CSV runs a cell that starts with `=`, `+`, `-` or `@` as a formula
(and tab or carriage return can hide one): text that came from a tenant gets a leading `'`,
which spreadsheets show as text (OWASP, "CSV Injection"). Numbers we write ourselves are
written as numbers and never pass through here.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str | None) -> str:
    """The text as a CSV cell no spreadsheet evaluates; None is an empty cell."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value
