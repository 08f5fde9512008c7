"""Bearer tokens: issued locally in development (``p2kp token``, the login page), verified against an
OpenID Connect provider's JWKS in production."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import jwt

from shared.errors import DomainError
from shared.security.principal import InvalidPrincipal, Principal
from shared.settings import ServiceSettings

LOCAL_ALGORITHM = "HS256"
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class NotAuthenticated(DomainError):
    status = 401
    title = "Not signed in"


def issue_token(settings: ServiceSettings, principal: Principal, minutes: int | None = None) -> str:
    """A locally signed token for ``principal`` (development, tests, demo log-in)."""
    now = int(time.time())
    claims = {
        "iss": settings.auth_issuer,
        "aud": settings.auth_audience,
        "sub": principal.subject,
        "iat": now,
        "exp": now + 60 * (minutes or settings.auth_token_minutes),
        "jti": str(uuid.uuid4()),
        settings.oidc_role_claim: str(principal.role),
        settings.oidc_regions_claim: list(principal.scopes),
    }
    return jwt.encode(claims, settings.auth_signing_key.get_secret_value(), algorithm=LOCAL_ALGORITHM)


class TokenVerifier:
    """Turns a bearer token into a ``Principal``, or refuses it with a 401."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        if settings.oidc_jwks_url:
            self._jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300)

    async def verify(self, token: str) -> Principal:
        try:
            claims = await self._claims(token)
        except jwt.ExpiredSignatureError as exc:
            raise NotAuthenticated("Your sign-in has expired; sign in again.") from exc
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            raise NotAuthenticated("The access token is not valid for this platform.") from exc
        s = self.settings
        regions = claims.get(s.oidc_regions_claim) or []
        if isinstance(regions, str):
            regions = regions.split()
        try:
            return Principal.of(str(claims["sub"]), str(claims.get(s.oidc_role_claim, "")), list(regions))
        except (InvalidPrincipal, KeyError) as exc:
            raise NotAuthenticated(f"The access token does not carry a usable P2KP role: {exc}") from exc

    async def _claims(self, token: str) -> dict[str, Any]:
        s = self.settings
        options = {"require": ["exp", "iss", "aud", "sub"]}
        if self._jwks is not None:
            # PyJWKClient fetches (and caches) the provider's keys over blocking HTTP.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=OIDC_ALGORITHMS,
                audience=s.auth_audience,
                issuer=s.oidc_issuer,
                options=options,  # type: ignore[arg-type]
            )
            return claims
        claims = jwt.decode(
            token,
            s.auth_signing_key.get_secret_value(),
            algorithms=[LOCAL_ALGORITHM],
            audience=s.auth_audience,
            issuer=s.auth_issuer,
            options=options,  # type: ignore[arg-type]
        )
        return claims
