"""Local Postgres, Redis, S3, Temporal and SMTP from PyPI wheels, for ``sartiq dev`` and tests."""

from devstack.stack import DevstackError, Stack, StackEnv

__all__ = ["DevstackError", "Stack", "StackEnv"]
