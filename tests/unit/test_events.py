"""The event registry, upcasting and the CloudEvents envelope, without any database."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.events import (
    Actor,
    DomainEvent,
    EventMetadata,
    EventRegistry,
    MalformedEnvelope,
    RecordedEvent,
    UnknownEventType,
    decode_envelope,
    parse_cloudevent,
)


def _registry_v1() -> tuple[EventRegistry, type[DomainEvent]]:
    registry = EventRegistry()

    @registry.event("p2kp.example.bkm-formed.v1")
    class BkmFormed(DomainEvent):
        kelurahan: str
        members: int

    return registry, BkmFormed


def _registry_v2() -> tuple[EventRegistry, type[DomainEvent]]:
    registry = EventRegistry()

    @registry.upcaster("p2kp.example.bkm-formed.v1")
    def _add_women(data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "women": None}

    @registry.event("p2kp.example.bkm-formed.v2")
    class BkmFormed(DomainEvent):
        kelurahan: str
        members: int
        women: int | None

    return registry, BkmFormed


def test_type_names_must_follow_the_stable_scheme() -> None:
    registry = EventRegistry()
    with pytest.raises(ValueError, match=re.escape("p2kp.<service>.<event>.v<N>")):
        registry.event("services.example.domain.BkmFormed")


def test_old_version_is_upcast_to_the_current_model() -> None:
    _, v1 = _registry_v1()
    stored = v1.model_validate({"kelurahan": "33.74.01.1001", "members": 11}).model_dump(mode="json")
    registry, v2 = _registry_v2()
    event = registry.decode("p2kp.example.bkm-formed.v1", stored)
    assert isinstance(event, v2)
    assert event.model_dump() == {"kelurahan": "33.74.01.1001", "members": 11, "women": None}
    assert event.event_type == "p2kp.example.bkm-formed.v2"


def test_missing_upcaster_is_reported_not_guessed() -> None:
    registry = EventRegistry()

    @registry.event("p2kp.example.thing.v3")
    class Thing(DomainEvent):
        x: int

    with pytest.raises(UnknownEventType, match=re.escape("no upcaster from p2kp.example.thing.v1 to v2")):
        registry.decode("p2kp.example.thing.v1", {"x": 1})


def test_unknown_and_future_types_are_refused() -> None:
    registry, _ = _registry_v1()
    with pytest.raises(UnknownEventType):
        registry.decode("p2kp.example.never-heard-of.v1", {})
    with pytest.raises(UnknownEventType, match="newer"):
        registry.decode("p2kp.example.bkm-formed.v9", {})


def test_registering_an_older_version_after_a_newer_one_fails() -> None:
    registry, _ = _registry_v2()
    with pytest.raises(ValueError, match="already has version 2"):

        @registry.event("p2kp.example.bkm-formed.v1")
        class Old(DomainEvent):
            pass


def test_cloudevent_round_trip_keeps_every_extension() -> None:
    registry, model = _registry_v1()
    event = RecordedEvent(
        event_id=uuid.uuid4(),
        stream_id="bkm-33.74.01.1001",
        stream_version=3,
        position=42,
        event_type=model.event_type,
        payload=model.model_validate({"kelurahan": "33.74.01.1001", "members": 11}),
        metadata=EventMetadata(
            correlation_id="corr-1",
            causation_id="cause-1",
            actor=Actor("user-7", "facilitator", ("33.74.01.1001",)),
            city_code="33.74",
        ),
        recorded_at=datetime(2026, 11, 29, 1, 2, 3, tzinfo=UTC),
        source="/p2kp/institutions",
    )
    envelope = event.to_cloudevent()
    assert {"id", "source", "type", "subject", "time", "specversion", "datacontenttype"} <= envelope.keys()
    assert envelope["specversion"] == "1.0" and envelope["time"] == "2026-11-29T01:02:03Z"
    assert all(k.isalnum() and k.islower() for k in envelope)  # CloudEvents attribute naming rule
    assert parse_cloudevent(envelope, registry) == event


def test_envelope_without_required_attributes_is_malformed() -> None:
    registry, _ = _registry_v1()
    with pytest.raises(MalformedEnvelope):
        parse_cloudevent({"specversion": "1.0", "type": "p2kp.example.bkm-formed.v1"}, registry)
    with pytest.raises(MalformedEnvelope):
        parse_cloudevent({"hello": "world"}, registry)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": 123456789012345678901234567890, "small": -9223372036854775809}',
        b'{"share": NaN, "ceiling": Infinity}',
        '{"kelurahan": "Sekaran", "members": 11}'.encode("utf-16"),
        b'{"kelurahan": "Sekaran", "pct": 12.5, "members": [1, 2], "none": null}',
    ],
    ids=["integers beyond 64 bits", "NaN", "UTF-16", "plain"],
)
def test_envelopes_decode_as_the_standard_library_decodes_them(raw: bytes) -> None:
    decoded = decode_envelope(raw)
    assert repr(decoded) == repr(json.loads(raw))  # repr: NaN is not equal to itself
    assert all(type(v) is type(w) for v, w in zip(decoded.values(), json.loads(raw).values(), strict=True))


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"p2kp"', b"7", b"null"])
def test_json_that_is_not_an_object_is_a_malformed_envelope(raw: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        decode_envelope(raw)


@pytest.mark.parametrize("raw", [b"", b"{not json", b"\xff\xfe\x00"])
def test_bytes_that_are_not_json_are_a_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_envelope(raw)
