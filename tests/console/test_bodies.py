"""JSON bodies of the conversation routes: each bad field is refused with a 400 that names it, never a 422."""

from __future__ import annotations

from typing import Any

from handlers.services import Services
from tests.console.conftest import SignIn
from tests.console.helpers import escalate

LONG = "x" * 4001


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
    for path, body, error in cases:
        refused = await ann.post(path, body)
        assert (refused.status_code, refused.json()) == (400, {"error": error}), (path, body, refused.text)


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
