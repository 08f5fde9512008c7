"""What the benchmarks write and send: one small real contract event, its metadata, its Kafka records."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from types import SimpleNamespace

from shared.contracts.targeting import ProgramPeriodRegistered
from shared.events import Actor, EventMetadata, utcnow
from shared.relay import message_for
from shared.transport import Message

SOURCE = "/p2kp/bench"
META = EventMetadata(correlation_id="bench", causation_id=None, actor=Actor("bench", "national_admin"))


def event(n: int) -> ProgramPeriodRegistered:
    """The n-th payload: a real, registered contract event of the targeting service (~100 bytes of data)."""
    return ProgramPeriodRegistered(
        code=f"B{n:06d}",
        name=f"benchmark period {n}",
        starts_on=date(2000, 1, 1),
        ends_on=date(2000, 1, 1) + timedelta(days=n % 3650 + 1),
    )


def new_topic(what: str) -> str:
    return f"p2kp.bench-{what}-{uuid.uuid4().hex[:8]}.events"


def envelope_message(topic: str, stream_id: str, version: int, position: int) -> Message:
    """A record exactly as the relay publishes it (``shared.relay.message_for`` on an events row)."""
    payload = event(position)
    row = SimpleNamespace(
        event_id=str(uuid.uuid4()),
        stream_id=stream_id,
        stream_version=version,
        position=position,
        event_type=payload.event_type,
        data=payload.model_dump(mode="json"),
        correlation_id=META.correlation_id,
        causation_id=META.causation_id,
        actor_subject=META.actor.subject,
        actor_role=META.actor.role,
        actor_scope=" ".join(META.actor.scope),
        city_code=META.city_code,
        recorded_at=utcnow(),
    )
    return message_for(row, SOURCE, topic)


def envelope_messages(topic: str, count: int, streams: int) -> list[Message]:
    """``count`` records over ``streams`` streams, versions 1, 2, ... within each stream."""
    return [envelope_message(topic, f"s-{i % streams}", i // streams + 1, i + 1) for i in range(count)]
