"""Test doubles of external things only: a recording channel that can be told to fail."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.channel import ChannelCapabilities, PermanentSendError, SendResult, TransientSendError
from core.messages import ConversationRef, InboundMessage, OutboundMessage


@dataclass
class FakeChannel:
    """A network without buttons that records what it was asked to send and fails on request."""

    name: str = "fake"
    capabilities: ChannelCapabilities = field(default_factory=lambda: ChannelCapabilities(buttons=False))
    sent: list[tuple[str, str]] = field(default_factory=list)
    fail_transient: int = 0
    fail_permanent: bool = False
    retry_after: float | None = None

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        if self.fail_permanent:
            raise PermanentSendError("blocked by the user")
        if self.fail_transient > 0:
            self.fail_transient -= 1
            raise TransientSendError("HTTP 502", retry_after=self.retry_after)
        self.sent.append((ref.external_user_id, message.text))
        return SendResult(external_id=f"out-{len(self.sent)}")


def inbound(
    text: str, msg_id: str, user: str = "u1", channel: str = "fake", button: str | None = None
) -> InboundMessage:
    return InboundMessage(
        ref=ConversationRef(channel=channel, external_user_id=user), external_id=msg_id, text=text, button_id=button
    )
