"""The platform's idea of "today" for dates users enter."""

from __future__ import annotations

from datetime import date, timedelta

from shared.events import utcnow


def today() -> date:
    """Today in Indonesia's latest time zone (WIT, UTC+9): something done today anywhere in the country
    is never 'in the future'."""
    return (utcnow() + timedelta(hours=9)).date()
