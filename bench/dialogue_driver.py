"""Plays dialogue scenarios through the real engine as a simulated client and records what happened.

The driver relies only on what stays while the dialogue changes: Engine.receive and Engine.resolve, the follow-up
runner, the tickets table (category, details, satisfaction, status, handoff), and the conversation's state and
context["asking"] (slot names of config/forms.yaml, state names of core/dialogue/model.py).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import unicodedata
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.dialogue_scenarios import SLOTS, Scenario, Step, TicketSpec
from core.channel import ChannelCapabilities, SendResult
from core.clock import ManualClock
from core.db.models import Conversation, Ticket, User
from core.dialogue.fields import edit_request
from core.dialogue.model import State
from core.messages import ConversationRef, InboundMessage, OutboundMessage
from core.settings import Settings
from core.tickets.lifecycle import OPEN_STATUSES
from handlers.services import Services, build_services

CHANNEL = "sim"
TURN_CAP = 12
# A client answers the same question at most this many times, then gives up.
MAX_REPEATS = 2
# Seconds a client takes to read the bot and type the next message (fragments say their own, shorter gap).
DEFAULT_GAP = 20.0
# How long a client waits for the satisfaction prompt at most (quiet hours are ten), looking every half hour.
QUIET_WAIT, QUIET_STEP = 12 * 3600.0, 1800.0
TICKET_NO = re.compile(r"KF-\d{8}-\d{4}")
# Natural answers of a client who was not told otherwise (the category the bot asks for, optional details).
CATEGORY_WORDS = {"complaint": "投诉", "inquiry": "咨询", "suggestion": "建议", "other": "其他"}
DEFAULT_ANSWERS = {"since": "不记得了", "expected": "尽快处理", "contact": "就这个微信", "comment": "没有了"}
# Where no form is being filled and nobody is waiting for a person.
RESTING_STATES = frozenset({State.NEW, State.GREETED, State.CLOSED})
FORM_STATES = frozenset({State.CLASSIFYING, State.COLLECTING, State.CONFIRMING})
PERSON_STATES = frozenset({State.HUMAN_QUEUE, State.WITH_REP})
# A topic counts as right when the stored text names it (the choice key, its label, or a word of it).
TOPIC_WORDS = {
    "media": ("media", "投放", "媒介", "媒体", "媒體", "渠道"),
    "pricing": ("pricing", "报价", "價", "价格", "价", "收费", "合同", "price", "quote", "contract"),
    "billing": ("billing", "发票", "發票", "开票", "付款", "结算", "invoice", "账单"),
    "creative": ("creative", "创意", "素材", "设计", "asset"),
    "schedule": ("schedule", "排期", "进度", "档期", "progress"),
    "other": ("other", "其他"),
}
# A status answer says where the ticket stands or who holds it (the status labels of texts.*.yaml, or the like).
STATUS_WORDS = re.compile(
    r"状态|狀態|status|处理中|處理中|待处理|已接收|已分类|调查中|已解决|跟进中|排队|由.{1,8}负责|负责人|处理人|assigned",
    re.I,
)


@dataclass
class SimChannel:
    """A WeChat-like network without buttons that records what the bot sends to each client."""

    name: str = CHANNEL
    capabilities: ChannelCapabilities = field(default_factory=lambda: ChannelCapabilities(buttons=False))
    sent: dict[str, list[str]] = field(default_factory=dict)

    async def send(self, ref: ConversationRef, message: OutboundMessage) -> SendResult:
        lines = self.sent.setdefault(ref.external_user_id, [])
        lines.append(message.text)
        return SendResult(external_id=f"{ref.external_user_id}-out-{len(lines)}")


def digits(text: str) -> str:
    """The digits of a phone number, without a leading +86 / 0086 country code."""
    only = re.sub(r"\D", "", text)
    return re.sub(r"^(0086|86)(?=1\d{10}$|\d{9,11}$)", "", only)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", text).lower()


def mentions(slot: str, markers: Sequence[str], text: str) -> bool:
    """Whether a client message gives this detail (a phone by its digits, anything else by a marker's text)."""
    if slot in {"phone", "contact"} and any(digits(m) and len(digits(m)) >= 7 for m in markers):
        said = digits(text)
        return any(len(digits(m)) >= 7 and digits(m) in said for m in markers)
    return any(_norm(m) in _norm(text) for m in markers)


class ReaskTracker:
    """Counts the bot asking for a detail the client had already given (a message carried it, or answered it)."""

    def __init__(self, facts: Mapping[str, Sequence[str]]) -> None:
        self.facts = facts
        self.given: set[str] = set()
        self.reasks: list[str] = []

    def client_said(self, text: str, answering: str | None) -> None:
        for slot, markers in self.facts.items():
            if mentions(slot, markers, text):
                self.given.add(slot)
        if answering in SLOTS:
            self.given.add(answering)
        edit = edit_request(text)
        if edit is not None and not mentions(edit[0], self.facts.get(edit[0], ()), text):
            # "项目名不对": a detail the client calls wrong is no longer given, and asking for it is no re-ask.
            self.given.discard(edit[0])

    def bot_asks(self, slot: str | None) -> bool:
        """Note what the bot asks before the client's next turn; True when it is a re-ask."""
        if slot in SLOTS and slot in self.given:
            self.reasks.append(slot)
            return True
        return False


def asked_of(state: State, context: Mapping[str, Any]) -> str | None:
    """What the bot is waiting for, from the stored dialogue state."""
    if state is State.COLLECTING:
        asking = context.get("asking")
        return str(asking) if asking else None
    return {
        State.CONFIRMING: "confirm",
        State.CLASSIFYING: "category",
        # Greeted, the bot waits to hear what the matter is (today with the category menu).
        State.GREETED: "category",
        State.AWAITING_FEEDBACK: "score",
        State.FEEDBACK_COMMENT: "comment",
    }.get(state)


@dataclass(frozen=True, slots=True)
class TicketView:
    """What the evaluation reads of a ticket."""

    number: str
    category: str
    details: Mapping[str, Any]
    status: str
    handoff: bool
    satisfaction: int | None


@dataclass(slots=True)
class Line:
    """One message of the transcript: the client's (with what the bot was asking) or the bot's."""

    who: str
    text: str
    asked: str | None = None
    reask: bool = False
    # A client line is an answer to what was asked (from `answers`), or a scripted turn sent whatever was asked.
    scripted: bool = False


@dataclass
class Run:
    """What happened when a scenario was played, and how it is judged."""

    scenario: Scenario
    lines: list[Line] = field(default_factory=list)
    turns: int = 0
    turns_to_ticket: int | None = None
    reasks: list[str] = field(default_factory=list)
    affirmations: list[bool] = field(default_factory=list)
    denials: list[bool] = field(default_factory=list)
    skipped_steps: int = 0
    gave_up: bool = False
    # The draft (category, details) the first time the bot asked for confirmation: what it had understood.
    draft: TicketView | None = None
    unanswered_turns: int = 0
    state: str = ""
    tickets: list[TicketView] = field(default_factory=list)
    probe_reply: str | None = None
    failures: list[str] = field(default_factory=list)
    category_right: bool | None = None

    @property
    def success(self) -> bool:
        return not self.failures


def _matches(slot: str, want: Sequence[str], value: Any) -> bool:
    text = "" if value is None else str(value)
    if slot == "phone":
        return any(digits(w) and digits(w) in digits(text) for w in want)
    if slot == "topic":
        words = [w for key in want for w in TOPIC_WORDS.get(key, (key,))]
        return any(_norm(w) in _norm(text) for w in words)
    return any(_norm(w) in _norm(text) for w in want)


def ticket_fits(spec: TicketSpec, ticket: TicketView) -> list[str]:
    """Why this ticket does not fit the spec (empty when it does)."""
    wrong = []
    if spec.category is not None and ticket.category != spec.category:
        wrong.append(f"category {ticket.category} ≠ {spec.category}")
    for slot, want in spec.details.items():
        if not _matches(slot, want, ticket.details.get(slot)):
            wrong.append(f"{slot}={ticket.details.get(slot)!r} ≠ {'/'.join(want)}")
    return wrong


def judge(run: Run) -> None:
    """Fill run.failures (empty = success) and run.category_right from the final tickets and state."""
    expect = run.scenario.expect
    tickets, state = run.tickets, State(run.state)
    failures: list[str] = []
    main = tickets[0] if tickets else None
    if expect.ticket.category is not None and main is not None:
        run.category_right = main.category == expect.ticket.category
    reached = []
    for goal in expect.goals:
        if goal == "ticket":
            reached.append(main is not None and not ticket_fits(expect.ticket, main))
        elif goal == "person":
            reached.append(state in PERSON_STATES or any(t.handoff for t in tickets))
        elif goal in {"cancelled", "nothing"}:
            reached.append(not tickets and state in RESTING_STATES)
        elif goal == "answered":
            reached.append(main is not None and state not in FORM_STATES)
    if not any(reached):
        why = ticket_fits(expect.ticket, main) if main is not None else ["no ticket"]
        failures.append(f"goal {'/'.join(expect.goals)} not reached (state {run.state}; {'; '.join(why)})")
    if "person" in expect.goals and main is not None and expect.ticket.category and not run.category_right:
        failures.append(f"handoff ticket category {main.category} ≠ {expect.ticket.category}")
    if "answered" in expect.goals and main is not None:
        failures += [f"ticket: {w}" for w in ticket_fits(expect.ticket, main)]
    rest = list(tickets[1:])
    for spec in expect.more:
        fit = next((t for t in rest if not ticket_fits(spec, t)), None)
        if fit is None:
            failures.append(f"no further {spec.category or ''} ticket")
        else:
            rest.remove(fit)
    if expect.tickets is not None and len(tickets) != expect.tickets:
        failures.append(f"{len(tickets)} tickets, expected {expect.tickets}")
    for slot, text in expect.absent.items():
        for ticket in tickets:
            if _norm(text) in _norm(str(ticket.details.get(slot) or "")):
                failures.append(f"{slot} holds {ticket.details.get(slot)!r}")
    if expect.satisfaction is not None and (main is None or main.satisfaction != expect.satisfaction):
        failures.append(f"satisfaction {main.satisfaction if main else None} ≠ {expect.satisfaction}")
    if expect.reopened and (main is None or main.status not in OPEN_STATUSES):
        failures.append(f"ticket not reopened (status {main.status if main else None})")
    if expect.acked and run.unanswered_turns:
        failures.append(f"{run.unanswered_turns} client turns got no reply")
    for check in expect.reply:
        if not _reply_ok(check, run):
            failures.append(f"reply {check!r} failed: {run.probe_reply!r}")
    if expect.max_turns is not None and run.turns > expect.max_turns:
        failures.append(f"{run.turns} client turns > {expect.max_turns}")
    run.failures = failures


# The opening hours told: a reply that names when the agency opens and closes ("09:00–12:00").
CLOCK_TIME = re.compile(r"(?<!\d)(?:[01]\d|2[0-4]):[0-5]\d(?!\d)")


# How long handling takes, told: a reply that names a duration ("2 小时内", "within 24 hours", "3 个工作日").
DURATION = re.compile(r"\d+\s*(?:分钟|小时|个?工作日|天|minutes?\b|hours?\b|(?:business |working )?days?\b)", re.I)


# The category menu: a reply naming every category, in Chinese or in English (the labels of config/texts.*.yaml).
CATEGORY_MENUS = (tuple(CATEGORY_WORDS.values()), ("Inquiry", "Complaint", "Suggestion", "Other"))


# Venting acknowledged: a reply that says the client's feelings are understood or apologises for the trouble.
CALM_WORDS = re.compile(r"理解您|抱歉|添麻烦|不好意思|understand|sorry|apologi[sz]e", re.I)


# A short reply: 40 Chinese characters, or 80 letters of English (a Chinese character is two columns wide).
SHORT_COLUMNS = 80


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _reply_ok(check: str, run: Run) -> bool:
    reply = run.probe_reply
    if check == "status":
        numbers = {t.number for t in run.tickets}
        return bool(reply) and any(n in (reply or "") for n in numbers) and bool(STATUS_WORDS.search(reply or ""))
    if check == "short":
        return reply is None or (_columns(reply) <= SHORT_COLUMNS and not TICKET_NO.search(reply))
    if check == "hours":
        return len(CLOCK_TIME.findall(reply or "")) >= 2
    if check == "sla":
        return bool(DURATION.search(reply or ""))
    if check == "calm":
        return bool(CALM_WORDS.search(reply or ""))
    if check == "no_menu":
        return not any(all(label in (reply or "") for label in menu) for menu in CATEGORY_MENUS)
    raise ValueError(check)


class Driver:
    """One kefu (real engine, SQLite in a temp dir, manual clock) that plays scenarios as simulated clients."""

    def __init__(self, services: Services, clock: ManualClock, channel: SimChannel, rep_id: int) -> None:
        self.services = services
        self.clock = clock
        self.channel = channel
        self.rep_id = rep_id

    @classmethod
    @asynccontextmanager
    async def open(cls, directory: Path | None = None, template: Path | None = None) -> AsyncIterator[Driver]:
        """A kefu on a new database, or on a copy of `template`, a database kefu has already migrated and seeded."""
        # In memory when the machine has a tmpfs: the evaluation measures the dialogue, not the disk's fsync.
        shm = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: ASYNC240 (once, before any turn)
        with tempfile.TemporaryDirectory(prefix="kefu-eval-", dir=shm) as tmp:
            base = directory or Path(tmp)
            if template is not None:
                # Starting on it, kefu finds its migrations and first-start rows there and writes nothing.
                shutil.copy(template, base / "eval.db")
            settings = Settings(
                database_url=f"sqlite+aiosqlite:///{base / 'eval.db'}", env="test", media_dir=base / "media"
            )
            clock = ManualClock()
            services = build_services(settings, clock)
            await services.start(migrate=True)
            channel = SimChannel()
            services.registry.register(channel)
            try:
                async with services.db.transaction() as session:
                    rep = User(username="eval-rep", display_name="小评", role="rep", created_at=clock.now())
                    session.add(rep)
                    await session.flush()
                    rep_id = rep.id
                yield cls(services, clock, channel, rep_id)
            finally:
                await services.stop()

    async def observe(self, conversation_id: int | None) -> tuple[Conversation | None, list[TicketView]]:
        """The conversation as stored, and every ticket of its client in the order they were opened."""
        if conversation_id is None:
            return None, []
        async with self.services.db.transaction() as session:
            conversation = await session.get(Conversation, conversation_id)
            if conversation is None:
                return None, []
            query = select(Ticket).where(Ticket.client_id == conversation.client_id).order_by(Ticket.id)
            rows = (await session.execute(query)).scalars().all()
            views = [
                TicketView(t.number, t.category, dict(t.details or {}), t.status, t.handoff, t.satisfaction)
                for t in rows
            ]
            return conversation, views

    async def _tick(self, seconds: float) -> int:
        """Let time pass; the number of follow-ups (timers) that fired."""
        self.clock.advance(timedelta(seconds=seconds))
        return await self.services.followups.run_due()

    async def play(self, scenario: Scenario, user: str | None = None) -> Run:
        """Play the scenario to its goal, the turn cap, or until the client has nothing left to say."""
        user = user or f"{scenario.split}-{scenario.id}"
        play = _Play(self, scenario, user)
        await play.run()
        judge(play.record)
        return play.record


class _Play:
    """The state of one simulated client while its scenario plays."""

    def __init__(self, driver: Driver, scenario: Scenario, user: str) -> None:
        self.driver = driver
        self.scenario = scenario
        self.user = user
        self.record = Run(scenario)
        self.tracker = ReaskTracker(scenario.facts)
        self.used: dict[str, int] = {}
        self.seen = 0
        self.conversation_id: int | None = None

    def _answer(self, asked: str | None) -> str | None:
        """The client's natural reply to what the bot asks (the scenario's, else a default), or None."""
        if asked is None:
            return None
        n = self.used.get(asked, 0)
        if n >= MAX_REPEATS:
            self.record.gave_up = True
            return None
        self.used[asked] = n + 1
        scenario = self.scenario
        replies = scenario.answers.get(asked)
        if replies:
            return replies[min(n, len(replies) - 1)]
        if asked == "category":
            return CATEGORY_WORDS[scenario.category]
        if asked == "confirm":
            return "确认"
        if asked in scenario.facts:
            return scenario.facts[asked][0]
        if asked in {"description", "question", "proposal"}:
            return next((s.say for s in scenario.script if s.say and s.at is None), None)
        return DEFAULT_ANSWERS.get(asked)

    def _bot_lines(self) -> list[str]:
        sent = self.driver.channel.sent.get(self.user, [])
        new, self.seen = sent[self.seen :], len(sent)
        for text in new:
            self.record.lines.append(Line("bot", text))
        return new

    async def _look(self) -> tuple[State, str | None, list[TicketView]]:
        conversation, tickets = await self.driver.observe(self.conversation_id)
        if conversation is None:
            return State.NEW, None, tickets
        state = State(conversation.state)
        asked = asked_of(state, conversation.context or {})
        if asked == "confirm" and self.record.draft is None:
            details = dict(conversation.slots or {})
            self.record.draft = TicketView("", conversation.category or "", details, "", False, None)
        return state, asked, tickets

    async def _send(
        self, text: str, asked: str | None, reask: bool, scripted: bool, tickets_before: int
    ) -> tuple[list[str], tuple[State, str | None, list[TicketView]]]:
        record = self.record
        record.turns += 1
        record.lines.append(Line("client", text, asked, reask, scripted))
        # A scripted turn (a side question, a request) does not answer the slot being asked.
        self.tracker.client_said(text, None if scripted else asked)
        message = InboundMessage(
            ref=ConversationRef(CHANNEL, self.user), external_id=f"{self.user}-{record.turns}", text=text
        )
        result = await self.driver.services.engine.receive(message)
        self.conversation_id = result.conversation_id
        replies = self._bot_lines()
        seen = await self._look()
        tickets = seen[2]
        if record.turns_to_ticket is None and len(tickets) > tickets_before:
            record.turns_to_ticket = record.turns
        if asked == "confirm":
            opened = len(tickets) > tickets_before
            if text == self.scenario.affirmation:
                record.affirmations.append(opened)
            elif {"ticket", "answered"} & set(self.scenario.expect.goals):
                record.denials.append(not opened)
        return replies, seen

    async def run(self) -> None:
        driver, record, scenario = self.driver, self.record, self.scenario
        steps = list(scenario.script)
        probe_index: int | None = None
        seen: tuple[State, str | None, list[TicketView]] | None = None
        while record.turns < TURN_CAP:
            step: Step | None = steps[0] if steps else None
            if step is not None and step.wait is not None:
                steps.pop(0)
                await driver._tick(step.wait)
                self._bot_lines()
                seen = None
                continue
            gap = step.gap if step is not None and step.gap is not None and step.at is None else DEFAULT_GAP
            if await driver._tick(gap) or seen is None:
                seen = await self._look()
            self._bot_lines()
            state, asked, tickets = seen
            reask = self.tracker.bot_asks(asked)
            text: str | None = None
            scripted = False
            if step is not None:
                due = step.at is None or _at_holds(step.at, asked, tickets)
                if due and step.rep is not None:
                    steps.pop(0)
                    await self._resolve()
                    seen = None
                    continue
                if due:
                    steps.pop(0)
                    text, scripted = step.say, True
                else:
                    text = self._answer(asked)
                    if text is None:
                        steps.pop(0)
                        record.skipped_steps += 1
                        continue
            else:
                if _goal_reached(scenario, state, tickets):
                    break
                text = self._answer(asked)
                if text is None:
                    break
            assert text is not None
            if "{ticket_no}" in text:
                text = text.replace("{ticket_no}", tickets[-1].number if tickets else "")
            sent_at = len(record.lines)
            replies, seen = await self._send(text, asked, reask, scripted, len(tickets))
            if not replies:
                record.unanswered_turns += 1
            if scripted:
                # The probe is the bot's answer to this scripted message: the lines after the client's own.
                probe_index = sent_at + 1
        await driver._tick(DEFAULT_GAP)
        self._bot_lines()
        state, _, tickets = await self._look()
        record.state, record.tickets = state.value, tickets
        record.reasks = list(self.tracker.reasks)
        if probe_index is not None:
            after = []
            for line in record.lines[probe_index:]:
                if line.who == "client":
                    break
                after.append(line.text)
            record.probe_reply = "\n".join(after) if after else None

    async def _resolve(self) -> None:
        """A rep resolves the latest ticket; the satisfaction prompt follows after its delay."""
        driver = self.driver
        assert self.conversation_id is not None, "a rep can only resolve after the client wrote"
        await driver.services.engine.resolve(self.conversation_id, "已处理完毕", actor=f"user:{driver.rep_id}")
        told = len(driver.channel.sent.get(self.user, []))
        delay = driver.services.settings.dialogue.feedback_delay_minutes
        await driver._tick(delay * 60 + 60)
        # A prompt due in quiet hours waits for the morning: the client reads it then, whatever hour the
        # scenarios before this one left the clock at.
        waited = 0.0
        while len(driver.channel.sent.get(self.user, [])) == told and waited < QUIET_WAIT:
            await driver._tick(QUIET_STEP)
            waited += QUIET_STEP
        self._bot_lines()


def _at_holds(at: str, asked: str | None, tickets: Sequence[TicketView]) -> bool:
    if at == "asked":
        return asked is not None
    if at == "ticket":
        return bool(tickets) and asked is None
    return asked == at


def _goal_reached(scenario: Scenario, state: State, tickets: Sequence[TicketView]) -> bool:
    """Whether the client would stop now: what they came for has happened."""
    expect = scenario.expect
    if tickets and expect.satisfaction is not None and tickets[0].satisfaction is None:
        return False
    for goal in expect.goals:
        if goal in {"ticket", "answered"} and tickets and not ticket_fits(expect.ticket, tickets[0]):
            wanted = 1 + len(expect.more)
            if len(tickets) >= wanted and state not in FORM_STATES:
                return True
        if goal == "person" and (state in PERSON_STATES or any(t.handoff for t in tickets)):
            return True
        if goal in {"cancelled", "nothing"} and not tickets and state in RESTING_STATES:
            return True
    return False
