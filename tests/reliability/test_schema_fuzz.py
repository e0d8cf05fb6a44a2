"""Schemathesis against the OpenAPI schema: no generated input makes a public endpoint answer 500."""

from __future__ import annotations

import contextlib
import json
from typing import Any, cast

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi._hypothesis import _draw_negated_locations

from bots.telegram.channel import TelegramChannel
from bots.telegram.ratelimit import RateLimiter
from bots.telegram.webhook import TelegramWebhook
from handlers.app import create_app
from handlers.services import Services
from tests.channels.telegram.conftest import SECRET, make_settings
from tests.channels.telegram.fake_api import FakeBotAPI

# Streams never end; they are exercised by the web chat's own tests.
STREAMING = {"/api/chat/events"}
EXAMPLES = 40

# The webhooks are left out of the published schema; this describes the Telegram one for the fuzzer.
TELEGRAM_WEBHOOK: dict[str, Any] = {
    "post": {
        "parameters": [
            {
                "name": "X-Telegram-Bot-Api-Secret-Token",
                "in": "header",
                "required": True,
                "schema": {"type": "string", "enum": [SECRET]},
            }
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        "responses": {"200": {"description": "accepted"}},
    }
}


# Generated once per process for each distinct spec: the spec is the same on every database, and generating
# is most of this test's time (hypothesis runs every operation's strategies EXAMPLES times in both modes).
_GENERATED: dict[str, list[Any]] = {}


def _cases_for(spec: dict[str, Any]) -> list[Any]:
    """The cases of `spec`, generated at its first use in this process."""
    key = json.dumps(spec, sort_keys=True, default=str)
    if key not in _GENERATED:
        _GENERATED[key] = _cases(schemathesis.openapi.from_dict(spec))
    return _GENERATED[key]


def _negatable(operation: Any) -> bool:
    """Whether schemathesis finds a location of `operation` to break; without one it draws no negative case."""
    explicit: dict[ParameterLocation, dict[str, Any] | None] = dict.fromkeys(
        (ParameterLocation.PATH, ParameterLocation.HEADER, ParameterLocation.COOKIE, ParameterLocation.QUERY)
    )
    # The draw only picks among the candidate locations, so any answer tells whether there is one.
    located = _draw_negated_locations(
        cast("st.DrawFn", lambda _: True), operation, GenerationMode.NEGATIVE, explicit=explicit, body_is_generated=True
    )
    return located is not None


def _collect(strategy: Any, cases: list[Any]) -> None:
    @given(strategy)
    @settings(max_examples=EXAMPLES, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    def collect(case: Any) -> None:
        cases.append(case)

    collect()


def _cases(schema: Any) -> list[Any]:
    """Generated requests, valid and invalid ones, for every operation that answers and ends."""
    cases: list[Any] = []
    unbreakable: list[Any] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in STREAMING:
            continue
        _collect(operation.as_strategy(generation_mode=GenerationMode.POSITIVE), cases)
        negative = operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        if _negatable(operation):
            # A location to break is no promise that a broken value can be drawn for it.
            with contextlib.suppress(Unsatisfiable):
                _collect(negative, cases)
        else:
            unbreakable.append(negative)
    # Drawing for an operation with nothing to break ends only after about a thousand rejected draws; drawing for
    # all of them at once costs one such run and still shows that none of them has a negative case.
    if unbreakable:
        drawn: list[Any] = []
        with contextlib.suppress(Unsatisfiable):
            _collect(st.one_of(unbreakable), drawn)
        assert not drawn, [(case.method, case.path) for case in drawn]
    return cases


async def _call(client: httpx.AsyncClient, case: Any) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        body["content"] = data if isinstance(data, bytes | str) else str(data)
    client.cookies.clear()
    client.cookies.update(kwargs.get("cookies") or {})
    return await client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers={k: v for k, v in kwargs.get("headers", {}).items() if k.lower() != "content-length"},
        **body,
    )


async def test_no_generated_request_gets_a_server_error(services: Services, web: httpx.AsyncClient) -> None:
    api = FakeBotAPI()
    api.start()
    try:
        # The app publishes no schema (the console wants no public map of itself); the fuzzer reads it in-process.
        spec = create_app(services.settings, services=services, background=False).openapi()
        spec["paths"]["/telegram"] = TELEGRAM_WEBHOOK
        bot = make_settings(api).bot()
        services.registry.register(TelegramChannel(bot, RateLimiter(services.clock)))
        app = create_app(services.settings, services=services, background=False)
        webhook = TelegramWebhook(engine=services.engine, bot=bot, secret=SECRET, max_body_bytes=1 << 16)
        app.include_router(webhook.router())
        cases = _cases_for(spec)
        assert len(cases) > 100
        statuses: dict[int, int] = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            for case in cases:
                response = await _call(client, case)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                assert response.status_code < 500, (case.path, case.method, response.status_code, response.text)
        await webhook.drain()
        await bot.session.close()
        # Both accepted and refused inputs were among the generated ones.
        assert any(200 <= s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses), statuses
    finally:
        api.stop()
