"""Client messages mirrored into their conversation's topic, following a cursor over the stored messages."""

from __future__ import annotations

from bots.telegram.reps.base import RepsGroupBase
from bots.telegram.settings import CHANNEL
from bots.telegram.topics import (
    OPEN,
    add_posts,
    topics_behind,
    unmirrored,
)
from core.db.models import Conversation, TelegramTopic
from core.messages import MessageType


class RepsMirror(RepsGroupBase):
    """Copies new client messages into their topics as posts."""

    async def _mirror(self) -> None:
        async with self.db.transaction() as session:
            behind = await topics_behind(session, self.chat_id)
        for topic_id in behind:
            now = self.clock.now()
            async with self.db.transaction() as session:
                topic = await session.get(TelegramTopic, topic_id)
                if topic is None or topic.status != OPEN:
                    continue
                conversation = await session.get(Conversation, topic.conversation_id)
                channel = conversation.channel if conversation else ""
                messages = await unmirrored(session, topic)
                # Events (a WeChat follow, a Telegram /start) are no words of the client's; the cursor passes them.
                said = [m for m in messages if m.type != MessageType.EVENT.value]
                drafts = [d for m in said for d in self.writer.mirror(m, channel, CHANNEL)]
                # Keys (msg:<id>) refuse what another process mirrored at the same moment.
                await add_posts(session, topic_id, drafts, now)
                if messages:
                    topic.mirrored_message_id = max(topic.mirrored_message_id, messages[-1].id)
                    topic.updated_at = now
