"""Posts into topics: the oldest due post of each topic claimed, sent within the group's budget, settled."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from bots.telegram.errors import bot_call
from bots.telegram.reps.base import RepsGroupBase, log, wait_seconds
from bots.telegram.topics import (
    OPEN,
    PENDING,
    SENDING,
)
from core.channel import PermanentSendError, Throttled, TransientSendError
from core.db.models import TelegramPost, TelegramTopic
from core.leased_queue import Verdict


class RepsPosts(RepsGroupBase):
    """Sends each topic's posts in order, retrying with backoff; a throttle costs no attempt."""

    async def _send_due_posts(self, sent: list[int]) -> None:
        while heads := await self._heads():
            for post_id, thread_id in heads:
                await self._wait_turn()
                if await self._send_post(post_id, thread_id):
                    sent.append(post_id)

    async def _wait_turn(self) -> None:
        while (wait := self.limiter.acquire(self.chat_id)) > 0:
            if wait > self.max_inline_wait:
                raise Throttled(f"reps group rate limit: wait {wait:.1f}s", retry_after=wait)
            await self.sleep(wait)

    async def _heads(self) -> list[tuple[int, int]]:
        """The oldest unsent post of each open topic, if it is due and unclaimed: (post id, thread id)."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(TelegramPost, TelegramTopic.thread_id)
                .join(TelegramTopic, TelegramTopic.id == TelegramPost.topic_id)
                .where(
                    TelegramTopic.chat_id == self.chat_id,
                    TelegramTopic.status == OPEN,
                    TelegramPost.status.in_((PENDING, SENDING)),
                )
                .order_by(TelegramPost.id)
                .limit(500)
            )
            heads: dict[int, tuple[TelegramPost, int]] = {}
            for post, thread_id in rows.all():
                if thread_id is not None:
                    heads.setdefault(post.topic_id, (post, thread_id))
        posts = self.posts
        ready = [
            (p.id, thread)
            for p, thread in heads.values()
            if posts.is_claimable(p.status, p.next_attempt_at, p.lease_until, now)
        ]
        return sorted(ready)

    async def _send_post(self, post_id: int, thread_id: int) -> bool:
        now = self.clock.now()
        async with self.db.transaction() as session:
            claimed = await session.execute(
                self.posts.claim(now, TelegramPost.id == post_id).returning(
                    TelegramPost.text, TelegramPost.photo, TelegramPost.attempts
                )
            )
            row = claimed.first()
        if row is None:
            return False
        text, photo, attempts = row
        try:
            if photo:
                message = await self._call(
                    lambda: self.bot.send_photo(self.chat_id, photo, caption=text or None, message_thread_id=thread_id)
                )
            else:
                message = await self._call(
                    lambda: self.bot.send_message(self.chat_id, text, message_thread_id=thread_id)
                )
        except Throttled as wait:
            await self._settle(
                post_id, attempts, self.posts.given_back(attempts, str(wait), self.clock.now(), wait_seconds(wait))
            )
            raise
        except TransientSendError as exc:
            await self._settle(post_id, attempts, self.posts.failed_attempt(attempts, str(exc), self.clock.now()))
            return False
        except PermanentSendError as exc:
            if photo:
                # The photo could not be fetched (an expired link, a file id of another bot): send the text.
                verdict = self.posts.given_back(attempts, str(exc), self.clock.now(), 0.0)
                await self._settle(post_id, attempts, verdict, photo=None)
                return False
            log.warning("reps post %s failed: %s", post_id, exc)
            verdict = self.posts.failed_attempt(attempts, str(exc), self.clock.now(), retry=False)
            await self._settle(post_id, attempts, verdict)
            return False
        now = self.clock.now()
        async with self.db.transaction() as session:
            await session.execute(
                self.posts.succeed([(post_id, attempts)], sent_at=now, external_id=str(message.message_id))
            )
        return True

    async def _settle(self, post_id: int, attempts: int, verdict: Verdict, **more: Any) -> None:
        """Write how the claim of the post (with `attempts` when claimed) ended, if this worker still holds it."""
        async with self.db.transaction() as session:
            await session.execute(self.posts.settle([(post_id, attempts)], verdict, **more))

    async def _call(self, call: Callable[[], Awaitable[Any]]) -> Any:
        """One Bot API call; a flood-control wait holds the whole group back."""
        return await bot_call(call, on_retry_after=lambda seconds: self.limiter.block(self.chat_id, seconds))
