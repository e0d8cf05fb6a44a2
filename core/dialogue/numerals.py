"""Numbers as clients write them: "35000", "3,000", "1.2万", "5k", "三万五", "1万2" (Chinese numerals via cn2an)."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from functools import cache
from types import ModuleType
from typing import Any, Protocol, cast

from core.import_patch import after_import

# Digits of Chinese numerals, financial forms included; the magnitude characters follow.
CN_DIGITS = "零〇一二两三四五六七八九壹贰叁肆伍陆柒捌玖"
CN_UNITS = "十百千万亿拾佰仟"
CN_NUMERAL = CN_DIGITS + CN_UNITS

_PLAIN = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)\s*(万|千|百|亿|k|w)?")
_MULTIPLIER = {
    None: Decimal(1),
    "百": Decimal(100),
    "千": Decimal(1000),
    "k": Decimal(1000),
    "万": Decimal(10_000),
    "w": Decimal(10_000),
    "亿": Decimal(100_000_000),
}


class _Converter(Protocol):
    def __call__(self, inputs: str, mode: str) -> int | float: ...


class _CompiledOnUse:
    """A regex compiled the first time one of its methods is called."""

    def __init__(self, compile_pattern: Callable[[], re.Pattern[str]]) -> None:
        self._compile = cache(compile_pattern)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._compile(), name)


def _cities_on_use(data: ModuleType) -> None:
    # cn2an's `proces` dependency compiles a regex of every Chinese city on import (1 MiB resident), for its
    # address masking, which cn2an and kefu never call.
    get_city_pattern = data.get_city_pattern
    vars(data)["get_city_pattern"] = lambda: _CompiledOnUse(get_city_pattern)


@cache
def _cn2an() -> _Converter:
    # cn2an builds its tables on import (about half a second): only when a message first carries Chinese numerals.
    after_import("proces.util.data", _cities_on_use)
    import cn2an

    return cast(_Converter, cn2an.cn2an)


def whole(value: Decimal) -> Decimal:
    """12000.0 as 12000, 1.50 as 1.5: one spelling per value."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def to_decimal(token: str) -> Decimal | None:
    """The value of a number token, or None when it is not one ("万一", "千万" alone)."""
    token = token.strip().lower()
    plain = _PLAIN.fullmatch(token)
    if plain:
        digits, unit = plain.groups()
        return whole(Decimal(digits.replace(",", "")) * _MULTIPLIER[unit])
    if token.endswith(("k", "w")):
        token = token[:-1] + ("千" if token.endswith("k") else "万")
    try:
        number = _cn2an()(token, "smart")
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    try:
        return whole(Decimal(str(number)))
    except InvalidOperation:
        return None


def small_int(token: str) -> int | None:
    """A day, month or count ("20", "二十", "两"), or None."""
    if token.isdigit():
        return int(token)
    value = to_decimal(token)
    if value is None or value != value.to_integral_value():
        return None
    return int(value)
