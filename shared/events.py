"""Domain events, their CloudEvents 1.0 envelope, and the registry of stable type names.

Every event payload is a pydantic model registered under an explicit name such as
``p2kp.targeting.kelurahan-verified.v1``. Names are never derived from Python paths, so a class can be
renamed or moved without breaking stored events. Old versions are turned into the current model on read
by a chain of upcasters (v1 -> v2 -> ... -> current).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict

SPECVERSION = "1.0"
DATACONTENTTYPE = "application/json"
_TYPE_NAME = re.compile(
    r"^p2kp\.(?P<service>[a-z][a-z0-9-]*)\.(?P<event>[a-z][a-z0-9-]*)\.v(?P<version>[1-9]\d*)$"
)


class DomainEvent(BaseModel):
    """Base of every event payload. Payloads carry facts, never personal data (see docs/security)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    event_type: ClassVar[str] = ""


class Unread(DomainEvent):
    """The payload of an event its consumer does not read, left undecoded (``parse_cloudevent``'s
    ``reads``): a projection that reads a fifth of the types need not validate the rest."""


UNREAD = Unread()


class UnknownEventType(Exception):
    """A stored or received event names a type this process has no model for."""


@dataclass(frozen=True)
class Actor:
    """Who caused an event: the token subject, its role and its region-code scope."""

    subject: str
    role: str
    scope: tuple[str, ...] = ()

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(subject=f"system:{name}", role="system")


@dataclass(frozen=True)
class EventMetadata:
    correlation_id: str
    causation_id: str | None
    actor: Actor
    city_code: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    """An event as stored: the payload plus where it sits in its stream and in the store."""

    event_id: uuid.UUID
    stream_id: str
    stream_version: int
    position: int
    event_type: str
    payload: DomainEvent
    metadata: EventMetadata
    recorded_at: datetime
    source: str = ""

    def to_cloudevent(self) -> dict[str, Any]:
        """The CloudEvents 1.0 structured-mode JSON object published to Kafka and to pemkot systems."""
        return build_cloudevent(
            event_id=str(self.event_id),
            source=self.source,
            event_type=self.event_type,
            stream_id=self.stream_id,
            stream_version=self.stream_version,
            position=self.position,
            time=self.recorded_at,
            metadata=self.metadata,
            data=self.payload.model_dump(mode="json"),
        )


def build_cloudevent(
    *,
    event_id: str,
    source: str,
    event_type: str,
    stream_id: str,
    stream_version: int,
    position: int,
    time: datetime,
    metadata: EventMetadata,
    data: dict[str, Any],
) -> dict[str, Any]:
    """A CloudEvents 1.0 envelope; our extensions are lower-case alphanumerics, as the spec requires."""
    envelope: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": event_type,
        "subject": stream_id,
        "time": as_utc(time).isoformat().replace("+00:00", "Z"),
        "datacontenttype": DATACONTENTTYPE,
        "streamid": stream_id,
        "streamversion": stream_version,
        "position": position,
        "correlationid": metadata.correlation_id,
        "actor": metadata.actor.subject,
        "actorrole": metadata.actor.role,
        "actorscope": " ".join(metadata.actor.scope),
        "data": data,
    }
    if metadata.causation_id:
        envelope["causationid"] = metadata.causation_id
    if metadata.city_code:
        envelope["citycode"] = metadata.city_code
    return envelope


class MalformedEnvelope(Exception):
    """A message is not a CloudEvents envelope this platform produced."""


# orjson reads an integer of more than 64 bits as a float: a message with a number of 19 digits or more
# is read by the standard library, so an amount is never rounded. So is one orjson refuses (NaN, UTF-16).
# Such a number is a run of 19 zeros once every digit is made a zero (a regular expression would take
# twice as long as orjson's decoding).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def decode_envelope(raw: bytes) -> dict[str, Any]:
    """A message's JSON object, for ``parse_cloudevent``: ``ValueError`` if it is not JSON, and
    ``MalformedEnvelope`` if it is JSON but not an object (which would otherwise fail the consumer's
    batch again and again). The standard library's result, in about half its time (orjson)."""
    envelope = _loads(raw)
    if not isinstance(envelope, dict):
        raise MalformedEnvelope(f"a CloudEvent is a JSON object, not {type(envelope).__name__}")
    return envelope


def _loads(raw: bytes) -> Any:
    if _LONG_NUMBER not in raw.translate(_DIGITS_TO_ZERO):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # perhaps JSON only the standard library takes; if not, its error is the one raised
    return json.loads(raw)


def parse_cloudevent(
    envelope: dict[str, Any], registry: EventRegistry, reads: Collection[type[DomainEvent]] | None = None
) -> RecordedEvent:
    """The inverse of ``build_cloudevent``: decode (and upcast) the payload with ``registry``. With
    ``reads``, a payload of another type is left undecoded (``UNREAD``); its type must still be known."""
    try:
        if envelope.get("specversion") != SPECVERSION:
            raise MalformedEnvelope(f"specversion {envelope.get('specversion')!r} is not {SPECVERSION}")
        metadata = EventMetadata(
            correlation_id=str(envelope["correlationid"]),
            causation_id=envelope.get("causationid"),
            actor=Actor(
                subject=str(envelope["actor"]),
                role=str(envelope["actorrole"]),
                scope=tuple(str(envelope.get("actorscope", "")).split()),
            ),
            city_code=envelope.get("citycode"),
        )
        event_id = uuid.UUID(str(envelope["id"]))
        stream_id, version = str(envelope["streamid"]), int(envelope["streamversion"])
        position, event_type = int(envelope["position"]), str(envelope["type"])
        time = datetime.fromisoformat(str(envelope["time"]).replace("Z", "+00:00"))
        data = envelope["data"]
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEnvelope(f"not a P2KP CloudEvent: {exc!r}") from exc
    if not isinstance(data, dict):
        raise MalformedEnvelope("CloudEvent data is not a JSON object")
    model = registry.model_of(event_type)
    payload = registry.decode(event_type, data) if reads is None or model in reads else UNREAD
    return RecordedEvent(
        event_id=event_id,
        stream_id=stream_id,
        stream_version=version,
        position=position,
        event_type=model.event_type,
        payload=payload,
        metadata=metadata,
        recorded_at=time,
        source=str(envelope.get("source", "")),
    )


def as_utc(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; everything we store is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
E = TypeVar("E", bound=type[DomainEvent])


@dataclass
class _Family:
    current_version: int = 0
    model: type[DomainEvent] | None = None
    upcasters: dict[int, Upcaster] = field(default_factory=dict)


class EventRegistry:
    """Maps stable type names to payload models and upcasts older versions on the way in."""

    def __init__(self) -> None:
        self._families: dict[str, _Family] = {}
        self._resolved: dict[str, tuple[_Family, int]] = {}  # type name -> its family, checked

    @staticmethod
    def split(type_name: str) -> tuple[str, int]:
        match = _TYPE_NAME.match(type_name)
        if not match:
            raise ValueError(f"event type {type_name!r} is not of the form p2kp.<service>.<event>.v<N>")
        return type_name.rsplit(".v", 1)[0], int(match["version"])

    def event(self, type_name: str) -> Callable[[E], E]:
        """Class decorator: register ``cls`` as the current model for ``type_name``."""
        family_name, version = self.split(type_name)

        def register(cls: E) -> E:
            self._resolved.clear()
            family = self._families.setdefault(family_name, _Family())
            if family.model is not None and family.current_version >= version:
                raise ValueError(f"{family_name} already has version {family.current_version} registered")
            family.current_version, family.model = version, cls
            cls.event_type = type_name
            return cls

        return register

    def upcaster(self, type_name: str) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning the JSON payload of ``type_name`` into the next version's."""
        family_name, version = self.split(type_name)

        def register(fn: Upcaster) -> Upcaster:
            self._resolved.clear()
            self._families.setdefault(family_name, _Family()).upcasters[version] = fn
            return fn

        return register

    def decode(self, type_name: str, data: dict[str, Any]) -> DomainEvent:
        """Build the current model from stored JSON of any registered version."""
        family, version = self._family(type_name)
        for step in range(version, family.current_version):
            data = family.upcasters[step](data)
        assert family.model is not None
        return family.model.model_validate(data)

    def model_of(self, type_name: str) -> type[DomainEvent]:
        """The current model of ``type_name``'s family, if a stored payload of it can be decoded."""
        family, _ = self._family(type_name)
        assert family.model is not None
        return family.model

    def _family(self, type_name: str) -> tuple[_Family, int]:
        if (resolved := self._resolved.get(type_name)) is not None:
            return resolved
        try:
            family_name, version = self.split(type_name)
        except ValueError as exc:
            raise UnknownEventType(str(exc)) from exc
        family = self._families.get(family_name)
        if family is None or family.model is None:
            raise UnknownEventType(f"no model registered for event type {type_name!r}")
        if version > family.current_version:
            raise UnknownEventType(
                f"{type_name!r} is newer than this process knows (v{family.current_version}); upgrade it"
            )
        for step in range(version, family.current_version):
            if step not in family.upcasters:
                raise UnknownEventType(f"no upcaster from {family_name}.v{step} to v{step + 1}")
        self._resolved[type_name] = family, version
        return family, version

    def names(self) -> list[str]:
        return sorted(
            f"{name}.v{family.current_version}" for name, family in self._families.items() if family.model
        )

    def model(self, type_name: str) -> type[DomainEvent]:
        family_name, _ = self.split(type_name)
        family = self._families.get(family_name)
        if family is None or family.model is None:
            raise UnknownEventType(f"no model registered for event type {type_name!r}")
        return family.model


def new_event_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> datetime:
    return datetime.now(UTC)
