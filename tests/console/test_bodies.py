"""JSON bodies of the conversation routes: each bad field is refused with a 400 that names it, never a 422."""

from __future__ import annotations

from typing import Any

from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import Rep, escalate

LONG = "x" * 4001


async def refused_by_name(person: Rep, cases: list[tuple[str, dict[str, Any], str]]) -> None:
    """Each (path, body, error) posted by `person` is refused with a 400 that says `error`."""
    for path, body, error in cases:
        refused = await person.post(path, body)
        assert (refused.status_code, refused.json()) == (400, {"error": error}), (path, body, refused.text)


async def test_bad_fields_are_refused_with_their_name_and_the_reason(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    _, number = await escalate(services, "v-bodies")
    ticket = f"/console/api/tickets/{number}"
    cases: list[tuple[str, dict[str, Any], str]] = [
        (f"{ticket}/reply", {}, "text is required"),
        (f"{ticket}/reply", {"text": "   "}, "text is required"),
        (f"{ticket}/reply", {"text": 5}, "text must be a string"),
        (f"{ticket}/reply", {"text": LONG}, "text is longer than 4000 characters"),
        (f"{ticket}/note", {"text": None}, "text must be a string"),
        (f"{ticket}/resolve", {"solution": ["a"]}, "solution must be a string"),
        (f"{ticket}/close", {"root_cause": 1}, "root_cause must be a string"),
        (f"{ticket}/close", {"root_cause": "ok", "improvement": LONG}, "improvement is longer than 4000 characters"),
        (f"{ticket}/category", {"category": "c" * 17}, "category is longer than 16 characters"),
        (f"{ticket}/priority", {}, "priority is required"),
        ("/console/api/language", {"language": 3}, "language must be a string"),
    ]
    await refused_by_name(ann, cases)


async def test_a_body_that_is_not_a_json_object_is_refused(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    _, number = await escalate(services, "v-bodies-2")
    path = f"/console/api/tickets/{number}/note"
    headers = {"X-CSRF-Token": ann.csrf}
    plain = await ann.http.post(path, content=b"text=hi", headers={**headers, "content-type": "text/plain"})
    assert (plain.status_code, plain.json()) == (400, {"error": "Content-Type must be application/json"})
    listed = await ann.http.post(path, json=["hi"], headers=headers)
    assert (listed.status_code, listed.json()) == (400, {"error": "body must be a JSON object"})


async def test_only_json_true_forces_a_release(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    supervisor = await signed_in("sam", role="supervisor")
    _, number = await escalate(services, "v-bodies-3")
    await ann.post(f"/console/api/tickets/{number}/claim")
    release = f"/console/api/tickets/{number}/release"
    for not_true in ("true", 1, "yes"):
        assert (await supervisor.post(release, {"force": not_true})).status_code == 409, not_true
    assert (await supervisor.post(release, {"force": True})).status_code == 200


# Every route that reads a JSON body and is for admins only: a bad body is refused (400) only once the role is known.
ADMIN_BODIES = [
    "/console/api/admin/users",
    "/console/api/admin/users/1/password",
    "/console/api/admin/users/1/active",
    "/console/api/admin/clients/1",
    "/console/api/admin/config/sla",
    "/console/api/admin/config/nope",
    "/console/api/admin/departments",
    "/console/api/admin/departments/cs",
    "/console/api/keywords/try",
    "/console/api/keywords/replay",
    "/console/api/keywords/publish",
    "/console/api/keywords/import",
    "/console/api/classifier/models/1/replay",
    "/console/api/classifier/models/1/publish",
]


async def test_a_caller_without_the_role_is_refused_before_the_body_is_read(
    services: Services, signed_in: SignIn
) -> None:
    rep = await signed_in("rob")
    supervisor = await signed_in("sue", role="supervisor")
    admin = await signed_in("ada", role="admin")
    bad = {"limit": "x", "departments": "cs", "active": "no", "tier": 5, "code": "A B", "text": 1, "yaml": 1, "note": 5}
    for path in ADMIN_BODIES:
        for person in (rep, supervisor):
            plain = await person.http.post(
                path, content=b"x=1", headers={"X-CSRF-Token": person.csrf, "content-type": "text/plain"}
            )
            assert (plain.status_code, plain.json()) == (403, {"error": "role"}), (path, plain.text)
            refused = await person.post(path, bad)
            assert (refused.status_code, refused.json()) == (403, {"error": "role"}), (path, refused.text)
        # The same requests from an admin are bad ones: what the others were told first is their role.
        plain = await admin.http.post(
            path, content=b"x=1", headers={"X-CSRF-Token": admin.csrf, "content-type": "text/plain"}
        )
        assert plain.status_code == 400, (path, plain.text)
        assert (await admin.post(path, bad)).status_code == 400, path


async def test_admin_bodies_refuse_each_bad_field_by_name(services: Services, signed_in: SignIn) -> None:
    admin = await signed_in("ada", role="admin")
    tiers = ", ".join(services.policies.tiers)
    known = ", ".join(("routing", "sla", "business_hours", "canned_replies", "texts", "acts"))
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/console/api/admin/users", {"departments": "cs"}, "departments must be a list of department codes"),
        ("/console/api/admin/users", {"departments": None}, "departments must be a list of department codes"),
        ("/console/api/admin/users", {"name": 5}, "username is required"),
        ("/console/api/admin/users", {"username": "bo", "name": 5}, "name must be a string"),
        ("/console/api/admin/users", {"username": "bo", "name": "Bo", "role": "rep"}, "password is required"),
        ("/console/api/admin/users/1/password", {"password": "p" * 257}, "password is longer than 256 characters"),
        ("/console/api/admin/users/1/active", {}, "active must be true or false"),
        ("/console/api/admin/users/1/active", {"active": "true"}, "active must be true or false"),
        ("/console/api/admin/clients/1", {"tier": "Z", "name": 5}, f"tier must be one of {tiers}"),
        ("/console/api/admin/clients/1", {"tier": "", "name": 5}, "tier is required"),
        ("/console/api/admin/clients/1", {"tier": "a", "company": 5}, "company must be a string"),
        ("/console/api/admin/clients/1", {"tier": "a", "phone": "12"}, "phone is not a mobile or landline number"),
        ("/console/api/admin/config/nope", {"revision": "x"}, f"no setting 'nope'; known: {known}"),
        ("/console/api/admin/config/sla", {"body": {}}, "revision (the one the page was loaded with) is required"),
        (
            "/console/api/admin/config/sla",
            {"revision": True},
            "revision (the one the page was loaded with) is required",
        ),
        ("/console/api/admin/config/sla", {"revision": 0, "body": []}, "sla: the document must be a JSON object"),
        (
            "/console/api/admin/departments",
            {"code": "A B", "name": 5},
            "code must be lower-case letters, digits, '-' or '_'",
        ),
        ("/console/api/admin/departments", {"code": "ok", "name": 5}, "name must be a string"),
        (
            "/console/api/admin/departments",
            {"code": "ok", "name": "OK", "head_user_id": "1"},
            "head_user_id must be a user id or null",
        ),
        ("/console/api/admin/departments/cs", {}, "name is required"),
        (
            "/console/api/admin/departments/cs",
            {"name": "CS", "head_user_id": True},
            "head_user_id must be a user id or null",
        ),
        ("/console/api/keywords/try", {}, "text is required"),
        ("/console/api/keywords/replay", {"limit": "x"}, "limit must be a whole number"),
        ("/console/api/keywords/replay", {"limit": 0}, "limit must lie between 1 and 10000"),
        ("/console/api/keywords/publish", {"note": 5}, "note must be a string"),
        ("/console/api/keywords/import", {"note": 5}, "yaml is required"),
        ("/console/api/classifier/models/1/replay", {"limit": True}, "limit must be a whole number"),
        (
            "/console/api/classifier/models/1/replay",
            {"threshold": 2},
            "threshold must be a number above 0 and at most 1",
        ),
        ("/console/api/classifier/models/1/publish", {"note": "n" * 501}, "note is longer than 500 characters"),
        (
            "/console/api/classifier/models/1/publish",
            {"threshold": "high"},
            "threshold must be a number above 0 and at most 1",
        ),
    ]
    await refused_by_name(admin, cases)


async def test_rep_bodies_refuse_each_bad_field_by_name(services: Services, signed_in: SignIn) -> None:
    ann = await signed_in("ann")
    _, number = await escalate(services, "v-bodies-4")
    ticket = f"/console/api/tickets/{number}"
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/console/api/account/password", {}, "current is required"),
        ("/console/api/account/password", {"current": "x", "new": 5}, "new must be a string"),
        (f"/console/api/phone/tickets/{number}/satisfaction", {}, "score must be a whole number from 1 to 5"),
        (
            f"/console/api/phone/tickets/{number}/satisfaction",
            {"score": True},
            "score must be a whole number from 1 to 5",
        ),
        (f"/console/api/phone/tickets/{number}/satisfaction", {"score": 6}, "score must be a whole number from 1 to 5"),
        (f"{ticket}/transfer", {"department_code": 1}, "department_code must be a string"),
        (f"{ticket}/transfer", {"to_user_id": "2"}, "to_user_id must be a user id"),
        (f"{ticket}/transfer", {"to_user_id": 2**64}, "to_user_id must be a user id"),
        (f"{ticket}/transfer", {}, "transfer to either a department or a rep"),
        (f"{ticket}/transfer", {"department_code": "cs", "to_user_id": 2}, "transfer to either a department or a rep"),
    ]
    await refused_by_name(ann, cases)
