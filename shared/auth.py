"""Who is calling. Until bearer-token authentication lands (issue 3), development mode acts as one
local development administrator and production mode refuses every command: nothing runs unauthenticated
in production."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from shared.errors import DomainError
from shared.events import Actor


class NotAuthenticated(DomainError):
    status = 401
    title = "Not authenticated"


DEVELOPMENT_ACTOR = Actor(subject="dev:local-admin", role="national_admin")


def current_actor(request: Request) -> Actor:
    runtime = request.app.state.runtime
    if runtime.settings.environment != "development":
        raise NotAuthenticated("Sign-in is not configured on this server; commands are refused.")
    return DEVELOPMENT_ACTOR


CurrentActor = Annotated[Actor, Depends(current_actor)]
