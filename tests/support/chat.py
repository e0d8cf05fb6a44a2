"""A web-chat client for tests: posts like the browser does and reads the bot's replies from history."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")


class Chat:
    """One visitor talking to kefu through the web channel's HTTP interface."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.seen = 0

    async def post(self, text: str = "", button: str | None = None, msg_id: str | None = None) -> httpx.Response:
        body: dict[str, Any] = {"client_msg_id": msg_id or uuid.uuid4().hex, "text": text}
        if button is not None:
            body["button_id"] = button
        return await self.client.post("/api/chat/messages", json=body)

    async def history(self) -> list[dict[str, Any]]:
        response = await self.client.get("/api/chat/history")
        assert response.status_code == 200, response.text
        messages: list[dict[str, Any]] = response.json()["messages"]
        return messages

    async def replies(self) -> list[dict[str, Any]]:
        """Bot messages that arrived since the last call."""
        new = [m for m in await self.history() if m["id"] > self.seen]
        if new:
            self.seen = new[-1]["id"]
        return [m for m in new if m["direction"] == "out"]

    async def send(self, text: str = "", button: str | None = None) -> list[dict[str, Any]]:
        response = await self.post(text, button)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "accepted"
        return await self.replies()

    async def click(self, label: str) -> list[dict[str, Any]]:
        """Click the button with this label on the latest bot message that has buttons."""
        for message in reversed(await self.history()):
            if message["direction"] == "out" and message["buttons"]:
                for button in message["buttons"]:
                    if button["label"] == label:
                        return await self.send(label, button["id"])
                raise AssertionError(f"no button {label!r} in {message['buttons']}")
        raise AssertionError("no message with buttons")


def texts_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)
