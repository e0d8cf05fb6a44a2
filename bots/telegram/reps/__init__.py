"""The reps' group worker: opens a forum topic per escalation and sends its posts, reliably and within limits.

Posts (summary, transcript, mirrored client messages, answers to reps' commands) are rows of their own
table, not outbox rows: the outbox delivers one conversation's rows strictly in order, so a group post
stuck behind the group's 20/min budget or a Telegram outage would hold up the client's own replies.
Here each topic keeps its own order, a failed send is retried with backoff (retry_after is honoured,
and being throttled costs no attempt), a post's unique (topic, key) refuses a repeat, and mirroring
follows a cursor over the stored client messages, so a lost "message" event only delays a post.
An "escalated" event is turned into a topic row right after the engine's commit; a process that dies
in between loses that escalation's topic (the ticket itself and the console are unaffected).

The parts: `group` (RepsGroup, what the rest of kefu calls, and the delivery loop), `opening` (topics for
escalations), `posts` (sending), `mirror` (client messages copied in), over `base`.
"""

from __future__ import annotations

from bots.telegram.reps.group import RepsGroup

__all__ = ["RepsGroup"]
