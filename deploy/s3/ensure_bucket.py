"""One-shot of docker-compose.yml (`s3-setup`, the app image): create R2_BUCKET_NAME on
R2_ENDPOINT_URL with the app's credentials, then prove it usable by listing it.

Uses the same code as the dev stack (devstack.s3.ensure_external_bucket), so "the bucket is
ready" means the same thing in both. Waits up to S3_SETUP_TIMEOUT seconds (default 120)
for the store to accept requests; safe to run again (an existing bucket is kept).
"""

from __future__ import annotations

import os
import sys
import time

from devstack.errors import DevstackError
from devstack.s3 import ensure_external_bucket


def main() -> int:
    deadline = time.monotonic() + float(os.environ.get("S3_SETUP_TIMEOUT", "120"))
    while True:
        try:
            env = ensure_external_bucket(os.environ)
        except DevstackError as exc:
            if time.monotonic() >= deadline:
                print(exc, file=sys.stderr)
                return 1
            time.sleep(2)
            continue
        print(f"bucket {env['R2_BUCKET_NAME']!r} is ready at {env['R2_ENDPOINT_URL']}")
        return 0


if __name__ == "__main__":
    sys.exit(main())
