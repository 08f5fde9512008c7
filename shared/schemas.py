"""Response models every service shares."""

from __future__ import annotations

from collections.abc import Sequence

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
