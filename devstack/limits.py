"""Rate limits raised out of the way, for the test suite and the bench.

Both drive the API from one address and a handful of users, so the product's limits would
refuse their load; raised (not disabled), the limiter still runs on every request and is
part of what they measure. The limits themselves are tested in tests/security/.
"""

from __future__ import annotations

RAISED = "1000000/minute"


def raised_rate_limits() -> dict[str, str]:
    """Environment variables setting every `RATE_LIMIT_*` rule to a limit never reached."""
    from core.config import Settings

    return {
        name: RAISED
        for name in Settings.model_fields
        if name.startswith("RATE_LIMIT_") and name != "RATE_LIMITS_ENABLED"
    }
