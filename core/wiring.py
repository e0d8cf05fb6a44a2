"""core's object graph for one process: database, texts, policies, desk, classifier, outbox, engine and timers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from core.business_hours import BusinessCalendar
from core.channel import ChannelRegistry
from core.channel_state import ChannelStateStore
from core.clock import Clock
from core.db.session import Database
from core.dialogue.classifier import KeywordClassifier
from core.dialogue.forms import Forms
from core.dialogue.textmodel import TextModel, configured_model
from core.engine import DIALOGUE_TIMEOUT, ClassifierHolder, Engine
from core.followups import FollowUpRunner
from core.outbox import OutboxDispatcher
from core.settings import Settings
from core.texts import Texts
from core.tickets.desk import SLA, SUMMARY_REMINDER, TicketDesk
from core.tickets.policies import TicketPolicies


@dataclass
class Core:
    """What the engine needs and what drives it; the app registers its channels in `registry` and builds around it."""

    settings: Settings
    clock: Clock
    db: Database
    texts: Texts
    forms: Forms
    policies: TicketPolicies
    calendar: BusinessCalendar
    desk: TicketDesk
    registry: ChannelRegistry
    channel_state: ChannelStateStore
    classifier: ClassifierHolder
    dispatcher: OutboxDispatcher
    engine: Engine
    followups: FollowUpRunner
    # The learned model the settings name (settings.dialogue.classifier_model), if any.
    text_model: TextModel | None

    async def stop(self) -> None:
        await self.db.dispose()


def build_core(settings: Settings, clock: Clock) -> Core:
    """Core's objects wired together, with no channel registered and no rules loaded yet."""
    config_dir = settings.config_dir
    db = Database(settings.database_url)
    texts = Texts.load(config_dir, default=settings.language)
    forms = Forms.load(config_dir / "forms.yaml")
    policies = TicketPolicies.load(config_dir, timezone=settings.timezone)
    registry = ChannelRegistry()
    text_model = configured_model(config_dir, settings.dialogue.classifier_model)
    classifier = ClassifierHolder(
        KeywordClassifier([], threshold=settings.dialogue.classifier_threshold, model=text_model)
    )
    dispatcher = OutboxDispatcher(db, registry, clock, max_attempts=settings.outbox_max_attempts)
    calendar = BusinessCalendar.load(config_dir / "business_hours.yaml")
    desk = TicketDesk(policies, calendar, texts, settings)
    engine = Engine(
        db=db,
        registry=registry,
        classifier=classifier,
        forms=forms,
        texts=texts,
        policies=policies,
        settings=settings,
        clock=clock,
        dispatcher=dispatcher,
        desk=desk,
    )
    followups = FollowUpRunner(
        db,
        clock,
        {
            DIALOGUE_TIMEOUT: engine.fire_followup,
            SLA: engine.fire_sla,
            SUMMARY_REMINDER: engine.fire_summary_reminder,
        },
        batch_handlers={DIALOGUE_TIMEOUT: engine.fire_followups},
        cutoff=timedelta(hours=settings.followup_cutoff_hours),
        on_drop=engine.record_dropped_followup,
    )
    return Core(
        settings=settings,
        clock=clock,
        db=db,
        texts=texts,
        forms=forms,
        policies=policies,
        calendar=calendar,
        desk=desk,
        registry=registry,
        channel_state=ChannelStateStore(db, clock),
        classifier=classifier,
        dispatcher=dispatcher,
        engine=engine,
        followups=followups,
        text_model=text_model,
    )
