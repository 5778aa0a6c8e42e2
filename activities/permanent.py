"""Failures no retry can fix, raised as `ApplicationError(non_retryable=True)` so the run
ends at the first attempt with a readable error instead of retrying until its policy or
its deadline gives up: a row that does not exist, an object gone from the store, a stored
plan or manifest that cannot be read back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from botocore.exceptions import ClientError
from temporalio.exceptions import ApplicationError

from core.storage import ObjectStore
from services.errors import NotFound

T = TypeVar("T")

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in MISSING_CODES


@contextmanager
def row_must_exist() -> Iterator[None]:
    """A NotFound from a service (the job's row was deleted) ends the run."""
    try:
        yield
    except NotFound as error:
        raise ApplicationError(str(error.detail), type="NotFound", non_retryable=True) from error


def stored(store: ObjectStore, key: str, what: str) -> bytes:
    """The object's bytes (blocking); a missing object ends the run."""
    try:
        return store.get(key)
    except ClientError as error:
        if is_missing(error):
            raise ApplicationError(
                f"The {what} ({key}) is missing from the store",
                type="MissingObject",
                non_retryable=True,
            ) from error
        raise


def parsed(load: Callable[[bytes], T], data: bytes, what: str) -> T:
    """`load(data)`; a stored file that does not parse ends the run (pydantic's
    ValidationError and json's JSONDecodeError are ValueErrors)."""
    try:
        return load(data)
    except (ValueError, KeyError, TypeError) as error:
        raise ApplicationError(
            f"The stored {what} is invalid: {error}", type="InvalidStoredFile", non_retryable=True
        ) from error
