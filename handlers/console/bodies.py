"""JSON request bodies of console routes as pydantic models, refused with the same 400s as `text_field` gives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo

from handlers.console.web import MAX_JSON, json_body, text_field

M = TypeVar("M", bound="Body")


class Body(BaseModel):
    """A route's JSON object: fields it does not read are ignored, and an absent field is checked like an empty one."""

    model_config = ConfigDict(extra="ignore", validate_default=True, frozen=True)


def trimmed(limit: int, *, required: bool = True) -> BeforeValidator:
    """A trimmed string of at most `limit` characters; BadPayload (400) as `text_field` words it, not a 422."""

    def check(value: object, info: ValidationInfo) -> str:
        # BadPayload is not a ValueError, so pydantic lets it through unchanged to the app's KefuError handler.
        name = str(info.field_name)
        return text_field({name: value}, name, required=required, limit=limit)

    return BeforeValidator(check)


# Only JSON `true` counts: any other value is false, as the hand parses read `data.get(name) is True`.
Flag = Annotated[bool, BeforeValidator(lambda value: value is True)]


def parsed(model: type[M], limit: int = MAX_JSON) -> Callable[[Request], Awaitable[M]]:
    """A dependency giving the request's JSON body as `model` (Content-Type, size and NUL checked by json_body)."""

    async def parse(request: Request) -> M:
        data: dict[str, Any] = await json_body(request, limit)
        return model.model_validate(data)

    return parse
