"""Ticket lifecycle: every allowed and refused transition, and the guards of resolve and close."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.db.models import Ticket
from core.errors import InvalidInput
from core.lifecycle import (
    ALLOWED,
    InvalidTicketTransition,
    MissingSummary,
    TicketStatus,
    TransitionRequest,
    mermaid,
    transition,
)
from core.settings import PROJECT_ROOT

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
S = TicketStatus


def _ticket(status: TicketStatus, category: str = "complaint") -> Ticket:
    return Ticket(id=1, number="KF-20261130-0001", status=status.value, category=category, reopen_count=0)


def _request(to: TicketStatus) -> TransitionRequest:
    return TransitionRequest(to, "user:1", solution="补量", root_cause="排期错误", improvement="排期双人复核")


@pytest.mark.parametrize("source", list(S))
@pytest.mark.parametrize("target", list(S))
def test_every_pair_is_allowed_or_refused_by_the_table(source: TicketStatus, target: TicketStatus) -> None:
    ticket = _ticket(source)
    if target in ALLOWED[source]:
        event = transition(ticket, _request(target), NOW)
        assert ticket.status == target.value
        assert (event.before, event.after, event.actor) == (source.value, target.value, "user:1")
    else:
        with pytest.raises(InvalidTicketTransition):
            transition(ticket, _request(target), NOW)
        assert ticket.status == source.value


def test_resolve_needs_a_solution() -> None:
    ticket = _ticket(S.INVESTIGATING)
    with pytest.raises(InvalidInput):
        transition(ticket, TransitionRequest(S.RESOLVED, "user:1", solution="  "), NOW)
    assert ticket.status == "investigating"
    transition(ticket, TransitionRequest(S.RESOLVED, "user:1", solution="已补量"), NOW)
    assert ticket.solution == "已补量" and ticket.resolved_at == NOW


def test_close_needs_root_cause_and_improvement() -> None:
    ticket = _ticket(S.FEEDBACK)
    with pytest.raises(MissingSummary):
        transition(ticket, TransitionRequest(S.CLOSED, "user:1", root_cause="排期错误"), NOW)
    with pytest.raises(MissingSummary):
        transition(ticket, TransitionRequest(S.CLOSED, "user:1", improvement="复核"), NOW)
    event = transition(ticket, TransitionRequest(S.CLOSED, "user:1", root_cause="排期错误", improvement="复核"), NOW)
    assert ticket.closed_at == NOW and event.data["root_cause"] == "排期错误"


def test_summary_may_be_waived_for_inquiries_only() -> None:
    inquiry = _ticket(S.RESOLVED, "inquiry")
    transition(inquiry, TransitionRequest(S.CLOSED, "user:1"), NOW, waive_summary_for_inquiry=True)
    assert inquiry.status == "closed"
    complaint = _ticket(S.RESOLVED, "complaint")
    with pytest.raises(MissingSummary):
        transition(complaint, TransitionRequest(S.CLOSED, "user:1"), NOW, waive_summary_for_inquiry=True)


def test_reopen_clears_resolution_and_is_recorded_as_reopened() -> None:
    ticket = _ticket(S.CLOSED)
    ticket.resolved_at = ticket.closed_at = NOW
    event = transition(ticket, TransitionRequest(S.INVESTIGATING, "client", reason="没解决"), NOW)
    assert event.kind == "reopened" and event.data == {"reopened": True, "reason": "没解决"}
    assert ticket.resolved_at is None and ticket.closed_at is None


def test_docs_show_the_generated_lifecycle_diagram() -> None:
    doc = (Path(PROJECT_ROOT) / "docs" / "tickets.md").read_text(encoding="utf-8")
    assert mermaid() in doc, "docs/tickets.md is out of date: run `kefu docs`"
