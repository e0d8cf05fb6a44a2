"""Fixtures of the core tests: core's objects alone, without the app (handlers/) or a channel of bots/."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.clock import ManualClock
from core.settings import Settings
from core.wiring import Core, build_core
from tests.support.core import start_core


@pytest.fixture
async def core(settings: Settings, clock: ManualClock) -> AsyncIterator[Core]:
    """Core's objects on this test's database, classifying with the rules in force; tests register channels."""
    built = build_core(settings, clock)
    await start_core(built)
    yield built
    await built.stop()
