"""The authorisation matrix: every endpoint of every service, every role, own city / other city /
national, generated from the routes themselves. An endpoint without a declared action, or without an
example request here, fails the test — so no endpoint can be added unguarded.

Also the leak check: a caller scoped to Kota Semarang never receives a byte about Kota Surabaya.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from services.platform import build_embedded
from shared.security.policy import Access, Action
from shared.security.principal import Role
from shared.settings import ServiceSettings
from tests.harness.tokens import ADMIN, bearer
from tests.journeys import hand_over
from tests.security import (
    handover_examples,
    institutions_examples,
    ledger_examples,
    monitoring_examples,
    povertymap_examples,
)
from tests.security.common import OTHER, OWN, Request, indicators, kelurahan

PUBLIC = {"/health", "/ready", "/metrics"}
# Where each role's own scope sits inside OWN (the scope levels the roles accept).
OWN_SCOPE = {
    Role.REGIONAL_CONSULTANT: "33",
    Role.CITY_OPERATOR: OWN,
    Role.INTEGRATION_CLIENT: OWN,
    Role.FACILITATOR: f"{OWN}.01.1001",
    Role.BKM_OFFICER: f"{OWN}.01.1001",
}


SHEET = "kelurahan_code,population,households,poor_households,source\n{code},5000,1200,300,BPS 2025\n"
KECAMATAN_TABLE = "kecamatan_code,families,pra_ks_ks1_families,welfare_index\n{city}.01,1000,400,1.0\n"


SERVICE_NAMES = ("targeting", "institutions", "ledger", "handover", "monitoring")


def _applied(service: str) -> Callable[[str, int], Request]:
    """Asks without waiting about a stream the consumer never saw: a 409 when allowed."""
    return lambda city, n: Request(
        "GET",
        f"/consumers/{service}.authority/streams/none-{n}",
        params={"version": "1", "wait_seconds": "0"},
    )


# One example request per endpoint, for a record in ``city`` (ignored by national endpoints); ``n``
# makes each call's data fresh so a second call is not refused as a duplicate.
Example = Callable[[str, int], Request]
EXAMPLES: dict[tuple[str, str, str], Example] = {
    ("targeting", "POST", "/program-periods"): lambda city, n: Request(
        "POST",
        "/program-periods",
        {"code": f"MATRIX-{n}", "name": "Matrix", "starts_on": "2020-01-01", "ends_on": "2021-01-01"},
    ),
    ("targeting", "GET", "/program-periods/{code}"): lambda city, n: Request(
        "GET", "/program-periods/KOTAKU"
    ),
    ("targeting", "GET", "/regions"): lambda city, n: Request("GET", "/regions", params={"q": "semarang"}),
    ("targeting", "GET", "/regions/{code}"): lambda city, n: Request("GET", f"/regions/{city}"),
    ("targeting", "POST", "/program-periods/{code}/parameters"): lambda city, n: Request(
        "POST", "/program-periods/KOTAKU/parameters", {}
    ),
    ("targeting", "GET", "/program-periods/{code}/parameters/{version}"): lambda city, n: Request(
        "GET", "/program-periods/KOTAKU/parameters/1"
    ),
    ("targeting", "POST", "/program-periods/{code}/criteria"): lambda city, n: Request(
        "POST", "/program-periods/KOTAKU/criteria", {"rule": "kecamatan-welfare", "dataset": f"PODES {n}"}
    ),
    ("targeting", "POST", "/program-periods/{code}/criteria/{version}/evaluations"): lambda city, n: Request(
        "POST",
        "/program-periods/KOTAKU/criteria/1/evaluations",
        files={"table": ("kecamatan.csv", KECAMATAN_TABLE.format(city=city).encode())},
    ),
    ("targeting", "POST", "/program-periods/{code}/kelurahan"): lambda city, n: Request(
        "POST",
        "/program-periods/KOTAKU/kelurahan",
        {"kelurahan_code": kelurahan(city), "indicators": indicators(n)},
    ),
    ("targeting", "POST", "/program-periods/{code}/kelurahan/imports"): lambda city, n: Request(
        "POST",
        "/program-periods/KOTAKU/kelurahan/imports",
        files={"sheet": ("nominations.csv", SHEET.format(code=kelurahan(city)).encode())},
    ),
    ("targeting", "GET", "/program-periods/{code}/kelurahan"): lambda city, n: Request(
        "GET", "/program-periods/KOTAKU/kelurahan", params={"city": city}
    ),
    ("targeting", "GET", "/program-periods/{code}/kelurahan/{kelurahan_code}"): lambda city, n: Request(
        "GET", f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}"
    ),
    (
        "targeting",
        "POST",
        "/program-periods/{code}/kelurahan/{kelurahan_code}/verification",
    ): lambda city, n: Request(
        "POST",
        f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}/verification",
        {"verified": True, "criteria_version": 1, "reason": "meets the criteria"},
    ),
    (
        "targeting",
        "POST",
        "/program-periods/{code}/kelurahan/{kelurahan_code}/confirmation",
    ): lambda city, n: Request(
        "POST", f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}/confirmation", {"letter": f"SK {n}"}
    ),
    ("targeting", "POST", "/program-periods/{code}/kelurahan/{kelurahan_code}/drop"): lambda city, n: Request(
        "POST", f"/program-periods/KOTAKU/kelurahan/{kelurahan(city)}/drop", {"reason": f"reason {n}"}
    ),
    ("monitoring", "GET", "/program-periods"): lambda city, n: Request("GET", "/program-periods"),
    **povertymap_examples.EXAMPLES,
    **institutions_examples.EXAMPLES,
    **ledger_examples.EXAMPLES,
    **handover_examples.EXAMPLES,
    **monitoring_examples.EXAMPLES,
    **{
        (s, "GET", "/audit"): (lambda city, n: Request("GET", "/audit", params={"city": city}))
        for s in ("targeting", "institutions", "ledger", "handover", "monitoring")
    },
    **{(s, "GET", "/consumers/{consumer}/streams/{stream_id}"): _applied(s) for s in SERVICE_NAMES},
}


# Surabaya's code as a region code: not the same digits inside a time ("04:52:35.788903Z").
OTHER_CODE = re.compile(rf"(?<![\d:.]){re.escape(OTHER)}(?!\d)")


def mentions_other(text: str) -> bool:
    return OTHER_CODE.search(text) is not None


def declared_action(route: APIRoute) -> Action | None:
    for dependency in route.dependant.dependencies:
        action = getattr(dependency.call, "action", None)
        if isinstance(action, Action):
            return action
    return None


def api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, including those of included routers (FastAPI keeps those nested)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def guarded_routes(platform: FastAPI) -> list[tuple[str, APIRoute, Action]]:
    found, unguarded = [], []
    for service, app in platform.state.services.items():
        routes = list(api_routes(app.routes))
        # Nothing the schema offers may escape the walk (a router included under a prefix, say).
        documented = {(m.upper(), p) for p, ops in app.openapi()["paths"].items() for m in ops}
        assert documented == {
            (m, r.path) for r in routes if r.include_in_schema for m in (r.methods or set())
        }, service
        for route in routes:
            if route.path in PUBLIC:
                continue
            action = declared_action(route)
            if action is None:
                unguarded.append(f"{service} {(route.methods or set())} {route.path}")
            else:
                found.append((service, route, action))
    assert not unguarded, f"endpoints without a declared action: {unguarded}"
    return found


def expected(role: Role, action: Action, target: str) -> str:
    """The rules of docs/security.md, restated independently of the code under test."""
    if role not in action.roles:
        return "forbidden"
    national_role = role in {Role.NATIONAL_ADMIN, Role.NATIONAL_MONITOR, Role.AUDITOR}
    if action.national or national_role:
        pass
    elif target == "other":
        return "hidden"
    if action.access is Access.WRITE and not action.national and not action.city_prerogative:
        # Before alih kelola (the state of the fixture cities): the program writes, the city does not.
        if role is Role.CITY_OPERATOR:
            return "forbidden"
    return "allowed"


def outcome(response: httpx.Response) -> str:
    refused = {401: "unauthenticated", 403: "forbidden", 404: "hidden"}.get(response.status_code)
    json_body = response.headers.get("content-type", "").startswith("application/json")
    if refused is None and response.is_success and json_body and "rows" in response.json():
        # A bulk import answers per row: the one example row says how access was decided.
        [row] = response.json()["rows"]
        refused = row["refusal"]
    return refused or "allowed"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = build_embedded(ServiceSettings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://p2kp", headers=ADMIN
        ) as http:
            created = await http.post(
                "/targeting/program-periods",
                json={
                    "code": "KOTAKU",
                    "name": "Kota Tanpa Kumuh",
                    "starts_on": "2016-01-01",
                    "ends_on": "2024-12-31",
                },
            )
            assert created.status_code == 201
            criteria = {"rule": "kecamatan-welfare", "dataset": "PODES 2000"}
            assert (
                await http.post("/targeting/program-periods/KOTAKU/criteria", json=criteria)
            ).status_code == 201
            for city in (OWN, OTHER):  # a record in each city for the reads and decisions to find
                nominated = await http.post(
                    "/targeting/program-periods/KOTAKU/kelurahan",
                    json={"kelurahan_code": kelurahan(city), "indicators": indicators(0)},
                )
                assert nominated.status_code == 201, nominated.text
                await povertymap_examples.set_up(http, city)
                await institutions_examples.set_up(http, app, city)
                await ledger_examples.set_up(http, app, city)
                await handover_examples.set_up(http, city)
        yield app


async def call(app: FastAPI, service: str, request: Request, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p2kp") as http:
        return await http.request(
            request.method,
            f"/{service}{request.path}",
            json=request.json,
            params=request.params,
            files=request.files,
            headers=headers,
        )


async def test_every_endpoint_every_role_own_city_other_city_national(platform: FastAPI) -> None:
    routes = guarded_routes(platform)
    missing = [
        f"{s} {sorted(r.methods or set())} {r.path}"
        for s, r, _ in routes
        if not any((s, m, r.path) in EXAMPLES for m in (r.methods or set()))
    ]
    assert not missing, f"add an example request for: {missing}"

    counter = itertools.count()
    mismatches, cells = [], 0
    for service, route, action in routes:
        for method in route.methods or set():
            example = EXAMPLES[(service, method, route.path)]
            anonymous = await call(platform, service, example(OWN, next(counter)), {})
            if anonymous.status_code != 401:
                mismatches.append(f"{service} {method} {route.path} anonymous: {anonymous.status_code}")
            for role, target in itertools.product(Role, ("own", "other")):
                city = OWN if target == "own" else OTHER
                scopes = () if role not in OWN_SCOPE else (OWN_SCOPE[role],)
                response = await call(platform, service, example(city, next(counter)), bearer(role, *scopes))
                cells += 1
                want, got = expected(role, action, target), outcome(response)
                if want != got:
                    mismatches.append(
                        f"{service} {method} {route.path} {role} {target}: want {want}, "
                        f"got {response.status_code} {response.text[:120]}"
                    )
                if response.status_code >= 500:
                    mismatches.append(f"{service} {method} {route.path} {role} {target}: server error")
    assert len(routes) >= 9 and cells >= len(routes) * len(Role) * 2
    assert not mismatches, "\n".join(mismatches)


async def test_a_city_scoped_caller_never_receives_another_citys_data(platform: FastAPI) -> None:
    # Give Surabaya a history in every service that keeps one: both cities handed over.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=platform), base_url="http://p2kp") as http:
        await hand_over(http, OTHER)
        await hand_over(http, OWN)
    leaks = []
    for service, route, action in guarded_routes(platform):
        if "GET" not in (route.methods or set()) or action.national:
            continue  # national data (the official region list, program periods) is everyone's
        for role in OWN_SCOPE:
            for city in (OWN, OTHER, None):
                request = EXAMPLES[(service, "GET", route.path)](city or OWN, 0)
                if city is None and request.params:  # the unfiltered list, too
                    request = Request(request.method, request.path)
                response = await call(platform, service, request, bearer(role, OWN_SCOPE[role]))
                # Refusals echo the code the caller asked for; only what is served can leak.
                if response.is_success and mentions_other(response.text):
                    leaks.append(f"{service} GET {route.path} as {role}: {response.text[:200]}")
    assert not leaks, "\n".join(leaks)
    # And the check itself can see a leak: a national caller does receive Surabaya's entry.
    national = await call(platform, "handover", Request("GET", "/audit"), bearer("auditor"))
    assert mentions_other(national.text)
