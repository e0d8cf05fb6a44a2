"""Clients from a CSV file (Excel's "CSV UTF-8" too): parse, match existing clients by phone, then write."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db.models import Client
from core.dialogue.forms import normalize_phone
from core.errors import InvalidInput
from core.masking import mask_phone

MAX_BYTES = 1024 * 1024
MAX_ROWS = 5000
# Header names as agencies write them, in English and Chinese; matched without case or spaces.
COLUMNS = {
    "name": ("name", "姓名", "联系人", "客户名称", "客户姓名"),
    "company": ("company", "公司", "公司名称", "单位", "企业"),
    "phone": ("phone", "电话", "手机", "手机号", "联系电话", "mobile"),
    "tier": ("tier", "等级", "客户等级", "级别", "客户级别"),
}
REQUIRED = ("phone", "tier")
LIMITS = {"name": 128, "company": 200}


@dataclass
class ImportRow:
    """One data row of the file: what it says, and what committing it would do (or why it cannot)."""

    line: int
    name: str
    company: str
    phone: str
    tier: str
    # "create", "update", or "skip" when errors is not empty.
    action: str = "create"
    client_id: int | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "name": self.name,
            "company": self.company,
            "phone": self.phone,
            "tier": self.tier,
            "action": self.action,
            "client_id": self.client_id,
            "errors": self.errors,
        }


def digest(raw: bytes) -> str:
    """Names the exact file previewed, so a commit writes what the admin saw."""
    return hashlib.sha256(raw).hexdigest()


def parse(raw: bytes, tiers: tuple[str, ...]) -> list[ImportRow]:
    """Rows of the file with their own errors; InvalidInput for a file that cannot be read at all."""
    if len(raw) > MAX_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_BYTES // 1024} KiB")
    try:
        # utf-8-sig drops the byte-order mark Excel writes at the start of "CSV UTF-8".
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the file is not UTF-8: save it as “CSV UTF-8”") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput("the file is empty") from None
    except csv.Error as exc:
        raise InvalidInput(f"not a CSV file: {exc}") from None
    index = _columns(header)
    rows: list[ImportRow] = []
    seen: dict[str, int] = {}
    try:
        for values in reader:
            if not any(v.strip() for v in values):
                continue
            if len(rows) >= MAX_ROWS:
                raise InvalidInput(f"the file has more than {MAX_ROWS} rows; split it")
            rows.append(_row(reader.line_num, values, index, tiers, seen))
    except csv.Error as exc:
        raise InvalidInput(f"line {reader.line_num}: {exc}") from None
    return rows


def _columns(header: list[str]) -> dict[str, int]:
    names = [h.strip().lower().replace(" ", "") for h in header]
    index: dict[str, int] = {}
    for column, aliases in COLUMNS.items():
        for i, name in enumerate(names):
            if name in aliases:
                index[column] = i
                break
    missing = [c for c in REQUIRED if c not in index]
    if missing:
        wanted = "; ".join(f"{c} ({' / '.join(COLUMNS[c])})" for c in missing)
        raise InvalidInput(f"missing column: {wanted}")
    return index


def _row(
    line: int, values: list[str], index: dict[str, int], tiers: tuple[str, ...], seen: dict[str, int]
) -> ImportRow:
    def cell(column: str) -> str:
        i = index.get(column)
        return values[i].strip() if i is not None and i < len(values) else ""

    row = ImportRow(line, cell("name"), cell("company"), cell("phone"), cell("tier").upper())
    phone = normalize_phone(row.phone) if row.phone else None
    if not row.phone:
        row.errors.append({"code": "missing_phone"})
    elif phone is None:
        row.errors.append({"code": "bad_phone", "value": row.phone})
    else:
        row.phone = phone
        if phone in seen:
            row.errors.append({"code": "duplicate", "value": str(seen[phone])})
        else:
            seen[phone] = line
    if row.tier not in tiers:
        row.errors.append({"code": "unknown_tier", "value": row.tier or "-", "known": list(tiers)})
    for column, limit in LIMITS.items():
        if len(getattr(row, column)) > limit:
            row.errors.append({"code": "too_long", "value": column})
        if "\x00" in getattr(row, column):
            # No database column stores a NUL; the preview says so instead of the commit failing.
            row.errors.append({"code": "bad_character", "value": column})
    return row


async def match(session: AsyncSession, rows: list[ImportRow]) -> None:
    """Mark each valid row "update" (a client has that phone), "create", or "skip" (errors; ambiguous phone)."""
    phones = sorted({r.phone for r in rows if not r.errors})
    owners: dict[str, list[int]] = {}
    for start in range(0, len(phones), 500):
        found = await session.execute(
            select(Client.phone, Client.id).where(Client.phone.in_(phones[start : start + 500]))
        )
        for phone, client_id in found.all():
            owners.setdefault(str(phone), []).append(client_id)
    for row in rows:
        if row.errors:
            row.action = "skip"
            continue
        ids = owners.get(row.phone, [])
        if len(ids) > 1:
            row.errors.append({"code": "ambiguous", "value": ", ".join(str(i) for i in sorted(ids))})
            row.action = "skip"
        elif ids:
            row.action, row.client_id = "update", ids[0]


async def write(session: AsyncSession, rows: list[ImportRow], now: datetime) -> list[dict[str, Any]]:
    """Create or update the clients of the valid rows; what changed, for the audit entry."""
    changes: list[dict[str, Any]] = []
    for row in rows:
        if row.action == "create":
            client = Client(name=row.name, company=row.company, phone=row.phone, tier=row.tier, created_at=now)
            session.add(client)
            await session.flush()
            changes.append({"line": row.line, "client_id": client.id, "before": None, "after": audit_fields(client)})
        elif row.action == "update" and row.client_id is not None:
            existing = await session.get(Client, row.client_id)
            if existing is None:
                continue
            before = audit_fields(existing)
            existing.tier = row.tier
            # An empty cell keeps what is on record: a tier-only file does not erase names.
            existing.name = row.name or existing.name
            existing.company = row.company or existing.company
            if audit_fields(existing) != before:
                changes.append(
                    {"line": row.line, "client_id": existing.id, "before": before, "after": audit_fields(existing)}
                )
    await session.flush()
    return changes


def audit_fields(client: Client) -> dict[str, Any]:
    """A client as the audit log keeps it: the phone masked, as everywhere it is not asked for."""
    return {"name": client.name, "company": client.company, "phone": mask_phone(client.phone), "tier": client.tier}
