"""Authorisation-matrix examples for the handover endpoints, and the subscription they need per city.

The examples move each fixture city's handover forward as far as they can (assessed, agreed, a
parallel run, one item, signatures) but never complete it: the matrix's cities stay before alih kelola.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from shared.clock import today
from tests.journeys import post
from tests.security.common import Request

H = "/cities/{city_code}/handover"
SUBSCRIPTIONS: dict[str, str] = {}
TODAY = today().isoformat()
# A port nothing listens on: deliveries fail at once (the matrix does not test delivery).
DEAD_HOOK = "http://127.0.0.1:9/hook"


async def set_up(http: httpx.AsyncClient, city: str) -> None:
    answer = await post(http, f"/handover/cities/{city}/subscriptions", {"url": f"{DEAD_HOOK}/fixture"})
    SUBSCRIPTIONS[city] = answer["subscription_id"]


def _post(path: str, body: dict[str, object]) -> Callable[[str, int], Request]:
    return lambda city, n: Request("POST", path.format(city=city, n=n), body)


EXAMPLES = {
    ("handover", "GET", "/cities/{city_code}/readiness"): lambda city, n: Request(
        "GET", f"/cities/{city}/readiness", params={"period": "KOTAKU"}
    ),
    ("handover", "POST", "/cities/{city_code}/readiness/attestations"): _post(
        "/cities/{city}/readiness/attestations",
        {
            "period_code": "KOTAKU",
            "criterion": "perda",
            "met": True,
            "evidence": "Perwal 7",
            "attested_on": TODAY,
        },
    ),
    ("handover", "POST", f"{H}/assessment"): _post(
        "/cities/{city}/handover/assessment", {"period_code": "KOTAKU", "assessed_on": TODAY}
    ),
    ("handover", "POST", f"{H}/agreement"): _post(
        "/cities/{city}/handover/agreement",
        {
            "instruments": [{"kind": "MoU", "reference": "MoU 1", "signed_on": TODAY}],
            "ddub_commitment_pct": 10,
            "agreed_on": TODAY,
        },
    ),
    ("handover", "POST", f"{H}/parallel-run"): _post("/cities/{city}/handover/parallel-run", {"on": TODAY}),
    ("handover", "POST", f"{H}/parallel-run/signatures/city"): _post(
        "/cities/{city}/handover/parallel-run/signatures/city", {"signed_on": TODAY}
    ),
    ("handover", "POST", f"{H}/parallel-run/signatures/consultants"): _post(
        "/cities/{city}/handover/parallel-run/signatures/consultants", {"signed_on": TODAY}
    ),
    ("handover", "POST", f"{H}/items"): _post(
        "/cities/{city}/handover/items",
        {
            "item": "data",
            "handed_by": "Korkot",
            "received_by": "Bappeda",
            "document": "BAST",
            "transferred_on": TODAY,
        },
    ),
    ("handover", "POST", f"{H}/completion"): _post("/cities/{city}/handover/completion", {"on": TODAY}),
    ("handover", "POST", f"{H}/reports"): _post(
        "/cities/{city}/handover/reports",
        {"period_label": "2027-S1", "document": "Laporan", "submitted_on": TODAY},
    ),
    ("handover", "POST", f"{H}/hold"): _post(
        "/cities/{city}/handover/hold", {"reason": "menunggu", "held_on": TODAY}
    ),
    ("handover", "POST", f"{H}/resumption"): _post("/cities/{city}/handover/resumption", {"on": TODAY}),
    ("handover", "POST", f"{H}/rollback"): _post(
        "/cities/{city}/handover/rollback",
        {"to_stage": "assessed", "reason": "ulang", "rolled_back_on": TODAY},
    ),
    ("handover", "GET", H): lambda city, n: Request("GET", f"/cities/{city}/handover"),
    ("handover", "GET", "/cities"): lambda city, n: Request("GET", "/cities", params={"within": city}),
    ("handover", "GET", "/cities/{city_code}/feed"): lambda city, n: Request("GET", f"/cities/{city}/feed"),
    ("handover", "POST", "/cities/{city_code}/subscriptions"): _post(
        "/cities/{city}/subscriptions", {"url": DEAD_HOOK + "/{n}"}
    ),
    ("handover", "GET", "/cities/{city_code}/subscriptions"): lambda city, n: Request(
        "GET", f"/cities/{city}/subscriptions"
    ),
    ("handover", "POST", "/subscriptions/{subscription_id}/redelivery"): lambda city, n: Request(
        "POST", f"/subscriptions/{SUBSCRIPTIONS[city]}/redelivery"
    ),
    ("handover", "POST", "/subscriptions/{subscription_id}/replay"): lambda city, n: Request(
        "POST", f"/subscriptions/{SUBSCRIPTIONS[city]}/replay", {"from_position": 0}
    ),
    ("handover", "GET", "/cities/{city_code}/export"): lambda city, n: Request(
        "GET", f"/cities/{city}/export"
    ),
}
