"""The admins' learned-model section: drafts fitted on confirmed labels, their figures beside the model in force,
replay, publish at a point of the precision-coverage curve, compare and roll back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from bots.common import PathId
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.textmodel import TextModel
from core.errors import InvalidInput
from core.keywords import replay
from core.keywords.versions import classifier_for
from core.learning import labels, store
from handlers.console.access import require_role
from handlers.console.auth import Principal
from handlers.console.bodies import Body, checked, parsed, trimmed
from handlers.console.dependencies import AdminPrincipal, CurrentPrincipal
from handlers.console.keywords import Replay, whole_number

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from handlers.console.console import Console

API = "/api/classifier"


def _threshold(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise InvalidInput("threshold must be a number above 0 and at most 1") from None
    return store.check_threshold(value)


class ModelReplay(Replay):
    threshold: Annotated[float | None, checked(lambda value, _: _threshold(value))] = None


class ModelPublish(Body):
    note: Annotated[str, trimmed(500, required=False)] = ""
    threshold: Annotated[float | None, checked(lambda value, _: _threshold(value))] = None


def classifier_routes(console: Console) -> APIRouter:
    router = console.private()
    services = console.services

    def admin(principal: Principal) -> None:
        require_role(principal, "admin")

    async def model_named(session: AsyncSession, number: int, threshold: float | None) -> TextModel | None:
        """A stored model (at `threshold`, else its chosen one), or the settings' model for 0."""
        if number == store.SHIPPED:
            return services.text_model
        row = await store.get_model(session, number)
        model = store.model_of(row)
        chosen = threshold if threshold is not None else float(row.report.get("threshold", model.threshold))
        return model.with_threshold(chosen)

    def with_model(model: TextModel | None) -> KeywordClassifier:
        """The rules in force with another model behind them."""
        return classifier_for(
            services.rule_specs, services.settings.dialogue.classifier_threshold, services.rules_version, model
        )

    @router.get(f"{API}/models")
    async def list_models(principal: CurrentPrincipal) -> JSONResponse:
        admin(principal)
        async with services.db.transaction() as session:
            number, threshold = await store.in_force(session)
            rows = await store.list_models(session)
            confirmed = await labels.count_by_kind(session)
        shipped = services.text_model
        return JSONResponse(
            {
                "in_force": {
                    "number": number,
                    "threshold": threshold if number else (shipped.threshold if shipped else None),
                    "live_threshold": services.classifier.current.model.threshold
                    if services.classifier.current.model is not None
                    else None,
                },
                "shipped": {"version": shipped.version if shipped else None},
                "labels": confirmed,
                "models": [store.summary(r, number) for r in rows],
            }
        )

    @router.get(f"{API}/models/{{number}}")
    async def model_detail(number: PathId, principal: CurrentPrincipal, threshold: str = "") -> JSONResponse:
        """A model's figures and curve beside those of the model in force when it was fitted; with `threshold`,
        the coverage and precision on the held-back labels at that point of the curve."""
        admin(principal)
        async with services.db.transaction() as session:
            current, _ = await store.in_force(session)
            row = await store.get_model(session, number)
        result = store.summary(row, current)
        chosen = _threshold(threshold)
        point = chosen if chosen is not None else float(row.report.get("threshold", 0.5))
        result["at"] = store.coverage_at(row.report.get("draft") or {}, point)
        return JSONResponse(result)

    @router.post(f"{API}/models/{{number}}/replay")
    async def replay_model(
        number: int, principal: AdminPrincipal, body: Annotated[ModelReplay, Depends(parsed(ModelReplay))]
    ) -> JSONResponse:
        """What the model (with the rules in force) would decide on recent classified messages, against live."""
        async with services.db.transaction() as session:
            model = await model_named(session, whole_number(number, "model", 0, 0, 10**9), body.threshold)
            messages = await replay.recent_classified(session, body.limit)
        return JSONResponse(replay.replay(messages, services.classifier.current, with_model(model)))

    @router.get(f"{API}/compare")
    async def compare(a: int, b: int, principal: CurrentPrincipal, limit: int = replay.DEFAULT_LIMIT) -> JSONResponse:
        """Model `a` against model `b` (0: the settings' model) on recent messages, with the rules in force."""
        admin(principal)
        limit = whole_number(limit, "limit", replay.DEFAULT_LIMIT, 1, replay.MAX_LIMIT)
        async with services.db.transaction() as session:
            current, _ = await store.in_force(session)
            left, right = await model_named(session, a, None), await model_named(session, b, None)
            sides = {
                n: store.summary(await store.get_model(session, n), current) if n != store.SHIPPED else None
                for n in (a, b)
            }
            messages = await replay.recent_classified(session, limit)
        result = replay.replay(messages, with_model(left), with_model(right))
        return JSONResponse({"a": sides[a], "b": sides[b], **result})

    @router.post(f"{API}/models/{{number}}/publish")
    async def publish(
        number: PathId, principal: AdminPrincipal, body: Annotated[ModelPublish, Depends(parsed(ModelPublish))]
    ) -> JSONResponse:
        async with services.db.transaction() as session:
            row = await store.publish(
                session,
                number,
                threshold=body.threshold,
                note=body.note,
                user_id=principal.user_id,
                now=services.clock.now(),
            )
            threshold = (await store.in_force(session))[1]
            at = store.coverage_at(row.report.get("draft") or {}, threshold or 0.5)
        # This process need not wait for its next config poll; the others pick it up within theirs.
        await services.config.check()
        return JSONResponse({"number": number, "threshold": threshold, "at": at}, status_code=201)

    @router.post(f"{API}/models/{{number}}/rollback")
    async def rollback(number: int, principal: CurrentPrincipal) -> JSONResponse:
        """Put back a model that was in force before; 0 puts back the model the settings name (or rules alone)."""
        admin(principal)
        chosen = whole_number(number, "model", 0, 0, 10**9)
        async with services.db.transaction() as session:
            await store.rollback(session, chosen, user_id=principal.user_id, now=services.clock.now())
        await services.config.check()
        return JSONResponse({"number": chosen})

    return router
