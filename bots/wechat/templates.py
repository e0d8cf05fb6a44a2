"""The data of the template message (模板消息) that stands in for a reply when the 48-hour window is closed."""

from __future__ import annotations

# WeChat limits each template field's value; longer text is cut (the full text stays in kefu's records).
MAX_FIELD = 200


def template_data(text: str, remark: str) -> dict[str, dict[str, str]]:
    """first: the text's first line; keyword1: the rest; remark: the configured text (empty fields left out)."""
    first, _, rest = text.strip().partition("\n")
    data = {"first": first, "keyword1": rest.strip(), "remark": remark}
    return {key: {"value": _cut(value)} for key, value in data.items() if value}


def _cut(value: str) -> str:
    return value if len(value) <= MAX_FIELD else value[: MAX_FIELD - 1] + "…"
