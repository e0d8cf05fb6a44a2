"""Contact data (phone numbers, e-mail addresses) shown masked until a person asks to see it (and that is audited)."""

from __future__ import annotations

import re

import phonenumbers

# Collected details that hold contact data (slot names of config/forms.yaml).
CONTACT_SLOTS = frozenset({"phone", "contact", "email"})
# Numbers are read as Chinese unless written with a country code; "VALID" skips ids and amounts that only look long.
REGION = "CN"
_EMAIL = re.compile(r"^([^@\s]+)@(.+)$")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", re.ASCII)


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


def _masked_number(raw: str, number: phonenumbers.PhoneNumber) -> str:
    if raw.lstrip().startswith("+"):
        national = phonenumbers.national_significant_number(number)
        return f"+{number.country_code} {mask_phone(national)}"
    return mask_phone("".join(c for c in raw if c.isdigit())) or ""


def mask_text(text: str | None) -> str:
    """Free text (a message, a title, a note) with every phone number and e-mail address in it masked."""
    if not text:
        return text or ""
    masked = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)) or "", text)
    parts: list[str] = []
    end = 0
    for match in phonenumbers.PhoneNumberMatcher(masked, REGION, leniency=phonenumbers.Leniency.VALID):
        parts.append(masked[end : match.start])
        parts.append(_masked_number(match.raw_string, match.number))
        end = match.end
    parts.append(masked[end:])
    return "".join(parts)


def mask_value(value: object) -> object:
    """A collected detail as shown: strings masked as free text, anything else as it is."""
    return mask_text(value) if isinstance(value, str) else value
