"""The platform's idea of "today" for dates users enter."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shared.events import as_utc, utcnow


def today() -> date:
    """Today in Indonesia's latest time zone (WIT, UTC+9): something done today anywhere in the country
    is never 'in the future'."""
    return (utcnow() + timedelta(hours=9)).date()


def day_of(moment: datetime) -> date:
    """The day (in WIT, like ``today``) an instant falls on: the day a recorded event happened."""
    return (as_utc(moment) + timedelta(hours=9)).date()
