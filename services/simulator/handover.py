"""Each city's handover (alih kelola) in the program's last months, to the stage its profile reaches.

Kota Semarang follows the field study: assessed and agreed, then a parallel run that stalls on hold.
Other cities spread over the stages, from not started to sustained. The city's own acts (its signature
of the parallel run, its reports) are sent as a city operator; without one no city goes past the
parallel run.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from services.simulator.commands import Script, Stage
from services.simulator.synthetic import SEMARANG, City, days

STAGES = ("not started", "assessed", "agreed", "parallel run", "transferred", "sustained")
WEIGHTS = (25, 20, 20, 15, 12, 8)
ITEMS = ("data", "infrastructure-assets", "revolving-funds", "institutions", "audit-responsibility")
UPSTREAM = (Stage.TARGETING, Stage.INSTITUTIONS, Stage.LEDGER)
ON = object()  # in a planned body: the step's day, known once the step is placed


def _dated(value: Any, on: str) -> Any:
    if value is ON:
        return on
    if isinstance(value, dict):
        return {k: _dated(v, on) for k, v in value.items()}
    if isinstance(value, list):
        return [_dated(v, on) for v in value]
    return value


def plan_handover(
    script: Script, rng: random.Random, period: str, city: City, ddub_pct: int, *, city_signs: bool
) -> str:
    """Plan ``city``'s handover; the stage it is meant to reach."""
    held = city.code == SEMARANG
    goal = "parallel run" if held else rng.choices(STAGES, WEIGHTS)[0]
    if not city_signs and STAGES.index(goal) > STAGES.index("parallel run"):
        goal = "parallel run"
    reached = STAGES.index(goal)
    h = f"/handover/cities/{city.code}/handover"
    day = script.until - timedelta(days=240) + days(rng, 0, 30)

    def step(kind: str, path: str, body: dict[str, Any], low: int = 10, high: int = 30, **how: Any) -> None:
        nonlocal day
        day += days(rng, low, high)
        script.add(day, Stage.HANDOVER, f"handover.{kind}", path, _dated(body, day.isoformat()), **how)

    if reached == 0:
        return goal
    for criterion, evidence in (
        ("perda", f"Perwal {city.name} tentang pengelolaan dana bergulir BKM"),
        ("tkpkd", f"SK TKPKD {city.name} dengan alokasi APBD"),
        ("opd", "SK penunjukan Bappeda sebagai OPD pengampu"),
        ("city-team", f"SK Tim Pengelola Program {city.name}"),
    ):
        body = {
            "period_code": period,
            "criterion": criterion,
            "met": rng.random() < 0.6,
            "evidence": evidence,
        }
        step(
            "readiness.attest",
            f"/handover/cities/{city.code}/readiness/attestations",
            {**body, "attested_on": ON},
            0,
            6,
        )
    step("assess", f"{h}/assessment", {"period_code": period, "assessed_on": ON}, needs=UPSTREAM)
    if reached < 2:
        return goal
    mou = {
        "kind": "MoU",
        "reference": f"MoU Alih Kelola {city.name} No. {rng.randint(1, 99)}",
        "signed_on": ON,
    }
    step("agree", f"{h}/agreement", {"instruments": [mou], "ddub_commitment_pct": ddub_pct, "agreed_on": ON})
    if reached < 3:
        return goal
    step("parallel-run.start", f"{h}/parallel-run", {"on": ON})
    step("parallel-run.sign", f"{h}/parallel-run/signatures/consultants", {"signed_on": ON}, 20, 40)
    if held:
        reason = "Perwal alih kelola belum ditetapkan; tim pengelola kota belum terbentuk"
        step("hold", f"{h}/hold", {"reason": reason, "held_on": ON})
        return goal
    for item in ITEMS:
        body = {"item": item, "handed_by": "Korkot", "received_by": "Bappeda", "document": f"BAST {item}"}
        step("item.transfer", f"{h}/items", {**body, "transferred_on": ON}, 0, 7)
    if reached < 4:
        return goal
    city_sign = f"{h}/parallel-run/signatures/city"
    step("parallel-run.sign", city_sign, {"signed_on": ON}, 0, 10, as_city=city.code)
    step("complete", f"{h}/completion", {"on": ON}, 3, 10)
    if reached < 5:
        return goal
    quarter = f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    body = {"period_label": quarter, "document": f"Laporan keberlanjutan {quarter}", "submitted_on": ON}
    step("report", f"{h}/reports", body, as_city=city.code)
    return goal
