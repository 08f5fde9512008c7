"""Handover command handlers."""

from __future__ import annotations

from services.handover.domain import CityAuthority
from shared.aggregate import load, save
from shared.events import Actor, RecordedEvent
from shared.eventstore import EventStore


async def transfer_authority(
    store: EventStore, actor: Actor, city_code: str, instrument: str
) -> list[RecordedEvent]:
    authority = await load(store, CityAuthority(city_code))
    authority.transfer(instrument)
    return await save(store, authority, actor)


async def return_authority(
    store: EventStore, actor: Actor, city_code: str, reason: str
) -> list[RecordedEvent]:
    authority = await load(store, CityAuthority(city_code))
    authority.give_back(reason)
    return await save(store, authority, actor)
