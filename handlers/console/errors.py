"""Errors of the console, mapped to HTTP statuses by the app's KefuError handler."""

from __future__ import annotations

from core.errors import KefuError


class NotSignedIn(KefuError):
    """No valid session: API calls get 401, pages a redirect to the sign-in page."""

    status_code = 401


class Forbidden(KefuError):
    """Signed in, but this person may not see or do this."""

    status_code = 403


class TooManyAttempts(KefuError):
    """Password checks are throttled for this name or address."""

    status_code = 429
