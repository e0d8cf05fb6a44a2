"""What the bot says while it collects a form: prompts, buttons, the summary, re-asks and idle timers."""

from __future__ import annotations

from datetime import timedelta

from core.dialogue.forms import CATEGORIES, SlotSpec
from core.dialogue.model import (
    ASKING_STATES,
    CALL_BACK,
    CANCEL,
    CATEGORY_PREFIX,
    CHOICE_PREFIX,
    CONFIRM,
    EDIT,
    EDIT_PREFIX,
    RATE_PREFIX,
    Deps,
    Draft,
    Say,
    Schedule,
    State,
    TimerKind,
)
from core.messages import Button


def category_buttons(deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(Button(CATEGORY_PREFIX + c, deps.texts.get(f"category.{c}", lang)) for c in CATEGORIES)


def _choice_buttons(spec: SlotSpec, category: str, deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(
        Button(CHOICE_PREFIX + c, deps.texts.get(f"slots.{category}.{spec.name}.choices.{c}", lang))
        for c in spec.choices
    )


def slot_label(draft: Draft, deps: Deps, name: str) -> str:
    """What the summary calls a detail of the draft's form ("联系电话")."""
    return deps.texts.get(f"slots.{draft.category}.{name}.label", draft.lang)


def prompt_for(draft: Draft, spec: SlotSpec, deps: Deps) -> tuple[str, str, tuple[Button, ...]]:
    assert draft.category is not None
    key = f"slots.{draft.category}.{spec.name}"
    hint = "" if spec.required else deps.texts.get("form.optional_hint", draft.lang)
    return deps.texts.get(f"{key}.prompt", draft.lang), hint, _choice_buttons(spec, draft.category, deps, draft.lang)


def ask_next(draft: Draft, deps: Deps) -> None:
    """Ask for the next missing detail, or confirm when none is missing."""
    assert draft.category is not None
    spec = deps.forms.next_missing(draft.category, draft.slots)
    if spec is None:
        draft.context.pop("asking", None)
        draft.context.pop("editing", None)
        _confirm(draft, deps)
        return
    if draft.context.get("asking") != spec.name:
        draft.context["reasks"] = 0
    draft.context["asking"] = spec.name
    prompt, hint, buttons = prompt_for(draft, spec, deps)
    draft.say("form.ask", buttons, prompt=prompt, hint=hint)


def _summary_lines(draft: Draft, deps: Deps) -> str:
    assert draft.category is not None
    lines = []
    for i, spec in enumerate(deps.forms.shown(draft.category, draft.slots), start=1):
        value = draft.slots.get(spec.name)
        shown = value if value else deps.texts.get("form.skipped", draft.lang)
        lines.append(f"{i}. {slot_label(draft, deps, spec.name)}: {shown}")
    evidence = draft.context.get("evidence") or []
    if evidence:
        lines.append(deps.texts.get("form.evidence_count", draft.lang, count=len(evidence)))
    side = draft.context.get("side_questions") or []
    if side:
        lines.append(deps.texts.get("form.side_count", draft.lang, count=len(side)))
    if draft.context.get(CALL_BACK):
        lines.append(deps.texts.get("form.call_back", draft.lang))
    return "\n".join(lines)


def confirm_buttons(draft: Draft, deps: Deps) -> tuple[Button, ...]:
    return (
        Button(CONFIRM, deps.texts.get("confirm.submit", draft.lang)),
        Button(EDIT, deps.texts.get("confirm.edit", draft.lang)),
        Button(CANCEL, deps.texts.get("confirm.cancel", draft.lang)),
    )


def show_summary(draft: Draft, deps: Deps) -> None:
    assert draft.category is not None
    draft.context["summary_shown"] = True
    draft.effects.append(
        Say(
            "confirm.summary",
            {
                "category": deps.texts.get(f"category.{draft.category}", draft.lang),
                "summary": _summary_lines(draft, deps),
            },
        )
    )
    draft.say("confirm.ask", confirm_buttons(draft, deps))


def _confirm(draft: Draft, deps: Deps) -> None:
    """The whole summary before the first submit; afterwards a short question (the summary is still above)."""
    if draft.context.get("summary_shown"):
        draft.say("confirm.brief", confirm_buttons(draft, deps))
    else:
        show_summary(draft, deps)


def schedule_idle(draft: Draft, deps: Deps) -> None:
    draft.effects.append(Schedule(TimerKind.IDLE_REMINDER, timedelta(minutes=deps.settings.idle_reminder_minutes)))
    draft.effects.append(Schedule(TimerKind.IDLE_ABANDON, timedelta(hours=deps.settings.idle_abandon_hours)))


def keep(draft: Draft, *names: str) -> None:
    draft.context = {k: v for k, v in draft.context.items() if k in {"turn", *names}}


def reprompt(draft: Draft, deps: Deps) -> None:
    """Back to where the client was: the detail being asked, or the confirmation."""
    spec = (
        deps.forms.slot(draft.category, str(draft.context["asking"]))
        if draft.category and draft.context.get("asking")
        else None
    )
    if spec is not None:
        prompt, hint, buttons = prompt_for(draft, spec, deps)
        draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    elif draft.state is State.CONFIRMING:
        draft.say("confirm.brief", confirm_buttons(draft, deps))
    elif draft.state in ASKING_STATES:
        draft.say("classify.ask", category_buttons(deps, draft.lang))


def reask(draft: Draft, deps: Deps, spec: SlotSpec, problem: str, *, with_prompt: bool = False) -> None:
    """Say what was wrong (and the question again); after a few tries offer to skip or a person, not a loop."""
    assert draft.category is not None
    tries = int(draft.context.get("reasks", 0)) + 1
    draft.context["reasks"] = tries
    prompt, hint, buttons = prompt_for(draft, spec, deps)
    # The problem may name the detail ("还需要您告诉我「涉及项目/活动」"); texts that do not, ignore it.
    said = Say(problem, {"label": slot_label(draft, deps, spec.name)})
    if with_prompt:
        draft.effects.append(said)
    if tries >= deps.settings.max_reasks:
        # A required detail cannot be skipped: only a person is offered ("跳过" refused, then offered, read as a loop).
        offer = "form.offer_person" if not spec.required else "form.offer_person_required"
        draft.effects.append(said if not with_prompt else Say(offer))
        if not with_prompt:
            draft.say(offer, buttons)
            schedule_idle(draft, deps)
            return
    if with_prompt:
        draft.say("form.ask", buttons, prompt=prompt, hint=hint)
    else:
        draft.say(problem, buttons)
    schedule_idle(draft, deps)


def edit_buttons(draft: Draft, deps: Deps) -> tuple[Button, ...]:
    """One button per detail the summary lists, to pick the one to change."""
    assert draft.category is not None
    return tuple(
        Button(EDIT_PREFIX + s.name, slot_label(draft, deps, s.name))
        for s in deps.forms.shown(draft.category, draft.slots)
    )


def rating_buttons(deps: Deps, lang: str) -> tuple[Button, ...]:
    return tuple(Button(f"{RATE_PREFIX}{n}", deps.texts.get(f"feedback.rate_{n}", lang)) for n in range(1, 6))
