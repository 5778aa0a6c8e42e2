"""The retry policies every workflow uses: none is unbounded.

Each has a maximum number of attempts chosen to outlast the outages a deployment lives
through (the chaos suite stops Postgres, Redis and S3 for tens of seconds; a rolling
restart of a service takes about a minute) and then to give up, so a run whose dependency
is gone for good ends in a state an operator can read instead of retrying forever.
Errors no retry can fix are raised non-retryable by the activities (bad input, an output
that is not an image, a missing object): those end the run at the first attempt.

Pure data, imported by deterministic workflow code (no I/O here).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

# 1 + 2 + 4 + 8 + 16 s, then every 30 s: 25 attempts span about 10 minutes.
PERSISTENT = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=25,
)
# The write that records how a run ended: longer still (about 29 minutes), since a run that
# cannot record its end leaves its row to the reconciler.
FINAL_WRITE = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=35,
)
# Handing a mail to the SMTP server: a mail server down for hours is ordinary (and a mail
# late is better than none), so 5 s doubling to every 10 minutes, 45 attempts: about
# 6.5 hours, the run's deadline (MAIL_DEADLINE_SECONDS) cutting it first.
MAIL = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=45,
)
# A best-effort call (cancel a compute task): a few tries, then the run goes on without it.
BEST_EFFORT = RetryPolicy(maximum_attempts=5)


def window_seconds(policy: RetryPolicy) -> float:
    """How long `policy` keeps retrying at most (its backoff, timeouts excluded)."""
    assert policy.maximum_attempts > 0, "every retry policy has a maximum"
    interval = policy.initial_interval.total_seconds()
    cap = (policy.maximum_interval or policy.initial_interval * 100).total_seconds()
    total = 0.0
    for _ in range(policy.maximum_attempts - 1):
        total += min(interval, cap)
        interval *= policy.backoff_coefficient
    return total
