"""The turn engine: dedupe, serialize per conversation, step the dialogue, persist in one transaction, deliver.

`Engine` is the one object callers hold; its jobs live in their own modules: client turns (`turns`), timers and
other events (`timers`), reps' actions (`reps`) and a step's effects (`effects`), over what they share (`base`).
"""

from __future__ import annotations

from core.engine.base import (
    CATEGORY_STATES,
    DIALOGUE_TIMEOUT,
    IDLE_STATES,
    START_STATES,
    ClassifierHolder,
    ReceiveResult,
    combine,
)
from core.engine.reps import EngineReps
from core.engine.turns import EngineTurns

__all__ = [
    "CATEGORY_STATES",
    "DIALOGUE_TIMEOUT",
    "IDLE_STATES",
    "START_STATES",
    "ClassifierHolder",
    "Engine",
    "ReceiveResult",
    "combine",
]


class Engine(EngineTurns, EngineReps):
    """Every event from clients, reps and timers goes through here; every reply leaves through the outbox."""
