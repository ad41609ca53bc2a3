"""Each chapter's "What this shows" text, computed from small fixture tables whose right sentences are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.report import summaries, tables


def _agg_row(model, t, c, sigma, auc, angle, **extra):
    row = {"model": model, "drift_type": t, "convention": c, "sigma": sigma, "auc_mean": auc,
           "angle_deg_mean_mean": angle, "mean_confidence_mean": 0.9, "silent_failure_share_mean": 0.7,
           "silent_failure_rate_mean": 0.1}
    row.update(extra)
    return row


def _agg(with_paper_sigma=True):
    rows = [_agg_row("m", "gaussian", "per_dim", 0.0, 0.81, 0.0), _agg_row("m", "gaussian", "relative", 0.0, 0.81, 0.0),
            _agg_row("m", "rotation", "true", 0.15, 0.79, 13.5)]
    if with_paper_sigma:
        rows += [_agg_row("m", "gaussian", "per_dim", 0.02, 0.74, 26.84),
                 _agg_row("m", "gaussian", "relative", 0.02, 0.808, 1.146)]
    return pd.DataFrame(rows)


def test_drift_summary_reads_both_readings_at_the_papers_sigma():
    text = summaries.drift_summary(_agg())
    assert "**m** (clean AUC 0.81): at σ = 0.02 the paper's per-dimension formula moves embeddings by 26.8° " \
           "and leaves AUC 0.74; the relative reading moves them by 1.15° and leaves AUC 0.81." in text
    assert "A true rotation by 13.5° (σ = 0.15) leaves AUC 0.79." in text


def test_drift_summary_says_when_the_papers_sigma_is_not_on_the_grid():
    assert "σ = 0.02 is not on this run's grid" in summaries.drift_summary(_agg(with_paper_sigma=False))


def test_probes_summary_quotes_the_interval_and_the_silent_share():
    base = pd.DataFrame([
        {"model": "m", "metric": "auc", "value": 0.812, "ci_low": 0.741, "ci_high": 0.879},
        {"model": "m", "metric": "mean_confidence", "value": 0.9, "ci_low": 0.8, "ci_high": 0.95},
        {"model": "m", "metric": "ece", "value": 0.054, "ci_low": 0.03, "ci_high": 0.09},
        {"model": "m", "metric": "silent_failure_share", "value": 0.78, "ci_low": 0.6, "ci_high": 0.9},
    ])
    text = summaries.probes_summary(base, tau=0.8)
    assert "**m**: AUC 0.81 [0.74, 0.88], mean confidence 0.90, ECE 5.4%, and 78% of its errors" in text


def test_silent_failures_summary_computes_the_confidence_drop_and_alarm_counts():
    agg = pd.DataFrame([_agg_row("m", "gaussian", "per_dim", 0.0, 0.8, 0.0, mean_confidence_mean=0.90),
                        _agg_row("m", "gaussian", "per_dim", 0.15, 0.6, 70.0, mean_confidence_mean=0.81,
                                 silent_failure_share_mean=0.5, silent_failure_rate_mean=0.2)])
    alarms = pd.DataFrame({"model": "m", "detector": ["confidence", "confidence", "mmd", "mmd"],
                           "first_alarm_angle_deg": [np.nan, np.nan, 2.0, 4.0]})
    text = summaries.silent_failures_summary(agg, alarms, "m", tau=0.8)
    assert "mean confidence falls 10% from σ = 0 to σ = 0.15 while AUC goes from 0.80 to 0.60" in text
    assert "50% of errors are made with confidence ≥ 0.8 (20% of all texts)" in text
    assert "The confidence monitor alarms in 0 of 2 drift settings." in text
    assert "MMD alarms in 2 of 2 drift settings, with a median first-alarm angle of 3.00°." in text
    assert "was not run" in summaries.silent_failures_summary(agg.assign(convention="relative"), alarms, "m", 0.8)


def test_separability_summary_with_and_without_pairs():
    pairs = pd.DataFrame([{"metric": "fisher", "note": "cross-family", "base": "b", "instruct": "i",
                           "base_value": 10.0, "instruct_value": 8.0, "relative_change": -0.2,
                           "relative_change_low": -0.5, "relative_change_high": 0.1}])
    text = summaries.separability_summary(pairs)
    assert "- fisher (cross-family): b 10.000 → i 8.000, a relative change of -20% (range -50% to +10%)." in text
    assert "no base/instruct pair" in summaries.separability_summary(pairs.iloc[:0])


def test_real_drift_summary_lists_skipped_sources_and_silent_losses():
    real = pd.DataFrame([
        {"source": "a", "angle_deg_mean": 0.5, "silent_failure_share": 0.9, "alarm_mmd": False, "note": "x"},
        {"source": "b", "angle_deg_mean": 30.0, "silent_failure_share": 0.4, "alarm_mmd": True, "note": "y"},
        {"source": "c", "angle_deg_mean": np.nan, "silent_failure_share": np.nan, "alarm_mmd": np.nan,
         "note": "skipped: no chat template"},
    ])
    mit = []
    for s, before, after in (("a", 0.80, 0.70), ("b", 0.80, 0.78)):
        for method, auc in (("no_update", before), ("frozen", after), ("retrain", 0.8), ("recalibrate", after),
                            ("detector_gate", after)):
            mit.append({"source": s, "method": method, "k": np.nan, "auc": auc,
                        "ci_low": auc - 0.1, "ci_high": auc + 0.1,
                        "mean_confidence": 0.9, "ece": 0.1, "alarm": method == "detector_gate" and s == "b"})
        mit.append({"source": s, "method": "align", "k": 8, "auc": after + 0.01, "ci_low": 0, "ci_high": 1,
                    "mean_confidence": 0.9, "ece": 0.1, "alarm": np.nan})
    mit = pd.DataFrame(mit)
    reference = pd.DataFrame({"source": ["a", "b"], "auc_real": [0.7, 0.78], "auc_isotropic": [0.8, np.nan]})
    text = summaries.real_drift_summary(real, mit, reference, tau=0.8, n_test=120)
    assert "The 2 real changes moved the embeddings of the same texts by 0.50° (`a`) to 30.0° (`b`)" in text
    assert "silent losses of ≥ 0.05 AUC without any alarm: `a`." in text
    assert "Skipped as inapplicable: `c` (no chat template)." in text
    assert "aligning beat the frozen probe for 2 of 2 sources" in text


def test_robustness_table_uses_the_paper_conventions():
    agg = pd.DataFrame([_agg_row("m", "gaussian", "per_dim", 0.0, 0.8, 0),
                        _agg_row("m", "gaussian", "per_dim", 0.15, 0.6, 70),
                        _agg_row("m", "gaussian", "relative", 0.15, 0.1, 8)])
    out = tables.robustness_table(agg)
    assert out.loc[("m", "gaussian"), "auc_drop"] == np.float64(0.8) - np.float64(0.6)


def test_diff_run_tables_finds_real_differences_only(tmp_path):
    for run, auc in (("a", 0.8), ("b", 0.8 + 1e-9)):
        (tmp_path / run / "metrics").mkdir(parents=True)
        pd.DataFrame({"model": ["m"], "auc": [auc], "ci": [np.nan]}).to_csv(tmp_path / run / "metrics" / "t.csv")
    same = tables.diff_run_tables(tmp_path / "a", tmp_path / "b")
    assert same.equal.all() and same.max_abs_diff.iloc[0] < 1e-8
    pd.DataFrame({"model": ["m"], "auc": [0.7], "ci": [np.nan]}).to_csv(tmp_path / "b" / "metrics" / "t.csv")
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "b" / "metrics" / "extra.csv")
    diff = tables.diff_run_tables(tmp_path / "a", tmp_path / "b").set_index("table")
    assert not diff.equal["t"] and diff.max_abs_diff["t"] == pytest.approx(0.1)
    assert diff.why["extra"] == "only in b"


def test_diff_run_tables_counts_equal_infinities_as_equal_and_unequal_ones_as_different(tmp_path):
    """A cliff beyond the grid is written as inf in both runs (cliff_log's bracket_ratio): the same value."""
    for run, ratio in (("a", [np.inf, -np.inf, 2.0]), ("b", [np.inf, -np.inf, 2.0]), ("c", [np.inf, np.inf, 2.0])):
        (tmp_path / run / "metrics").mkdir(parents=True)
        pd.DataFrame({"bracket_ratio": ratio}).to_csv(tmp_path / run / "metrics" / "t.csv", index=False)
    assert tables.diff_run_tables(tmp_path / "a", tmp_path / "b").equal.all()
    assert not tables.diff_run_tables(tmp_path / "a", tmp_path / "c").equal.any()


def test_budget_summary_names_the_layers_where_one_degree_collapses():
    budget = pd.DataFrame([
        {"model": "m", "layer": 9, "angle_half_predicted_deg": 0.8, "angle_half_simulated_deg": 0.75,
         "norm_w_over_s": 6000.0, "std_min": 1e-4, "collapse_at_1deg": True, "max_curve_gap": 0.01},
        {"model": "m", "layer": 18, "angle_half_predicted_deg": 40.0, "angle_half_simulated_deg": 41.0,
         "norm_w_over_s": 120.0, "std_min": 0.005, "collapse_at_1deg": False, "max_curve_gap": 0.02},
    ])
    text = summaries.budget_summary(budget)
    assert "layer 9: 0.8° predicted / 0.75° simulated (‖w/s‖ ≈ 6e+03, smallest std 0.0001)" in text
    assert "A 1° drift costs ≥ 5 AUC points at layer(s) 9." in text
    assert "within 0.020 AUC" in text
    assert "At no probed layer" in summaries.budget_summary(budget.assign(collapse_at_1deg=False))


def test_finetune_summary_reads_angles_resolution_and_separability():
    ft = pd.DataFrame([
        {"model": "g", "learning_rate": 0.0002, "step": 0, "angle_deg_mean": 0.0, "auc": 0.80, "auc_ci_low": 0.72,
         "auc_ci_high": 0.88, "retrain_auc": 0.80, "alarm_mmd": False},
        {"model": "g", "learning_rate": 0.0002, "step": 5, "angle_deg_mean": 0.4, "auc": 0.79, "auc_ci_low": 0.71,
         "auc_ci_high": 0.87, "retrain_auc": 0.80, "alarm_mmd": False},
        {"model": "g", "learning_rate": 0.001, "step": 5, "angle_deg_mean": 12.0, "auc": 0.60, "auc_ci_low": 0.50,
         "auc_ci_high": 0.70, "retrain_auc": 0.79, "alarm_mmd": True},
    ])
    sep = pd.DataFrame([{"metric": "fisher", "step": 5, "learning_rate": 0.001, "relative_change": -0.1,
                         "relative_change_low": -0.3, "relative_change_high": 0.1}])
    reference = pd.DataFrame({"auc_real": [0.79, 0.60], "auc_isotropic": [0.80, 0.70]})
    text = summaries.finetune_summary(ft, sep, reference)
    assert "starts at AUC 0.80 [0.72, 0.88]" in text
    assert "- learning rate 0.0002: step 5: 0.40° (AUC 0.79). At step 5 the AUC is 0.79 [0.71, 0.87] — not " \
           "resolved" in text
    assert "- learning rate 0.001: step 5: 12.00° (AUC 0.60). At step 5 the AUC is 0.60 [0.50, 0.70] — a change the " \
           "test texts resolve; retraining on the new embeddings gives 0.79; monitors that alarm: mmd." in text
    assert "moved the embeddings by 12.00° on average, more than the paper's ≈1°." in text
    assert "differs by -0.05 (median over 2 checkpoints, range -0.10 to -0.01)" in text
    assert "base → step 5: fisher -10% (range -30% to +10%, lr 0.001)" in text


def test_pair_comparison_without_pairs_keeps_its_columns():
    sep = pd.DataFrame({"model": ["a"], "layer": [1], "metric": ["fisher"], "value": [1.0], "ci_low": [0.5],
                        "ci_high": [1.5]})
    empty = tables.pair_comparison(sep, [])
    assert list(empty.columns) == tables.PAIR_COLUMNS and empty.empty
    assert "no base/instruct pair" in summaries.separability_summary(empty)


def test_diff_run_tables_leaves_timing_out_unless_asked_and_refuses_a_folder_that_is_no_run(tmp_path):
    for run, seconds, rate in (("a", 1.5, 0.05), ("b", 9.0, 0.05), ("c", 1.5, 0.06)):
        (tmp_path / run / "metrics").mkdir(parents=True)
        pd.DataFrame({"rate": [rate], "seconds": [seconds]}).to_csv(tmp_path / run / "metrics" / "t.csv", index=False)
    same = tables.diff_run_tables(tmp_path / "a", tmp_path / "b")
    assert same.equal.all() and "not compared: seconds" in same.why.iloc[0]
    assert not tables.diff_run_tables(tmp_path / "a", tmp_path / "b", ignore_columns=()).equal.any()
    assert not tables.diff_run_tables(tmp_path / "a", tmp_path / "c").equal.any()  # the study's own numbers
    with pytest.raises(ProbedriftError, match="no metrics/ folder"):
        tables.diff_run_tables(tmp_path, tmp_path / "a")
