"""Errors a user can cause, as domain exceptions; the app factory maps them to RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every error a user can cause. ``status`` is the HTTP status it maps to."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The command contradicts the current state (a step out of order, a duplicate)."""

    status = 409
    title = "Conflict"


class ConcurrencyConflict(Conflict):
    """Someone else changed the record between reading it and writing it."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        now = "" if actual is None else f" it is now at version {actual}"
        super().__init__(
            f"{stream_id} was changed by someone else (you had version {expected};{now or ' it moved on'}). "
            "Reload it and try again.",
            stream_id=stream_id,
            expected_version=expected,
            actual_version=actual,
        )


class Gone(DomainError):
    """It existed and was deliberately destroyed (personal data erased): it will not come back."""

    status = 410
    title = "Gone"


class InvalidInput(DomainError):
    status = 422
    title = "Invalid input"


class Unavailable(Exception):
    """A dependency (database, broker) is down; the API answers 503 and the client may retry."""
