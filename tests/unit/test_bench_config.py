"""``python -m bench``'s options: a partial run never replaces the whole run's documented figures."""

from __future__ import annotations

import pytest

from bench.config import PHASES, RESULTS_DIR, parse_args


def test_a_whole_run_writes_the_documented_figures() -> None:
    config = parse_args([])
    assert config.phases == PHASES
    assert config.update_docs and config.json_path == RESULTS_DIR / "latest.json"


def test_a_partial_run_keeps_to_its_own_file_and_leaves_the_docs_alone() -> None:
    config = parse_args(["--only", "rebuild"])
    assert config.phases == ("rebuild",)
    assert not config.update_docs and config.json_path == RESULTS_DIR / "partial.json"


def test_a_partial_run_may_not_regenerate_the_whole_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--only", "rebuild", "--docs"])
    assert "--docs regenerates the table of every phase" in capsys.readouterr().err


def test_every_phase_named_in_any_order_is_a_whole_run() -> None:
    config = parse_args(["--only", ",".join(reversed(PHASES))])
    assert config.update_docs and config.json_path == RESULTS_DIR / "latest.json"
