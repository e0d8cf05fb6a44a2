"""Database URLs as given in the settings, turned into the async drivers' URLs."""

from __future__ import annotations

from core.db.session import normalize_url


def test_plain_urls_get_the_async_drivers_and_others_are_left_as_given() -> None:
    assert normalize_url("postgresql://u:p@h:5432/kefu") == "postgresql+asyncpg://u:p@h:5432/kefu"
    assert normalize_url("postgres://u@h/kefu?x=a://b") == "postgresql+asyncpg://u@h/kefu?x=a://b"
    assert normalize_url("sqlite:///var/kefu.db") == "sqlite+aiosqlite:///var/kefu.db"
    assert normalize_url("sqlite://") == "sqlite+aiosqlite://"
    assert normalize_url("sqlite:///data/odd://name.db") == "sqlite+aiosqlite:///data/odd://name.db"
    for given in ("postgresql+asyncpg://h/kefu", "sqlite+aiosqlite:///kefu.db", "mysql://h/kefu"):
        assert normalize_url(given) == given
