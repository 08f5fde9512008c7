"""Poverty mapping command handlers: check the kelurahan is targeted, decide, store events (and, for a
household, its encrypted personal data in the vault) in one unit of work."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta

import structlog

from services.targeting.povertymap import (
    Household,
    PemetaanSwadaya,
    Survey,
    erased_message,
    no_household,
)
from services.targeting.sasaran import TARGETED, KelurahanSasaran
from services.targeting.vault import NikAlreadyRegistered, PersonalData, Vault, validate_nik
from shared.aggregate import CONFLICT_RETRIES, load, save
from shared.contracts.povertymap import ErasureBasis
from shared.errors import ConcurrencyConflict, Conflict, Gone, NotFound
from shared.events import Actor, RecordedEvent, utcnow
from shared.eventstore import EventStore
from shared.regions import Level, require

log = structlog.get_logger(__name__)


def not_nominated(period_code: str, kelurahan_code: str) -> str:
    return f"Kelurahan {kelurahan_code} has not been nominated in program period {period_code}."


def no_mapping(period_code: str, kelurahan_code: str) -> str:
    return (
        f"Nothing has been recorded yet for the poverty mapping (Pemetaan Swadaya) of kelurahan "
        f"{kelurahan_code} in program period {period_code}."
    )


def field_today() -> date:
    """Today where it is latest in Indonesia (WIT, UTC+9): a survey done this morning in Papua is not
    'in the future' while it is still yesterday in UTC."""
    return (utcnow() + timedelta(hours=9)).date()


async def targeted(store: EventStore, period_code: str, kelurahan_code: str) -> PemetaanSwadaya:
    """The kelurahan's mapping, once its kelurahan sasaran decision allows the community cycle."""
    require(kelurahan_code, Level.DESA_KELURAHAN, what="kelurahan")
    sasaran = await load(
        store,
        KelurahanSasaran(period_code, kelurahan_code),
        missing=not_nominated(period_code, kelurahan_code),
    )
    if sasaran.status not in TARGETED:
        raise Conflict(
            f"Kelurahan {kelurahan_code} is {sasaran.status} in program period {period_code}; poverty "
            "mapping starts once the kelurahan is verified or confirmed as a target."
        )
    return await load(store, PemetaanSwadaya(period_code, kelurahan_code))


async def mapping(
    store: EventStore,
    period_code: str,
    kelurahan_code: str,
    *,
    as_of: datetime | None = None,
    missing: str | None = None,
) -> PemetaanSwadaya:
    """The mapping as it stands (or stood at ``as_of``); 404 with ``missing`` (default: no mapping)
    if nothing was ever recorded."""
    aggregate = PemetaanSwadaya(period_code, kelurahan_code)
    if not await store.stream_version(aggregate.stream):
        raise NotFound(missing or no_mapping(period_code, kelurahan_code))
    history = await store.read_stream(aggregate.stream, as_of=as_of)
    return aggregate.replay([e.payload for e in history])


async def household_mapping(
    store: EventStore, period_code: str, kelurahan_code: str, household_id: uuid.UUID
) -> tuple[PemetaanSwadaya, Household]:
    """The mapping and one of its households; the same 404 whether the mapping or the household is
    missing (it is what a caller outside the kelurahan's scope is told, too)."""
    missing = no_household(period_code, kelurahan_code, household_id)
    aggregate = await mapping(store, period_code, kelurahan_code, missing=missing)
    return aggregate, aggregate.household(household_id)


async def agree_criteria(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    items: tuple[str, ...],
    berita_acara: str,
    agreed_on: date,
) -> list[RecordedEvent]:
    aggregate = await targeted(store, period_code, kelurahan_code)
    aggregate.agree_criteria(items, berita_acara, agreed_on, field_today())
    return await save(store, aggregate, actor)


async def survey_household(
    store: EventStore,
    vault: Vault,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    *,
    personal: PersonalData,
    survey: Survey,
) -> tuple[uuid.UUID, list[RecordedEvent]]:
    """Record a surveyed household under a new random id; its personal data goes to the vault only."""
    today = field_today()
    validate_nik(personal.nik, today)
    # Households of one kelurahan share its mapping's stream: a survey that loses the race to append
    # (another enumerator's, a moment earlier) is decided again on the new version.
    for attempt in range(1, CONFLICT_RETRIES + 1):
        aggregate = await targeted(store, period_code, kelurahan_code)
        household_id = uuid.uuid4()
        aggregate.survey(household_id, survey, today)
        await _refuse_registered_nik(store, vault, period_code, personal.nik)
        try:
            async with store.transaction() as conn:
                await vault.deposit(conn, household_id, period_code, kelurahan_code, personal)
                recorded = await save(store, aggregate, actor, conn=conn)
        except ConcurrencyConflict:
            await vault.discard(household_id)
            if attempt == CONFLICT_RETRIES:
                raise
            continue
        except Exception:
            await vault.discard(household_id)
            raise
        log.info("household.surveyed", stream_id=aggregate.stream, household_id=str(household_id))
        return household_id, recorded
    raise AssertionError("unreachable")


async def _refuse_registered_nik(store: EventStore, vault: Vault, period_code: str, nik: str) -> None:
    """409 with the existing household's id; a claim a crash left behind (its household never reached
    the event stream) is released once it is old enough not to be a registration still in flight."""
    claim = await vault.holder(period_code, nik)
    if claim is None:
        return
    other = await load(store, PemetaanSwadaya(period_code, claim.kelurahan_code))
    if claim.household_id in other.households or not claim.abandoned(utcnow()):
        raise NikAlreadyRegistered(period_code, claim.household_id)
    log.warning("household.abandoned-claim-released", household_id=str(claim.household_id))
    await vault.discard(claim.household_id)


async def personal_data(
    store: EventStore,
    vault: Vault,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    household_id: uuid.UUID,
) -> PersonalData:
    """The household's personal data; every read is logged with who read it (never what)."""
    _, household = await household_mapping(store, period_code, kelurahan_code, household_id)
    found = None if household.erased else await vault.read(household_id)
    if found is None:
        raise Gone(erased_message(household_id, household.erased))
    log.info("household.personal-data-read", household_id=str(household_id), actor=actor.subject)
    return found


async def erase_household(
    store: EventStore,
    vault: Vault,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    household_id: uuid.UUID,
    basis: ErasureBasis,
) -> list[RecordedEvent]:
    aggregate, _ = await household_mapping(store, period_code, kelurahan_code, household_id)
    aggregate.erase(household_id, basis)
    async with store.transaction() as conn:
        await vault.shred(conn, household_id)
        recorded = await save(store, aggregate, actor, conn=conn)
    log.info("household.erased", household_id=str(household_id), basis=str(basis))
    return recorded


async def change_ps2(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    household_id: uuid.UUID,
    *,
    add: bool,
    reason: str,
) -> list[RecordedEvent]:
    aggregate = await targeted(store, period_code, kelurahan_code)
    if add:
        aggregate.add_to_ps2(household_id, reason)
    else:
        aggregate.remove_from_ps2(household_id, reason)
    return await save(store, aggregate, actor)


async def publish_ps2(
    store: EventStore,
    actor: Actor,
    period_code: str,
    kelurahan_code: str,
    berita_acara: str,
    published_on: date,
) -> list[RecordedEvent]:
    aggregate = await targeted(store, period_code, kelurahan_code)
    aggregate.publish_ps2(berita_acara, published_on, field_today())
    return await save(store, aggregate, actor)
