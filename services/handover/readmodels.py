"""The handover service's own tables.

- The facts its readiness scorecard is computed from, kept from the targeting, institutions and ledger
  services' events by the consumer ``handover.facts``, each with the day it became true, so readiness
  can be asked as of any day.
- The city feed: every event of every service that belongs to a city (by its ``city_code``), in the
  order this service applied it, by the consumer ``handover.feed``. Pemkot systems read it by cursor,
  receive it by webhook, or from the city's Kafka topic.
- Webhook subscriptions and their delivery state.
- A row per city's handover, for listing.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.migrations import Migrations
from shared.periods import PeriodTables

metadata = MetaData()
PERIODS = PeriodTables.on(metadata)

# --- readiness facts ----------------------------------------------------------------------------------

target_kelurahan = Table(
    "target_kelurahan",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("targeted_on", Date),
    Column("dropped_on", Date),
)

bkm_terms = Table(
    "bkm_terms",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("election", Integer, primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
)

ddub_committed = Table(
    "ddub_committed",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("committed_on", Date, nullable=False),
)

tranches_received = Table(
    "tranches_received",
    metadata,
    Column("period_code", String(32), primary_key=True),
    Column("kelurahan_code", String(13), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("source", String(10), primary_key=True),
    Column("tranche", Integer, primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("amount", BigInteger, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("lpj_accepted_on", Date),
)

upk_closings = Table(
    "upk_closings",
    metadata,
    Column("kelurahan_code", String(13), primary_key=True),
    Column("as_of", Date, primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("city_code", String(5), nullable=False, index=True),
    Column("par_band", String(20)),
    Column("rr_band", String(20)),
)

audits = Table(
    "audits",
    metadata,
    Column("kelurahan_code", String(13), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("period_code", String(32), nullable=False),
    Column("city_code", String(5), nullable=False, index=True),
    Column("opinion", String(5), nullable=False),
    Column("audited_on", Date, nullable=False),
)

# --- the city feed and its subscriptions -------------------------------------------------------------

feed = Table(
    "feed",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("city_code", String(5), nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(120), nullable=False),
    Column("cloudevent", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("published_at", DateTime(timezone=True)),  # on the city's Kafka topic
)

Index("ix_feed_city_seq", feed.c.city_code, feed.c.seq)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("subscription_id", String(36), primary_key=True),
    Column("city_code", String(5), nullable=False, index=True),
    Column("url", String(500), nullable=False),
    Column("secret", String(100), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # Everything up to this feed position (of the city) was delivered.
    Column("delivered_seq", BigInteger, nullable=False),
    Column("status", String(10), nullable=False),  # active | parked
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("last_error", String(500)),
    UniqueConstraint("city_code", "url", name="uq_subscriptions_city_url"),
)

handovers = Table(
    "handovers",
    metadata,
    Column("city_code", String(5), primary_key=True),
    Column("stage", String(20), nullable=False),
    Column("held", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

MIGRATIONS: Migrations = (Path(__file__).parent / "migrations", "alembic_version_handover", metadata)
