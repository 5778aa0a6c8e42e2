"""GET/POST /outfits/, GET/PATCH/DELETE /outfits/{id}: an organization's reusable outfits,
referenced by looks (`outfit_id`); the looks' deprecated inline outfit fields still work
(they create or edit the look's outfit, copying a shared one first)."""

from __future__ import annotations

from typing import Any

from tests.generation_models.support import make_look
from tests.helpers import Api, UserHandle


async def _products(api: Api, user: UserHandle, *names: str) -> list[str]:
    org = user.orgs[0]
    return [(await api.create("/products/", {"name": n}, as_=user, org=org))["id"] for n in names]


def _in(user: UserHandle) -> dict[str, str]:
    return {"organization_id": user.orgs[0]}


async def _outfit(api: Api, user: UserHandle, outfit_id: str) -> dict[str, Any]:
    r = await api.get(f"/outfits/{outfit_id}", as_=user, params=_in(user))
    assert r.status_code == 200, r.text
    return r.json()


async def test_outfit_crud_keeps_product_order(api: Api, user: UserHandle) -> None:
    a, b, c = await _products(api, user, "Shirt", "Belt", "Shoes")
    body = {
        "name": "Summer",
        "product_ids": [b, a],
        "reference_urls": ["https://example.com/ref.jpg"],
        "styling_instruction": "Tuck the shirt in",
    }
    created = await api.create("/outfits/", body, as_=user, org=user.orgs[0])
    assert created["product_ids"] == [b, a] and created["organization_id"] == user.orgs[0]
    assert created["reference_urls"] == ["https://example.com/ref.jpg"]
    r = await api.patch(
        f"/outfits/{created['id']}", as_=user, params=_in(user), json={"product_ids": [c, b, a]}
    )
    assert r.status_code == 200 and r.json()["product_ids"] == [c, b, a], r.text
    assert r.json()["styling_instruction"] == "Tuck the shirt in"  # untouched
    listed = await api.get("/outfits/", as_=user, params={**_in(user), "search": "summ"})
    assert [o["id"] for o in listed.json()["data"]] == [created["id"]]
    r = await api.delete(f"/outfits/{created['id']}", as_=user, params=_in(user))
    assert r.status_code == 204
    r = await api.get(f"/outfits/{created['id']}", as_=user, params=_in(user))
    assert r.status_code == 404


async def test_hostile_outfit_payloads_are_422_naming_the_field(api: Api, user: UserHandle) -> None:
    (a,) = await _products(api, user, "Shirt")
    cases = [
        ({"name": ""}, "name"),
        ({"name": "x", "reference_urls": ["javascript:alert(1)"]}, "reference_urls"),
        ({"name": "x", "reference_urls": ["https://exa mple.com/a.jpg"]}, "reference_urls"),
        ({"name": "x", "reference_urls": ["/relative.jpg"]}, "reference_urls"),
        ({"name": "x", "reference_urls": ["https://e.com/" + "a" * 3000]}, "reference_urls"),
        ({"name": "x", "product_ids": [a, a]}, "product_ids"),
        ({"name": "x", "product_ids": ["not-a-uuid"]}, "product_ids"),
        ({"name": "x", "styling_instruction": "y" * 10_001}, "styling_instruction"),
    ]
    for body, field in cases:
        r = await api.post("/outfits/", as_=user, params=_in(user), json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"][0]["loc"][1] == field, r.text


async def test_outfit_products_must_be_the_scopes_own(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    (foreign,) = await _products(api, other_user, "Theirs")
    r = await api.post(
        "/outfits/", as_=user, params=_in(user), json={"name": "x", "product_ids": [foreign]}
    )
    assert r.status_code == 404 and "Product" in r.json()["detail"]


async def test_a_look_references_an_outfit_and_survives_its_deletion(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    (a,) = await _products(api, user, "Shirt")
    outfit = await api.create(
        "/outfits/", {"name": "Shared", "product_ids": [a]}, as_=user, org=user.orgs[0]
    )
    world = await make_look(api, user, look={"outfit_id": outfit["id"]})
    look = world["look"]
    assert look["outfit_id"] == outfit["id"] and look["outfit_product_ids"] == [a]
    # Another organization's outfit cannot be referenced.
    theirs = await api.create("/outfits/", {"name": "T"}, as_=other_user, org=other_user.orgs[0])
    path = f"/shooting-looks/{look['id']}"
    r = await api.patch(path, as_=user, params=_in(user), json={"outfit_id": theirs["id"]})
    assert r.status_code == 404 and "Outfit" in r.json()["detail"]
    # A deleted product leaves the outfit; a deleted outfit leaves the look (SET NULL).
    assert (await api.delete(f"/products/{a}", as_=user, params=_in(user))).status_code == 204
    assert (await _outfit(api, user, outfit["id"]))["product_ids"] == []
    r = await api.delete(f"/outfits/{outfit['id']}", as_=user, params=_in(user))
    assert r.status_code == 204
    r = await api.get(f"/shooting-looks/{look['id']}", as_=user, params=_in(user))
    assert r.status_code == 200 and r.json()["outfit_id"] is None, r.text


async def test_inline_outfit_fields_create_and_edit_the_looks_outfit(
    api: Api, user: UserHandle
) -> None:
    a, b = await _products(api, user, "Shirt", "Belt")
    world = await make_look(
        api,
        user,
        look={
            "name": "Look A",
            "outfit_product_ids": [b, a],
            "outfit_reference_urls": ["https://example.com/r.jpg"],
            "outfit_instruction": "Sleeves rolled",
        },
    )
    look = world["look"]
    outfit = await _outfit(api, user, look["outfit_id"])
    assert outfit["name"] == "Look A outfit" and outfit["product_ids"] == [b, a]
    assert outfit["styling_instruction"] == "Sleeves rolled"
    assert look["outfit_product_ids"] == [b, a] and look["outfit_instruction"] == "Sleeves rolled"
    r = await api.patch(
        f"/shooting-looks/{look['id']}",
        as_=user,
        params=_in(user),
        json={"outfit_instruction": "Sleeves down"},
    )
    assert r.status_code == 200 and r.json()["outfit_id"] == look["outfit_id"], r.text
    assert (await _outfit(api, user, look["outfit_id"]))["styling_instruction"] == "Sleeves down"
    # Inline fields beside an outfit_id are ambiguous.
    r = await api.patch(
        f"/shooting-looks/{look['id']}",
        as_=user,
        params=_in(user),
        json={"outfit_id": look["outfit_id"], "outfit_product_ids": [a]},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][1] == "outfit_product_ids"
    r = await api.post(
        f"/shootings/{world['shooting']['id']}/looks",
        as_=user,
        params=_in(user),
        json={"outfit_reference_urls": ["ftp://example.com/a.jpg"]},
    )
    assert r.status_code == 422 and r.json()["detail"][0]["loc"][1] == "outfit_reference_urls"


async def test_inline_edit_of_a_shared_outfit_copies_it_first(api: Api, user: UserHandle) -> None:
    (a,) = await _products(api, user, "Shirt")
    shared = await api.create(
        "/outfits/",
        {"name": "Shared", "product_ids": [a], "styling_instruction": "Casual"},
        as_=user,
        org=user.orgs[0],
    )
    first = await make_look(api, user, look={"outfit_id": shared["id"]})
    second = await make_look(api, user, look={"outfit_id": shared["id"]})
    r = await api.patch(
        f"/shooting-looks/{first['look']['id']}",
        as_=user,
        params=_in(user),
        json={"outfit_instruction": "Formal"},
    )
    assert r.status_code == 200, r.text
    copy_id = r.json()["outfit_id"]
    assert copy_id != shared["id"]
    copy = await _outfit(api, user, copy_id)
    assert copy["styling_instruction"] == "Formal" and copy["product_ids"] == [a]
    assert (await _outfit(api, user, shared["id"]))["styling_instruction"] == "Casual"
    r = await api.get(f"/shooting-looks/{second['look']['id']}", as_=user, params=_in(user))
    assert r.json()["outfit_id"] == shared["id"]
