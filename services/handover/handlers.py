"""Handover command handlers."""

from __future__ import annotations

from services.handover.domain import CityAuthority
from shared.context import metadata_for
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore


async def _load(store: EventStore, city_code: str) -> CityAuthority:
    history = await store.read_stream(CityAuthority.stream_id(city_code))
    return CityAuthority.load(city_code, [e.payload for e in history])


async def _save(store: EventStore, authority: CityAuthority, actor: Actor) -> list[RecordedEvent]:
    return await store.append(
        CityAuthority.stream_id(authority.city_code),
        authority.pending,
        expected_version=authority.version,
        metadata=metadata_for(actor, city_code=authority.city_code),
    )


async def transfer_authority(
    store: EventStore, actor: Actor, city_code: str, instrument: str
) -> list[RecordedEvent]:
    authority = await _load(store, city_code)
    authority.transfer(instrument)
    return await _save(store, authority, actor)


async def return_authority(
    store: EventStore, actor: Actor, city_code: str, reason: str
) -> list[RecordedEvent]:
    authority = await _load(store, city_code)
    authority.give_back(reason)
    return await _save(store, authority, actor)
