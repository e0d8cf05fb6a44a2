"""Ticket lifecycle: every allowed and refused transition, and the guards of resolve and close."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.db.models import Ticket
from core.errors import InvalidInput
from core.settings import PROJECT_ROOT
from core.tickets.lifecycle import (
    InvalidTicketTransition,
    MissingSummary,
    TicketStatus,
    TransitionRequest,
    mermaid,
    transition,
)

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
S = TicketStatus


def _ticket(status: TicketStatus, category: str = "complaint") -> Ticket:
    return Ticket(id=1, number="KF-20261130-0001", status=status.value, category=category, reopen_count=0)


def _request(to: TicketStatus) -> TransitionRequest:
    return TransitionRequest(to, "user:1", solution="补量", root_cause="排期错误", improvement="排期双人复核")


# The agency's process written out by hand, not read from core.tickets.lifecycle: a move added to or dropped
# from the table under test must show up here as a failing pair.
EXPECTED_MOVES = {
    ("received", "classified"),
    ("classified", "investigating"),
    ("classified", "resolved"),
    ("investigating", "resolved"),
    ("resolved", "feedback"),
    ("resolved", "closed"),
    ("resolved", "investigating"),
    ("feedback", "closed"),
    ("feedback", "investigating"),
    ("closed", "investigating"),
}
# What each move records besides its statuses (with the texts of `_request`).
EXPECTED_DATA = {
    "resolved": {"solution": "补量"},
    "closed": {"root_cause": "排期错误", "improvement": "排期双人复核", "waived": False},
}
STATUSES = ["received", "classified", "investigating", "resolved", "feedback", "closed"]


def test_the_statuses_are_the_six_steps_in_order() -> None:
    assert [s.value for s in S] == STATUSES


@pytest.mark.parametrize("source", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_every_pair_is_allowed_or_refused_as_the_process_says(source: str, target: str) -> None:
    ticket = _ticket(S(source))
    if (source, target) in EXPECTED_MOVES:
        event = transition(ticket, _request(S(target)), NOW)
        assert (ticket.status, ticket.updated_at) == (target, NOW)
        assert (event.ticket_id, event.before, event.after, event.actor) == (1, source, target, "user:1")
        assert event.created_at == NOW
        reopens = target == "investigating" and source in ("resolved", "feedback", "closed")
        assert event.kind == ("reopened" if reopens else target)
        assert event.data == ({"reopened": True} if reopens else EXPECTED_DATA.get(target, {}))
    else:
        with pytest.raises(InvalidTicketTransition):
            transition(ticket, _request(S(target)), NOW)
        assert ticket.status == source


def test_nothing_is_closed_without_being_resolved_first() -> None:
    for source in ("received", "classified", "investigating"):
        with pytest.raises(InvalidTicketTransition):
            transition(_ticket(S(source)), _request(S.CLOSED), NOW)


def test_resolve_needs_a_solution() -> None:
    ticket = _ticket(S.INVESTIGATING)
    for missing in ("  ", "", None):
        with pytest.raises(InvalidInput):
            transition(ticket, TransitionRequest(S.RESOLVED, "user:1", solution=missing), NOW)
    assert ticket.status == "investigating" and ticket.solution is None
    transition(ticket, TransitionRequest(S.RESOLVED, "user:1", solution="已补量"), NOW)
    assert ticket.solution == "已补量" and ticket.resolved_at == NOW


def test_close_needs_root_cause_and_improvement() -> None:
    ticket = _ticket(S.FEEDBACK)
    with pytest.raises(MissingSummary):
        transition(ticket, TransitionRequest(S.CLOSED, "user:1", root_cause="排期错误"), NOW)
    with pytest.raises(MissingSummary):
        transition(ticket, TransitionRequest(S.CLOSED, "user:1", improvement="复核"), NOW)
    event = transition(ticket, TransitionRequest(S.CLOSED, "user:1", root_cause="排期错误", improvement="复核"), NOW)
    assert ticket.closed_at == NOW and (ticket.root_cause, ticket.improvement) == ("排期错误", "复核")
    assert event.data == {"root_cause": "排期错误", "improvement": "复核", "waived": False}


def test_summary_may_be_waived_for_inquiries_only() -> None:
    inquiry = _ticket(S.RESOLVED, "inquiry")
    with pytest.raises(MissingSummary):
        transition(inquiry, TransitionRequest(S.CLOSED, "user:1"), NOW)  # only when the caller waives it
    event = transition(inquiry, TransitionRequest(S.CLOSED, "user:1"), NOW, waive_summary_for_inquiry=True)
    assert inquiry.status == "closed" and (inquiry.root_cause, inquiry.improvement) == (None, None)
    assert event.data == {"root_cause": "", "improvement": "", "waived": True}
    # An inquiry closed with its summary all the same was not waived.
    summarised = _ticket(S.RESOLVED, "inquiry")
    event = transition(summarised, _request(S.CLOSED), NOW, waive_summary_for_inquiry=True)
    assert event.data["waived"] is False
    complaint = _ticket(S.RESOLVED, "complaint")
    with pytest.raises(MissingSummary):
        transition(complaint, TransitionRequest(S.CLOSED, "user:1"), NOW, waive_summary_for_inquiry=True)


def test_reopen_clears_resolution_and_is_recorded_as_reopened() -> None:
    ticket = _ticket(S.CLOSED)
    ticket.resolved_at = ticket.closed_at = NOW
    event = transition(ticket, TransitionRequest(S.INVESTIGATING, "client", reason="没解决"), NOW)
    assert event.kind == "reopened" and event.data == {"reopened": True, "reason": "没解决"}
    assert ticket.resolved_at is None and ticket.closed_at is None


def test_a_first_investigation_is_not_a_reopening() -> None:
    ticket = _ticket(S.CLASSIFIED)
    ticket.resolved_at = NOW
    event = transition(ticket, TransitionRequest(S.INVESTIGATING, "user:1"), NOW)
    assert (event.kind, event.data, ticket.resolved_at) == ("investigating", {}, NOW)


def test_docs_show_the_generated_lifecycle_diagram() -> None:
    doc = (Path(PROJECT_ROOT) / "docs" / "tickets.md").read_text(encoding="utf-8")
    assert mermaid() in doc, "docs/tickets.md is out of date: run `kefu docs`"
