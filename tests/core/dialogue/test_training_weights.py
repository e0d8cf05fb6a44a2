"""How much each training row counts: in-domain sources by their own weight, the proxy corpora 1."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from core.learning import train
from core.learning.crossval import weights_of
from core.learning.data import AGENCY, Labelled
from core.learning.fit import FitOptions

ROWS = [
    Labelled("微博上的投诉", "complaint", "stc3"),
    Labelled("a complaint on weibo", "complaint", "stc3_en"),
    Labelled("排期表发一下", "inquiry", AGENCY),
    Labelled("酒店很差", "complaint", "htl"),
]


def test_weibo_posts_weigh_more_than_agency_rows_and_proxy_rows_one() -> None:
    assert weights_of(ROWS) == [25.0, 25.0, 15.0, 1.0]


def test_a_source_weight_can_be_set_apart_from_the_in_domain_weight() -> None:
    assert weights_of(ROWS, in_domain=8.0, by_source={"stc3": 3.0}) == [3.0, 8.0, 8.0, 1.0]


def test_the_model_version_changes_with_the_source_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    before = train.data_version(ROWS, FitOptions())
    monkeypatch.setattr(train, "SOURCE_WEIGHT", MappingProxyType({"stc3": 15.0, "stc3_en": 15.0}))
    assert train.data_version(ROWS, FitOptions()) != before
