"""`sartiq demo`: fill a running stack with a small, lively demo through the public API."""

from __future__ import annotations

import io
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx
from PIL import Image, ImageDraw

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"
ORG_NAME = "Demo Brand"


def _image(color: tuple[int, int, int], label: str) -> bytes:
    image = Image.new("RGB", (480, 640), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((140, 160, 340, 560), fill=tuple(255 - c for c in color))
    draw.text((20, 20), label, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


class Demo:
    def __init__(self, api_url: str, say: Callable[[str], None] = print) -> None:
        self.http = httpx.Client(base_url=api_url.rstrip("/") + "/api/v1", timeout=30)
        self.api_url = api_url.rstrip("/")
        self.say = say
        self.org: str = ""

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        params = kwargs.pop("params", {})
        if self.org:
            params.setdefault("organization_id", self.org)
        response = self.http.request(method, path, params=params, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def login(self) -> None:
        self.http.post("/users/signup", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD})
        token = self.http.post(
            "/login/access-token", data={"username": DEMO_EMAIL, "password": DEMO_PASSWORD}
        )
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        orgs = self.call("GET", "/organizations/")["data"]
        existing = next((o for o in orgs if o["name"] == ORG_NAME), None)
        org = existing or self.call("POST", "/organizations/", json={"name": ORG_NAME})
        self.org = org["id"]
        self.say(f"logged in as {DEMO_EMAIL} / {DEMO_PASSWORD}, organization {ORG_NAME}")

    def upload(self, data: bytes, name: str) -> str:
        presigned = self.call(
            "POST",
            "/uploads/presigned-url",
            json={"filename": name, "content_type": "image/jpeg", "size": len(data)},
        )
        httpx.put(presigned["upload_url"], content=data, headers=presigned["headers"], timeout=30)
        return presigned["key"]

    def catalog(self) -> dict[str, Any]:
        stamp = str(int(time.time()))
        products = []
        for i, (name, color) in enumerate(
            [("Linen shirt", (40, 90, 160)), ("Silk dress", (170, 40, 60)), ("Denim", (30, 50, 90))]
        ):
            key = self.upload(_image(color, name), f"{name}.jpg")
            products.append(
                self.call(
                    "POST",
                    "/products/",
                    json={
                        "name": name,
                        "sku": f"DEMO-{stamp}-{i}",
                        "product_type": "apparel",
                        "images": [{"slot": "cover_image", "key": key}],
                    },
                )
            )
        subject = self.call("POST", "/subjects/", json={"name": "Ava", "gender": "Female"})
        style = self.call("POST", "/styles/", json={"name": "Editorial", "prompt": "soft light"})
        shot_types = [
            self.call(
                "POST", "/shot-types/", json={"name": n, "framing": "Full Body", "view_angle": a}
            )
            for n, a in (("Front full body", "Front"), ("Back full body", "Back"))
        ]
        self.say(f"catalog: {len(products)} products with images, a subject, a style, 2 shot types")
        return {"products": products, "subject": subject, "style": style, "shot_types": shot_types}

    def shooting(self, catalog: dict[str, Any]) -> dict[str, Any]:
        shooting = self.call(
            "POST", "/shootings/", json={"name": f"Demo SS27 {time.strftime('%H:%M')}"}
        )
        shots = []
        for product in catalog["products"][:2]:
            look = self.call(
                "POST",
                f"/shootings/{shooting['id']}/looks",
                json={
                    "main_product_id": product["id"],
                    "subject_id": catalog["subject"]["id"],
                    "style_id": catalog["style"]["id"],
                    "shot_type_ids": [t["id"] for t in catalog["shot_types"]],
                    "width": 512,
                    "height": 640,
                },
            )
            shots += look["shot_ids"]
        self.say(f"shooting {shooting['name']}: 2 looks, {len(shots)} shots")
        return {"shooting": shooting, "shots": shots}

    def wait(self, generation_id: str, statuses: set[str], within: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            generation = self.call("GET", f"/generations/{generation_id}")
            if generation["status"] in statuses or time.monotonic() > deadline:
                return generation
            time.sleep(0.3)

    def generations(self, shots: list[str]) -> list[dict[str, Any]]:
        plans = [
            ("base", {"batch_size": 2}),
            ("agentic", {"generation_type": "AGENTIC", "config": {"sim": {"scores": [0.4, 0.85]}}}),
            ("failing", {"config": {"sim": {"fail": "the provider refused the prompt"}}}),
            ("cancelled", {"config": {"sim": {"stuck": True}}}),
        ]
        started = []
        for (kind, body), shot in zip(plans, shots, strict=False):
            generation = self.call("POST", f"/shots/{shot}/generate", json=body)
            started.append((kind, generation))
        for kind, generation in started:
            if kind == "cancelled":
                self.wait(generation["id"], {"processing"}, within=30)
                self.call("POST", f"/generations/{generation['id']}/cancel")
        results = []
        for kind, generation in started:
            done = self.wait(generation["id"], {"completed", "failed", "cancelled"})
            self.say(f"generation {kind:<9} → {done['status']}  {done['temporal_ui_url']}")
            results.append(done)
        return results

    def export_and_bulk(self, shooting: dict[str, Any], shot: str) -> None:
        self.call("POST", f"/shots/{shot}/approve", json={})
        export = self.call("POST", "/exports/", json={"shooting_id": shooting["id"]})
        deadline = time.monotonic() + 60
        while (
            export["status"] not in ("completed", "failed", "cancelled")
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
            export = self.call("GET", f"/exports/{export['id']}")
        self.say(f"export → {export['status']}  {export.get('download_url') or ''}")
        csv = "sku,name,product_family,product_type\n" + "".join(
            f"BULK-{int(time.time())}-{i},Bulk item {i},apparel,tee\n" for i in range(5)
        )
        upload = self.call(
            "POST", "/bulk-uploads/", files={"file": ("demo.csv", csv.encode(), "text/csv")}
        )
        while (
            upload["status"] not in ("completed", "failed", "cancelled")
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
            upload = self.call("GET", f"/bulk-uploads/{upload['id']}")
        self.say(f"bulk upload → {upload['status']}, {upload['created_count']} products created")

    def run(self, temporal_ui_url: str | None) -> list[dict[str, Any]]:
        self.login()
        world = self.shooting(self.catalog())
        results = self.generations(world["shots"])
        self.export_and_bulk(world["shooting"], world["shots"][0])
        query = urllib.parse.quote(f'OrganizationId="{self.org}"')
        if temporal_ui_url:
            self.say(f"Temporal UI: {temporal_ui_url}/namespaces/default/workflows?query={query}")
        self.say(f"Live page:   {self.api_url}/app/  (log in as {DEMO_EMAIL} / {DEMO_PASSWORD})")
        return results
