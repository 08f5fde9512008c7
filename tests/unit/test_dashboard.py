"""The dashboard's pure parts: its charts (inline SVG) and its words in both languages."""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

import pytest

from services.monitoring import charts
from services.monitoring.i18n import LANGUAGES, MISSING, UI, Words
from services.monitoring.measures import YEAR_1
from shared.contracts.cycle import DEFAULT_SCHEDULE_DAYS, Progress, Step, schedule
from shared.contracts.handover import Stage
from shared.contracts.institutions import KsmType

SVG = "{http://www.w3.org/2000/svg}"


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def described(svg: str) -> str:
    root = parsed(svg)
    title, desc = root.find(f"{SVG}title"), root.find(f"{SVG}desc")
    assert title is not None and desc is not None
    # The image is named by its title and its description, for screen readers.
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    return desc.text or ""


def bar_widths(svg: str) -> list[float]:
    """The widths of the funnel's filled bars (the pale ones behind them are the whole)."""
    return [float(r.get("width", 0)) for r in parsed(svg).iter(f"{SVG}rect") if r.get("fill") == charts.BAR]


# --- charts -----------------------------------------------------------------------------------------------


def test_funnel_bars_are_as_long_as_each_steps_share_of_the_targets() -> None:
    svg = charts.funnel([("Sosialisasi", 4), ("RKM", 2), ("PJM", 0)], 4, title="Corong")
    full, half, none = bar_widths(svg)
    assert full > 0 and half == pytest.approx(full / 2, abs=0.1) and none == 0
    assert described(svg) == "Sosialisasi: 4; RKM: 2; PJM: 0 (/4)"


def test_funnel_of_no_targets_draws_empty_bars_not_a_division_by_zero() -> None:
    assert bar_widths(charts.funnel([("Sosialisasi", 0)], 0, title="Corong")) == [0.0]


def test_chart_text_is_escaped() -> None:
    svg = charts.funnel([("<script>&", 1)], 1, title='"Kota" <A&B>')
    root = parsed(svg)  # well-formed XML despite the markup in the labels
    assert "<script>" not in svg
    assert next(t.text for t in root.iter(f"{SVG}text")) == "<script>&"
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == '"Kota" <A&B>'


def test_two_charts_of_one_page_have_distinct_ids() -> None:
    ids = {parsed(charts.funnel([("a", n)], 2, title="x")).get("aria-labelledby") for n in (1, 2)}
    assert len(ids) == 2


def test_monthly_bars_scale_to_a_round_axis_and_name_every_month() -> None:
    rows = [("2021-11", 45_000_000), ("2021-12", 0), ("2022-01", 90_000_000)]
    svg = charts.monthly_bars(rows, title="BLM", fmt=lambda v: f"Rp {v:,}", month=lambda m: m)
    heights = [float(r.get("height", 0)) for r in parsed(svg).iter(f"{SVG}rect")]
    assert heights[0] == pytest.approx(heights[2] / 2) and heights[1] == 0
    labels = [t.text for t in parsed(svg).iter(f"{SVG}text")]
    assert "Rp 100,000,000" in labels  # the axis' top: the nice number above the largest month
    assert described(svg) == "2021-11: Rp 45,000,000; 2021-12: Rp 0; 2022-01: Rp 90,000,000"


def test_monthly_bars_label_every_few_months_when_there_are_many() -> None:
    rows = [(f"{2020 + n // 12}-{n % 12 + 1:02d}", n) for n in range(36)]
    svg = charts.monthly_bars(rows, title="BLM", fmt=str, month=lambda m: m)
    month_labels = [t.text for t in parsed(svg).iter(f"{SVG}text") if t.text and "-" in t.text]
    assert month_labels[:2] == ["2020-01", "2020-04"] and len(month_labels) == 12


def test_monthly_bars_without_months_is_an_empty_axis() -> None:
    svg = charts.monthly_bars([], title="BLM", fmt=str, month=lambda m: m)
    assert list(parsed(svg).iter(f"{SVG}rect")) == [] and described(svg) == MISSING


def test_trend_breaks_its_line_where_a_value_is_missing() -> None:
    points = [("Jan", 0.0), ("Feb", 20.0), ("Mar", None), ("Apr", 40.0), ("Mei", 50.0)]
    svg = charts.trend(points, title="PAR", fmt=lambda v: MISSING if v is None else f"{v}%")
    root = parsed(svg)
    assert len(list(root.iter(f"{SVG}circle"))) == 4
    lines = [p.get("points", "").split() for p in root.iter(f"{SVG}polyline")]
    assert [len(line) for line in lines] == [2, 2]
    # Higher PAR is higher on the chart; the axis tops at 50 %, the largest value.
    y = {n: float(p.split(",")[1]) for n, p in enumerate(lines[0] + lines[1])}
    assert y[0] > y[1] > y[2] > y[3]
    assert "50.0%" in [t.text for t in root.iter(f"{SVG}text")]
    assert f"Mar: {MISSING}" in described(svg)


def test_trend_of_one_closing_is_a_point_without_a_line() -> None:
    svg = charts.trend([("30 Apr 2022", 100.0)], title="PAR", fmt=str)
    assert len(list(parsed(svg).iter(f"{SVG}circle"))) == 1
    assert list(parsed(svg).iter(f"{SVG}polyline")) == []


def test_stage_steps_fill_the_stages_reached_and_name_the_current_one() -> None:
    labels = [str(s) for s in Stage]
    svg = charts.stage_steps(labels, 2, title="Alih kelola", current_note="sekarang")
    circles = list(parsed(svg).iter(f"{SVG}circle"))
    assert [c.get("fill") for c in circles] == [charts.BAR] * 3 + ["#ffffff"] * 3
    assert [c.get("stroke-width") for c in circles].count("4") == 1 and circles[2].get("stroke-width") == "4"
    assert described(svg).endswith("sekarang: agreed")


# --- words and numbers --------------------------------------------------------------------------------------


def test_both_languages_have_every_key_and_no_empty_string() -> None:
    assert set(UI["id"]) == set(UI["en"])
    for lang in LANGUAGES:
        assert all(text.strip() for text in UI[lang].values()), lang


def test_placeholders_are_the_same_in_both_languages() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert [k for k in UI["id"] if fields(UI["id"][k]) != fields(UI["en"][k])] == []


def test_every_program_value_shown_has_a_name_in_both_languages() -> None:
    wanted = (
        [f"step.{s}" for s in Step]
        + [f"stage.{s}" for s in Stage]
        + [f"ksm.{k}" for k in KsmType]
        + [f"band.{b}" for b in ("satisfactory", "adequate", "poor")]
        + [f"bkm.{s}" for s in ("active", "expired", "not formed")]
        + [f"month.{m}" for m in range(1, 13)]
        + [f"progress.{p}" for p in Progress]
    )
    for lang in LANGUAGES:
        assert [k for k in wanted if k not in UI[lang]] == [], lang
    assert len(YEAR_1) == 8


def test_the_four_factors_and_their_measures_have_names() -> None:
    measures = {
        "kebijakan": ("steps_done_pct", "tranches_on_time_pct"),
        "sosialisasi": ("coverage_pct", "women_attendance_pct", "poor_per_meeting"),
        "ketaatan": ("lpj_on_time_pct", "audited_pct", "members_off_ps2", "bkm_women_below_target"),
        "sumber_daya": ("facilitators", "relawan_per_kelurahan", "blm_received_per_kelurahan"),
    }
    for lang in LANGUAGES:
        words = Words(lang)
        for factor, names in measures.items():
            assert words(f"factor.{factor}")
            assert all(words(f"measure.{n}") for n in names)


@pytest.mark.parametrize(
    ("lang", "money", "share", "big"),
    [("id", "Rp 1.234.567", "12,5%", "1.234.567,9"), ("en", "Rp 1,234,567", "12.5%", "1,234,567.9")],
)
def test_numbers_are_written_the_way_each_language_writes_them(
    lang: str, money: str, share: str, big: str
) -> None:
    words = Words("id" if lang == "id" else "en")
    assert words.rupiah(1_234_567) == money
    assert words.percent(12.5) == share
    assert words.number(1_234_567.89, 1) == big
    assert words.rupiah(-5_000) == ("-Rp 5.000" if lang == "id" else "-Rp 5,000")
    assert words.rupiah(None) == words.percent(None) == words.number(None) == MISSING


def test_dates_and_months_are_named_in_the_language() -> None:
    assert Words("id").day(date(2021, 8, 17)) == "17 Agustus 2021"
    assert Words("en").day("2021-08-17") == "17 August 2021"
    assert (Words("id").month("2021-05"), Words("en").month("2021-05")) == ("Mei 2021", "May 2021")
    moment = datetime(2026, 12, 1, 7, 5, tzinfo=UTC)
    assert Words("id").moment(moment) == "1 Desember 2026 07:05 UTC"


def test_durations_use_the_largest_whole_unit() -> None:
    words = Words("id")
    assert [words.duration(s) for s in (12.7, 150, 7200, 3 * 86400)] == [
        "12 detik",
        "2 menit",
        "2 jam",
        "3 hari",
    ]
    assert Words("en").duration(None) == "not known yet"


def test_a_value_without_a_name_is_shown_as_itself_but_a_missing_string_is_a_bug() -> None:
    words = Words("en")
    assert words.label("stage", "on hold") == "on hold" and words.label("stage", None) == MISSING
    with pytest.raises(KeyError):
        words("no.such.key")


def test_the_readiness_radar_draws_each_criterion_and_marks_the_unknown() -> None:
    from services.monitoring import charts

    drawn = str(
        charts.radar([("bkm-active", 50.0), ("ddub-paid", 100.0), ("perda", None)], title="R", unknown="?")
    )
    assert drawn.count("<polygon") == 5  # four rings and the shape
    assert "bkm-active 50%" in drawn and "ddub-paid 100%" in drawn and "perda (?)" in drawn
    shape = drawn.rsplit('<polygon points="', 1)[1].split('"', 1)[0].split()
    assert len(shape) == 3 and shape[2] == "320.0,180.0"  # the unknown criterion sits at the centre


def test_a_timeline_steps_lateness_is_written_with_its_days() -> None:
    assert Words("id")("progress.done late", n="12") == "selesai terlambat 12 hari"
    assert Words("en")("progress.late", n="7") == "7 days late"
    assert Words("id")("progress.due", n="0") == "belum jatuh tempo"
    assert Words("en")("progress.due", n="0") == "not yet due"


def test_without_the_periods_parameters_no_step_is_expected_on_a_day_so_none_is_late() -> None:
    start, today = date(2021, 1, 11), date(2023, 1, 1)
    done = {Step.SOSIALISASI_AWAL: start, Step.RKM: date(2021, 6, 1)}
    unknown = schedule(None, start, done, {}, False, today)
    assert {i.progress for i in unknown} == {Progress.DONE, Progress.DUE}
    assert {i.expected_on for i in unknown} == {None} and sum(i.late_days for i in unknown) == 0
    # The same cycle by the default schedule: the RKM was 111 days late, the relawan are 676.
    known = {(i.step, i.year): i for i in schedule(DEFAULT_SCHEDULE_DAYS, start, done, {}, False, today)}
    assert (known[(Step.RKM, None)].progress, known[(Step.RKM, None)].late_days) == (Progress.DONE_LATE, 111)
    assert known[(Step.RELAWAN, None)].late_days == (today - date(2021, 2, 25)).days
