"""FastAPI dependencies that authenticate the caller and enforce an endpoint's ``Action``.

Every endpoint except health, readiness, metrics and the schema declares one:
``guard: Guard = Security(authorize(SOME_ACTION))``. The matrix test walks every route and fails on one
that does not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request, Security
from fastapi.params import Security as SecurityParam
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import ColumnElement, false, or_, true

from shared.errors import NotFound
from shared.security.authority import Holder, holder_of
from shared.security.policy import Action, check_region, check_role
from shared.security.principal import Principal, city_of
from shared.security.tokens import NotAuthenticated, TokenVerifier

SESSION_COOKIE = "p2kp_session"
_bearer = HTTPBearer(auto_error=False, description="A JWT from the identity provider (or `p2kp token`)")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An integration client's key")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The dashboard's session")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Security(_bearer),
    api_key: str | None = Security(_api_key),
    cookie: str | None = Security(_cookie),
) -> Principal:
    token = bearer.credentials if bearer else api_key
    # The session cookie is honoured for reads only: a forged cross-site form can then change nothing.
    if token is None and request.method in SAFE_METHODS:
        token = cookie
    if not token:
        raise NotAuthenticated("Sign in first: this request carries no access token.")
    verifier: TokenVerifier = request.app.state.verifier
    principal = await verifier.verify(token)
    request.state.principal = principal
    return principal


class Guard:
    """The caller and the action of one request, with the checks the handler asks for."""

    def __init__(self, principal: Principal, action: Action, request: Request) -> None:
        self.principal = principal
        self.action = action
        self._engine = request.app.state.runtime.engine

    async def check(self, region: str | None, *, hidden: str) -> None:
        """Allow the action on something in ``region`` (None: national data), or raise 404/403."""
        city = city_of(region) if region else None
        holder = await holder_of(self._engine, city) if city else Holder.NATIONAL
        check_region(self.principal, self.action, region, holder, hidden)

    def check_filter(self, region: str) -> None:
        """A list filtered by ``region``: 404 unless the region overlaps what the caller sees."""
        if not self.principal.overlaps(region):
            raise NotFound(f"There is no region {region}.")

    def visible(self, region_column: Any) -> ColumnElement[bool]:
        """A WHERE clause keeping only rows whose region this caller may see (for every list)."""
        if self.principal.national:
            return true()
        clauses = [or_(region_column == s, region_column.like(s + ".%")) for s in self.principal.scopes]
        return or_(*clauses) if clauses else false()

    @property
    def actor(self) -> Any:
        return self.principal.as_actor()


def authorize(action: Action) -> Callable[..., Awaitable[Guard]]:
    async def dependency(request: Request, principal: Principal = Depends(authenticate)) -> Guard:
        check_role(principal, action)
        return Guard(principal, action, request)

    dependency.action = action  # type: ignore[attr-defined]  # read by the authorisation matrix test
    return dependency


def Guarded(action: Action) -> Any:
    """``guard: Guard = Guarded(ACTION)`` in an endpoint's signature."""
    return SecurityParam(authorize(action))
