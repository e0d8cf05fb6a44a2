"""core's objects started as a started kefu has them, for the core tests: no app, no channel of bots/."""

from __future__ import annotations

from core.keywords.versions import classifier_for, rules_in_force
from core.wiring import Core


async def start_core(core: Core) -> None:
    """Classify with the published rule version the database names, as the app's start does."""
    async with core.db.transaction() as session:
        number, specs = await rules_in_force(session)
    threshold = core.settings.dialogue.classifier_threshold
    core.classifier.current = classifier_for(specs, threshold, number, core.text_model)
