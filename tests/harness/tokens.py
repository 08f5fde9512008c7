"""Access tokens for tests, signed with the development key every test process and server shares."""

from __future__ import annotations

from shared.security.principal import Principal
from shared.security.tokens import issue_token
from shared.settings import ServiceSettings


def bearer(role: str, *scopes: str, subject: str | None = None) -> dict[str, str]:
    principal = Principal.of(subject or f"test-{role}", role, scopes)
    return {"authorization": f"Bearer {issue_token(ServiceSettings(), principal)}"}


ADMIN = bearer("national_admin")
