"""The dashboard's words in Bahasa Indonesia (the default) and English, and numbers, money and dates
written the way each language writes them (Rp 1.234.567 and 12,5% in Indonesian; Rp 1,234,567 and
12.5% in English)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

Lang = Literal["id", "en"]
LANGUAGES: tuple[Lang, ...] = ("id", "en")
MISSING = "\u2013"  # an en dash: no figure

ID: dict[str, str] = {
    "language.name": "Bahasa Indonesia",
    "title": "Dasbor Pemantauan P2KP",
    "nav.overview": "Ringkasan",
    "nav.portfolio": "Portofolio pinjaman",
    "nav.handovers": "Alih kelola",
    "nav.label": "Menu utama",
    "skip": "Langsung ke isi",
    "switch.label": "Ganti bahasa",
    "asof.label": "Angka per tanggal",
    "asof.show": "Tampilkan",
    "fresh.title": "Kesegaran data",
    "fresh.last_event": "Kejadian terakhir diterapkan",
    "fresh.lag": "Kejadian belum diterapkan",
    "fresh.behind": "Tertinggal dari sumber",
    "fresh.none": "belum ada kejadian",
    "fresh.unknown": "belum diketahui",
    "fresh.rebuilding": "Model baca sedang dibangun ulang",
    "exports": "Unduh tabel",
    "pager.label": "Halaman tabel",
    "pager.rows": "Baris {first}\u2013{last} dari {total}",
    "pager.previous": "Sebelumnya",
    "pager.next": "Berikutnya",
    "figures.as_of": "Semua angka per {day}.",
    "none": "Tidak ada data.",
    "yes": "ya",
    "no": "tidak",
    "unit.seconds": "{n} detik",
    "unit.minutes": "{n} menit",
    "unit.hours": "{n} jam",
    "unit.days": "{n} hari",
    # overview
    "overview.title": "Ringkasan nasional",
    "overview.regional": "Ringkasan wilayah {within}",
    "overview.cities": "Kota/kabupaten",
    "overview.targets": "Kelurahan sasaran",
    "overview.cycles_started": "Siklus dimulai",
    "overview.bkm_active": "BKM aktif",
    "overview.blm_allocated": "BLM dialokasikan",
    "overview.blm_received": "BLM diterima",
    "overview.passed_to_ksm": "Disalurkan ke KSM",
    "overview.outstanding": "Pinjaman beredar",
    "overview.par": "PAR",
    "overview.by_progress": "Kota menurut kemajuan",
    "overview.by_risk": "Kota menurut risiko (PAR)",
    "col.city": "Kota/kabupaten",
    "col.code": "Kode",
    "col.progress": "Langkah tahun 1 selesai",
    "col.risk": "PAR",
    "col.stage": "Tahap alih kelola",
    "col.ksm": "KSM",
    "chart.funnel": "Corong siklus: kelurahan per langkah tahun 1 yang selesai",
    "chart.disbursement": "BLM diterima per bulan",
    "chart.par_trend": "Tren PAR pada setiap tutup buku",
    "chart.stage": "Tahap alih kelola kota",
    "chart.readiness": (
        "Kesiapan kota pada penilaian terakhir "
        "(kriteria terhitung, %; kriteria yang dinyatakan: 100 terpenuhi, 0 tidak)"
    ),
    "chart.unknown": "belum diketahui",
    "chart.current": "tahap sekarang",
    # city
    "city.summary": "Ringkasan",
    "city.factors": "Empat faktor pelaksanaan",
    "city.factor": "Faktor",
    "city.measure": "Ukuran",
    "city.value": "Nilai",
    "factor.kebijakan": "Kebijakan",
    "factor.sosialisasi": "Sosialisasi",
    "factor.ketaatan": "Ketaatan",
    "factor.sumber_daya": "Sumber daya",
    "measure.steps_done_pct": "Langkah tahun 1 selesai sesuai rencana",
    "measure.tranches_on_time_pct": "Termin ditransfer tepat waktu (60 hari)",
    "measure.coverage_pct": "Kelurahan dengan sosialisasi awal",
    "measure.women_attendance_pct": "Perempuan di antara peserta rapat",
    "measure.poor_per_meeting": "Rumah tangga miskin hadir per rapat",
    "measure.lpj_on_time_pct": "LPJ diterima tepat waktu (90 hari)",
    "measure.audited_pct": "Kelurahan dengan buku tahun lalu diaudit",
    "measure.members_off_ps2": "Anggota KSM di luar daftar PS-2",
    "measure.bkm_women_below_target": "BKM dengan perempuan di bawah 30%",
    "measure.facilitators": "Fasilitator",
    "measure.relawan_per_kelurahan": "Relawan per kelurahan",
    "measure.blm_received_per_kelurahan": "BLM diterima per kelurahan",
    "city.barriers": "Hambatan",
    "barrier.longest_waiting": "Langkah berikut yang paling lama ditunggu",
    "barrier.next_step": "Langkah berikut",
    "barrier.waiting_days": "Menunggu (hari)",
    "barrier.tranches_waiting": "Termin menunggu transfer",
    "barrier.overdue_steps": "Langkah lewat jadwal, belum selesai",
    "barrier.kelurahan_overdue": "Kelurahan dengan langkah lewat jadwal",
    "barrier.ddub_unpaid": "DDUB belum dibayar",
    "barrier.handover_not_started": "Alih kelola belum dimulai",
    "city.kelurahan": "Kelurahan",
    "col.kelurahan": "Kelurahan",
    "col.steps_done": "Langkah tahun 1 selesai (dari 8)",
    "col.overdue_steps": "Langkah lewat jadwal",
    "col.bkm_active": "BKM aktif",
    "col.outstanding": "Pinjaman beredar",
    "col.par": "PAR",
    "col.source": "Sumber",
    "col.tranche": "Termin",
    "col.year": "Tahun",
    "col.amount": "Jumlah",
    # kelurahan
    "kel.timeline": "Siklus",
    "kel.done_on": "Selesai",
    "kel.not_done": "belum",
    "kel.expected_on": "Jadwal",
    "kel.overdue_steps": "Langkah lewat jadwal, belum selesai",
    "kel.late_steps": "Langkah terlambat (selesai terlambat atau belum selesai)",
    "kel.schedule": "Jadwal menurut parameter periode {period} versi {version}.",
    "kel.no_schedule": "Parameter periode belum diketahui: langkah tanpa tanggal jadwal.",
    "kel.not_targeted": "Kelurahan belum menjadi sasaran pada tanggal ini.",
    "progress.done": "selesai",
    "progress.done late": "selesai terlambat {n} hari",
    "progress.late": "terlambat {n} hari",
    "progress.due": "belum jatuh tempo",
    "progress.not needed": "tidak diperlukan (RKM menolak)",
    "kel.bkm": "BKM",
    "kel.bkm_status": "Status",
    "kel.term_ends_on": "Masa bakti berakhir",
    "kel.women_pct": "Anggota perempuan",
    "bkm.active": "aktif",
    "bkm.expired": "masa bakti berakhir",
    "bkm.not formed": "belum terbentuk",
    "kel.ksm": "KSM menurut jenis",
    "kel.blm": "BLM menurut sumber",
    "kel.tranches": "Termin",
    "kel.received_on": "Diterima",
    "kel.lpj_accepted_on": "LPJ diterima",
    "kel.money": "Hibah dan pinjaman",
    "kel.grants_disbursed": "Hibah dicairkan",
    "kel.loans_disbursed": "Pinjaman dicairkan",
    "kel.upk": "Indikator UPK pada tutup buku terakhir",
    "kel.closing": "Tutup buku",
    "kel.active_ksm": "KSM aktif",
    "kel.no_closing": "Belum ada tutup buku.",
    "kel.city": "Kota",
    # portfolio and indicators
    "portfolio.title": "Portofolio pinjaman bergulir per UPK",
    "portfolio.note": "Indikator POB 2013 (LAR, PAR, RR, CCR, ROI) dengan kategorinya, di samping PAR30 "
    "dan PAR90.",
    "indicator.name": "Indikator",
    "indicator.value": "Nilai",
    "indicator.band": "Kategori",
    "indicator.lar": "LAR (KSM menunggak)",
    "indicator.par": "PAR (pinjaman berisiko)",
    "indicator.rr": "RR (tingkat pengembalian)",
    "indicator.ccr": "CCR (cakupan biaya)",
    "indicator.roi": "ROI",
    "indicator.par30": "PAR30",
    "indicator.par90": "PAR90",
    "band.satisfactory": "memuaskan",
    "band.adequate": "cukup",
    "band.poor": "kurang",
    # handovers
    "handovers.title": "Alih kelola per kota",
    "stage.not started": "belum dimulai",
    "stage.assessed": "dinilai",
    "stage.agreed": "disepakati",
    "stage.parallel run": "masa paralel",
    "stage.transferred": "dialihkan",
    "stage.sustained": "berkelanjutan",
    # the cycle's steps
    "step.sosialisasi-awal": "Sosialisasi awal",
    "step.rkm": "Rembug kesiapan masyarakat (RKM)",
    "step.relawan": "Relawan terdaftar",
    "step.refleksi-kemiskinan": "Refleksi kemiskinan",
    "step.pemetaan-swadaya": "Pemetaan swadaya",
    "step.bkm-election": "Pemilihan BKM",
    "step.unit-pengelola": "Unit pengelola (UPK, UPL, UPS)",
    "step.pjm": "PJM Pronangkis",
    "step.renta": "Renta Pronangkis",
    "step.review-partisipatif": "Review partisipatif",
    "step.bkm-reelection": "Pemilihan ulang BKM",
    "step.pjm-renewal": "PJM baru",
    "ksm.ekonomi": "ekonomi",
    "ksm.lingkungan": "lingkungan",
    "ksm.sosial": "sosial",
    "month.1": "Januari",
    "month.2": "Februari",
    "month.3": "Maret",
    "month.4": "April",
    "month.5": "Mei",
    "month.6": "Juni",
    "month.7": "Juli",
    "month.8": "Agustus",
    "month.9": "September",
    "month.10": "Oktober",
    "month.11": "November",
    "month.12": "Desember",
}

EN: dict[str, str] = {
    "language.name": "English",
    "title": "P2KP Monitoring Dashboard",
    "nav.overview": "Overview",
    "nav.portfolio": "Loan portfolio",
    "nav.handovers": "Handover",
    "nav.label": "Main menu",
    "skip": "Skip to content",
    "switch.label": "Change language",
    "asof.label": "Figures as of",
    "asof.show": "Show",
    "fresh.title": "Data freshness",
    "fresh.last_event": "Last event applied",
    "fresh.lag": "Events not yet applied",
    "fresh.behind": "Behind the sources by",
    "fresh.none": "no events yet",
    "fresh.unknown": "not known yet",
    "fresh.rebuilding": "The read model is being rebuilt",
    "exports": "Download table",
    "pager.label": "Table pages",
    "pager.rows": "Rows {first}\u2013{last} of {total}",
    "pager.previous": "Previous",
    "pager.next": "Next",
    "figures.as_of": "All figures as of {day}.",
    "none": "No data.",
    "yes": "yes",
    "no": "no",
    "unit.seconds": "{n} seconds",
    "unit.minutes": "{n} minutes",
    "unit.hours": "{n} hours",
    "unit.days": "{n} days",
    "overview.title": "National overview",
    "overview.regional": "Overview of region {within}",
    "overview.cities": "Cities/regencies",
    "overview.targets": "Target kelurahan",
    "overview.cycles_started": "Cycles started",
    "overview.bkm_active": "Active BKM",
    "overview.blm_allocated": "BLM allocated",
    "overview.blm_received": "BLM received",
    "overview.passed_to_ksm": "Passed to KSM",
    "overview.outstanding": "Loans outstanding",
    "overview.par": "PAR",
    "overview.by_progress": "Cities by progress",
    "overview.by_risk": "Cities by risk (PAR)",
    "col.city": "City/regency",
    "col.code": "Code",
    "col.progress": "Year-1 steps done",
    "col.risk": "PAR",
    "col.stage": "Handover stage",
    "col.ksm": "KSM",
    "chart.funnel": "Cycle funnel: kelurahan per year-1 step done",
    "chart.disbursement": "BLM received per month",
    "chart.par_trend": "PAR trend at each book closing",
    "chart.stage": "The city's handover stage",
    "chart.readiness": (
        "The city's readiness at its last assessment (computed criteria in %; attested ones 100 met, 0 not)"
    ),
    "chart.unknown": "unknown",
    "chart.current": "current stage",
    "city.summary": "Summary",
    "city.factors": "The four implementation factors",
    "city.factor": "Factor",
    "city.measure": "Measure",
    "city.value": "Value",
    "factor.kebijakan": "Policy (kebijakan)",
    "factor.sosialisasi": "Socialisation (sosialisasi)",
    "factor.ketaatan": "Compliance (ketaatan)",
    "factor.sumber_daya": "Resources (sumber daya)",
    "measure.steps_done_pct": "Year-1 steps done as planned",
    "measure.tranches_on_time_pct": "Tranches transferred on time (60 days)",
    "measure.coverage_pct": "Kelurahan with an initial socialisation",
    "measure.women_attendance_pct": "Women among meeting attendees",
    "measure.poor_per_meeting": "Poor households present per meeting",
    "measure.lpj_on_time_pct": "LPJ accepted on time (90 days)",
    "measure.audited_pct": "Kelurahan with last year's books audited",
    "measure.members_off_ps2": "KSM members off the PS-2 list",
    "measure.bkm_women_below_target": "BKM with under 30% women",
    "measure.facilitators": "Facilitators",
    "measure.relawan_per_kelurahan": "Volunteers per kelurahan",
    "measure.blm_received_per_kelurahan": "BLM received per kelurahan",
    "city.barriers": "Barriers",
    "barrier.longest_waiting": "Longest-waiting next steps",
    "barrier.next_step": "Next step",
    "barrier.waiting_days": "Waiting (days)",
    "barrier.tranches_waiting": "Tranches waiting for transfer",
    "barrier.overdue_steps": "Steps past their expected day, not done",
    "barrier.kelurahan_overdue": "Kelurahan with steps past their expected day",
    "barrier.ddub_unpaid": "DDUB unpaid",
    "barrier.handover_not_started": "Handover not started",
    "city.kelurahan": "Kelurahan",
    "col.kelurahan": "Kelurahan",
    "col.steps_done": "Year-1 steps done (of 8)",
    "col.overdue_steps": "Steps overdue",
    "col.bkm_active": "Active BKM",
    "col.outstanding": "Loans outstanding",
    "col.par": "PAR",
    "col.source": "Source",
    "col.tranche": "Tranche",
    "col.year": "Year",
    "col.amount": "Amount",
    "kel.timeline": "Cycle",
    "kel.done_on": "Done",
    "kel.not_done": "not yet",
    "kel.expected_on": "Expected",
    "kel.overdue_steps": "Steps past their expected day, not done",
    "kel.late_steps": "Steps late (done late or still not done)",
    "kel.schedule": "Schedule by the parameters of period {period}, version {version}.",
    "kel.no_schedule": "The period's parameters are not known yet: no expected days.",
    "kel.not_targeted": "The kelurahan is not a target on this day.",
    "progress.done": "done",
    "progress.done late": "done {n} days late",
    "progress.late": "{n} days late",
    "progress.due": "not yet due",
    "progress.not needed": "not needed (rejected at the RKM)",
    "kel.bkm": "BKM",
    "kel.bkm_status": "Status",
    "kel.term_ends_on": "Term ends",
    "kel.women_pct": "Women members",
    "bkm.active": "active",
    "bkm.expired": "term ended",
    "bkm.not formed": "not formed",
    "kel.ksm": "KSM by type",
    "kel.blm": "BLM by source",
    "kel.tranches": "Tranches",
    "kel.received_on": "Received",
    "kel.lpj_accepted_on": "LPJ accepted",
    "kel.money": "Grants and loans",
    "kel.grants_disbursed": "Grants disbursed",
    "kel.loans_disbursed": "Loans disbursed",
    "kel.upk": "UPK indicators at the last book closing",
    "kel.closing": "Book closing",
    "kel.active_ksm": "Active KSM",
    "kel.no_closing": "No book closing yet.",
    "kel.city": "City",
    "portfolio.title": "Revolving-loan portfolio per UPK",
    "portfolio.note": "The 2013 operating manual's indicators (LAR, PAR, RR, CCR, ROI) with their bands, "
    "next to PAR30 and PAR90.",
    "indicator.name": "Indicator",
    "indicator.value": "Value",
    "indicator.band": "Band",
    "indicator.lar": "LAR (KSM in arrears)",
    "indicator.par": "PAR (portfolio at risk)",
    "indicator.rr": "RR (repayment rate)",
    "indicator.ccr": "CCR (cost coverage)",
    "indicator.roi": "ROI",
    "indicator.par30": "PAR30",
    "indicator.par90": "PAR90",
    "band.satisfactory": "satisfactory",
    "band.adequate": "adequate",
    "band.poor": "poor",
    "handovers.title": "Handover per city",
    "stage.not started": "not started",
    "stage.assessed": "assessed",
    "stage.agreed": "agreed",
    "stage.parallel run": "parallel run",
    "stage.transferred": "transferred",
    "stage.sustained": "sustained",
    "step.sosialisasi-awal": "Initial socialisation",
    "step.rkm": "Community readiness meeting (RKM)",
    "step.relawan": "Volunteers registered",
    "step.refleksi-kemiskinan": "Poverty reflection",
    "step.pemetaan-swadaya": "Community self-survey",
    "step.bkm-election": "BKM election",
    "step.unit-pengelola": "Management units (UPK, UPL, UPS)",
    "step.pjm": "Medium-term plan (PJM)",
    "step.renta": "Annual plan (Renta)",
    "step.review-partisipatif": "Participatory review",
    "step.bkm-reelection": "BKM re-election",
    "step.pjm-renewal": "New PJM",
    "ksm.ekonomi": "economic",
    "ksm.lingkungan": "environmental",
    "ksm.sosial": "social",
    "month.1": "January",
    "month.2": "February",
    "month.3": "March",
    "month.4": "April",
    "month.5": "May",
    "month.6": "June",
    "month.7": "July",
    "month.8": "August",
    "month.9": "September",
    "month.10": "October",
    "month.11": "November",
    "month.12": "December",
}

UI: dict[Lang, dict[str, str]] = {"id": ID, "en": EN}


class Words:
    """One language's strings and number formats, as the templates use them."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.strings = UI[lang]

    def __call__(self, key: str, **values: object) -> str:
        """The string ``key``; a missing key is a bug the unit tests catch, so it raises."""
        return self.strings[key].format(**values) if values else self.strings[key]

    def label(self, kind: str, value: str | None) -> str:
        """A program value's name (a step, a stage, a band): the value itself if it has none yet."""
        if value is None:
            return MISSING
        return self.strings.get(f"{kind}.{value}", value)

    def number(self, value: float | None, decimals: int = 0) -> str:
        if value is None:
            return MISSING
        written = f"{value:,.{decimals}f}"
        # Indonesian swaps the separators: 1.234.567,8.
        return written.translate(str.maketrans(",.", ".,")) if self.lang == "id" else written

    def rupiah(self, value: int | None) -> str:
        if value is None:
            return MISSING
        return f"-Rp {self.number(-value)}" if value < 0 else f"Rp {self.number(value)}"

    def percent(self, value: float | None) -> str:
        return MISSING if value is None else f"{self.number(value, 1)}%"

    def day(self, value: date | str | None) -> str:
        if value is None:
            return MISSING
        on = date.fromisoformat(value) if isinstance(value, str) else value
        return f"{on.day} {self(f'month.{on.month}')} {on.year}"

    def month(self, value: str) -> str:
        """A month as ``YYYY-MM``, short: "Agu 2021" / "Aug 2021"."""
        year, month = value.split("-")
        return f"{self(f'month.{int(month)}')[:3]} {year}"

    def moment(self, value: datetime | None) -> str:
        if value is None:
            return MISSING
        return f"{self.day(value.date())} {value:%H:%M} UTC"

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return self("fresh.unknown")
        whole = max(int(seconds), 0)
        for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
            if whole >= size:
                return self(f"unit.{unit}", n=self.number(whole // size))
        return self("unit.seconds", n=self.number(whole))
