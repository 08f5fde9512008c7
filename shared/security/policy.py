"""The one place that decides whether a caller may do an action in a region.

Three outcomes: allowed; hidden (the caller may not even know the thing exists: answered as 404, the
same answer as for something that does not exist); refused (the caller can see it but not do this: 403).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shared.errors import DomainError, NotFound
from shared.security.authority import Holder
from shared.security.principal import Principal, Role


class Forbidden(DomainError):
    status = 403
    title = "Not allowed"


class Access(StrEnum):
    READ = "read"
    WRITE = "write"


ALL_ROLES = frozenset(Role)
# The national program's managers lose write access to a city once it is handed over...
PROGRAM_MANAGERS = frozenset({Role.NATIONAL_ADMIN, Role.REGIONAL_CONSULTANT})
# ...and the city's own operators gain it then. Field roles keep recording either way.
CITY_MANAGERS = frozenset({Role.CITY_OPERATOR})
NEVER_WRITE = frozenset({Role.NATIONAL_MONITOR, Role.AUDITOR, Role.INTEGRATION_CLIENT})


@dataclass(frozen=True)
class Action:
    """Something an endpoint does, and which roles may do it at all (scopes and authority come after)."""

    name: str
    access: Access
    roles: frozenset[Role] = ALL_ROLES
    # National data (program periods, the region catalogue) has no region: the role check is all.
    national: bool = False
    # The city government's own acts (a pemda confirmation, a DDUB commitment): its operators may do
    # them before alih kelola too.
    city_prerogative: bool = False

    def __post_init__(self) -> None:
        if self.access is Access.WRITE and self.roles & NEVER_WRITE:
            raise ValueError(f"{self.name}: {sorted(self.roles & NEVER_WRITE)} are read-only roles")


def read(name: str, roles: frozenset[Role] = ALL_ROLES, *, national: bool = False) -> Action:
    return Action(name, Access.READ, roles, national)


def write(
    name: str, roles: frozenset[Role], *, national: bool = False, city_prerogative: bool = False
) -> Action:
    return Action(name, Access.WRITE, roles, national, city_prerogative)


def check_role(principal: Principal, action: Action) -> None:
    if principal.role not in action.roles:
        raise Forbidden(f"Your role ({principal.role}) may not {action.name.replace('.', ' ')}.")


def check_region(
    principal: Principal, action: Action, region: str | None, holder: Holder, hidden: str
) -> None:
    """``hidden`` is the exact not-found message for the resource, so a refusal reveals nothing."""
    if not principal.sees(region):
        raise NotFound(hidden)
    if action.access is Access.READ or region is None:
        return
    if principal.role in PROGRAM_MANAGERS and holder is Holder.CITY:
        raise Forbidden(
            f"{region} belongs to a city that has taken over the program (alih kelola); "
            "the national office can read its records but no longer change them."
        )
    if principal.role in CITY_MANAGERS and holder is Holder.NATIONAL and not action.city_prerogative:
        raise Forbidden(
            f"{region} is still managed by the national program; the city's operators can change its "
            "records once the handover (alih kelola) transfers authority."
        )
