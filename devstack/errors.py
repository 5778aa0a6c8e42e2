"""The one exception type every devstack failure is reported with."""

from __future__ import annotations


class DevstackError(RuntimeError):
    """A local service could not be prepared, started, checked or stopped.

    The message names the service and, when a process was involved, its command line and
    the last lines of its log file, so a failing ``sartiq dev`` or test session can be
    diagnosed from the message alone.
    """
