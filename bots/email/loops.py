"""RFC 3834 and common sense: the mails kefu must never answer (auto-replies, lists, bounces, itself)."""

from __future__ import annotations

import re

from bots.email.parse import ParsedMail

# Local parts that are machines: answering them only starts a loop or fills a bounce queue.
_MACHINE_SENDERS = re.compile(r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)(?:[+.-].*)?$", re.I)
# Subjects of auto-replies from clients that send no Auto-Submitted (older Exchange, QQ Mail, 网易).
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:自动回复|自動回覆|休假自动回复|auto(?:matic)?[ -]?reply|out of (?:the )?office)", re.I
)
_BULK = {"bulk", "junk", "list"}


def reason_not_to_answer(mail: ParsedMail, own_addresses: frozenset[str]) -> str | None:
    """Why this mail must get no answer (a short reason for the log), or None when it is a person's mail."""
    headers = mail.message
    auto = str(headers.get("Auto-Submitted", "") or "").strip().lower()
    if auto and auto.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(headers.get("Precedence", "") or "").strip().lower()
    if precedence in _BULK:
        return f"Precedence: {precedence}"
    if headers.get("List-Id") is not None or headers.get("List-Unsubscribe") is not None:
        return "mailing list"
    if mail.sender in own_addresses:
        return "from our own address"
    if _MACHINE_SENDERS.match(mail.sender.partition("@")[0]):
        return f"machine sender {mail.sender}"
    content_type = headers.get_content_type()
    if content_type == "multipart/report" or str(headers.get("Return-Path", "") or "").strip() == "<>":
        return "delivery report (bounce)"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if headers.get(name) is not None:
            return name
    if _AUTO_SUBJECT.search(mail.subject):
        return "auto-reply subject"
    return None


def failed_recipients(mail: ParsedMail) -> list[str]:
    """The addresses a delivery report (RFC 3464) says failed for good (Action: failed, Status 5.x.x)."""
    if mail.message.get_content_type() != "multipart/report":
        return []
    failed: list[str] = []
    for part in mail.message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # The policy parses delivery-status parts into one header block per recipient.
        blocks = part.get_payload()
        for block in blocks if isinstance(blocks, list) else []:
            if isinstance(block, str):
                continue
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip()
            recipient = str(block.get("Final-Recipient", "") or block.get("Original-Recipient", ""))
            address = recipient.partition(";")[2].strip().strip("<>").lower()
            if action == "failed" and status.startswith("5") and "@" in address:
                failed.append(address)
    return failed
