"""An SMTP handler for aiosmtpd that keeps what it receives, for tests of what kefu mails."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage


class Inbox:
    """Collects what the SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        content = envelope.content  # type: ignore[attr-defined]
        rcpt = list(envelope.rcpt_tos)  # type: ignore[attr-defined]
        self.messages.append((rcpt, email.message_from_bytes(content, policy=email.policy.default)))
        return "250 OK"
