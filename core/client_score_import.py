"""Admins' client scores (业务重要性, 市场影响, 付款及时性) from a CSV file: every row valid, or nothing written."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.client_eval import INDICATORS, score_value, set_scores
from core.db.models import Client
from core.dialogue.forms import normalize_phone
from core.errors import InvalidInput

MAX_BYTES = 1024 * 1024
MAX_ROWS = 20000
# Header names in English and Chinese, matched without case or spaces.
COLUMNS = {
    "client_id": ("client_id", "id", "客户编号", "客户id"),
    "phone": ("phone", "电话", "手机", "手机号", "联系电话"),
    "business_importance": ("business_importance", "业务重要性"),
    "market_influence": ("market_influence", "市场影响"),
    "payment_timeliness": ("payment_timeliness", "付款及时性"),
}


@dataclass(frozen=True)
class ScoreRow:
    """One row: the client it names and the scores it sets (a blank cell clears that score)."""

    line: int
    client_id: int
    scores: dict[str, int | None]


def _header(cells: list[str]) -> dict[str, int]:
    names = {alias.replace(" ", "").lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(cells):
        key = names.get(cell.replace(" ", "").strip().lower())
        if key is not None and key not in found:
            found[key] = index
    if "client_id" not in found and "phone" not in found:
        raise InvalidInput("the header needs a client_id (客户编号) or phone (手机号) column")
    if not any(k in found for k in INDICATORS):
        raise InvalidInput("the header names no score column: 业务重要性, 市场影响 or 付款及时性")
    return found


async def parse(session: AsyncSession, raw: bytes) -> list[ScoreRow]:
    """The file's rows matched to clients; InvalidInput listing every bad row (line: reason) when any is bad."""
    if len(raw) > MAX_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8: save it as “CSV UTF-8”") from None
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidInput(f"not a CSV file: {exc}") from None
    if not lines:
        raise InvalidInput("the file is empty")
    columns = _header(lines[0])
    if len(lines) - 1 > MAX_ROWS:
        raise InvalidInput(f"at most {MAX_ROWS} rows per file")
    by_phone = dict((await session.execute(select(Client.phone, Client.id).where(Client.phone.is_not(None)))).all())
    known = set((await session.execute(select(Client.id))).scalars())
    rows: list[ScoreRow] = []
    errors: list[str] = []
    seen: dict[int, int] = {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue

        def cell(key: str, cells: list[str] = cells) -> str:
            index = columns.get(key)
            return cells[index].strip() if index is not None and index < len(cells) else ""

        try:
            client_id = _client(cell("client_id"), cell("phone"), known, by_phone)
            if client_id in seen:
                raise InvalidInput(f"the same client as line {seen[client_id]}")
            scores = {k: score_value(cell(k), k) for k in INDICATORS if k in columns}
        except InvalidInput as exc:
            errors.append(f"line {number}: {exc}")
            continue
        seen[client_id] = number
        rows.append(ScoreRow(number, client_id, scores))
    if errors:
        raise InvalidInput("nothing was imported; fix these rows: " + "; ".join(errors[:50]))
    return rows


def _client(raw_id: str, raw_phone: str, known: set[int], by_phone: dict[str | None, int]) -> int:
    if raw_id:
        if not raw_id.isdigit() or int(raw_id) not in known:
            raise InvalidInput(f"no client {raw_id}")
        return int(raw_id)
    phone = normalize_phone(raw_phone) if raw_phone else None
    if phone is None:
        raise InvalidInput("no client id and no valid phone number")
    client_id = by_phone.get(phone)
    if client_id is None:
        raise InvalidInput(f"no client with phone {raw_phone}")
    return client_id


async def write(session: AsyncSession, rows: list[ScoreRow], *, user_id: int | None, now: datetime) -> int:
    """Writes every row in the caller's transaction (each change audited); the number of rows."""
    for row in rows:
        await set_scores(session, row.client_id, row.scores, user_id=user_id, now=now)
    return len(rows)
