"""Channel capabilities: buttons degrade to numbered options, long texts split."""

from __future__ import annotations

from core.channel import ChannelCapabilities, degrade, split_text
from core.messages import Button, OutboundMessage


def test_buttons_become_numbered_options_without_button_support() -> None:
    message = OutboundMessage("请选择：", (Button("cat:inquiry", "咨询"), Button("cat:complaint", "投诉")))
    plain = degrade(message, ChannelCapabilities(buttons=False), lambda o: f"请回复数字选择：{o}")
    assert plain.text == "请选择：\n请回复数字选择：1 咨询 · 2 投诉"
    assert plain.buttons == ()
    assert degrade(message, ChannelCapabilities(buttons=True), lambda o: o) is message


def test_split_text_keeps_everything_and_respects_the_limit() -> None:
    text = ("第一句话。" * 500) + "\n" + "x" * 5000
    pieces = split_text(text, 4096)
    assert "".join(pieces) == text
    assert all(len(p) <= 4096 for p in pieces)
    assert split_text("", 10) == [""]
