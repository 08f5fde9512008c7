"""Sign-in for the embedded platform: the dashboard's login page and a password token endpoint.

Both are rate-limited per username and per client address. Production deployments sign in through
the OpenID Connect provider instead and do not mount this router.
"""

from __future__ import annotations

import html
import re
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from shared.security.accounts import AccountStore
from shared.security.guard import SESSION_COOKIE
from shared.security.ratelimit import RateLimiter
from shared.security.tokens import issue_token
from shared.settings import ServiceSettings

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · P2KP Platform</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:24rem;margin:4rem auto;padding:0 1rem}}
label{{display:block;margin:.8rem 0 .2rem}}input{{width:100%;padding:.4rem;font-size:1rem}}
button{{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}}.error{{color:#a00}}</style></head>
<body><h1>P2KP Platform</h1><p>Sign in to the monitoring dashboard.</p>{message}
<form method="post" action="/login">{next}<label for="username">Username</label>
<input id="username" name="username" autocomplete="username" required maxlength="64">
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required maxlength="200">
<button type="submit">Sign in</button></form></body></html>"""

Username = Annotated[str, Form(min_length=1, max_length=64)]
Password = Annotated[str, Form(min_length=1, max_length=200)]
# Where to go after signing in: a path on this site only (never another host, which a crafted link
# could otherwise send a signed-in user to).
NEXT = r"^/([^/\\\s][^\s]*)?$"
Next = Annotated[str | None, Form(max_length=500, pattern=NEXT)]


def next_field(target: str | None) -> str:
    safe = target if target and re.fullmatch(NEXT, target) else None
    return f'<input type="hidden" name="next" value="{html.escape(safe)}">' if safe else ""


class SignInLimits:
    """Failed sign-ins allowed per username (guessing one password) and per address (spraying many)."""

    def __init__(self, per_user: int = 5, per_address: int = 30, window_seconds: float = 300) -> None:
        self.users = RateLimiter(per_user, window_seconds)
        self.addresses = RateLimiter(per_address, window_seconds)

    def retry_after(self, request: Request, username: str) -> int | None:
        waits = [
            w
            for w in (self.users.retry_after(username.lower()), self.addresses.retry_after(_address(request)))
            if w
        ]
        return max(waits) if waits else None

    def failed(self, request: Request, username: str) -> None:
        self.users.record(username.lower())
        self.addresses.record(_address(request))

    def succeeded(self, username: str) -> None:
        self.users.clear(username.lower())


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def login_router(
    settings: ServiceSettings, store: AccountStore, limits: SignInLimits | None = None
) -> APIRouter:
    router = APIRouter(tags=["sign-in"])
    limiter = limits or SignInLimits()

    def page(message: str = "", status: int = 200, target: str | None = None) -> HTMLResponse:
        shown = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
        return HTMLResponse(PAGE.format(message=shown, next=next_field(target)), status_code=status)

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_page(next: str | None = Query(default=None, max_length=500)) -> HTMLResponse:
        return page(target=next)

    @router.post("/login", include_in_schema=False)
    async def login(request: Request, username: Username, password: Password, next: Next = None) -> Response:
        if wait := limiter.retry_after(request, username):
            response = page(f"Too many failed sign-ins. Try again in {wait} seconds.", 429, next)
            response.headers["retry-after"] = str(wait)
            return response
        principal = await store.authenticate(username, password)
        if principal is None:
            limiter.failed(request, username)
            return page("Wrong username or password.", 401, next)
        limiter.succeeded(username)
        redirect = RedirectResponse(next or "/", status_code=303)
        redirect.set_cookie(
            SESSION_COOKIE,
            issue_token(settings, principal),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=60 * settings.auth_token_minutes,
        )
        return redirect

    @router.post("/logout", include_in_schema=False)
    async def logout() -> Response:
        redirect = RedirectResponse("/login", status_code=303)
        redirect.delete_cookie(SESSION_COOKIE)
        return redirect

    @router.post("/auth/token", summary="Exchange a username and password for an access token")
    async def token(request: Request, username: Username, password: Password) -> JSONResponse:
        def refuse(status: int, detail: str, **headers: str) -> JSONResponse:
            body = {
                "type": "about:blank",
                "title": "Sign-in refused",
                "status": status,
                "detail": detail,
                "instance": request.url.path,
            }
            return JSONResponse(body, status, headers=headers, media_type="application/problem+json")

        if wait := limiter.retry_after(request, username):
            return refuse(
                429, f"Too many failed sign-ins. Try again in {wait} seconds.", **{"retry-after": str(wait)}
            )
        principal = await store.authenticate(username, password)
        if principal is None:
            limiter.failed(request, username)
            return refuse(401, "Wrong username or password.")
        limiter.succeeded(username)
        return JSONResponse(
            {
                "access_token": issue_token(settings, principal),
                "token_type": "bearer",
                "expires_in": 60 * settings.auth_token_minutes,
            }
        )

    return router
