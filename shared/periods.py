"""Program periods and their parameter versions, as a consuming service keeps them from the targeting
service's events in its own database (services never ask each other synchronously)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.consumer import upsert
from shared.contracts.targeting import PeriodParameters, ProgramParametersSet, ProgramPeriodRegistered
from shared.errors import Conflict
from shared.events import DomainEvent


@dataclass(frozen=True)
class PeriodTables:
    periods: Table
    parameters: Table

    @classmethod
    def on(cls, metadata: MetaData) -> PeriodTables:
        return cls(
            Table(
                "program_periods",
                metadata,
                Column("code", String(32), primary_key=True),
                Column("starts_on", Date, nullable=False),
                Column("ends_on", Date, nullable=False),
            ),
            Table(
                "period_parameters",
                metadata,
                Column("period_code", String(32), primary_key=True),
                Column("version", Integer, primary_key=True),
                Column("parameters", Text, nullable=False),  # PeriodParameters as JSON
            ),
        )

    async def keep(self, conn: AsyncConnection, event: DomainEvent) -> bool:
        """Record a period or a parameters version; False for any other event."""
        if isinstance(event, ProgramPeriodRegistered):
            values = {"code": event.code, "starts_on": event.starts_on, "ends_on": event.ends_on}
            await upsert(conn, self.periods, values, ("code",))
        elif isinstance(event, ProgramParametersSet):
            values = {
                "period_code": event.period_code,
                "version": event.version,
                "parameters": event.parameters.model_dump_json(),
            }
            await upsert(conn, self.parameters, values, ("period_code", "version"))
        else:
            return False
        return True

    async def parameters_of(
        self, conn: AsyncConnection, period_code: str, version: int | None = None
    ) -> tuple[int, PeriodParameters]:
        """The period's parameters as received from targeting: ``version``, or the latest."""
        table = self.parameters
        query = select(table.c.version, table.c.parameters).where(table.c.period_code == period_code)
        if version is not None:
            query = query.where(table.c.version == version)
        row = (await conn.execute(query.order_by(table.c.version.desc()).limit(1))).first()
        if row is None:
            raise Conflict(
                f"The parameters of program period {period_code} have not reached this service from "
                "targeting: is the period registered? If it was registered just now, try again shortly."
            )
        return row.version, PeriodParameters.model_validate_json(row.parameters)

    async def ends_on(self, conn: AsyncConnection, period_code: str) -> date | None:
        query = select(self.periods.c.ends_on).where(self.periods.c.code == period_code)
        return (await conn.execute(query)).scalar_one_or_none()
