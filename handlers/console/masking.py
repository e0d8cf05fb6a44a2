"""Contact data shown masked until a person asks to see it (and that is audited)."""

from __future__ import annotations

import re

# Collected details that hold contact data (slot names of config/forms.yaml).
CONTACT_SLOTS = frozenset({"phone", "contact", "email"})
_EMAIL = re.compile(r"^([^@\s]+)@(.+)$")


def mask_phone(value: str | None) -> str | None:
    if not value:
        return None
    digits = value.strip()
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 3 if len(digits) >= 8 else 1
    return digits[:keep_head] + "*" * (len(digits) - keep_head - 4) + digits[-4:]


def mask_email(value: str | None) -> str | None:
    if not value:
        return None
    match = _EMAIL.match(value.strip())
    if match is None:
        return mask_phone(value)
    local, domain = match.groups()
    return local[:1] + "***@" + domain


def mask_contact(value: str) -> str:
    """A free-form contact detail: an e-mail address, a phone number, or anything else."""
    masked = mask_email(value) if "@" in value else mask_phone(value)
    return masked or ""
