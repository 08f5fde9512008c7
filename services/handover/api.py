"""Handover HTTP API: readiness, the handover process, and the city feed for pemkot systems."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy import select

from services.handover import export, handlers, webhooks
from services.handover.domain import Handover
from services.handover.readiness import SCORECARD_VERSION, scorecard
from services.handover.readmodels import handovers
from shared import regions
from shared.clock import today
from shared.contracts.handover import (
    CITY_CODE,
    Criterion,
    CriterionResult,
    Instrument,
    Item,
    Side,
    Stage,
)
from shared.contracts.targeting import PERIOD_CODE
from shared.dependencies import StoreDep
from shared.errors import InvalidInput, NotFound
from shared.schemas import Accepted
from shared.security.guard import Guard, Guarded
from shared.security.policy import read, write
from shared.security.principal import REGION_CODE, Role

router = APIRouter()
Endpoint = Callable[..., Any]

ADMIN = frozenset({Role.NATIONAL_ADMIN})
PROGRAM = frozenset({Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT})
CITY = frozenset({Role.CITY_OPERATOR})
# A city's handover is read at city level and above (a kelurahan's facilitator or BKM sees its own records).
READ = read(
    "handover.read",
    ADMIN | CITY | {Role.NATIONAL_MONITOR, Role.AUDITOR, Role.REGIONAL_CONSULTANT, Role.INTEGRATION_CLIENT},
)
# The handover's decisions are the national office's, before and after the transfer.
DECIDE = write("handover.process.decide", ADMIN, national=True)
ATTEST = write("handover.readiness.attest", PROGRAM)
HAND_OVER = write("handover.item.transfer", PROGRAM)
SIGN_FOR_CONSULTANTS = write("handover.parallel-run.sign-consultants", PROGRAM)
SIGN_FOR_CITY = write("handover.parallel-run.sign-city", CITY, city_prerogative=True)
REPORT = write("handover.report.submit", CITY, city_prerogative=True)
READ_FEED = read("handover.feed.read", frozenset({Role.INTEGRATION_CLIENT}))
MANAGE_SUBSCRIPTIONS = write("handover.subscription.manage", ADMIN | CITY, city_prerogative=True)
READ_SUBSCRIPTIONS = read("handover.subscription.read", ADMIN | CITY | {Role.INTEGRATION_CLIENT})
EXPORT = read("handover.export", ADMIN | CITY | {Role.INTEGRATION_CLIENT})

CityCode = Annotated[
    str, Path(pattern=CITY_CODE, examples=["33.74"], description="Kemendagri kabupaten/kota code")
]
H = "/cities/{city_code}/handover"
EARLIEST = date(1990, 1, 1)  # before P2KP there is nothing to assess


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


def hidden(city: str) -> str:
    return f"There is no city {city}."


async def _on(store: StoreDep, guard: Guard, city: str, decide: Callable[..., object]) -> Accepted:
    regions.require(city, regions.Level.KABUPATEN_KOTA, what="city")
    if not guard.action.national:
        await guard.check(city, hidden=hidden(city))
    return Accepted.of(await handlers.on_handover(store, guard.actor, city, decide))


def command(path: str, summary: str, tag: str = "handover") -> Callable[[Endpoint], Endpoint]:
    return router.post(
        path, status_code=status.HTTP_201_CREATED, response_model=Accepted, tags=[tag], summary=summary
    )


# --- readiness ------------------------------------------------------------------------------------------


class ScorecardOut(BaseModel):
    city_code: str
    period_code: str
    as_of: date
    scorecard_version: int
    met: int
    not_met: int
    unknown: int
    criteria: list[CriterionResult]


@router.get("/cities/{city_code}/readiness", response_model=ScorecardOut, tags=["readiness"])
async def readiness(
    store: StoreDep,
    city_code: CityCode,
    period: str = Query(pattern=PERIOD_CODE, examples=["KOTAKU"]),
    as_of: date | None = Query(default=None, description="as of the end of this day (default today)"),
    guard: Guard = Guarded(READ),
) -> ScorecardOut:
    """The readiness scorecard, computed now from the services' events and the attestations."""
    await guard.check(city_code, hidden=hidden(city_code))
    on = as_of or today()
    if on < EARLIEST:
        raise InvalidInput(f"Readiness is judged from {EARLIEST} on; {on} is before the program.")
    handover = await handlers.get_handover(store, city_code)
    async with store.engine.connect() as conn:
        results = await scorecard(conn, handover, period, on)
    verdicts = [str(r.verdict) for r in results]
    return ScorecardOut(
        city_code=city_code,
        period_code=period,
        as_of=on,
        scorecard_version=SCORECARD_VERSION,
        met=verdicts.count("met"),
        not_met=verdicts.count("not met"),
        unknown=verdicts.count("unknown"),
        criteria=results,
    )


class Attest(Input):
    period_code: str = Field(pattern=PERIOD_CODE)
    criterion: Criterion = Field(description="perda, tkpkd, opd or city-team")
    met: bool
    evidence: str = Field(min_length=1, max_length=300, examples=["Perwal Semarang No. 7/2026"])
    attested_on: date


@command("/cities/{city_code}/readiness/attestations", "Attest a criterion judged by people", "readiness")
async def attest(
    body: Attest, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(ATTEST)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.attest(
            body.period_code, body.criterion, body.met, body.evidence, body.attested_on, today()
        ),
    )


# --- the process -----------------------------------------------------------------------------------------


class Assess(Input):
    period_code: str = Field(pattern=PERIOD_CODE)
    assessed_on: date = Field(ge=EARLIEST)


class Agree(Input):
    instruments: list[Instrument] = Field(min_length=1, max_length=5)
    ddub_commitment_pct: int = Field(ge=0, le=100)
    agreed_on: date


class OnDay(Input):
    on: date


class Sign(Input):
    signed_on: date


class HandItem(Input):
    item: Item
    handed_by: str = Field(min_length=1, max_length=200, description="the office handing over, not a name")
    received_by: str = Field(min_length=1, max_length=200, description="the office receiving, not a name")
    document: str = Field(min_length=1, max_length=200, description="the berita acara of the transfer")
    transferred_on: date


class Report(Input):
    period_label: str = Field(pattern=r"^\d{4}-(S[12]|Q[1-4])$", examples=["2027-S1"])
    document: str = Field(min_length=1, max_length=200)
    submitted_on: date


class Hold(Input):
    reason: str = Field(min_length=1, max_length=1000)
    held_on: date


class RollBack(Input):
    to_stage: Stage
    reason: str = Field(min_length=1, max_length=1000)
    rolled_back_on: date


@command(f"{H}/assessment", "Assess the city's readiness: the handover starts from this scorecard")
async def assess(
    body: Assess, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    async def decide(h: Handover, conn: Any) -> None:
        results = await scorecard(conn, h, body.period_code, body.assessed_on)
        h.assess(body.period_code, results, SCORECARD_VERSION, body.assessed_on, today())

    return await _on(store, guard, city_code, decide)


@command(f"{H}/agreement", "Record the agreement: its instruments and the DDUB commitment")
async def agree(
    body: Agree, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.agree(body.instruments, body.ddub_commitment_pct, body.agreed_on, today()),
    )


@command(f"{H}/parallel-run", "Start the parallel run: the city's operators shadow the consultants")
async def start_parallel_run(
    body: OnDay, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    return await _on(store, guard, city_code, lambda h, _: h.start_parallel_run(body.on, today()))


@command(f"{H}/parallel-run/signatures/city", "The city signs the parallel run")
async def sign_for_city(
    body: Sign, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(SIGN_FOR_CITY)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.sign(Side.CITY, guard.principal.subject, body.signed_on, today()),
    )


@command(f"{H}/parallel-run/signatures/consultants", "The consultants sign the parallel run")
async def sign_for_consultants(
    body: Sign, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(SIGN_FOR_CONSULTANTS)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.sign(Side.CONSULTANTS, guard.principal.subject, body.signed_on, today()),
    )


@command(f"{H}/items", "Hand one item of the checklist over")
async def hand_item(
    body: HandItem, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(HAND_OVER)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.transfer_item(
            body.item, body.handed_by, body.received_by, body.document, body.transferred_on, today()
        ),
    )


@command(f"{H}/completion", "Complete the handover: write authority moves to the city")
async def complete(
    body: OnDay, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    return await _on(store, guard, city_code, lambda h, _: h.complete(body.on, today()))


@command(f"{H}/reports", "The city's periodic report after the transfer")
async def report(
    body: Report, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(REPORT)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.report(body.period_label, body.document, body.submitted_on, today()),
    )


@command(f"{H}/hold", "Put the handover on hold, with the reason")
async def hold(body: Hold, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)) -> Accepted:
    return await _on(store, guard, city_code, lambda h, _: h.hold(body.reason, body.held_on, today()))


@command(f"{H}/resumption", "Resume a handover on hold")
async def resume(
    body: OnDay, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    return await _on(store, guard, city_code, lambda h, _: h.resume(body.on, today()))


@command(f"{H}/rollback", "Go back to an earlier stage; from the transfer on, authority returns")
async def roll_back(
    body: RollBack, store: StoreDep, city_code: CityCode, guard: Guard = Guarded(DECIDE)
) -> Accepted:
    return await _on(
        store,
        guard,
        city_code,
        lambda h, _: h.roll_back(body.to_stage, body.reason, body.rolled_back_on, today()),
    )


class ChecklistItem(BaseModel):
    item: Item
    transferred_on: date | None
    handed_by: str | None
    received_by: str | None
    document: str | None


class HandoverOut(BaseModel):
    city_code: str
    stage: Stage
    on_hold: str | None = Field(description="the reason, while on hold")
    assessment: list[CriterionResult] | None = Field(description="the scorecard the handover started from")
    assessed_on: date | None
    instruments: list[Instrument]
    ddub_commitment_pct: int | None
    signed_by: dict[Side, str]
    checklist: list[ChecklistItem]
    missing_for_transfer: list[str]
    reports: list[str]
    version: int


@router.get(H, response_model=HandoverOut, tags=["handover"], summary="The city's handover: stage, checklist")
async def get_handover(store: StoreDep, city_code: CityCode, guard: Guard = Guarded(READ)) -> HandoverOut:
    await guard.check(city_code, hidden=hidden(city_code))
    h = await handlers.get_handover(store, city_code)
    return HandoverOut(
        city_code=city_code,
        stage=h.stage,
        on_hold=h.held.reason if h.held else None,
        assessment=list(h.assessment.criteria) if h.assessment else None,
        assessed_on=h.assessment.assessed_on if h.assessment else None,
        instruments=list(h.agreement.instruments) if h.agreement else [],
        ddub_commitment_pct=h.agreement.ddub_commitment_pct if h.agreement else None,
        signed_by={side: s.signed_by for side, s in h.signatures.items()},
        checklist=[
            ChecklistItem(
                item=item,
                transferred_on=done.transferred_on if done else None,
                handed_by=done.handed_by if done else None,
                received_by=done.received_by if done else None,
                document=done.document if done else None,
            )
            for item in Item
            for done in [h.items.get(item)]
        ],
        missing_for_transfer=h.missing_for_transfer() if h.stage is Stage.PARALLEL_RUN else [],
        reports=sorted(h.reports),
        version=h.version,
    )


class HandoverRow(BaseModel):
    city_code: str
    stage: Stage
    held: bool
    version: int


@router.get(
    "/cities", response_model=list[HandoverRow], tags=["handover"], summary="Every city's handover stage"
)
async def list_handovers(
    store: StoreDep,
    within: str | None = Query(default=None, pattern=REGION_CODE.pattern, examples=["33"]),
    guard: Guard = Guarded(READ),
) -> list[HandoverRow]:
    query = select(handovers).where(guard.visible(handovers.c.city_code))
    if within:
        guard.check_filter(within)
        query = query.where(handovers.c.city_code.like(within + "%"))
    async with store.engine.connect() as conn:
        rows = (await conn.execute(query.order_by(handovers.c.city_code))).mappings()
        return [HandoverRow(**{k: row[k] for k in ("city_code", "stage", "held", "version")}) for row in rows]


# --- the city feed --------------------------------------------------------------------------------------


class FeedOut(BaseModel):
    city_code: str
    events: list[dict[str, Any]] = Field(description="CloudEvents, oldest first")
    next_cursor: str = Field(description="pass as `after` for what follows")
    at_end: bool


@router.get("/cities/{city_code}/feed", response_model=FeedOut, tags=["feed"])
async def read_feed(
    store: StoreDep,
    city_code: CityCode,
    after: str = Query(default="0", pattern=r"^\d{1,18}$", description="the cursor a previous page gave"),
    limit: int = Query(default=100, ge=1, le=1000),
    guard: Guard = Guarded(READ_FEED),
) -> FeedOut:
    """The city's events of every service, in order per aggregate, from a cursor (for systems that
    cannot receive webhooks)."""
    await guard.check(city_code, hidden=hidden(city_code))
    rows = await handlers.read_feed(store.engine, city_code, int(after), limit)
    cursor = rows[-1][0] if rows else int(after)
    return FeedOut(
        city_code=city_code,
        events=[json.loads(body) for _, body in rows],
        next_cursor=str(cursor),
        at_end=cursor >= await handlers.feed_end(store.engine, city_code),
    )


class Subscribe(Input):
    url: HttpUrl = Field(description="where the city's events are POSTed, signed")
    from_start: bool = Field(
        default=False, description="true: every event so far first; false: new ones only"
    )


class Subscribed(BaseModel):
    subscription_id: uuid.UUID
    secret: str = Field(description="shown once: the HMAC-SHA256 key of X-P2KP-Signature")
    delivered_up_to: int


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subscription_id: uuid.UUID
    city_code: str
    url: str
    status: str
    delivered_seq: int
    attempts: int
    last_error: str | None


class Replay(Input):
    from_position: int = Field(ge=0, le=10**18, description="events after this feed position are sent again")


@router.post(
    "/cities/{city_code}/subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=Subscribed,
    tags=["feed"],
)
async def subscribe(
    body: Subscribe, request: Request, city_code: CityCode, guard: Guard = Guarded(MANAGE_SUBSCRIPTIONS)
) -> Subscribed:
    """Subscribe a pemkot system's webhook to the city's events."""
    await guard.check(city_code, hidden=hidden(city_code))
    engine = request.app.state.runtime.engine
    subscription_id, secret = await webhooks.create_subscription(
        engine, city_code, str(body.url), guard.principal.subject, 0 if body.from_start else None
    )
    found = await webhooks.get_subscription(engine, subscription_id)
    assert found is not None
    request.app.state.webhooks.wake()
    return Subscribed(
        subscription_id=uuid.UUID(subscription_id), secret=secret, delivered_up_to=found["delivered_seq"]
    )


@router.get("/cities/{city_code}/subscriptions", response_model=list[SubscriptionOut], tags=["feed"])
async def list_subscriptions(
    request: Request, city_code: CityCode, guard: Guard = Guarded(READ_SUBSCRIPTIONS)
) -> list[SubscriptionOut]:
    await guard.check(city_code, hidden=hidden(city_code))
    return [
        SubscriptionOut(**s)
        for s in await webhooks.list_subscriptions(request.app.state.runtime.engine, city_code)
    ]


async def _subscription(request: Request, guard: Guard, subscription_id: uuid.UUID) -> None:
    found = await webhooks.get_subscription(request.app.state.runtime.engine, str(subscription_id))
    missing = f"There is no subscription {subscription_id}."
    if found is None:
        raise NotFound(missing)
    await guard.check(found["city_code"], hidden=missing)


@router.post(
    "/subscriptions/{subscription_id}/redelivery", status_code=status.HTTP_204_NO_CONTENT, tags=["feed"]
)
async def redeliver(
    request: Request, subscription_id: uuid.UUID, guard: Guard = Guarded(MANAGE_SUBSCRIPTIONS)
) -> Response:
    """Resume a parked subscription where it stopped."""
    await _subscription(request, guard, subscription_id)
    await webhooks.redeliver(request.app.state.runtime.engine, str(subscription_id))
    request.app.state.webhooks.wake()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/replay", status_code=status.HTTP_204_NO_CONTENT, tags=["feed"])
async def replay(
    body: Replay, request: Request, subscription_id: uuid.UUID, guard: Guard = Guarded(MANAGE_SUBSCRIPTIONS)
) -> Response:
    """Send the city's events again from a feed position."""
    await _subscription(request, guard, subscription_id)
    await webhooks.replay(request.app.state.runtime.engine, str(subscription_id), body.from_position)
    request.app.state.webhooks.wake()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/cities/{city_code}/export",
    response_class=Response,
    tags=["feed"],
    responses={200: {"content": {"application/zip": {}}, "description": "a ZIP with manifest.json"}},
)
async def export_city(store: StoreDep, city_code: CityCode, guard: Guard = Guarded(EXPORT)) -> Response:
    """The city's full export: its events and readiness facts as JSON Lines and CSV, with checksums."""
    await guard.check(city_code, hidden=hidden(city_code))
    archive, manifest = await export.build(store.engine, city_code)
    name = f"p2kp-{city_code}-{manifest['feed_position']}.zip"
    return Response(
        archive,
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
