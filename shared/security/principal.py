"""The authenticated caller: a subject with one role and the region codes it is scoped to.

Scopes are Kemendagri region codes (``33`` a provinsi, ``33.74`` a kota, ``33.74.01.1001`` a kelurahan);
a scope covers its own code and everything below it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shared.events import Actor

REGION_CODE = re.compile(r"^\d{2}(\.\d{2}(\.\d{2}(\.\d{4})?)?)?$")


class Role(StrEnum):
    NATIONAL_ADMIN = "national_admin"
    NATIONAL_MONITOR = "national_monitor"
    REGIONAL_CONSULTANT = "regional_consultant"
    CITY_OPERATOR = "city_operator"
    FACILITATOR = "facilitator"
    BKM_OFFICER = "bkm_officer"
    AUDITOR = "auditor"
    INTEGRATION_CLIENT = "integration_client"


# Roles that see every city; the others see only what their scopes cover.
NATIONAL_ROLES = frozenset({Role.NATIONAL_ADMIN, Role.NATIONAL_MONITOR, Role.AUDITOR})
# The scope level each scoped role is given, so a token cannot, say, make a facilitator a whole province's.
SCOPE_LEVEL = {
    Role.REGIONAL_CONSULTANT: 1,  # provinsi
    Role.CITY_OPERATOR: 2,  # kabupaten/kota
    Role.INTEGRATION_CLIENT: 2,
    Role.FACILITATOR: 4,  # kelurahan
    Role.BKM_OFFICER: 4,  # a BKM is one kelurahan's
}


class InvalidPrincipal(ValueError):
    """Claims that do not make a usable identity (unknown role, scope of the wrong kind)."""


def level(code: str) -> int:
    """1 provinsi, 2 kabupaten/kota, 3 kecamatan, 4 desa/kelurahan."""
    return code.count(".") + 1


def covers(scope: str, code: str) -> bool:
    return code == scope or code.startswith(scope + ".")


def city_of(code: str) -> str | None:
    """The kabupaten/kota a region code lies in (None for a provinsi)."""
    parts = code.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 else None


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    scopes: tuple[str, ...] = ()

    @classmethod
    def of(cls, subject: str, role: str, scopes: tuple[str, ...] | list[str] = ()) -> Principal:
        try:
            parsed = Role(role)
        except ValueError as exc:
            raise InvalidPrincipal(f"unknown role {role!r}") from exc
        scopes = tuple(scopes)
        for code in scopes:
            if not REGION_CODE.match(code):
                raise InvalidPrincipal(f"scope {code!r} is not a region code like 33.74")
        if parsed in NATIONAL_ROLES:
            if scopes:
                raise InvalidPrincipal(f"{parsed} is national and takes no region scope")
        else:
            if not scopes:
                raise InvalidPrincipal(f"{parsed} needs at least one region scope")
            wanted = SCOPE_LEVEL[parsed]
            wrong = [c for c in scopes if level(c) != wanted]
            if wrong:
                raise InvalidPrincipal(f"{parsed} is scoped to level-{wanted} region codes, not {wrong}")
            if parsed is Role.INTEGRATION_CLIENT and len(scopes) != 1:
                raise InvalidPrincipal("an integration client is scoped to exactly one city")
        return cls(subject=subject, role=parsed, scopes=scopes)

    @property
    def national(self) -> bool:
        return self.role in NATIONAL_ROLES

    def sees(self, code: str | None) -> bool:
        """Whether this caller may know that something in region ``code`` exists (None: national data)."""
        if code is None or self.national:
            return True
        return any(covers(scope, code) for scope in self.scopes)

    def overlaps(self, code: str) -> bool:
        """Whether a filter on region ``code`` can match anything this caller sees (a facilitator may
        filter a list by its city and get its own kelurahan's rows)."""
        return self.national or any(covers(scope, code) or covers(code, scope) for scope in self.scopes)

    def as_actor(self) -> Actor:
        return Actor(subject=self.subject, role=str(self.role), scope=self.scopes)
