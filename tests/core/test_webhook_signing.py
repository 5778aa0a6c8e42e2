"""The one signing helper (core/webhook_signing.py) against the maintained `standardwebhooks`
package, both ways, and the one constant-time comparison.

The package signs and verifies `str` bodies (UTF-8), so it is checked on text bodies here;
binary bodies (the export webhook's images) are checked byte for byte in
tests/exports/test_export_webhook.py.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from core import webhook_signing
from core.webhook_signing import constant_time_equal, signing_key

SPEC_SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
TENANT_SECRET = "a tenant's webhook secret"
BODY = json.dumps({"type": "export.image", "data": {"n": 1, "name": "é"}}).encode()


@pytest.mark.parametrize(
    ("secret", "receiver"),
    [
        (SPEC_SECRET, Webhook(SPEC_SECRET)),  # the specification's form: passed as is
        (TENANT_SECRET, Webhook(TENANT_SECRET.encode())),  # any other: its UTF-8 bytes
        (b"\x00raw-bytes\xff", Webhook(b"\x00raw-bytes\xff")),
    ],
)
def test_our_signature_verifies_with_standardwebhooks(
    secret: str | bytes, receiver: Webhook
) -> None:
    headers = webhook_signing.headers(secret, "export-1:0", BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert receiver.verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        receiver.verify(BODY + b" ", headers)


@pytest.mark.parametrize("secret", [SPEC_SECRET, TENANT_SECRET])
def test_standardwebhooks_signature_verifies_with_ours(secret: str) -> None:
    sender = Webhook(secret if secret.startswith("whsec_") else secret.encode())
    now = datetime.now(tz=UTC)
    headers = {
        "Webhook-Id": "msg_1",  # header names in any case
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": sender.sign("msg_1", now, BODY.decode()),
    }
    assert webhook_signing.verify(secret, BODY, headers)
    # the same signature among others (key rotation sends several), v1a ignored
    headers["Webhook-Signature"] = "v1a,abc v1,AAAA " + headers["Webhook-Signature"]
    assert webhook_signing.verify(secret, BODY, headers)
    assert not webhook_signing.verify(secret, BODY + b"x", headers)
    assert not webhook_signing.verify("another secret", BODY, headers)


def test_verify_refuses_stale_missing_and_hostile_headers() -> None:
    now = int(time.time())
    good = webhook_signing.headers(TENANT_SECRET, "m", BODY, timestamp=now)
    assert webhook_signing.verify(TENANT_SECRET, BODY, good, now=now + 299)
    assert not webhook_signing.verify(TENANT_SECRET, BODY, good, now=now + 301)  # replayed
    assert not webhook_signing.verify(TENANT_SECRET, BODY, good, now=now - 301)
    for name in good:
        assert not webhook_signing.verify(
            TENANT_SECRET, BODY, {k: v for k, v in good.items() if k != name}
        )
    for name, value in [
        ("webhook-signature", "v1,é"),
        ("webhook-signature", "v1,\udcff"),
        # the right time in digits that are not ASCII ones
        ("webhook-timestamp", str(now).translate({ord(d): 0x0660 + int(d) for d in "0123456789"})),
        ("webhook-timestamp", "soon"),
        ("webhook-id", "é"),
    ]:
        assert not webhook_signing.verify(TENANT_SECRET, BODY, {**good, name: value})


def test_signing_key_reads_whsec_like_the_package() -> None:
    assert signing_key(SPEC_SECRET) == b"0123456789abcdef0123456789abcdef"
    unpadded = SPEC_SECRET.rstrip("=")
    assert signing_key(unpadded) == signing_key(SPEC_SECRET)
    assert signing_key(TENANT_SECRET) == TENANT_SECRET.encode()
    # "whsec_" with nothing decodable behind it is an ordinary secret
    assert signing_key("whsec_") == b"whsec_"
    assert signing_key(b"raw") == b"raw"


@pytest.mark.parametrize("given", ["sha256=é", "sha256=\udcff", "ünïcode", b"\xff\xfe", "", None])
def test_constant_time_equal_answers_any_value(given: str | bytes | None) -> None:
    assert constant_time_equal("sha256=abc", given) is False
    assert constant_time_equal("é", "é") and constant_time_equal(b"x", "x")
