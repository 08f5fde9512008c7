"""Poverty mapping through the API of the embedded platform: criteria, surveys, the PS-2 list, the
vault's personal data and its erasure, every 4xx, and no personal data anywhere it must not be."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update
from structlog.testing import capture_logs

from services.platform import build_embedded
from services.targeting import povertymap_handlers as handlers
from services.targeting.povertymap import Survey
from services.targeting.readmodels import MIGRATIONS
from services.targeting.sasaran import KelurahanSasaran
from services.targeting.vault import (
    ABANDONED_AFTER,
    NikAlreadyRegistered,
    PersonalData,
    Vault,
    household_keys,
    household_personal_data,
)
from shared.aggregate import save
from shared.contracts import registry
from shared.contracts.povertymap import ErasureBasis
from shared.contracts.targeting import KelurahanIndicators
from shared.db import create_engine
from shared.events import Actor
from shared.eventstore import EventStore
from shared.migrations import upgrade
from shared.regions import Level, require
from shared.settings import ServiceSettings
from tests.harness.tokens import ADMIN, bearer

SEMARANG, SURABAYA = "33.74.01.1001", "35.78.01.1001"
NOMINATED_ONLY, NEVER_NOMINATED = "33.74.01.1002", "33.74.01.1003"
FASKEL = bearer("facilitator", SEMARANG)
CRITERIA = {
    "items": ["Lantai rumah dari tanah", "Tidak punya jamban sendiri", "Makan kurang dari dua kali sehari"],
    "berita_acara": "BA Musyawarah Kelurahan Pekunden 4/2026",
    "agreed_on": "2026-03-02",
}
PEOPLE = [
    ("Siti Aminah Rahayu", "3374014101900001"),
    ("Bambang Sutrisno Wibowo", "3374011205780002"),
    ("Dewi Lestari Kusumawati", "3374015708850003"),
]


def base(kelurahan: str = SEMARANG, period: str = "KOTAKU") -> str:
    return f"/targeting/program-periods/{period}/kelurahan/{kelurahan}"


def household(name: str, nik: str, *, met: list[int] | None = None, poor: bool = True) -> dict[str, Any]:
    return {
        "personal": {
            "head_name": name,
            "nik": nik,
            "address": f"Jl. Pandanaran Gang {nik[-2:]}, RT 03/RW 05",
            "phone": "+62 812 3456 7890",
        },
        "survey": {
            "criteria_version": 1,
            "criteria_met": [1, 3] if met is None else met,
            "members": 5,
            "poor": poor,
            "surveyed_on": "2026-03-10",
        },
    }


async def nominate(store: EventStore, kelurahan: str, *, verify: bool, period: str = "KOTAKU") -> None:
    """Kelurahan sasaran state, written straight to the store (stand-in for the sasaran endpoints)."""
    sasaran = KelurahanSasaran(period, kelurahan)
    sasaran.nominate(
        require(kelurahan, Level.DESA_KELURAHAN),
        KelurahanIndicators(population=9000, households=2400, poor_households=700, source="BPS 2025"),
    )
    if verify:
        sasaran.verify("korkot.semarang", 1, "Pra-KS + KS-I above 30 %")
    await save(store, sasaran, Actor.system("test"))


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = build_embedded(ServiceSettings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        store = targeting_store(app)
        for kelurahan in (SEMARANG, SURABAYA):
            await nominate(store, kelurahan, verify=True)
        await nominate(store, NOMINATED_ONLY, verify=False)
        await nominate(store, SEMARANG, verify=True, period="PNPM-MP")
        yield app


def targeting_store(app: FastAPI) -> EventStore:
    store: EventStore = app.state.services["targeting"].state.runtime.store
    return store


@pytest.fixture
async def http(platform: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=platform), base_url="http://p2kp", headers=FASKEL
    ) as client:
        yield client


async def with_criteria(http: httpx.AsyncClient, kelurahan: str = SEMARANG, **kw: str) -> None:
    headers = FASKEL if kelurahan == SEMARANG else ADMIN
    agreed = await http.post(f"{base(kelurahan, **kw)}/poverty-criteria", json=CRITERIA, headers=headers)
    assert agreed.status_code == 201, agreed.text


async def survey(http: httpx.AsyncClient, name: str, nik: str, **kw: Any) -> str:
    recorded = await http.post(f"{base()}/households", json=household(name, nik, **kw))
    assert recorded.status_code == 201, recorded.text
    return str(recorded.json()["household_id"])


async def add(http: httpx.AsyncClient, household_id: str, reason: str = "memenuhi kriteria 1 dan 3") -> None:
    added = await http.post(f"{base()}/ps2/members", json={"household_id": household_id, "reason": reason})
    assert added.status_code == 201, added.text


# --- the whole flow, and where personal data may and may not appear --------------------------------------


async def test_a_full_mapping_keeps_personal_data_out_of_events_logs_lists_and_files(
    platform: FastAPI, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    with capture_logs() as logs:
        await with_criteria(http)
        ids = [await survey(http, name, nik) for name, nik in PEOPLE[:2]]
        ids.append(await survey(http, *PEOPLE[2], met=[2], poor=False))
        for household_id in ids[:2]:
            await add(http, household_id)
        published = await http.post(
            f"{base()}/ps2/publications",
            json={"berita_acara": "BA PS-2 4/2026", "published_on": "2026-04-01"},
        )
        assert published.status_code == 201, published.text
        personal = await http.get(f"{base()}/households/{ids[0]}/personal-data")
        listed = [
            await http.get(f"{base()}{path}")
            for path in (
                "/households",
                f"/households/{ids[1]}",
                "/ps2",
                "/ps2/publications",
                "/ps2/publications/1",
            )
        ]
        await http.delete(f"{base()}/households/{ids[2]}/personal-data", params={"basis": "moved-away"})

    assert personal.status_code == 200 and personal.headers["cache-control"] == "no-store"
    assert personal.json() == household(*PEOPLE[0])["personal"]
    households, one, ps2, publications, version_1 = (r.json() for r in listed)
    assert households["counts"] == {
        "surveyed": 3,
        "poor": 2,
        "erased": 0,
        "ps2_members": 2,
        "ps2_versions": 1,
    }
    assert [h["household_id"] for h in households["households"]] == ids
    assert one["on_ps2"] is True and one["criteria_met"] == [1, 3] and one["personal_data"] == "held"
    assert sorted(ps2["household_ids"]) == sorted(ids[:2]) and ps2["latest_publication"]["member_count"] == 2
    assert [p["version"] for p in publications["publications"]] == [1]
    assert sorted(version_1["household_ids"]) == sorted(ids[:2])

    secrets = [s for name, nik in PEOPLE for s in (name, nik)] + ["Pandanaran Gang", "812 3456"]
    events = await targeting_store(platform).read_all(limit=10_000)
    payloads = [str(e.payload.model_dump(mode="json")) for e in events if e.stream_id.startswith("pemetaan")]
    assert len(payloads) == 8  # criteria, 3 surveys, 2 additions, a publication, an erasure
    assert not [s for s in secrets for p in payloads if s in p], "personal data in an event"
    assert not [s for s in secrets if s in str(logs)], "personal data in a log line"
    assert not [s for s in secrets for r in listed if s in r.text], "personal data in a list"
    assert not in_clear(tmp_path, secrets), "personal data in clear in a database file"


def in_clear(data_dir: Path, secrets: list[str]) -> list[tuple[str, str]]:
    """Every secret found in the bytes of a database file: the event stores, the bus, the vault."""
    files = list(data_dir.glob("*.sqlite*"))
    assert any(f.name == "targeting.sqlite" for f in files)
    return [(f.name, s) for f in files for s in secrets if s.encode() in f.read_bytes()]


async def test_ps2_list_as_of_a_past_instant(http: httpx.AsyncClient) -> None:
    await with_criteria(http)
    a, b, c = [await survey(http, name, nik) for name, nik in PEOPLE]
    await add(http, a)
    await add(http, b)
    then = datetime.now(UTC)
    removed = await http.post(f"{base()}/ps2/members/{a}/removal", json={"reason": "pindah ke Kendal"})
    assert removed.status_code == 201, removed.text
    await add(http, c)

    past = (await http.get(f"{base()}/ps2", params={"as_of": then.isoformat()})).json()
    now = (await http.get(f"{base()}/ps2")).json()
    assert sorted(past["household_ids"]) == sorted([a, b]) and past["member_count"] == 2
    assert sorted(now["household_ids"]) == sorted([b, c])
    before_anything = datetime(2020, 1, 1, tzinfo=UTC).isoformat()
    assert (await http.get(f"{base()}/ps2", params={"as_of": before_anything})).json()["member_count"] == 0


# --- NIK ------------------------------------------------------------------------------------------------


async def test_the_same_nik_twice_in_a_period_is_refused_naming_the_existing_household(
    platform: FastAPI, http: httpx.AsyncClient
) -> None:
    await with_criteria(http)
    await with_criteria(http, SURABAYA)
    first = await survey(http, *PEOPLE[0])
    again = await http.post(f"{base()}/households", json=household("Siti A. Rahayu", PEOPLE[0][1]))
    assert again.status_code == 409 and first in again.json()["detail"]
    assert again.json()["household_id"] == first
    # Anywhere in the period: the fingerprint is per period, not per kelurahan.
    elsewhere = await http.post(f"{base(SURABAYA)}/households", json=household(*PEOPLE[0]), headers=ADMIN)
    assert elsewhere.status_code == 409 and first in elsewhere.json()["detail"]
    # Another period is another survey.
    await with_criteria(http, period="PNPM-MP")
    other_period = await http.post(f"{base(period='PNPM-MP')}/households", json=household(*PEOPLE[0]))
    assert other_period.status_code == 201, other_period.text
    counts = (await http.get(f"{base()}/households")).json()["counts"]
    assert counts["surveyed"] == 1


@pytest.mark.parametrize(
    ("nik", "message"),
    [
        ("33740141019000", "exactly 16 digits"),
        ("9974014101900001", "region code 99.74,"),
        ("3374013201900001", "not a real birth date"),
        ("3374014101900000", "cannot be 0000"),
    ],
)
async def test_an_impossible_nik_is_a_422_that_says_what_to_check(
    http: httpx.AsyncClient, nik: str, message: str
) -> None:
    await with_criteria(http)
    refused = await http.post(f"{base()}/households", json=household("Siti Aminah Rahayu", nik))
    assert refused.status_code == 422 and message in refused.json()["detail"]
    assert nik not in refused.text


# --- erasure --------------------------------------------------------------------------------------------


async def test_erasure_makes_personal_data_unreadable_while_counts_still_add_up(
    platform: FastAPI, http: httpx.AsyncClient
) -> None:
    await with_criteria(http)
    ids = [await survey(http, name, nik) for name, nik in PEOPLE]
    for household_id in ids:
        await add(http, household_id)
    assert (
        await http.post(
            f"{base()}/ps2/publications", json={"berita_acara": "BA 1", "published_on": "2026-04-01"}
        )
    ).status_code == 201
    before = (await http.get(f"{base()}/households")).json()["counts"]
    engine = platform.state.services["targeting"].state.runtime.engine
    async with engine.connect() as conn:  # a backup taken before the erasure
        backup = (
            await conn.execute(
                select(household_personal_data).where(household_personal_data.c.household_id == ids[0])
            )
        ).one()

    erased = await http.delete(
        f"{base()}/households/{ids[0]}/personal-data", params={"basis": "data-subject-request"}
    )
    assert erased.status_code == 200, erased.text

    gone = await http.get(f"{base()}/households/{ids[0]}/personal-data")
    assert gone.status_code == 410 and "was erased (data-subject-request)" in gone.json()["detail"]
    assert (
        await http.delete(f"{base()}/households/{ids[0]}/personal-data", params={"basis": "deceased"})
    ).status_code == 410
    async with engine.connect() as conn:
        keys = (await conn.execute(select(household_keys.c.household_id))).scalars().all()
        rows = (await conn.execute(select(household_personal_data.c.household_id))).scalars().all()
    assert ids[0] not in keys and ids[0] not in rows and len(keys) == 2
    assert backup.ciphertext and PEOPLE[0][0].encode() not in backup.ciphertext  # the copy has no key left

    after = (await http.get(f"{base()}/households")).json()["counts"]
    assert {**before, "erased": 1} == after and after["surveyed"] == 3 and after["ps2_members"] == 3
    ps2 = (await http.get(f"{base()}/ps2")).json()
    assert ids[0] in ps2["household_ids"] and ps2["latest_publication"]["member_count"] == 3
    assert (await http.get(f"{base()}/households/{ids[0]}")).json()["personal_data"] == "erased"
    assert (await http.get(f"{base()}/households/{ids[1]}/personal-data")).json()["head_name"] == PEOPLE[1][0]

    event = (await targeting_store(platform).read_all(limit=1000))[-1]
    assert event.event_type == "p2kp.targeting.household-personal-data-erased.v1"
    assert event.payload.model_dump(mode="json") == {
        "period_code": "KOTAKU",
        "kelurahan_code": SEMARANG,
        "household_id": ids[0],
        "basis": "data-subject-request",
    }
    # The NIK fingerprint went with the key: the person can be surveyed again, as a new household.
    assert await survey(http, *PEOPLE[0]) not in ids


# --- every 4xx ------------------------------------------------------------------------------------------


async def test_a_kelurahan_must_be_targeted_nominated_and_real(http: httpx.AsyncClient) -> None:
    not_yet = await http.post(f"{base(NOMINATED_ONLY)}/poverty-criteria", json=CRITERIA, headers=ADMIN)
    assert not_yet.status_code == 409 and "is nominated" in not_yet.json()["detail"]
    assert "verified or confirmed" in not_yet.json()["detail"]
    never = await http.post(f"{base(NEVER_NOMINATED)}/poverty-criteria", json=CRITERIA, headers=ADMIN)
    assert never.status_code == 404 and "has not been nominated" in never.json()["detail"]
    unknown = await http.post(f"{base('33.74.01.9999')}/poverty-criteria", json=CRITERIA, headers=ADMIN)
    assert unknown.status_code == 422 and "33.74.01.9999" in unknown.json()["detail"]
    nothing = await http.get(f"{base(NEVER_NOMINATED)}/ps2", headers=ADMIN)
    assert nothing.status_code == 404 and "Nothing has been recorded yet" in nothing.json()["detail"]


async def test_commands_out_of_order_are_409_and_missing_records_404(http: httpx.AsyncClient) -> None:
    no_criteria = await http.post(f"{base()}/households", json=household(*PEOPLE[0]))
    assert no_criteria.status_code == 409 and "Record the criteria" in no_criteria.json()["detail"]
    await with_criteria(http)
    assert (await http.post(f"{base()}/poverty-criteria", json=CRITERIA)).status_code == 409
    empty = await http.post(
        f"{base()}/ps2/publications", json={"berita_acara": "BA", "published_on": "2026-04-01"}
    )
    assert empty.status_code == 409 and "empty" in empty.json()["detail"]
    stranger = str(uuid.uuid4())
    for response in (
        await http.post(f"{base()}/ps2/members", json={"household_id": stranger, "reason": "x"}),
        await http.get(f"{base()}/households/{stranger}"),
        await http.get(f"{base()}/households/{stranger}/personal-data"),
        await http.get(f"{base()}/ps2/publications/1"),
    ):
        assert response.status_code == 404, response.text
    household_id = await survey(http, *PEOPLE[0])
    removal = await http.post(f"{base()}/ps2/members/{household_id}/removal", json={"reason": "x"})
    assert removal.status_code == 409 and "not on the PS-2 list" in removal.json()["detail"]


async def test_malformed_input_is_a_422_naming_the_field(http: httpx.AsyncClient) -> None:
    await with_criteria(http)
    criteria: dict[str, Any]
    for criteria in (
        {**CRITERIA, "extra": "smuggled"},
        {**CRITERIA, "items": ["x" * 301]},
        {**CRITERIA, "items": [f"kriteria {n}" for n in range(31)]},
        {**CRITERIA, "items": []},
    ):
        assert (await http.post(f"{base()}/poverty-criteria", json=criteria)).status_code == 422
    bad = household(*PEOPLE[0])
    for path, value in (("head_name", "x" * 201), ("phone", "call me"), ("role", "admin")):
        personal = {**bad["personal"], path: value}
        refused = await http.post(f"{base()}/households", json={**bad, "personal": personal})
        assert refused.status_code == 422 and path in refused.json()["detail"], refused.text
    wrong_item = await http.post(f"{base()}/households", json=household(*PEOPLE[0], met=[1, 7]))
    assert wrong_item.status_code == 422
    assert (await http.get(f"{base()}/ps2", params={"as_of": "yesterday"})).status_code == 422
    assert (await http.get(f"{base()}/households/not-a-uuid")).status_code == 422
    assert (
        await http.delete(f"{base()}/households/{uuid.uuid4()}/personal-data", params={"basis": "bored"})
    ).status_code == 422


async def test_personal_data_is_for_those_who_work_with_households_by_name(http: httpx.AsyncClient) -> None:
    await with_criteria(http)
    household_id = await survey(http, *PEOPLE[0])
    path = f"{base()}/households/{household_id}/personal-data"
    for role, scopes in (("bkm_officer", (SEMARANG,)), ("city_operator", ("33.74",)), ("national_admin", ())):
        assert (await http.get(path, headers=bearer(role, *scopes))).status_code == 200, role
    for role, scopes in (
        ("national_monitor", ()),
        ("auditor", ()),
        ("integration_client", ("33.74",)),
        ("regional_consultant", ("33",)),
    ):
        refused = await http.get(path, headers=bearer(role, *scopes))
        assert refused.status_code == 403, role
        assert (
            await http.get(f"{base()}/households/{household_id}", headers=bearer(role, *scopes))
        ).status_code == 200
    assert (await http.get(path, headers={"authorization": ""})).status_code == 401


async def test_another_citys_caller_is_told_exactly_what_a_missing_record_would_say(
    http: httpx.AsyncClient,
) -> None:
    await with_criteria(http)
    household_id = await survey(http, *PEOPLE[0])
    surabaya = bearer("city_operator", "35.78")
    hidden = await http.get(f"{base()}/households/{household_id}", headers=surabaya)
    missing = await http.get(f"{base(SURABAYA)}/households/{household_id}", headers=surabaya)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"].replace(SEMARANG, "K") == missing.json()["detail"].replace(SURABAYA, "K")
    other_faskel = bearer("facilitator", "33.74.01.1004")
    for response in (
        await http.get(f"{base()}/ps2", headers=other_faskel),
        await http.post(f"{base()}/poverty-criteria", json=CRITERIA, headers=other_faskel),
        await http.delete(f"{path_of(household_id)}", params={"basis": "deceased"}, headers=other_faskel),
    ):
        assert response.status_code == 404, response.text
    # A city operator writes only after alih kelola; before it, the national program does.
    refused = await http.post(
        f"{base()}/ps2/members",
        json={"household_id": household_id, "reason": "x"},
        headers=bearer("city_operator", "33.74"),
    )
    assert refused.status_code == 403 and "alih kelola" in refused.json()["detail"]


def path_of(household_id: str) -> str:
    return f"{base()}/households/{household_id}/personal-data"


# --- the key store in its own database --------------------------------------------------------------


async def test_a_separate_key_database_holds_the_keys_and_a_crash_left_claim_is_released(
    tmp_path: Path,
) -> None:
    data, keys = (
        create_engine(f"sqlite+aiosqlite:///{tmp_path / name}") for name in ("t.sqlite", "k.sqlite")
    )
    for engine in (data, keys):
        await upgrade(engine, MIGRATIONS)
    store = EventStore(data, registry, source="/p2kp/targeting", topic="p2kp.targeting.events")
    vault, actor = Vault(data, pepper="a-test-pepper", key_engine=keys), Actor.system("test")
    await nominate(store, SEMARANG, verify=True)
    await handlers.agree_criteria(
        store,
        actor,
        "KOTAKU",
        SEMARANG,
        items=("Lantai tanah",),
        berita_acara="BA",
        agreed_on=date(2026, 3, 1),
    )
    survey = Survey(1, (1,), 4, True, date(2026, 3, 10))
    siti, bambang = (
        PersonalData(head_name=name, nik=nik, address="Jl. Pandanaran 1") for name, nik in PEOPLE[:2]
    )

    async def register(personal: PersonalData) -> uuid.UUID:
        household_id, _ = await handlers.survey_household(
            store, vault, actor, "KOTAKU", SEMARANG, personal=personal, survey=survey
        )
        return household_id

    async def key_rows(engine: Any) -> list[str]:
        async with engine.connect() as conn:
            return list((await conn.execute(select(household_keys.c.household_id))).scalars())

    first = await register(siti)
    assert await key_rows(keys) == [str(first)] and await key_rows(data) == []
    assert await vault.read(first) == siti

    # A process dies after the key store committed and before the event did.
    crashed = uuid.uuid4()
    with pytest.raises(RuntimeError):
        async with store.transaction() as conn:
            await vault.deposit(conn, crashed, "KOTAKU", SEMARANG, bambang)
            raise RuntimeError("killed")
    with pytest.raises(NikAlreadyRegistered, match=str(crashed)):
        await register(bambang)  # it may still be a registration in flight
    async with keys.begin() as conn:
        old = datetime.now(UTC) - ABANDONED_AFTER * 2
        await conn.execute(
            update(household_keys).where(household_keys.c.household_id == str(crashed)).values(created_at=old)
        )
    second = await register(bambang)
    assert sorted(await key_rows(keys)) == sorted([str(first), str(second)])

    await handlers.erase_household(store, vault, actor, "KOTAKU", SEMARANG, first, ErasureBasis.DECEASED)
    assert await vault.read(first) is None and await key_rows(keys) == [str(second)]
    for engine in (data, keys):
        await engine.dispose()
