"""Expected failures of domain operations, rendered by the API as `{"detail": ...}`."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400

    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    status_code = 400


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class Unprocessable(DomainError):
    """A payload that passed schema validation but breaks a rule only the service knows."""

    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        # Same shape as FastAPI's validation errors, so clients parse one format.
        super().__init__([{"loc": ["body", field], "msg": message, "type": "value_error"}])


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Gone(DomainError):
    """Existed, but can no longer be acted on (an expired invitation)."""

    status_code = 410


class WorkflowUnavailable(DomainError):
    """Temporal could not be reached to start, signal or cancel a run; the domain row is
    committed, so the client retries later (every route answers this one 503)."""

    status_code = 503


def not_found(what: str) -> NotFound:
    return NotFound(f"{what} not found")
