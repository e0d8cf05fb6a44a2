"""Prometheus metrics at /metrics: traffic and turn latency as they happen, backlogs read at scrape time."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import func, select

from core.clock import Clock, as_utc
from core.db.models import FollowUp, OutboxMessage
from core.db.session import Database
from core.live import LiveBus, LiveEvent

OUTBOX_STATUSES = ("pending", "sending", "window_closed", "failed")


def _series(kept: dict[tuple[str, ...], Any], metric: Counter | Histogram, *labels: str) -> Any:
    """`metric.labels(*labels)`, made once and kept in `kept`: `labels` takes a lock and builds its key each call."""
    series = kept.get(labels)
    if series is None:
        series = kept[labels] = metric.labels(*labels)
    return series


class Metrics:
    """One registry per app, so several apps in one process (tests) never collide."""

    def __init__(self, db: Database, bus: LiveBus, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.registry = CollectorRegistry()
        self.messages = Counter(
            "kefu_messages_total",
            "Messages stored, by channel and direction",
            ["channel", "direction"],
            registry=self.registry,
        )
        self.turns = Histogram(
            "kefu_turn_seconds",
            "Time of one inbound turn (dedupe, lock, step, commit)",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.sla_breaches = Counter(
            "kefu_sla_breaches_total", "SLA clocks that ran out", ["clock"], registry=self.registry
        )
        self.escalations = Counter(
            "kefu_escalations_total", "Conversations that needed a person", ["reason"], registry=self.registry
        )
        self.outbox = Gauge(
            "kefu_outbox_rows", "Outbox rows not yet sent, by status", ["status"], registry=self.registry
        )
        self.followup_lag = Gauge(
            "kefu_followup_lag_seconds", "How late the oldest due follow-up is", registry=self.registry
        )
        self.followups_due = Gauge("kefu_followups_due", "Follow-ups due and not yet run", registry=self.registry)
        self.watchers = Gauge("kefu_live_watchers", "Open live-event streams in this process", registry=self.registry)
        self._bus = bus
        # The labelled series of each turn's two counts, kept (`_series`).
        self._turn_series: dict[tuple[str, ...], Any] = {}
        self._message_series: dict[tuple[str, ...], Any] = {}
        bus.add_listener(self._on_event)

    def observe_turn(self, channel: str, seconds: float) -> None:
        _series(self._turn_series, self.turns, channel).observe(seconds)

    async def _on_event(self, event: LiveEvent) -> None:
        if event.kind == "message":
            _series(
                self._message_series, self.messages, str(event.data.get("channel")), str(event.data.get("direction"))
            ).inc()
        elif event.kind == "sla" and event.data.get("kind") == "breach":
            self.sla_breaches.labels(str(event.data.get("which"))).inc()
        elif event.kind == "escalated":
            self.escalations.labels(str(event.data.get("reason"))).inc()

    async def refresh(self) -> None:
        """Read the backlogs from the database: they are shared by every process, not counted by one."""
        now = self.clock.now()
        async with self.db.transaction() as session:
            counts = dict(
                (
                    await session.execute(
                        select(OutboxMessage.status, func.count())
                        .where(OutboxMessage.status.in_(OUTBOX_STATUSES))
                        .group_by(OutboxMessage.status)
                    )
                ).all()
            )
            oldest, due = (
                await session.execute(
                    select(func.min(FollowUp.due_at), func.count()).where(
                        FollowUp.status == "pending", FollowUp.due_at <= now
                    )
                )
            ).one()
        for status in OUTBOX_STATUSES:
            self.outbox.labels(status).set(counts.get(status, 0))
        self.followups_due.set(due)
        self.followup_lag.set((now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0)
        self.watchers.set(self._bus.subscriber_count)

    def router(self, token: str | None = None) -> APIRouter:
        """With a token set, scrapers must send it as a bearer token."""
        router = APIRouter()

        @router.get("/metrics", include_in_schema=False)
        async def metrics(authorization: Annotated[str | None, Header()] = None) -> Response:
            if token is not None and not hmac.compare_digest(authorization or "", f"Bearer {token}"):
                return Response("metrics need the bearer token\n", status_code=401, media_type="text/plain")
            await self.refresh()
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        return router
