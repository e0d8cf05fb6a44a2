"""How well clients who type as on WeChat get what they came for: the dialogue corpus through the real engine.

`python -m bench.eval_dialogue` plays every scenario of tests/data/dialogues/ (dev and held-out) and prints task
success, category accuracy, turns to a ticket, re-asks and confirming in words, per skill, for each split.
`--scenario ID -v` prints one conversation's transcript with what the bot was asking at each client turn.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.dialogue_driver import Driver, Run, ticket_fits
from bench.dialogue_scenarios import SPLITS, Scenario, load_scenarios


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f} % ({part}/{whole})" if whole else "–"


def _mean(values: Sequence[float]) -> str:
    return f"{sum(values) / len(values):.2f} (n={len(values)})" if values else "–"


@dataclass(frozen=True, slots=True)
class Figures:
    """The figures of one split."""

    rows: list[tuple[str, str]]
    skills: dict[str, str]


def figures(runs: Sequence[Run]) -> Figures:
    """Task success, category accuracy, turns, re-asks, confirming in words, and success per skill."""
    wins = sum(r.success for r in runs)
    judged = [r.category_right for r in runs if r.category_right is not None]
    ticket_runs = [r for r in runs if "ticket" in r.scenario.expect.goals and r.turns_to_ticket is not None]
    up_front = [
        r for r in ticket_runs if "details_up_front" in r.scenario.skills and r.scenario.category == "complaint"
    ]
    # Each conversation's first affirmation at the summary: did it submit?
    affirm = [r.affirmations[0] for r in runs if r.affirmations]
    deny = [ok for r in runs for ok in r.denials]
    confirm_runs = [r for r in runs if "confirm_words" in r.scenario.skills]
    # Understanding apart from submitting: the draft shown for confirmation already had the right details.
    wants_ticket = [r for r in runs if {"ticket", "answered"} & set(r.scenario.expect.goals)]
    drafts = [r.draft is not None and not ticket_fits(r.scenario.expect.ticket, r.draft) for r in wants_ticket]
    rows = [
        ("scenarios", str(len(runs))),
        ("task success", _pct(wins, len(runs))),
        ("category accuracy (tickets filed)", _pct(sum(judged), len(judged))),
        ("summary shown with right category+details", _pct(sum(drafts), len(drafts))),
        ("mean client turns to a ticket", _mean([float(r.turns_to_ticket or 0) for r in ticket_runs])),
        ("  complaints, details in 1st message", _mean([float(r.turns_to_ticket or 0) for r in up_front])),
        ("re-asks per conversation", _mean([float(len(r.reasks)) for r in runs])),
        ("conversations with no re-ask", _pct(sum(not r.reasks for r in runs), len(runs))),
        ("confirming in words: submitted", _pct(sum(affirm), len(affirm))),
        ("  confirm_words scenarios succeeded", _pct(sum(r.success for r in confirm_runs), len(confirm_runs))),
        ("denials at the summary kept the draft", _pct(sum(deny), len(deny))),
        ("client turns with no reply", str(sum(r.unanswered_turns for r in runs))),
        ("clients who gave up repeating", str(sum(r.gave_up for r in runs))),
        ("scripted steps never reached", str(sum(r.skipped_steps for r in runs))),
    ]
    by_skill: dict[str, list[bool]] = defaultdict(list)
    for run in runs:
        for skill in run.scenario.skills:
            by_skill[skill].append(run.success)
    skills = {k: _pct(sum(v), len(v)) for k, v in sorted(by_skill.items())}
    return Figures(rows, skills)


def render(results: dict[str, list[Run]]) -> str:
    """One table, a column per split."""
    splits = list(results)
    tables = {s: figures(results[s]) for s in splits}
    width = 40
    out = [f"{'dialogue evaluation':<{width}}" + "".join(f"{s:>18}" for s in splits)]
    for i, (label, _) in enumerate(tables[splits[0]].rows):
        out.append(f"{label:<{width}}" + "".join(f"{tables[s].rows[i][1]:>18}" for s in splits))
    out.append("success per skill:")
    skills = sorted({k for t in tables.values() for k in t.skills})
    for skill in skills:
        out.append(f"  {skill:<{width - 2}}" + "".join(f"{tables[s].skills.get(skill, '–'):>18}" for s in splits))
    return "\n".join(out)


def transcript(run: Run) -> str:
    """The conversation as the client saw it, with what the bot was asking and the judgement."""
    scenario = run.scenario
    out = [f"== {scenario.id} [{scenario.split}] {', '.join(scenario.skills)}: {scenario.note}"]
    for line in run.lines:
        if line.who == "client":
            flag = "  ← RE-ASK" if line.reask else ""
            out.append(f"client ({line.asked or '-'}){flag}: {line.text}")
        else:
            out.append("   bot: " + line.text.replace("\n", "\n        "))
    gave_up = "; the client gave up repeating" if run.gave_up else ""
    out.append(f"-- state {run.state}; {run.turns} client turns; turns to ticket {run.turns_to_ticket}{gave_up}")
    for ticket in run.tickets:
        out.append(f"-- ticket {ticket.number} {ticket.category} {ticket.status} handoff={ticket.handoff}")
        out.append(f"   details {dict(ticket.details)} satisfaction={ticket.satisfaction}")
    out.append(f"-- re-asks {run.reasks}; " + ("SUCCESS" if run.success else "FAIL: " + " | ".join(run.failures)))
    return "\n".join(out)


async def play_all(chosen: dict[str, list[Scenario]], template: Path | None = None) -> dict[str, list[Run]]:
    """Every chosen scenario on one kefu (one database, new or a copy of `template`; each client is a new user)."""
    async with Driver.open(template=template) as driver:
        return {split: [await driver.play(s) for s in scenarios] for split, scenarios in chosen.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--split", choices=[*SPLITS, "all"], help="default: all; dev with --scenario")
    parser.add_argument("--scenario", help="play only this scenario id")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each transcript")
    parser.add_argument("--failures", action="store_true", help="list failed dev scenarios with the reason")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    # The held-out part is for figures only: its transcripts are printed when asked for by name alone.
    split = args.split or ("dev" if args.scenario else "all")
    splits = SPLITS if split == "all" else (split,)
    chosen = {s: load_scenarios(s) for s in splits}
    if args.scenario:
        chosen = {s: [x for x in v if x.id == args.scenario] for s, v in chosen.items()}
        chosen = {s: v for s, v in chosen.items() if v}
        if not chosen:
            print(f"no scenario {args.scenario}", file=sys.stderr)
            return 2
    started = time.perf_counter()
    results = asyncio.run(play_all(chosen))
    for runs in results.values():
        for run in runs:
            if args.verbose or args.scenario:
                print(transcript(run) + "\n")
            elif args.failures and not run.success and run.scenario.split == "dev":
                print(f"{run.scenario.id}: " + " | ".join(run.failures))
    print(render(results))
    print(f"({sum(len(v) for v in results.values())} scenarios in {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
