"""Identity, sign-in, write authority and the audit trail, on the running embedded platform."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from services.platform import build_embedded
from services.targeting.app import TargetingSettings
from services.targeting.app import build as build_targeting
from shared.clock import today
from shared.security.authority import Holder, holder_of
from shared.security.principal import Principal
from shared.security.tokens import NotAuthenticated, TokenVerifier, issue_token
from shared.settings import ServiceSettings, UnsafeConfiguration
from tests.harness import free_port
from tests.harness.tokens import ADMIN, bearer
from tests.journeys import hand_over, handover_steps

KOTAKU = {"code": "KOTAKU", "name": "Kota Tanpa Kumuh", "starts_on": "2016-01-01", "ends_on": "2024-12-31"}


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[FastAPI]:
    app = build_embedded(ServiceSettings(data_dir=tmp_path))
    async with app.router.lifespan_context(app):
        yield app


def client(app: FastAPI, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://p2kp", headers=headers)


# --- identity -------------------------------------------------------------------------------------


@pytest.fixture
def identity_provider() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """A stand-in OpenID Connect provider: an RSA key and its JWKS served over HTTP on loopback."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "test-key", "use": "sig", "alg": "RS256"}]}).encode()

    class Jwks(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/realms/p2kp/protocol/openid-connect/certs", key
    server.shutdown()


def provider_token(key: rsa.RSAPrivateKey, **overrides: object) -> str:
    claims = {
        "iss": "https://sso.example.go.id/realms/p2kp",
        "aud": "p2kp",
        "sub": "siti@semarang",
        "exp": int(time.time()) + 300,
        "p2kp_role": "city_operator",
        "p2kp_regions": ["33.74"],
        **overrides,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})


async def test_tokens_from_the_identity_provider_are_verified_against_its_jwks(
    identity_provider: tuple[str, rsa.RSAPrivateKey],
) -> None:
    jwks_url, key = identity_provider
    settings = ServiceSettings(oidc_issuer="https://sso.example.go.id/realms/p2kp", oidc_jwks_url=jwks_url)
    verifier = TokenVerifier(settings)
    assert await verifier.verify(provider_token(key)) == Principal.of(
        "siti@semarang", "city_operator", ["33.74"]
    )

    local = issue_token(ServiceSettings(), Principal.of("x", "national_admin"))
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    for refused in (
        local,  # signed with the development key: not the provider's
        provider_token(other_key),  # signed by someone else under the provider's key id
        provider_token(key, iss="https://evil.example"),
        provider_token(key, aud="another-app"),
        provider_token(key, p2kp_role="superuser"),
    ):
        with pytest.raises(NotAuthenticated):
            await verifier.verify(refused)
    with pytest.raises(NotAuthenticated, match="expired"):
        await verifier.verify(provider_token(key, exp=int(time.time()) - 60))


def test_production_refuses_to_start_with_development_secrets(tmp_path: Path) -> None:
    unsafe = ServiceSettings(
        environment="production",
        mode="distributed",
        data_dir=tmp_path,
        database_url="postgresql+asyncpg://p2kp@db/targeting",
    )
    with pytest.raises(UnsafeConfiguration, match="P2KP_OIDC_ISSUER") as refused:
        build_targeting(unsafe)
    assert "development key" in str(refused.value)
    with pytest.raises(UnsafeConfiguration, match="embedded mode"):
        build_embedded(ServiceSettings(environment="production", data_dir=tmp_path))
    safe = unsafe.model_copy(
        update={
            "oidc_issuer": "https://sso.example.go.id/realms/p2kp",
            "oidc_jwks_url": "https://sso.example.go.id/realms/p2kp/protocol/openid-connect/certs",
            "auth_signing_key": unsafe.auth_signing_key.__class__("a-real-secret-from-the-vault"),
        }
    )
    with pytest.raises(UnsafeConfiguration, match="P2KP_TARGETING_NIK_PEPPER"):
        build_targeting(safe)  # the NIK fingerprint key is still the development one
    peppered = TargetingSettings(
        **safe.model_dump(exclude={"database_url"}),
        P2KP_TARGETING_DATABASE_URL=safe.database_url,
        P2KP_TARGETING_NIK_PEPPER="another-secret-from-the-vault",
    )
    assert build_targeting(peppered).state.runtime.settings.environment == "production"


# --- sign-in -------------------------------------------------------------------------------------


async def test_a_dashboard_page_without_a_session_leads_to_sign_in_and_back(platform: FastAPI) -> None:
    await platform.state.accounts.create(
        "analis.x", "correct horse", Principal.of("analis.x", "national_monitor"), "Analis"
    )
    browser = {"accept": "text/html,application/xhtml+xml"}
    async with client(platform) as http:
        page = await http.get("/monitoring/dashboard", params={"lang": "en"}, headers=browser)
        assert (
            page.status_code == 303
            and page.headers["location"] == "/login?next=/monitoring/dashboard%3Flang%3Den"
        )
        assert (await http.get("/monitoring/overview")).status_code == 401  # an API client gets the problem
        form = await http.get("/login", params={"next": "/monitoring/dashboard?lang=en"})
        assert 'name="next" value="/monitoring/dashboard?lang=en"' in form.text
        signed_in = await http.post(
            "/login",
            data={
                "username": "analis.x",
                "password": "correct horse",
                "next": "/monitoring/dashboard?lang=en",
            },
        )
        assert (
            signed_in.status_code == 303 and signed_in.headers["location"] == "/monitoring/dashboard?lang=en"
        )
        assert (await http.get(signed_in.headers["location"], headers=browser)).status_code == 200
        # Never to another site: a crafted link's next is refused.
        for elsewhere in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
            refused = await http.post(
                "/login", data={"username": "analis.x", "password": "correct horse", "next": elsewhere}
            )
            assert refused.status_code == 422, elsewhere
        assert 'name="next"' not in (await http.get("/login", params={"next": "//evil.example"})).text


async def test_sign_in_gives_a_session_for_reads_and_a_token_for_commands(platform: FastAPI) -> None:
    await platform.state.accounts.create(
        "faskel.budi", "correct horse", Principal.of("faskel.budi", "national_admin"), "Budi"
    )
    async with client(platform) as http:
        assert (await http.get("/login")).status_code == 200
        signed_in = await http.post("/login", data={"username": "faskel.budi", "password": "correct horse"})
        assert signed_in.status_code == 303 and "httponly" in signed_in.headers["set-cookie"].lower()
        assert (await http.get("/targeting/audit")).status_code == 200  # the cookie reads...
        write = await http.post("/targeting/program-periods", json=KOTAKU)
        assert write.status_code == 401  # ...but never writes (a forged cross-site form gets nothing)

        token = await http.post("/auth/token", data={"username": "faskel.budi", "password": "correct horse"})
        http.cookies.clear()
        bearer_header = {"authorization": f"Bearer {token.json()['access_token']}"}
        assert (
            await http.post("/targeting/program-periods", json=KOTAKU, headers=bearer_header)
        ).status_code == 201


async def test_repeated_failed_sign_ins_are_slowed_down(platform: FastAPI) -> None:
    await platform.state.accounts.create(
        "op.x", "right", Principal.of("op.x", "city_operator", ["33.74"]), "X"
    )
    async with client(platform) as http:
        statuses = [
            (await http.post("/auth/token", data={"username": "op.x", "password": f"guess {n}"})).status_code
            for n in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        locked = await http.post("/auth/token", data={"username": "op.x", "password": "right"})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
        assert "Too many failed sign-ins" in locked.json()["detail"]
        page = await http.post("/login", data={"username": "op.x", "password": "right"})
        assert page.status_code == 429 and "Too many failed sign-ins" in page.text


# --- write authority (alih kelola) ------------------------------------------------------------------


async def test_authority_transfer_reaches_every_service_and_is_honoured(platform: FastAPI) -> None:
    services = platform.state.services
    async with client(platform, ADMIN) as http:
        *_, (complete, body, _) = handover_steps("33.74", today().isoformat())
        refused = await http.post(complete, json=body, headers=bearer("city_operator", "33.74"))
        assert refused.status_code == 403  # the handover's decisions are the national office's
        early = await http.post(complete, json=body)
        assert early.status_code == 409 and "not started" in early.json()["detail"]
        moved = await hand_over(http, "33.74")
        again = await http.post(complete, json=body)
        assert again.status_code == 409 and "transferred" in again.json()["detail"]

    for name, service in services.items():
        runtime = service.state.runtime
        await runtime.consumer(f"{name}.authority").wait_for_stream(
            moved["stream_id"], moved["version"], timeout=30
        )
        assert await holder_of(runtime.engine, "33.74") is Holder.CITY, name
        assert await holder_of(runtime.engine, "35.78") is Holder.NATIONAL, name

    async with client(platform, ADMIN) as http:
        rollback = {
            "to_stage": "parallel run",
            "reason": "DDUB not paid",
            "rolled_back_on": today().isoformat(),
        }
        back = await http.post("/handover/cities/33.74/handover/rollback", json=rollback)
        assert back.status_code == 201, back.text
    runtime = services["targeting"].state.runtime
    await runtime.consumer("targeting.authority").wait_for_stream(
        moved["stream_id"], back.json()["version"], timeout=30
    )
    assert await holder_of(runtime.engine, "33.74") is Holder.NATIONAL


# --- audit ------------------------------------------------------------------------------------------


async def test_audit_lists_who_did_what_when_to_which_record(platform: FastAPI) -> None:
    async with client(platform) as http:
        await http.post(
            "/targeting/program-periods", json=KOTAKU, headers=bearer("national_admin", subject="pmu.ani")
        )
        await hand_over(http, "33.74", bearer("national_admin", subject="pmu.ani"))
        await hand_over(http, "35.78", bearer("national_admin", subject="pmu.joko"))

        audited = await http.get("/targeting/audit", params={"actor": "pmu.ani"}, headers=bearer("auditor"))
        entry, parameters = audited.json()["entries"]
        assert parameters["event_type"] == "p2kp.targeting.program-parameters-set.v1"
        assert entry["at"].endswith("Z") or entry["at"].endswith("+00:00")  # an instant, in UTC
        assert (entry["actor"], entry["role"], entry["stream_id"], entry["event_type"], entry["version"]) == (
            "pmu.ani",
            "national_admin",
            "program-period-KOTAKU",
            "p2kp.targeting.program-period-registered.v1",
            1,
        )

        everything = await http.get("/handover/audit", headers=bearer("auditor"))
        assert {e["city_code"] for e in everything.json()["entries"]} == {"33.74", "35.78"}
        ani = await http.get("/handover/audit", params={"actor": "pmu.ani"}, headers=bearer("auditor"))
        assert {e["city_code"] for e in ani.json()["entries"]} == {"33.74"}  # pmu.joko handed Surabaya over
        semarang = await http.get("/handover/audit", headers=bearer("city_operator", "33.74"))
        assert {e["city_code"] for e in semarang.json()["entries"]} == {"33.74"}  # never Surabaya's
        assert (
            await http.get("/handover/audit", headers=bearer("integration_client", "33.74"))
        ).status_code == 403
        assert (await http.get("/handover/audit")).status_code == 401


async def test_after_alih_kelola_the_city_writes_and_the_national_office_only_reads(
    platform: FastAPI,
) -> None:
    period = {
        "code": "KOTAKU",
        "name": "Kota Tanpa Kumuh",
        "starts_on": "2016-01-01",
        "ends_on": "2024-12-31",
    }
    indicators = {"population": 9000, "households": 2400, "poor_households": 700, "source": "BPS 2025"}
    semarang_op = bearer("city_operator", "33.74")
    async with client(platform, ADMIN) as http:
        assert (await http.post("/targeting/program-periods", json=period)).status_code == 201

        def nominate(code: str, headers: dict[str, str]) -> Any:
            return http.post(
                "/targeting/program-periods/KOTAKU/kelurahan",
                headers=headers,
                json={"kelurahan_code": code, "indicators": indicators},
            )

        before = await nominate("33.74.10.1001", semarang_op)
        assert (
            before.status_code == 403 and "still managed by the national program" in before.json()["detail"]
        )
        assert (await nominate("33.74.10.1001", ADMIN)).status_code == 201

        moved = await hand_over(http, "33.74")
        runtime = platform.state.services["targeting"].state.runtime
        await runtime.consumer("targeting.authority").wait_for_stream(
            moved["stream_id"], moved["version"], timeout=30
        )

        after = await nominate("33.74.10.1002", semarang_op)
        assert after.status_code == 201, after.text
        refused = await nominate("33.74.10.1003", ADMIN)
        assert refused.status_code == 403 and "no longer change them" in refused.json()["detail"]
        assert (
            await http.get("/targeting/program-periods/KOTAKU/kelurahan/33.74.10.1002")
        ).status_code == 200
        # Surabaya was not handed over: the national office still manages it.
        assert (await nominate("35.78.01.1001", ADMIN)).status_code == 201
