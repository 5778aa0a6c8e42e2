"""Payload validation names the field; pagination is bounded."""

from __future__ import annotations

import pytest

from tests.helpers import Api, UserHandle


async def test_validation_error_names_the_field(api: Api, user: UserHandle) -> None:
    r = await api.post("/products/", as_=user, json={"sku": "no-name"})
    assert r.status_code == 422
    assert any(err["loc"][-1] == "name" for err in r.json()["detail"])


async def test_validation_error_on_a_too_long_field(api: Api, user: UserHandle) -> None:
    r = await api.post("/products/", as_=user, json={"name": "x" * 300})
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "name"]


async def test_malformed_id_is_422(api: Api, user: UserHandle) -> None:
    r = await api.get("/products/not-a-uuid", as_=user)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["path", "product_id"]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"skip": -1}, "skip")],
)
async def test_pagination_bounds(api: Api, user: UserHandle, params: dict, field: str) -> None:
    r = await api.get("/products/", as_=user, params=params)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["query", field]


async def test_pagination_pages_through_everything(api: Api, user: UserHandle) -> None:
    for i in range(5):
        await api.create("/products/", {"name": f"P{i}"}, as_=user)
    seen: list[str] = []
    for skip in range(0, 6, 2):
        page = (await api.get("/products/", as_=user, params={"skip": skip, "limit": 2})).json()
        assert page["count"] == 5
        seen += [p["id"] for p in page["data"]]
    assert len(seen) == len(set(seen)) == 5


async def test_limit_of_500_is_allowed(api: Api, user: UserHandle) -> None:
    assert (await api.get("/products/", as_=user, params={"limit": 500})).status_code == 200


async def test_unknown_organization_id_is_404(api: Api, user: UserHandle) -> None:
    r = await api.get(
        "/products/", as_=user, params={"organization_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert r.status_code == 404


# Found by the schemathesis fuzz (tests/chaos/test_api_fuzz.py): Postgres cannot store a NUL
# character in text or JSONB, and the database error used to surface as a 500.
@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("POST", "/products/", {"json": {"name": "shirt\u0000"}}),  # a text column
        ("POST", "/products/", {"json": {"name": "Shirt", "tags": ["a\u0000b"]}}),  # JSONB
        ("POST", "/shootings/", {"json": {"name": "\u0000"}}),
        ("GET", "/products/", {"params": {"search": "\u0000"}}),  # a query parameter
    ],
)
async def test_nul_characters_are_a_422_and_nothing_is_written(
    api: Api, user: UserHandle, method: str, path: str, kwargs: dict
) -> None:
    before = (await api.get("/products/", as_=user)).json()["count"]
    r = await api.request(method, path, as_=user, **kwargs)
    assert r.status_code == 422, r.text
    assert "NUL" in r.json()["detail"]
    assert (await api.get("/products/", as_=user)).json()["count"] == before
