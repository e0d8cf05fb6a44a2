"""JSON request bodies of console routes as pydantic models, refused with the same 400s as `text_field` gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from handlers.console.web import MAX_JSON, json_body, text_field
from handlers.services import Services

M = TypeVar("M", bound="Body")


class Body(BaseModel):
    """A route's JSON object: fields it does not read are ignored, and an absent field is checked like an empty one."""

    model_config = ConfigDict(extra="ignore", validate_default=True, frozen=True)


def context_of(info: ValidationInfo) -> dict[str, Any]:
    """What the route's `parsed(..., context=...)` gave the model's checks."""
    context: dict[str, Any] | None = info.context
    assert context is not None, "a model whose checks read the context is parsed with one"
    return context


def checked(check: Callable[[Any, str], object]) -> BeforeValidator:
    """A field read by `check(value, field name)`, whose refusal (a KefuError: a 400 naming the field) is the route's.

    KefuError is not a ValueError, so pydantic lets it through unchanged to the app's KefuError handler, never a 422.
    """

    def read(value: object, info: ValidationInfo) -> object:
        return check(value, str(info.field_name))

    return BeforeValidator(read)


def trimmed(limit: int | str, *, required: bool = True) -> BeforeValidator:
    """A trimmed string of at most `limit` characters; BadPayload (400) as `text_field` words it, not a 422.

    `limit` is a number, or the name of one in the route's context (`parsed(..., context=...)`), read per request.
    """

    def read(value: object, info: ValidationInfo) -> str:
        name = str(info.field_name)
        most = limit if isinstance(limit, int) else int(context_of(info)[limit])
        return text_field({name: value}, name, required=required, limit=most)

    return BeforeValidator(read)


# The default of a field that must be given: an absent field reaches its check as null, which refuses it there
# (typed Any so that a field of any type may take it; the check never lets it through).
ABSENT: Any = None

# Only JSON `true` counts: any other value is false, as the hand parses read `data.get(name) is True`.
Flag = Annotated[bool, BeforeValidator(lambda value: value is True)]


def parsed(
    model: type[M], limit: int = MAX_JSON, *, context: Callable[[Services], dict[str, Any]] | None = None
) -> Callable[[Request], Awaitable[M]]:
    """A dependency giving the request's JSON body as `model` (Content-Type, size and NUL checked by json_body).

    `context` gives what the model's checks read from the running kefu, per request (an admin may change it).
    """

    async def parse(request: Request) -> M:
        data: dict[str, Any] = await json_body(request, limit)
        services: Services = request.app.state.console.services
        return model.model_validate(data, context=context(services) if context is not None else None)

    return parse
