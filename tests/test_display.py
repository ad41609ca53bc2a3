"""How tables look to a reader: no index column, no NaN, small numbers kept, scores at a fixed precision;
and the teaching page's classroom numbers, read from whatever tables a run holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.report.tables import MISSING, display_frame, display_table, format_number
from probedrift.report.teaching import NOT_IN_RUN, PAPER_SIGMA, classroom_numbers, classroom_numbers_markdown

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "default"


@pytest.mark.parametrize(("value", "column", "shown"), [
    (2e-4, "p_value", "2e-4"),            # not rounded to 0.000
    (-1.5e-5, "sigma", "-1.5e-5"),
    (0.91234, "auc_mean", "0.912"),       # a score: fixed decimals
    (0.5, "silent_failure_share", "0.500"),
    (31.2345, "angle_deg_mean", "31.2"),  # anything else: significant digits
    (0.15, "sigma", "0.15"),
    (123456.7, "n_texts", "123,457"),
    (12, "layer", "12"),
    (np.int64(20000), "n", "20,000"),
    (True, "alarm", "yes"),
    (float("nan"), "auc", MISSING),
    (None, "note", MISSING),
    ("per_dim", "convention", "per_dim"),
])
def test_each_cell_is_shown_as_a_reader_expects(value, column, shown):
    assert format_number(value, column) == shown


def test_the_compact_number_reads_back_to_the_value():
    """The scientific form is still the number (to its 2 significant digits), so nothing is lost to rounding."""
    rng = np.random.default_rng(0)
    for x in rng.uniform(1e-7, 9e-4, 50) * rng.choice([-1, 1], 50):
        assert float(format_number(float(x))) == pytest.approx(x, rel=0.06)


def test_a_display_has_no_index_column_no_nan_and_readable_headers():
    df = pd.DataFrame({"model": ["a", "b"], "auc_mean": [0.8, np.nan], "sigma": [0.02, 0.0]}, index=[7, 3])
    shown = display_frame(df)
    assert list(shown.columns) == ["model", "ROC-AUC", "σ"]
    assert shown.to_numpy().tolist() == [["a", "0.800", "0.02"], ["b", MISSING, "0"]]
    html = display_table(df)._repr_html_()
    assert "nan" not in html.lower() and ">7<" not in html and "overflow-x:auto" in html
    md = display_table(df).to_markdown().splitlines()
    assert md[0] == "| model | ROC-AUC | σ |" and md[3] == f"| b | {MISSING} | 0 |"


def test_a_named_index_becomes_a_column():
    pivot = pd.DataFrame({"metric": ["auc", "ece"], "model": ["m", "m"], "estimate": [0.8, 0.05]}).pivot(
        index="metric", columns="model", values="estimate")
    shown = display_frame(pivot)
    assert shown.columns[0] == "measure" and shown.iloc[:, 0].tolist() == ["auc", "ece"]


def test_display_table_refuses_what_is_not_a_table():
    with pytest.raises(ProbedriftError, match="DataFrame"):
        display_table([1, 2, 3])


def _partial_run(tmp_path: Path, names: list[str]) -> Path:
    metrics = tmp_path / "run" / "metrics"
    metrics.mkdir(parents=True)
    for name in names:
        shutil.copy(REFERENCE / "metrics" / f"{name}.csv", metrics)
    return tmp_path / "run"


@pytest.mark.skipif(not (REFERENCE / "metrics" / "probe_baseline.csv").is_file(), reason="no reference run")
def test_classroom_numbers_read_the_tables_a_run_has_and_say_which_it_lacks(tmp_path):
    run = _partial_run(tmp_path, ["probe_baseline", "drift_sweep_summary"])
    table = classroom_numbers(run)
    assert list(table.columns) == ["chapter", "quantity", "classroom run", "interval over"]
    # Read independently from the CSV: the clean AUC of the first model with its bootstrap interval.
    base = pd.read_csv(run / "metrics" / "probe_baseline.csv")
    r = base[(base.metric == "auc")].iloc[0]
    row = table[table.quantity.str.startswith(f"clean ROC-AUC, {r.model}")].iloc[0]
    assert row["classroom run"] == f"{r.value:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
    sweep = pd.read_csv(run / "metrics" / "drift_sweep_summary.csv")
    at = sweep[np.isclose(sweep.sigma, PAPER_SIGMA) & (sweep.model == r.model) & (sweep.convention == "relative")]
    row = table[table.quantity == f"ROC-AUC at σ = {PAPER_SIGMA:g}, Gaussian `relative`, {r.model}"].iloc[0]
    assert row["classroom run"].startswith(f"{at.auc_mean.iloc[0]:.2f} [")
    lacking = set(table[table["classroom run"] == NOT_IN_RUN].chapter)
    assert lacking == {"3", "4", "5", "6", "7"}, "chapters whose tables this run lacks"
    assert table.chapter.is_monotonic_increasing


def test_without_a_classroom_run_the_page_says_so(tmp_path):
    assert "make classroom" in classroom_numbers_markdown(None)
    assert "make classroom" in classroom_numbers_markdown(tmp_path / "nothing")
