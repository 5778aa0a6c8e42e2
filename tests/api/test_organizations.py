"""Organizations, memberships and roles."""

from __future__ import annotations

from tests.helpers import Api, UserHandle


async def _add(api: Api, owner: UserHandle, org: str, member: UserHandle, role: str) -> None:
    await api.add_member(org, owner, member, role)  # an invitation, accepted by the member


async def test_creator_becomes_owner(api: Api, user: UserHandle) -> None:
    r = await api.get(f"/organizations/{user.orgs[0]}", as_=user)
    assert r.status_code == 200 and r.json()["role"] == "owner"
    listed = await api.get("/organizations/", as_=user)
    assert [o["id"] for o in listed.json()["data"]] == user.orgs


async def test_non_member_gets_404(api: Api, user: UserHandle, other_user: UserHandle) -> None:
    assert (await api.get(f"/organizations/{user.orgs[0]}", as_=other_user)).status_code == 404
    listed = await api.get("/organizations/", as_=other_user)
    assert user.orgs[0] not in [o["id"] for o in listed.json()["data"]]


async def test_member_sees_the_organization_resources(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    product = await api.create("/products/", {"name": "Shared"}, as_=user, org=org)
    await _add(api, user, org, other_user, "member")
    r = await api.get(f"/products/{product['id']}", as_=other_user, params={"organization_id": org})
    assert r.status_code == 200


async def test_member_cannot_manage_members(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    third = await api.new_user(with_org=False)
    await _add(api, user, org, other_user, "member")
    r = await api.post(f"/organizations/{org}/members", as_=other_user, json={"email": third.email})
    assert r.status_code == 403


async def test_admin_adds_members_but_cannot_grant_owner(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    third = await api.new_user(with_org=False)
    await _add(api, user, org, other_user, "admin")
    denied = await api.post(
        f"/organizations/{org}/members",
        as_=other_user,
        json={"email": third.email, "role": "owner"},
    )
    assert denied.status_code == 403
    await _add(api, other_user, org, third, "member")
    members = (await api.get(f"/organizations/{org}/members", as_=user)).json()
    assert members["count"] == 3


async def test_change_role_and_remove_member(
    api: Api, user: UserHandle, other_user: UserHandle
) -> None:
    org = user.orgs[0]
    await _add(api, user, org, other_user, "member")
    r = await api.patch(
        f"/organizations/{org}/members/{other_user.id}", as_=user, json={"role": "admin"}
    )
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert (
        await api.delete(f"/organizations/{org}/members/{other_user.id}", as_=user)
    ).status_code == 204
    assert (await api.get(f"/organizations/{org}", as_=other_user)).status_code == 404


async def test_last_owner_cannot_leave_or_be_demoted(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    leave = await api.delete(f"/organizations/{org}/members/{user.id}", as_=user)
    assert leave.status_code == 400
    demote = await api.patch(
        f"/organizations/{org}/members/{user.id}", as_=user, json={"role": "member"}
    )
    assert demote.status_code == 400


async def test_owner_deletes_organization(api: Api, user: UserHandle) -> None:
    org = user.orgs[0]
    await api.create("/products/", {"name": "Gone"}, as_=user, org=org)
    assert (await api.delete(f"/organizations/{org}", as_=user)).status_code == 204
    assert (await api.get(f"/organizations/{org}", as_=user)).status_code == 404
    r = await api.get("/products/", as_=user, params={"organization_id": org})
    assert r.status_code == 404


async def test_superuser_sees_every_organization(
    api: Api, user: UserHandle, superuser: UserHandle
) -> None:
    r = await api.get(f"/organizations/{user.orgs[0]}", as_=superuser)
    assert r.status_code == 200 and r.json()["role"] is None
