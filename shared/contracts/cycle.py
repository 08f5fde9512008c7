"""The steps of the community cycle (siklus) in a kelurahan, shared by the period parameters that
schedule them and the institutions service that records them (reference §2.3 and §2.4)."""

from __future__ import annotations

from enum import StrEnum


class Step(StrEnum):
    SOSIALISASI_AWAL = "sosialisasi-awal"
    RKM = "rkm"  # Rembug Kesiapan Masyarakat: the community accepts or rejects the program
    RELAWAN = "relawan"  # volunteers registered
    REFLEKSI_KEMISKINAN = "refleksi-kemiskinan"
    PEMETAAN_SWADAYA = "pemetaan-swadaya"  # the community self-survey, ending in a PS-2 list
    BKM_ELECTION = "bkm-election"
    UNIT_PENGELOLA = "unit-pengelola"  # UPK, UPL and UPS formed
    PJM = "pjm"  # PJM Pronangkis, the 3-year plan
    RENTA = "renta"  # each year's plan (Renta Pronangkis)
    REVIEW_PARTISIPATIF = "review-partisipatif"  # each year from year 2
    BKM_REELECTION = "bkm-reelection"  # year 4
    PJM_RENEWAL = "pjm-renewal"  # year 4: a new PJM, "as in year 1"


# Steps done once per year of the cycle; the others once per cycle.
YEARLY = frozenset({Step.RENTA, Step.REVIEW_PARTISIPATIF})

# When each step is expected, in days: the sosialisasi awal after the kelurahan became a target, every
# other step after the sosialisasi awal (day 0 of year 1). Yearly steps: the first occurrence (Renta of
# year 1, review of year 2); each later year adds 365 days. Assumed values [M], set per period.
DEFAULT_SCHEDULE_DAYS: dict[Step, int] = {
    Step.SOSIALISASI_AWAL: 30,
    Step.RKM: 30,
    Step.RELAWAN: 45,
    Step.REFLEKSI_KEMISKINAN: 75,
    Step.PEMETAAN_SWADAYA: 120,
    Step.BKM_ELECTION: 180,
    Step.UNIT_PENGELOLA: 210,
    Step.PJM: 270,
    Step.RENTA: 300,
    Step.REVIEW_PARTISIPATIF: 365 + 300,
    Step.BKM_REELECTION: 3 * 365 + 60,
    Step.PJM_RENEWAL: 3 * 365 + 150,
}
