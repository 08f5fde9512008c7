"""The program period aggregate decides on its own (no database)."""

from __future__ import annotations

from datetime import date

import pytest

from services.targeting.domain import ProgramPeriod
from shared.contracts.targeting import ProgramPeriodRegistered
from shared.errors import Conflict, InvalidInput


def test_registering_a_period_records_one_event() -> None:
    period = ProgramPeriod(code="KOTAKU")
    period.register("Kota Tanpa Kumuh", date(2016, 1, 1), date(2024, 12, 31))
    assert period.pending == [
        ProgramPeriodRegistered(
            code="KOTAKU", name="Kota Tanpa Kumuh", starts_on=date(2016, 1, 1), ends_on=date(2024, 12, 31)
        )
    ]


def test_a_period_cannot_be_registered_twice() -> None:
    history = [
        ProgramPeriodRegistered(
            code="P2KP-1", name="P2KP-1", starts_on=date(1999, 1, 1), ends_on=date(2004, 12, 31)
        )
    ]
    period = ProgramPeriod.load("P2KP-1", list(history))
    with pytest.raises(Conflict, match="already registered"):
        period.register("again", date(2005, 1, 1), date(2006, 1, 1))


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(InvalidInput, match="must end after it starts"):
        ProgramPeriod(code="X1").register("x", date(2020, 1, 1), date(2019, 1, 1))
