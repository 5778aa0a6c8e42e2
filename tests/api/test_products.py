"""Products: CRUD, SKU uniqueness per scope, filters, tenancy."""

from __future__ import annotations

from tests.helpers import Api, UserHandle


async def test_create_and_read_product_in_organization(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    created = await api.create(
        "/products/", {"name": "Linen shirt", "sku": "LS-1"}, as_=user, org=org
    )
    assert created["organization_id"] == org and created["owner_id"] == user.id

    r = await api.get(f"/products/{created['id']}", as_=user, params={"organization_id": org})
    assert r.status_code == 200 and r.json()["sku"] == "LS-1"


async def test_product_of_organization_is_not_a_personal_product(
    api: Api, user: UserHandle
) -> None:
    created = await api.create("/products/", {"name": "Coat"}, as_=user, org=user.orgs[0])
    r = await api.get(f"/products/{created['id']}", as_=user)
    assert r.status_code == 404


async def test_duplicate_sku_in_same_scope_conflicts(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    await api.create("/products/", {"name": "A", "sku": "DUP"}, as_=user, org=org)
    r = await api.post(
        "/products/", as_=user, params={"organization_id": org}, json={"name": "B", "sku": "DUP"}
    )
    assert r.status_code == 409
    assert "DUP" in r.json()["detail"]
    # the same SKU is free in another scope (personal)
    await api.create("/products/", {"name": "C", "sku": "DUP"}, as_=user)


async def test_list_products_filters_and_counts(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    for i in range(3):
        await api.create(
            "/products/", {"name": f"Jeans {i}", "product_type": "jeans"}, as_=user, org=org
        )
    await api.create(
        "/products/", {"name": "Sneaker", "product_type": "sneakers"}, as_=user, org=org
    )
    r = await api.get(
        "/products/", as_=user, params={"organization_id": org, "product_type": "jeans", "limit": 2}
    )
    body = r.json()
    assert body["count"] == 3 and len(body["data"]) == 2


async def test_update_and_delete_product(api: Api, user: UserHandle) -> None:
    created = await api.create("/products/", {"name": "Old"}, as_=user)
    r = await api.patch(f"/products/{created['id']}", as_=user, json={"name": "New"})
    assert r.status_code == 200 and r.json()["name"] == "New"
    assert (await api.delete(f"/products/{created['id']}", as_=user)).status_code == 204
    assert (await api.get(f"/products/{created['id']}", as_=user)).status_code == 404
