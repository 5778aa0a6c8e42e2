"""The outbound guard: no server-side request reaches an address a tenant may not reach.

Attacks through the public API (export webhook targets, bulk-upload image URLs), and the
guard's own promises (pinning, redirect hops, proxy variables, size and time bounds).
"""

from __future__ import annotations

import asyncio
import io
import time
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.export import ExportActivities
from activities.generation_outputs import OutputReader
from core import outbound
from core.config import Settings
from core.outbound import AllowList, AsyncOutboundClient, Limits, OutboundClient, OutboundError
from core.storage import ObjectStore
from models.jobs import Export, ExportTarget
from services import export_plan
from services.export_plan import PlannedImage
from tests.helpers import Api, UserHandle
from tests.security.receivers import serve
from workflows.export_types import DeliverInput
from workflows.types import OutputImage

# Every form of "not the public internet" an attacker would try, as URL hosts. Each resolves
# (getaddrinfo takes the decimal and hex IPv4 forms too) to an address the guard refuses.
NON_PUBLIC_HOSTS = [
    "127.0.0.2",  # loopback (127.0.0.1 itself is allow-listed for the tests' receivers)
    "2130706434",  # 127.0.0.2 as one decimal number
    "0x7f000002",  # 127.0.0.2 in hex
    "10.0.0.1",
    "172.16.5.4",
    "192.168.0.1",
    "100.64.0.1",  # carrier-grade NAT
    "169.254.169.254",  # cloud metadata
    "0.0.0.0",
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "[::1]",
    "[fe80::1]",
    "[fc00::1]",
    "[ff02::1]",  # multicast
    "[::ffff:127.0.0.2]",  # IPv4-mapped
    "[::ffff:0:7f00:2]",  # IPv4-translated
    "[::7f00:2]",  # IPv4-compatible
    "[64:ff9b::7f00:2]",  # NAT64
    "[64:ff9b:1::a00:1]",  # local-use NAT64
    "[2002:7f00:2::]",  # 6to4 of 127.0.0.2
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
]


async def _shooting(api: Api, user: UserHandle) -> str:
    org = user.orgs[0]
    return (await api.create("/shootings/", {"name": "S"}, as_=user, org=org))["id"]


async def _export_count(api: Api, user: UserHandle) -> int:
    r = await api.get("/exports/", as_=user, params={"organization_id": user.orgs[0]})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def _webhook_export(shooting_id: str, url: str) -> dict[str, Any]:
    return {
        "shooting_id": shooting_id,
        "target": "webhook",
        "webhook_url": url,
        "webhook_secret": "s3cret-s3cret",
    }


@pytest.mark.parametrize("host", NON_PUBLIC_HOSTS)
async def test_export_webhook_to_a_non_public_address_is_refused_at_creation(
    api: Api, user: UserHandle, host: str
) -> None:
    shooting_id = await _shooting(api, user)
    before = await _export_count(api, user)
    r = await api.post(
        "/exports/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        json=_webhook_export(shooting_id, f"http://{host}:9/hook"),
    )
    assert r.status_code == 422, r.text
    assert any("webhook_url" in e["loc"] for e in r.json()["detail"]), r.text
    assert await _export_count(api, user) == before  # nothing written


async def test_export_webhook_to_a_loopback_receiver_never_reaches_it(
    api: Api, user: UserHandle
) -> None:
    """Before the guard the export was accepted and the worker POSTed to the receiver."""
    shooting_id = await _shooting(api, user)
    with serve("127.0.0.2") as receiver:
        r = await api.post(
            "/exports/",
            as_=user,
            params={"organization_id": user.orgs[0]},
            json=_webhook_export(shooting_id, f"{receiver.url}/hook"),
        )
        assert r.status_code == 422, r.text
        assert "non-public address" in r.text
        await asyncio.sleep(0.5)
        assert receiver.hits == 0


async def test_export_webhook_host_that_does_not_resolve_is_refused(
    api: Api, user: UserHandle
) -> None:
    shooting_id = await _shooting(api, user)
    r = await api.post(
        "/exports/",
        as_=user,
        params={"organization_id": user.orgs[0]},
        json=_webhook_export(shooting_id, "https://no-such-host.invalid/hook"),
    )
    assert r.status_code == 422 and "could not be resolved" in r.text


def test_a_redirect_to_a_non_public_address_is_refused_at_that_hop() -> None:
    with serve("127.0.0.2") as inner:

        def redirect(_method: str, _path: str) -> tuple[int, dict[str, str], list[bytes | float]]:
            return 302, {"Location": f"{inner.url}/secret", "Content-Length": "0"}, []

        with serve("127.0.0.1", redirect) as outer:
            client = OutboundClient(AllowList.parse("127.0.0.1"), user_agent="t")
            with pytest.raises(OutboundError) as caught:
                client.request("GET", f"{outer.url}/start")
            assert caught.value.kind == "refused"
            assert outer.hits == 1 and inner.hits == 0


def test_proxy_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy from the environment would carry the request past the address check."""
    with serve("127.0.0.1") as target, serve("127.0.0.1") as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = OutboundClient(AllowList.parse("127.0.0.1"), user_agent="t")
        assert client.request("GET", f"{target.url}/x").content == b"png"
        assert target.hits == 1 and proxy.hits == 0


def test_a_chunked_body_is_cut_at_the_byte_cap() -> None:
    def endless(_m: str, _p: str) -> tuple[int, dict[str, str], list[bytes | float]]:
        return 200, {"Content-Type": "image/png"}, [b"x" * 65536] * 64  # 4 MiB, no length

    with serve("127.0.0.1", endless) as server:
        client = OutboundClient(AllowList.parse("127.0.0.1"), user_agent="t")
        with pytest.raises(OutboundError) as caught:
            client.request("GET", server.url, limits=Limits(max_bytes=256 * 1024))
        assert caught.value.kind == "too_large" and not caught.value.transient


def test_a_dripping_body_is_cut_at_the_deadline() -> None:
    def drip(_m: str, _p: str) -> tuple[int, dict[str, str], list[bytes | float]]:
        return 200, {"Content-Type": "image/png"}, [item for _ in range(40) for item in (b"x", 0.1)]

    with serve("127.0.0.1", drip) as server:
        client = OutboundClient(AllowList.parse("127.0.0.1"), user_agent="t")
        started = time.monotonic()
        with pytest.raises(OutboundError) as caught:
            client.request("GET", server.url, limits=Limits(total_seconds=1.0, read_seconds=1.0))
        assert caught.value.kind == "timeout"
        assert time.monotonic() - started < 3.0  # 40 drips would take 4 s


@pytest.mark.parametrize("form", ["sync", "async"])
async def test_the_connection_goes_to_the_checked_address_with_the_original_name(
    form: str,
) -> None:
    """The URL is rewritten to the address that was checked (no second lookup a rebinding
    DNS server could answer differently); Host and the TLS name stay the original host."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"ok")

    allow = AllowList.parse("localhost")
    if form == "sync":
        OutboundClient(allow, user_agent="t", transport=httpx.MockTransport(handler)).request(
            "GET", "https://localhost:8443/a?b=1"
        )
    else:
        client = AsyncOutboundClient(allow, user_agent="t", transport=httpx.MockTransport(handler))
        await client.request("GET", "https://localhost:8443/a?b=1")
    (request,) = seen
    assert request.url.host in ("127.0.0.1", "::1") and request.url.port == 8443
    assert request.url.path == "/a" and request.url.query == b"b=1"
    assert request.headers["host"] == "localhost:8443"
    assert request.extensions["sni_hostname"] == "localhost"


async def test_the_async_form_refuses_like_the_sync_one() -> None:
    client = AsyncOutboundClient(outbound.STRICT, user_agent="t")
    for host in ("127.0.0.1", "[64:ff9b::a00:1]", "169.254.169.254"):
        with pytest.raises(OutboundError) as caught:
            await client.request("GET", f"http://{host}/")
        assert caught.value.kind == "refused"
    await client.aclose()


def test_the_old_allow_list_setting_is_still_read() -> None:
    class Old:
        OUTBOUND_ALLOWED_HOSTS = ""
        BULK_UPLOAD_ALLOWED_HOSTS = "10.1.0.0/16, images.internal"

    allow = outbound.allow_list(Old())
    assert allow.allows("x", outbound.checked_address("10.1.2.3", 80, allow))
    assert "images.internal" in allow.hosts


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "file:///etc/passwd", "http://user:pw@example.com/", "//x"]
)
def test_only_plain_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(OutboundError) as caught:
        outbound.check_url(url, outbound.STRICT)
    assert caught.value.kind == "invalid"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_webhook_delivery_checks_the_stored_target_again(
    app: FastAPI, settings: Settings, user: UserHandle
) -> None:
    """A target stored before the guard (or one whose DNS now answers a private address)
    is refused at delivery, non-retryably, and nothing reaches it."""
    store: ObjectStore = app.state.store
    export_id = uuid.uuid4()
    image_key = f"media/{uuid.uuid4()}/file.png"
    store.put(image_key, _png(), content_type="image/png")
    item = PlannedImage(
        media_id=str(uuid.uuid4()),
        storage_key=image_key,
        file_name="a.png",
        shot_id=str(uuid.uuid4()),
        look="l",
        shot_type="t",
        sku="s",
        source_bytes=10,
    )
    plan = export_plan.plan_key(export_id)
    store.put(plan, export_plan.dumps([item]), content_type="application/json")
    with serve("127.0.0.2") as receiver:
        async with app.state.sessionmaker() as session:
            session.add(
                Export(
                    id=export_id,
                    owner_id=uuid.UUID(user.id),
                    shot_ids=[],
                    target=ExportTarget.WEBHOOK,
                    webhook_url=f"{receiver.url}/hook",
                    webhook_secret="s3cret-s3cret",
                )
            )
            await session.commit()
        activities = ExportActivities(
            settings=settings,
            sessionmaker=app.state.sessionmaker,
            redis=app.state.redis,
            store=store,
        )
        data = DeliverInput(str(export_id), plan, 0, 1, "original", None)
        with pytest.raises(ApplicationError) as caught:
            await asyncio.to_thread(ActivityEnvironment().run, activities.deliver, data)
        assert caught.value.non_retryable and "non-public address" in caught.value.message
        assert receiver.hits == 0


def test_compute_outputs_are_read_from_the_bucket_by_key(app: FastAPI) -> None:
    """The result's URL is never fetched when it names a key (compute_sim's URLs point at
    loopback); a key outside compute/ or a missing object fails for good."""
    store: ObjectStore = app.state.store
    key = f"compute/{uuid.uuid4()}/0.png"
    store.put(key, _png(), content_type="image/png")
    reader = OutputReader(store, outbound.STRICT)
    with serve("127.0.0.2") as trap:
        assert reader.read(OutputImage(url=f"{trap.url}/x", key=key)) == _png()
        for bad in (
            f"media/{uuid.uuid4()}/file.png",
            "compute/../media/x",
            f"compute/{uuid.uuid4()}",
        ):
            with pytest.raises(ApplicationError) as caught:
                reader.read(OutputImage(url=f"{trap.url}/x", key=bad))
            assert caught.value.non_retryable
        # without a key, the URL goes through the guard: loopback is refused, for good
        with pytest.raises(ApplicationError) as caught:
            reader.read(OutputImage(url=f"{trap.url}/x"))
        assert caught.value.non_retryable and "non-public" in caught.value.message
        assert trap.hits == 0
