"""The admins' keyword rules page: the draft, trying a sentence, replay, publish, versions, learning, YAML files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from bots.common import PageNumber, PathId
from core.dialogue.classifier import KeywordClassifier
from core.errors import InvalidInput
from core.keywords import draft, replay, suggestions, versions
from core.keywords.spec import RuleErrors, RuleSpec
from core.keywords.yaml_io import dump_yaml, parse_yaml
from core.masking import mask_text
from handlers.console.access import require_role
from handlers.console.auth import Principal
from handlers.console.bodies import Body, Flag, checked, parsed, trimmed
from handlers.console.dependencies import AdminPrincipal, CurrentPrincipal
from handlers.console.web import json_body, page, text_field
from handlers.services import Services

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from handlers.console.console import Console

API = "/api/keywords"


def whole_number(value: Any, name: str, default: int, low: int, high: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{name} must be a whole number")
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number") from None
    if not low <= number <= high:
        raise InvalidInput(f"{name} must lie between {low} and {high}")
    return number


def _rule_errors(exc: RuleErrors) -> JSONResponse:
    return JSONResponse({"error": "invalid_rules", "errors": exc.errors}, status_code=400)


def message_limit(services: Services) -> dict[str, Any]:
    return {"max_message_chars": services.settings.max_message_chars}


class Sentence(Body):
    text: Annotated[str, trimmed("max_message_chars")] = ""


class Replay(Body):
    limit: Annotated[
        int, checked(lambda value, name: whole_number(value, name, replay.DEFAULT_LIMIT, 1, replay.MAX_LIMIT))
    ] = replay.DEFAULT_LIMIT


class Publish(Body):
    note: Annotated[str, trimmed(500, required=False)] = ""


class Import(Body):
    yaml: Annotated[str, trimmed(2_000_000)] = ""
    publish: Flag = False
    # Read only when publishing, after the YAML (see import_rules).
    note: Any = ""


def keywords_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services
    threshold = services.settings.dialogue.classifier_threshold

    def admin(principal: Principal) -> None:
        require_role(principal, "admin")

    async def draft_classifier(session: AsyncSession) -> KeywordClassifier:
        return versions.classifier_for(await draft.draft_specs(session), threshold, model=services.text_model)

    @router.get("/keywords", include_in_schema=False)
    async def keywords_page(request: Request, principal: CurrentPrincipal) -> HTMLResponse:
        admin(principal)
        return page(request, "keywords.html")

    @router.get(f"{API}/rules")
    async def rules(
        principal: CurrentPrincipal, q: str = "", category: str = "", offset: PageNumber = 0
    ) -> JSONResponse:
        admin(principal)
        async with services.db.transaction() as session:
            total, rows = await draft.list_rules(
                session, search=q[:200], category=category or None, offset=max(0, offset)
            )
            number, live = await versions.rules_in_force(session)
            pending = versions.compare(live, await draft.draft_specs(session))
        return JSONResponse(
            {
                "total": total,
                "rules": [draft.row_json(r) for r in rows],
                "in_force": number,
                "unpublished": {name: len(items) for name, items in pending.items()},
            }
        )

    @router.post(f"{API}/rules")
    async def add_rule(request: Request, principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        data = await json_body(request)
        async with services.db.transaction() as session:
            row = await draft.add_rule(session, data, user_id=principal.user_id, now=services.clock.now())
            return JSONResponse(draft.row_json(row), status_code=201)

    @router.post(f"{API}/rules/{{rule_id}}")
    async def edit_rule(rule_id: PathId, request: Request, principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        data = await json_body(request)
        async with services.db.transaction() as session:
            row = await draft.update_rule(session, rule_id, data, user_id=principal.user_id, now=services.clock.now())
            return JSONResponse(draft.row_json(row))

    @router.post(f"{API}/try")
    async def try_sentence(
        principal: AdminPrincipal, body: Annotated[Sentence, Depends(parsed(Sentence, context=message_limit))]
    ) -> JSONResponse:
        text = body.text
        async with services.db.transaction() as session:
            candidate = await draft_classifier(session)
        live = services.classifier.current
        return JSONResponse(
            {
                "text": text,
                "draft": replay.verdict_json(candidate.classify(text)),
                "live": {**replay.verdict_json(live.classify(text)), "version": live.version},
            }
        )

    @router.post(f"{API}/replay")
    async def run_replay(principal: AdminPrincipal, body: Annotated[Replay, Depends(parsed(Replay))]) -> JSONResponse:
        limit = body.limit
        async with services.db.transaction() as session:
            candidate = await draft_classifier(session)
            messages = await replay.recent_classified(session, limit)
        return JSONResponse(replay.replay(messages, services.classifier.current, candidate))

    @router.post(f"{API}/publish")
    async def publish(principal: AdminPrincipal, body: Annotated[Publish, Depends(parsed(Publish))]) -> JSONResponse:
        note = body.note
        async with services.db.transaction() as session:
            version = await versions.publish(session, note=note, user_id=principal.user_id, now=services.clock.now())
            number = version.number
        # This process need not wait for its next config poll; the others pick it up within theirs.
        await services.config.check()
        return JSONResponse({"version": number}, status_code=201)

    @router.get(f"{API}/versions")
    async def list_versions(principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        async with services.db.transaction() as session:
            number = await versions.number_in_force(session)
            rows = await versions.list_versions(session)
        return JSONResponse(
            {
                "in_force": number,
                "versions": [
                    {
                        "number": v.number,
                        "note": v.note,
                        "rules": len(v.rules),
                        "created_by": v.created_by,
                        "created_at": v.created_at.isoformat(),
                        "in_force": v.number == number,
                    }
                    for v in rows
                ],
            }
        )

    @router.get(f"{API}/compare")
    async def compare(a: str, principal: CurrentPrincipal, b: str = "draft") -> JSONResponse:
        """What changes from `a` to `b`; each a version number, or "draft"."""
        admin(principal)
        async with services.db.transaction() as session:

            async def side(name: str) -> list[RuleSpec]:
                if name == "draft":
                    return await draft.draft_specs(session)
                return versions.specs_of(
                    await versions.get_version(session, whole_number(name, "version", 0, 1, 10**9))
                )

            return JSONResponse({"a": a, "b": b, **versions.compare(await side(a), await side(b))})

    @router.post(f"{API}/versions/{{number}}/rollback")
    async def rollback(number: PathId, principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        async with services.db.transaction() as session:
            await versions.rollback(session, number, user_id=principal.user_id, now=services.clock.now())
        await services.config.check()
        return JSONResponse({"version": number})

    @router.get(f"{API}/learning")
    async def learning(principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        async with services.db.transaction() as session:
            items = await suggestions.reclassifications(session)
            candidate = await draft_classifier(session)
        found = suggestions.suggest(suggestions.corrected(items), candidate)
        for item in items:
            # Suggestions are drawn from the texts as written; the page shows them masked.
            item["text"] = mask_text(item["text"])
            for message in item["messages"]:
                message["text"] = mask_text(message["text"])
        return JSONResponse({"reclassifications": items, "suggestions": found})

    @router.get(f"{API}/export")
    async def export(principal: CurrentPrincipal, version: str = "") -> Response:
        admin(principal)
        async with services.db.transaction() as session:
            if version:
                chosen = await versions.get_version(session, whole_number(version, "version", 0, 1, 10**9))
                specs, label = versions.specs_of(chosen), f"version {chosen.number}"
            else:
                specs, label = await draft.draft_specs(session), "draft"
        name = f"keywords-{'v' + version if version else 'draft'}.yaml"
        return Response(
            dump_yaml(specs, comment=label),
            media_type="application/yaml; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"', "cache-control": "no-store"},
        )

    @router.post(f"{API}/import")
    async def import_rules(principal: AdminPrincipal, body: Annotated[Import, Depends(parsed(Import))]) -> JSONResponse:
        try:
            specs = parse_yaml(body.yaml)
        except RuleErrors as exc:
            return _rule_errors(exc)
        now = services.clock.now()
        number = None
        async with services.db.transaction() as session:
            count = await draft.replace_draft(session, specs, user_id=principal.user_id, now=now, source="console")
            if body.publish:
                note = text_field({"note": body.note}, "note", required=False, limit=500) or "import"
                number = (await versions.publish(session, note=note, user_id=principal.user_id, now=now)).number
        if number is not None:
            await services.config.check()
        return JSONResponse({"rules": count, "version": number})

    @router.post(f"{API}/versions/{{number}}/to-draft")
    async def version_to_draft(number: PathId, principal: CurrentPrincipal) -> JSONResponse:
        """Start the draft again from a published version."""
        admin(principal)
        now = services.clock.now()
        async with services.db.transaction() as session:
            specs = versions.specs_of(await versions.get_version(session, number))
            count = await draft.replace_draft(
                session, specs, user_id=principal.user_id, now=now, source=f"version {number}"
            )
        return JSONResponse({"rules": count})

    return router
