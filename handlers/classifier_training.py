"""Fitting draft models in the deployment: by hand (`kefu classifier train --draft`) or once a week in a worker."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from core.db.models import ClassifierModel, ConfirmedLabel
from core.dialogue.textmodel import STARTER_MODEL, TextModel, load_model
from core.keywords.versions import rules_in_force
from core.learning import labels, store
from core.learning.data import DEFAULT_CORPUS, Labelled, starter_data
from core.learning.draft import DraftInputs, train_draft
from core.singleton import singleton
from core.weekly_report import week_label

if TYPE_CHECKING:
    from handlers.services import Services

log = logging.getLogger(__name__)
LOCK = "classifier-training"
# Without a model in force nor a starter file, confident answers start at this probability.
DEFAULT_THRESHOLD = 0.9


def corpus_path(setting: str) -> Path | None:
    """The starter corpus the settings name; None: the agency's own messages only."""
    if setting == "none":
        return None
    if setting in ("", "auto"):
        return DEFAULT_CORPUS if DEFAULT_CORPUS.exists() else None
    return Path(setting)


def starter(services: Services) -> list[Labelled]:
    return starter_data(corpus_path(services.settings.dialogue.training_corpus))


async def gather(services: Services) -> DraftInputs:
    """The starter data, the confirmed labels, the rules and the model in force, read now."""
    async with services.db.transaction() as session:
        confirmed = await labels.training_labels(session)
        _, specs = await rules_in_force(session)
    live = services.model_in_force
    fallback = live.threshold if live is not None else None
    if fallback is None:
        shipped = services.settings.config_dir / STARTER_MODEL
        fallback = load_model(shipped).threshold if shipped.exists() else DEFAULT_THRESHOLD
    return DraftInputs(
        starter=await asyncio.to_thread(starter, services),
        labels=confirmed,
        rules=specs,
        rules_threshold=services.settings.dialogue.classifier_threshold,
        in_force=live,
        fallback_threshold=fallback,
    )


async def fit_in_subprocess(inputs: DraftInputs) -> tuple[TextModel, dict[str, Any]]:
    """The fit in a process of its own: scikit-learn never loads in the serving process, and its loop stays free."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(pool, train_draft, inputs)


async def train_and_store(
    services: Services, *, week: str = "", note: str = "", user_id: int | None = None, in_process: bool = False
) -> ClassifierModel:
    """Fit a draft on the starter data and the confirmed labels, and store it (not in force)."""
    inputs = await gather(services)
    if in_process:
        model, report = await asyncio.to_thread(train_draft, inputs)
    else:
        model, report = await fit_in_subprocess(inputs)
    async with services.db.transaction() as session:
        row = await store.save_draft(
            session,
            model,
            report,
            week=week,
            note=note,
            user_id=user_id,
            now=services.clock.now(),
        )
        session.expunge(row)
    log.info("classifier draft %s fitted in %.0f s", row.number, report["seconds"])
    return row


class WeeklyTraining:
    """Once per ISO week and deployment, a draft model when labels were confirmed since the last draft."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.zone = ZoneInfo(services.settings.timezone)
        self._failed = ""

    async def tick(self) -> int | None:
        """The number of the draft fitted by this call, if any."""
        if not self.services.settings.dialogue.weekly_training:
            return None
        async with singleton(self.services.db, LOCK) as mine:
            if not mine:
                return None
            now = self.services.clock.now()
            week = week_label(now.astimezone(self.zone).date())
            async with self.services.db.transaction() as session:
                if await session.scalar(select(ClassifierModel.id).where(ClassifierModel.week == week).limit(1)):
                    return None
                last_fit = await session.scalar(select(func.max(ClassifierModel.created_at)))
                newer = select(func.count()).select_from(ConfirmedLabel)
                if last_fit is not None:
                    newer = newer.where(ConfirmedLabel.created_at > last_fit)
                if not await session.scalar(newer):
                    return None
            if self._failed == week:
                return None
            try:
                row = await train_and_store(self.services, week=week, note=f"weekly {week}")
            except Exception:
                # A fit that fails (labels of one category only, a broken corpus file) would fail again at every
                # check and hold a core each time: this process tries again next week.
                self._failed = week
                log.exception("the weekly classifier fit for %s failed; next try next week", week)
                return None
            return row.number
