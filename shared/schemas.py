"""Response models every service shares."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from shared.events import RecordedEvent


class Accepted(BaseModel):
    """What a command returns: the stream it changed and its new version (for read-your-writes)."""

    stream_id: str
    version: int
    event_ids: list[str]

    @classmethod
    def of(cls, recorded: Sequence[RecordedEvent]) -> Accepted:
        return cls(
            stream_id=recorded[-1].stream_id,
            version=recorded[-1].stream_version,
            event_ids=[str(e.event_id) for e in recorded],
        )


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, as every error of every service is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] | None = None


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


# Documented on every route, so clients (and the schema fuzzer) know the error shapes.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("The body is not readable JSON"),
    401: _problem("Not signed in, or the token is not valid"),
    403: _problem("Signed in, but this role may not do this here"),
    404: _problem("No such record, or not one the caller may see"),
    409: _problem("The command contradicts the record's current state"),
    410: _problem("Deliberately destroyed (a household's erased personal data)"),
    413: _problem("The request body is too large"),
    422: _problem("The input is invalid; `errors` names each field"),
}
