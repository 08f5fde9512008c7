"""Local accounts for development and the demo (embedded mode). Production signs in through the OpenID
Connect provider and has no local accounts."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Column, MetaData, String, Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.security.principal import Principal

_metadata = MetaData()
accounts = Table(
    "accounts",
    _metadata,
    Column("username", String(64), primary_key=True),
    Column("password_hash", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("scopes", String(500), nullable=False),
    Column("display_name", String(200), nullable=False),
)
_hasher = PasswordHasher()
# Spent on unknown usernames too, so response time does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash("no such account")


@dataclass(frozen=True)
class DemoAccount:
    username: str
    display_name: str
    role: str
    scopes: tuple[str, ...]


DEMO_ACCOUNTS = (
    DemoAccount("analis.nasional", "National program analyst (PMU)", "national_monitor", ()),
    DemoAccount("operator.semarang", "Pemkot Semarang operator", "city_operator", ("33.74",)),
)


class AccountStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def start(self) -> None:
        async with self.engine.begin() as conn:
            await conn.run_sync(_metadata.create_all)

    async def create(self, username: str, password: str, principal: Principal, display_name: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                accounts.insert().values(
                    username=username,
                    password_hash=_hasher.hash(password),
                    role=str(principal.role),
                    scopes=" ".join(principal.scopes),
                    display_name=display_name,
                )
            )

    async def exists(self, username: str) -> bool:
        async with self.engine.connect() as conn:
            found = await conn.execute(select(accounts.c.username).where(accounts.c.username == username))
            return found.first() is not None

    async def authenticate(self, username: str, password: str) -> Principal | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(accounts).where(accounts.c.username == username))).first()
        try:
            _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        return Principal.of(row.username, row.role, tuple(row.scopes.split()))

    async def ensure_demo_accounts(self) -> list[tuple[DemoAccount, str]]:
        """Create the demo accounts that are missing; return those created with their new passwords."""
        created = []
        for demo in DEMO_ACCOUNTS:
            if not await self.exists(demo.username):
                password = secrets.token_urlsafe(9)
                await self.create(
                    demo.username,
                    password,
                    Principal.of(demo.username, demo.role, demo.scopes),
                    demo.display_name,
                )
                created.append((demo, password))
        return created
