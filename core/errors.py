"""Typed errors of the domain; the web layer maps each to one HTTP status in one place."""

from __future__ import annotations


class KefuError(Exception):
    """Base of every error kefu raises on purpose."""

    status_code = 400


class InvalidInput(KefuError):
    """Input that kefu cannot accept, with a reason a person can read."""

    status_code = 400


class NotFound(KefuError):
    """A referenced object does not exist."""

    status_code = 404


class Conflict(KefuError):
    """The request contradicts the current state (an invalid transition, a lost race)."""

    status_code = 409


class ConfigError(KefuError):
    """The configuration is missing or contradictory."""

    status_code = 500


class UnsafeSettings(ConfigError):
    """Production mode was asked to start with default secrets."""
