"""One JSON error shape: `{"detail": "..."}` for every expected failure."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError

from services.errors import DomainError


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = dict(getattr(exc, "headers", None) or {})  # e.g. a 429's Retry-After
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=headers or None
    )


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    # A unique/foreign-key race that the service's checks could not see coming: a conflict,
    # not a server error. The constraint name says which rule, never the row's data.
    assert isinstance(exc, IntegrityError)
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    detail = "Conflicts with an existing resource"
    if constraint:
        detail += f" ({constraint})"
    return JSONResponse({"detail": detail}, status_code=409)


# Text Postgres cannot store: a NUL character (\u0000) in a text column or in JSONB.
# Validation lets it through (it is a valid JSON string), so it shows up at the database.
_UNSTORABLE_TEXT = (
    asyncpg.exceptions.CharacterNotInRepertoireError,
    asyncpg.exceptions.UntranslatableCharacterError,
)


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if isinstance(getattr(exc.orig, "__cause__", None), _UNSTORABLE_TEXT):
        return JSONResponse(
            {"detail": "Text values must not contain NUL (\\u0000) characters"}, status_code=422
        )
    raise exc  # anything else (database down, a bug of ours) stays a 500, logged


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
