"""One kelurahan's story in the targeting and institutions services: nomination and verification, the
poverty mapping with its PS-2 list, and the community cycle with its BKM, units, plans and KSM.

Each kelurahan draws its own profile: when it starts (some late), how fast it moves, whether the
community rejects the program at the RKM, whether its BKM is re-elected in year 4 or its term lapses.
What the ledger's plan needs (BKM terms, Renta dates, KSM) comes back as ``CycleFacts``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.simulator.commands import Script, Stage, ref
from services.simulator.synthetic import City, Residents, Village, add_years, days, meeting
from shared.contracts.cycle import DEFAULT_SCHEDULE_DAYS, Step

TARGETING, INSTITUTIONS = Stage.TARGETING, Stage.INSTITUTIONS
POVERTY_CRITERIA = (
    "Lantai rumah dari tanah",
    "Dinding rumah dari bambu atau kayu murah",
    "Tidak memiliki jamban sendiri",
    "Penghasilan kepala keluarga di bawah Rp1.500.000 per bulan",
    "Makan dua kali sehari atau kurang",
    "Tidak mampu berobat ke puskesmas",
    "Ada anak usia sekolah yang putus sekolah karena biaya",
    "Air minum dari sumur tidak terlindung",
    "Tidak memiliki tabungan atau barang senilai Rp500.000",
    "Kepala keluarga tidak bekerja tetap",
)
KSM_NAMES = (
    "Maju Bersama",
    "Sejahtera",
    "Mandiri",
    "Usaha Bersama",
    "Karya Makmur",
    "Sumber Rejeki",
    "Guyub Rukun",
    "Harapan Baru",
    "Srikandi",
    "Tunas Mekar",
)
LOAN_MODULES = (("PB", 10, 60), ("KWU", 30, 90), ("PERT", 45, 120))  # module, days after registration
YEAR_4 = timedelta(days=3 * 365)  # the re-election and the new PJM fall in year 4 of the cycle


@dataclass(frozen=True)
class KsmFacts:
    ref: str
    type: str
    registered_on: date
    members: int
    eligible_on: date | None  # a KSM ekonomi's loan eligibility complete (None: never, or not ekonomi)


@dataclass
class CycleFacts:
    """What the ledger's plan rests on, as the institutions service records it."""

    terms: list[tuple[date, date]] = field(default_factory=list)  # BKM terms (start, end), oldest first
    renta: dict[int, date] = field(default_factory=dict)  # cycle year -> approved on
    ksm: list[KsmFacts] = field(default_factory=list)


class Community:
    def __init__(
        self,
        script: Script,
        rng: random.Random,
        residents: Residents,
        period: str,
        city: City,
        village: Village,
        start: date,
        density: int = 1,
    ) -> None:
        self.script, self.rng, self.residents = script, rng, residents
        self.density = density  # how many times the demo's small kelurahan: poor households and KSM
        self.city, self.v, self.start = city, village, start
        self.nominations = f"/targeting/program-periods/{period}/kelurahan"
        self.targeting = f"{self.nominations}/{village.code}"
        self.cycle = f"/institutions/program-periods/{period}/kelurahan/{village.code}"
        self.facts = CycleFacts()
        self.names = 0  # "Warga n": households and people of the register alike
        self.meetings = 0
        self.criteria = 0  # how many poverty criteria the community agreed
        self.people: list[str] = []  # the person register's placeholders
        self.ps2: list[str] = []  # households on the PS-2 list
        self.in_ksm: set[str] = set()

    # --- helpers -----------------------------------------------------------------------------------------

    def _add(self, on: date, stage: Stage, kind: str, path: str, body: dict[str, Any], **how: Any) -> bool:
        return self.script.add(on, stage, kind, path, body, **how)

    def _meeting(self, on: date, what: str, size: int = 40) -> dict[str, Any]:
        self.meetings += 1
        return meeting(self.rng, on, self.v, self.meetings, what, size=size)

    def _step(self, on: date, path: str, body: dict[str, Any], needs: tuple[Stage, ...] = ()) -> bool:
        kind = f"institutions.cycle.{path}"
        return self._add(on, INSTITUTIONS, kind, f"{self.cycle}/cycle/{path}", body, needs=needs)

    def _person(self, on: date) -> str:
        """A new person in the register (registered on ``on``, at the latest the day they first act)."""
        self.names += 1
        person = ref("person", self.v.code, self.names)
        body = {"name": f"Warga {self.names}", "woman": self.rng.random() < 0.4}
        path = f"/institutions/kelurahan/{self.v.code}/people"
        if self._add(
            on, INSTITUTIONS, "institutions.person.register", path, body, binds=(person, "person_id")
        ):
            self.people.append(person)
        return person

    def _train(self, on: date, module: str, trainer: str, people: list[str], role: str) -> None:
        body = {
            "module_code": module,
            "delivered_on": on.isoformat(),
            "trainer_role": trainer,
            "participants": [{"person_id": p, "role": role} for p in people],
        }
        self._add(on, INSTITUTIONS, "institutions.training.deliver", f"{self.cycle}/trainings", body)

    # --- the story ---------------------------------------------------------------------------------------

    def plan(self) -> CycleFacts:
        rng = self.rng
        targeted_on = self._targeting()
        if targeted_on is None:
            return self.facts
        sos = targeted_on + days(rng, 7, 30)
        late = rng.random() < 0.2
        if late:
            sos += days(rng, 90, 240)
        pace = rng.uniform(1.3, 2.0) if late or rng.random() < 0.1 else rng.uniform(0.9, 1.2)
        last = sos

        def due(step: Step) -> date:
            nonlocal last
            planned = sos + timedelta(days=round(DEFAULT_SCHEDULE_DAYS[step] * pace) + rng.randint(-5, 12))
            last = max(last + timedelta(days=3), planned)
            return last

        self._step(sos, "sosialisasi-awal", {"meeting": self._meeting(sos, "SOS", 60)}, needs=(TARGETING,))
        if not self._rkm(due(Step.RKM)):
            return self.facts
        relawan = self._relawan(due(Step.RELAWAN))
        refleksi = due(Step.REFLEKSI_KEMISKINAN)
        self._step(refleksi, "refleksi-kemiskinan", {"meeting": self._meeting(refleksi, "RK", 50)})
        pemetaan = due(Step.PEMETAAN_SWADAYA)
        self._poverty_mapping(refleksi, pemetaan)
        body = {"meeting": self._meeting(pemetaan, "PS", 45), "ps2_version": 1}
        self._step(pemetaan, "pemetaan-swadaya", body, needs=(TARGETING,))
        elected = due(Step.BKM_ELECTION)
        members = self._election(1, pemetaan, elected, relawan)
        units = self._units(elected, due(Step.UNIT_PENGELOLA), members)
        pjm = max(due(Step.PJM), units + timedelta(days=1))
        self._step(pjm, "pjm", {"meeting": self._meeting(pjm, "PJM", 50), "document": f"PJM {pjm.year}"})
        self._plans(sos, max(due(Step.RENTA), pjm + timedelta(days=1)), relawan)
        self._ksm(elected)
        self._ps2_update(pemetaan + timedelta(days=365))
        return self.facts

    def _targeting(self) -> date | None:
        """Nominated, then verified (the day returned) or rejected: half the rejected are nominated again
        with new figures and then verified. Most are confirmed by the pemda as well."""
        rng = self.rng
        rejected = rng.random() < 0.06
        share = rng.uniform(0.04, 0.09) if rejected else rng.uniform(0.12, 0.45)
        decided = self._nominate(self.start + days(rng, 0, 30), share)
        verification = f"{self.targeting}/verification"
        if rejected:
            body = {
                "verified": False,
                "criteria_version": 1,
                "reason": "Proporsi KK miskin di bawah ambang kriteria versi 1",
            }
            if not self._add(decided, TARGETING, "targeting.kelurahan.reject", verification, body):
                return None
            if rng.random() < 0.5:
                return None
            decided = self._nominate(decided + days(rng, 60, 150), rng.uniform(0.15, 0.3), again=True)
        body = {"verified": True, "criteria_version": 1, "reason": "Memenuhi kriteria versi 1 (PODES, BKKBN)"}
        if not self._add(decided, TARGETING, "targeting.kelurahan.verify", verification, body):
            return None
        if rng.random() < 0.75:
            letter = f"Surat Penetapan Lokasi {self.city.name} No. 050/{rng.randint(100, 999)}/{decided.year}"
            path = f"{self.targeting}/confirmation"
            self._add(
                decided + days(rng, 14, 60),
                TARGETING,
                "targeting.kelurahan.confirm",
                path,
                {"letter": letter},
            )
        return decided

    def _nominate(self, on: date, poor_share: float, again: bool = False) -> date:
        """Nominate with plausible figures; the day the verification decides."""
        population = self.rng.randint(4_000, 22_000)
        households = round(population / self.rng.uniform(3.6, 4.2))
        indicators = {
            "population": population,
            "households": households,
            "poor_households": round(households * poor_share),
            "source": f"Pendataan ulang {on.year}" if again else f"PODES {on.year - 1}; BKKBN {on.year - 1}",
        }
        body = {"kelurahan_code": self.v.code, "indicators": indicators}
        self._add(on, TARGETING, "targeting.kelurahan.nominate", self.nominations, body)
        return on + days(self.rng, 7, 30)

    def _rkm(self, on: date) -> bool:
        """The readiness meeting. A few communities reject the program; the kelurahan is then dropped."""
        if self.rng.random() < 0.03:
            self._step(on, "rkm", {"meeting": self._meeting(on, "RKM", 70), "decision": "rejected"})
            reason = "Masyarakat menolak program dalam Rembug Kesiapan Masyarakat"
            dropped = on + days(self.rng, 30, 120)
            self._add(
                dropped, TARGETING, "targeting.kelurahan.drop", f"{self.targeting}/drop", {"reason": reason}
            )
            return False
        letter = f"Surat Permohonan Pendampingan {self.v.code}/{on.year}"
        body = {"meeting": self._meeting(on, "RKM", 70), "decision": "accepted", "request_letter": letter}
        self._step(on, "rkm", body)
        return True

    def _relawan(self, on: date) -> list[str]:
        relawan = [self._person(on) for _ in range(self.rng.randint(6, 10))]
        self._step(on, "relawan", {"registered_on": on.isoformat(), "person_ids": relawan})
        self._train(on + days(self.rng, 7, 30), "REL", "faskel", relawan, "relawan")
        return relawan

    def _poverty_mapping(self, refleksi: date, pemetaan: date) -> None:
        """The criteria agreed at the Refleksi Kemiskinan, the household survey, and PS-2 version 1
        published before the Pemetaan Swadaya is recorded complete."""
        rng = self.rng
        items = rng.sample(POVERTY_CRITERIA, rng.randint(5, 8))
        self.criteria = len(items)
        agreed = refleksi + days(rng, 0, 2)  # the cycle keeps 3 days at least to the Pemetaan Swadaya
        body = {
            "items": items,
            "berita_acara": f"BA/KRITERIA/{self.v.code}/{agreed.year}",
            "agreed_on": agreed.isoformat(),
        }
        path = f"{self.targeting}/poverty-criteria"
        self._add(agreed, TARGETING, "targeting.poverty-criteria.agree", path, body)
        published = max(agreed, pemetaan - days(rng, 1, 5))
        poor = rng.randint(30, 42) * self.density
        for n in range(poor + rng.randint(3, 6)):
            self._survey(agreed + days(rng, 0, (published - agreed).days), poor=n < poor)
        self._publish(published, "PS2")

    def _publish(self, on: date, what: str) -> None:
        body = {"berita_acara": f"BA/{what}/{self.v.code}/{on.year}", "published_on": on.isoformat()}
        self._add(on, TARGETING, "targeting.ps2.publish", f"{self.targeting}/ps2/publications", body)

    def _survey(self, on: date, *, poor: bool) -> None:
        """A household surveyed (a synthetic head: "Warga n", a NIK of the kecamatan); the poor go onto
        the PS-2 list the same day."""
        rng = self.rng
        self.names += 1
        nik = self.residents.nik(rng, self.v, self.names)
        met = rng.sample(
            range(1, self.criteria + 1), rng.randint(2, self.criteria) if poor else rng.randint(0, 1)
        )
        household = ref("household", self.v.code, self.names)
        rw, rt = rng.randint(1, 8), rng.randint(1, 12)
        body = {
            "personal": {
                "head_name": f"Warga {self.names}",
                "nik": nik,
                "address": f"RT {rt:02d}/RW {rw:02d}, Kelurahan {self.v.name}",
            },
            "survey": {
                "criteria_version": 1,
                "criteria_met": sorted(met),
                "members": rng.randint(1, 8),
                "poor": poor,
                "surveyed_on": on.isoformat(),
            },
        }
        surveyed = self._add(
            on,
            TARGETING,
            "targeting.household.survey",
            f"{self.targeting}/households",
            body,
            binds=(household, "household_id"),
        )
        if surveyed and poor:
            body = {"household_id": household, "reason": f"Memenuhi {len(met)} dari {self.criteria} kriteria"}
            if self._add(on, TARGETING, "targeting.ps2.add", f"{self.targeting}/ps2/members", body):
                self.ps2.append(household)

    def _election(self, election: int, after: date, held_on: date, pool: list[str]) -> list[str]:
        """Utusan elected RW by RW (after ``after``), then the BKM's members from among them: 9 or 11, some
        BKM with fewer than 30 % women (allowed, and flagged). Returns the members."""
        rng = self.rng
        utusan: list[str] = []
        candidates = list(pool)
        for rw in range(1, rng.randint(3, 5) + 1):
            on = max(after + timedelta(days=1), held_on - days(rng, 5, 25))
            chosen = [
                candidates.pop(rng.randrange(len(candidates))) if candidates else self._person(on)
                for _ in range(3)
            ]
            body = {
                "election": election,
                "rt_rw": f"RW {rw:02d}",
                "held_on": on.isoformat(),
                "voters": rng.randint(40, 200),
                "person_ids": chosen,
            }
            self._add(on, INSTITUTIONS, "institutions.bkm.utusan", f"{self.cycle}/bkm/utusan", body)
            utusan += chosen
        members = rng.sample(utusan, 11 if len(utusan) >= 12 and rng.random() < 0.4 else 9)
        ballots = len(utusan) - rng.randint(0, 2)
        body = {
            "election": election,
            "meeting": self._meeting(held_on, f"BKM{election}", len(utusan)),
            "ballots_cast": ballots,
            "members": [
                {
                    "person_id": p,
                    "votes": rng.randint(ballots // 3, ballots),
                    "literate": True,
                    "party_member": False,
                }
                for p in members
            ],
            "coordinator": members[0],
            "anggaran_dasar": f"AD/ART BKM {self.v.name} {held_on.year}",
        }
        if self._add(held_on, INSTITUTIONS, "institutions.bkm.elect", f"{self.cycle}/bkm/elections", body):
            self.facts.terms.append((held_on, add_years(held_on, 3)))
            self._train(held_on + days(rng, 10, 40), "BKM", "askot", members, "bkm")
        return members

    def _units(self, elected: date, formed: date, members: list[str]) -> date:
        """UPK, UPL and UPS with three staff each from outside the BKM; the day the last was formed."""
        rng = self.rng
        outside = [p for p in self.people if p not in members]
        day = max(formed, elected + timedelta(days=1))
        for n, unit in enumerate(("UPK", "UPL", "UPS"), start=1):
            staff = [
                outside.pop(rng.randrange(len(outside))) if outside else self._person(day) for _ in range(3)
            ]
            body = {
                "unit": unit,
                "formed_on": day.isoformat(),
                "sk_number": f"SK BKM {n:02d}/{day.year}",
                "staff": staff,
            }
            self._step(day, "units", body)
            if unit == "UPK":
                self._train(day + days(rng, 10, 40), "UPK", "korkot", staff, "upk")
            day += days(rng, 0, 7)
        return day

    def _plans(self, sos: date, renta: date, relawan: list[str]) -> None:
        """The Renta of each year, with a review before it from year 2. In year 4 the BKM is re-elected
        and a new PJM made, or the term lapses and no plan covers year 4."""
        rng = self.rng
        for year in range(1, 7):
            on = renta + timedelta(days=365 * (year - 1) + (rng.randint(-10, 20) if year > 1 else 0))
            if year == 4:
                renewed = self._reelection(sos, relawan)
                if renewed is None:
                    return
                on = max(on, renewed + timedelta(days=5))
            if year > 1:
                review = on - days(rng, 10, 40)
                findings = "Kegiatan tahun lalu sesuai Renta; sebagian terlambat"
                self._step(
                    review,
                    "reviews",
                    {"year": year, "meeting": self._meeting(review, "RP"), "findings": findings},
                )
            body = {"year": year, "approved_on": on.isoformat(), "document": f"Renta Pronangkis {on.year}"}
            if self._step(on, "renta", body):
                self.facts.renta[year] = on

    def _reelection(self, sos: date, relawan: list[str]) -> date | None:
        """Election 2 in year 4, then the new PJM (its day); None when the term lapses without one."""
        year_4 = sos + YEAR_4
        held_on = year_4 + days(self.rng, 40, 100)
        if self.rng.random() < 0.25 or held_on > self.script.until:
            return None
        pool = relawan + [self._person(year_4) for _ in range(4)]
        self._election(2, year_4, held_on, pool)
        pjm = held_on + days(self.rng, 30, 90)
        self._step(pjm, "pjm", {"meeting": self._meeting(pjm, "PJM", 50), "document": f"PJM {pjm.year}"})
        return pjm

    def _ksm(self, elected: date) -> None:
        """Groups of PS-2 households (each in one group) registered while a BKM is in term."""
        rng = self.rng
        households = list(self.ps2)
        rng.shuffle(households)
        kinds = ["ekonomi"] * (rng.randint(4, 6) * self.density)
        kinds += ["lingkungan"] * (rng.randint(1, 2) * self.density)
        kinds += ["sosial"] if rng.random() < 0.5 else []
        for n, kind in enumerate(kinds, start=1):
            size = rng.randint(5, 7) if kind == "ekonomi" else rng.randint(3, 5)
            registered = elected + days(rng, 20, 150)
            in_term = any(start <= registered < end for start, end in self.facts.terms)
            if len(households) < size or not in_term:
                continue
            members, households = households[:size], households[size:]
            share = 0.15 if rng.random() < 0.15 else 0.65  # a few groups have too few women to borrow
            women = [rng.random() < share for _ in members]
            name = {
                "ekonomi": f"KSM {rng.choice(KSM_NAMES)} {n}",
                "lingkungan": f"KSM Lingkungan RW {n:02d}",
                "sosial": f"KSM Peduli Sesama {n}",
            }[kind]
            ksm = ref("ksm", self.v.code, n)
            body = {
                "name": name,
                "type": kind,
                "registered_on": registered.isoformat(),
                "members": [{"household_id": h, "woman": w} for h, w in zip(members, women, strict=True)],
            }
            path = f"{self.cycle}/ksm"
            if not self._add(
                registered,
                INSTITUTIONS,
                "institutions.ksm.register",
                path,
                body,
                needs=(TARGETING,),
                binds=(ksm, "ksm_id"),
            ):
                continue
            self.in_ksm.update(members)
            eligible = self._savings_and_training(ksm, name, registered, size) if kind == "ekonomi" else None
            if eligible is not None and (100 * sum(women) < 30 * size or eligible > self.script.until):
                eligible = None
            self.facts.ksm.append(KsmFacts(ksm, kind, registered, size, eligible))

    def _savings_and_training(self, ksm: str, name: str, registered: date, members: int) -> date | None:
        """Three or four months of group savings, the joint-liability statement and the three loan
        trainings (some groups never finish one). The day eligibility is complete, or None."""
        rng = self.rng
        path = f"/institutions/ksm/{ksm}"
        year, month = registered.year, registered.month
        saved: list[date] = []
        for _ in range(rng.randint(3, 4)):
            on = max(registered, date(year, month, 25))
            amount = members * rng.choice((10_000, 20_000, 50_000))
            body = {"month": f"{year:04d}-{month:02d}", "amount_rupiah": amount}
            self._add(on, INSTITUTIONS, "institutions.ksm.savings", f"{path}/savings", body)
            saved.append(on)
            year, month = (year, month + 1) if month < 12 else (year + 1, 1)
        signed = registered + days(rng, 30, 75)
        body = {
            "signed_on": signed.isoformat(),
            "document": f"Tanggung renteng {name}",
            "signatories": members,
        }
        self._add(signed, INSTITUTIONS, "institutions.ksm.joint-liability", f"{path}/joint-liability", body)
        done = [saved[2], signed]
        skipped = rng.choice(LOAN_MODULES)[0] if rng.random() < 0.15 else None
        for module, low, high in LOAN_MODULES:
            if module != skipped:
                on = registered + days(rng, low, high)
                body = {"module_code": module, "completed_on": on.isoformat()}
                self._add(on, INSTITUTIONS, "institutions.ksm.training", f"{path}/trainings", body)
                done.append(on)
        return None if skipped else max(done)

    def _ps2_update(self, on: date) -> None:
        """A year on: a household in no KSM moves away, newly poor households are added, and PS-2 version
        2 is published."""
        leaving = next((h for h in reversed(self.ps2) if h not in self.in_ksm), None)
        if leaving is None or on > self.script.until:
            return
        path = f"{self.targeting}/ps2/members/{leaving}/removal"
        self._add(
            on, TARGETING, "targeting.ps2.remove", path, {"reason": "Pindah domisili ke luar kelurahan"}
        )
        for _ in range(self.rng.randint(1, 2)):
            self._survey(on, poor=True)
        self._publish(on + days(self.rng, 1, 10), "PS2-2")
