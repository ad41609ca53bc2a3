"""Each chapter's "What this shows" text, computed from small fixture tables whose right sentences are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probedrift.core.errors import ProbedriftError
from probedrift.report import summaries, tables, wording


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


def test_drift_summary_reads_chance_from_the_relative_readings_interval():
    agg = _agg()
    rel = (agg.convention == "relative") & (agg.sigma == 0.02)
    above = summaries.drift_summary(agg.assign(auc_ci_low=np.where(rel, 0.74, np.nan),
                                               auc_ci_high=np.where(rel, 0.87, np.nan)))
    assert "AUC interval (over test texts and drift draws) lies above chance for **m**." in above
    straddles = summaries.drift_summary(agg.assign(auc_ci_low=0.45, auc_ci_high=0.6))
    assert "does not exclude chance (0.5) for **m**" in straddles
    assert "does not exclude chance (0.5) for **m**" in summaries.drift_summary(agg)  # no interval, no claim


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


NO_ALARMS = pd.DataFrame(columns=["model", "detector", "first_alarm_angle_deg"])


def _sweep_ends(conf0, conf1, auc0=0.8, auc1=0.6, se=0.01):
    """Two rows of the sweep summary (σ = 0 and the largest σ) with standard errors over texts and draws."""
    return pd.DataFrame([
        _agg_row("m", "gaussian", "per_dim", 0.0, auc0, 0.0, mean_confidence_mean=conf0,
                 mean_confidence_se_texts=se, mean_confidence_se_draws=0.0, auc_se_texts=0.03, auc_se_draws=0.0),
        _agg_row("m", "gaussian", "per_dim", 0.15, auc1, 70.0, mean_confidence_mean=conf1,
                 mean_confidence_se_texts=se / 2, mean_confidence_se_draws=se / 2, auc_se_texts=0.03,
                 auc_se_draws=0.01, silent_failure_share_mean=0.5, silent_failure_rate_mean=0.2)])


def test_silent_failures_summary_computes_the_confidence_drop_and_alarm_counts():
    agg = _sweep_ends(0.90, 0.81)
    alarms = pd.DataFrame({"model": "m", "detector": ["confidence", "confidence", "mmd", "mmd"],
                           "first_alarm_angle_deg": [np.nan, np.nan, 2.0, 4.0]})
    text = summaries.silent_failures_summary(agg, alarms, "m", tau=0.8)
    assert "mean confidence falls 10% (0.900 → 0.810; interval" in text
    assert "AUC falls 0.20 (0.80 → 0.60; interval" in text
    assert "50% of errors are made with confidence ≥ 0.8 (20% of all texts)" in text
    assert "The confidence monitor alarms in 0 of 2 drift settings." in text
    assert "MMD alarms in 2 of 2 drift settings, with a median first-alarm angle of 3.00°." in text
    assert "was not run" in summaries.silent_failures_summary(agg.assign(convention="relative"), alarms, "m", 0.8)


def test_a_confidence_that_rises_is_said_to_rise_unsigned():
    """The reference run's gemma: 0.932 → 0.960 was printed as 'falls -3%'."""
    agg = _sweep_ends(0.932, 0.960, se=0.0104)
    text = summaries.silent_failures_summary(agg, NO_ALARMS, "m", tau=0.8)
    assert "mean confidence rises 3% (0.932 → 0.960; interval +" in text
    assert "falls -" not in text and "rises -" not in text


def test_a_change_inside_its_interval_is_not_given_a_direction():
    agg = _sweep_ends(0.90, 0.89, se=0.02)  # Δ = -0.01, half-width ≈ 1.96·0.0245 ≈ 0.048
    text = summaries.silent_failures_summary(agg, NO_ALARMS, "m", tau=0.8)
    assert "mean confidence holds within its interval (0.900 → 0.890; -1%; interval -" in text
    assert "falls" not in text.split("while")[0]


def test_level_change_adds_both_levels_variances():
    before = pd.Series({"auc_mean": 0.8, "auc_se_texts": 0.03, "auc_se_draws": 0.0})
    after = pd.Series({"auc_mean": 0.7, "auc_se_texts": 0.02, "auc_se_draws": 0.01})
    change, lo, hi = summaries.level_change(before, after, "auc")
    half = stats.norm.ppf(0.975) * np.sqrt(0.03 ** 2 + 0.02 ** 2 + 0.01 ** 2)
    assert change == pytest.approx(-0.1)
    assert (lo, hi) == pytest.approx((-0.1 - half, -0.1 + half))
    assert np.isnan(summaries.level_change(before.drop("auc_se_texts"), after, "auc")[1])


def test_separability_summary_with_and_without_pairs():
    pairs = pd.DataFrame([{"metric": "fisher", "note": "cross-family", "base": "b", "instruct": "i",
                           "base_value": 10.0, "instruct_value": 8.0, "relative_change": -0.2,
                           "relative_change_low": -0.5, "relative_change_high": 0.1}])
    text = summaries.separability_summary(pairs)
    assert ("- fisher (cross-family) holds within its range (b 10.000 → i 8.000; -20%; range -50% to +10% includes 0)."
            in text)
    resolved = summaries.separability_summary(pairs.assign(relative_change_high=-0.05, base="org/b", instruct="/x/i/"))
    assert "- fisher (cross-family) falls 20% (b 10.000 → i 8.000; range -50% to -5%)." in resolved
    assert "no base/instruct pair" in summaries.separability_summary(pairs.iloc[:0])


def _mitigation_rows(source, method, auc, change, vs_frozen, k=np.nan):
    """One mitigations row with its paired changes: ``change`` and ``vs_frozen`` are (value, low, high)."""
    single = pd.isna(k)
    return {"source": source, "method": method, "k": k, "auc": auc, "ci_low": auc - 0.08, "ci_high": auc + 0.08,
            "mean_confidence": 0.9 if method != "recalibrate" else 0.7, "ece": 0.2 if method != "recalibrate" else 0.05,
            "alarm": method == "detector_gate",
            "interval": "stratified bootstrap over test texts" if single else "95% t-interval over anchor draws",
            "auc_change": change[0], "auc_change_ci_low": change[1], "auc_change_ci_high": change[2],
            "auc_vs_frozen": vs_frozen[0], "auc_vs_frozen_ci_low": vs_frozen[1], "auc_vs_frozen_ci_high": vs_frozen[2],
            "change_interval": "paired over the same stratified bootstrap resamples of the test texts"
                               + ("" if single else " and over the anchor draws")}


def _real_drift_fixture():
    """Three sources whose outcomes are known: `a` loses resolvably and silently, `b` moves most but its loss is
    not resolved, `d` gains; a skipped source; per source one retrain and one alignment verdict of each kind."""
    real = pd.DataFrame([
        {"source": "a", "angle_deg_mean": 0.5, "silent_failure_share": 0.9, "alarm_mmd": False, "note": "x"},
        {"source": "b", "angle_deg_mean": 30.0, "silent_failure_share": 0.4, "alarm_mmd": True, "note": "y"},
        {"source": "d", "angle_deg_mean": 10.0, "silent_failure_share": 0.3, "alarm_mmd": True, "note": "z"},
        {"source": "precision_bf16", "angle_deg_mean": np.nan, "silent_failure_share": np.nan, "alarm_mmd": np.nan,
         "note": "skipped: the run is on a CPU without native bfloat16 instructions"},
    ])
    zero = (0.0, 0.0, 0.0)
    outcomes = {  # source: frozen AUC, its change, retrain vs frozen, align (k = 8) vs frozen
        "a": (0.70, (-0.10, -0.15, -0.05), (0.10, 0.05, 0.15), (0.03, 0.01, 0.05)),
        "b": (0.78, (-0.02, -0.06, 0.02), (0.02, -0.01, 0.05), (-0.04, -0.06, -0.02)),
        "d": (0.84, (0.04, 0.01, 0.07), (-0.04, -0.07, -0.01), (0.0005, -0.01, 0.011)),
    }
    mit = []
    for src, (auc, change, retrain, align) in outcomes.items():
        minus = (-change[0], -change[2], -change[1])
        mit += [_mitigation_rows(src, "no_update", 0.80, zero, minus),
                _mitigation_rows(src, "frozen", auc, change, zero),
                _mitigation_rows(src, "retrain", auc + retrain[0], (change[0] + retrain[0], np.nan, np.nan), retrain),
                _mitigation_rows(src, "align", auc + align[0], (np.nan,) * 3, align, k=8),
                _mitigation_rows(src, "recalibrate", auc, change, zero),
                _mitigation_rows(src, "detector_gate", auc, change, zero)]
    reference = pd.DataFrame({"source": ["a", "b"], "auc_real": [0.7, 0.78], "auc_isotropic": [0.8, np.nan]})
    return real, pd.DataFrame(mit), reference


def test_real_drift_summary_judges_each_source_by_its_paired_interval():
    real, mit, reference = _real_drift_fixture()
    text = summaries.real_drift_summary(real, mit, reference, tau=0.8, n_test=120)
    assert "The 3 real changes moved the embeddings of the same texts by 0.50° (`a`) to 30.0° (`b`)" in text
    assert "the frozen probe's AUC falls for `a`, rises for `d` and is not resolved for `b`." in text
    # the largest loss and the largest move are different sources, each named for its own reason
    assert "The largest point loss was `a` (AUC 0.80 → 0.70 at 0.5°; it falls 0.10 (paired interval -0.15 to -0.05))" \
           in text
    assert "the change that moved the embeddings most was `b`." in text
    assert "silent losses (an AUC fall resolved by its paired interval, without any alarm): `a`." in text
    assert ("Skipped, with the reason: `precision_bf16` (the run is on a CPU without native bfloat16 instructions)."
            in text)


def test_real_drift_summary_counts_only_resolved_gains_per_anchor_size():
    """The reference run said 'aligning beat the frozen probe for 6 of 6 sources' from point AUCs (int8 by 0.0005)."""
    real, mit, reference = _real_drift_fixture()
    text = summaries.real_drift_summary(real, mit, reference, tau=0.8, n_test=120)
    assert ("retraining is better for 1, worse for 1, not resolved for 1 of 3 sources; anchor alignment with k = 8 "
            "anchors is better for 1, worse for 1, not resolved for 1 of 3 sources.") in text
    assert "beat the frozen probe" not in text
    resolved = mit[mit.method == "align"].assign(k=64, auc_vs_frozen_ci_low=0.01, auc_vs_frozen_ci_high=0.05)
    two_sizes = pd.concat([mit, resolved])
    text = summaries.real_drift_summary(real, two_sizes, reference, tau=0.8, n_test=120)
    assert "with k = 8 anchors is better for 1, worse for 1, not resolved for 1" in text
    assert "with k = 64 anchors is better for 3, worse for 0, not resolved for 0 of 3 sources." in text


def test_real_drift_summary_says_what_each_interval_covers():
    real, mit, reference = _real_drift_fixture()
    text = summaries.real_drift_summary(real, mit, reference, tau=0.8, n_test=120)
    assert "95% t-interval over anchor draws for `align`" in text
    assert "stratified bootstrap over test texts for `no_update`, `frozen`, `retrain`" in text
    assert "single AUC's interval is 0.16 wide (median)" in text
    assert "paired over the same stratified bootstrap resamples of the test texts and over the anchor draws" in text
    assert "are 0.08 wide (median) for the frozen probe" in text  # widths 0.10, 0.08, 0.06
    assert "differences smaller than that are not resolved" not in text  # the unpaired reading of chapter 3's warning


def test_real_drift_summary_of_a_table_without_paired_intervals_judges_nothing():
    real, mit, reference = _real_drift_fixture()
    old = mit.drop(columns=[c for c in mit.columns if c.startswith(("auc_change", "auc_vs_frozen", "change_"))])
    text = summaries.real_drift_summary(real, old, reference, tau=0.8, n_test=120)
    assert "no paired intervals" in text and "falls for" not in text and "better for" not in text


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


def _finetune_fixture():
    """The reference run's shape: two learning rates, each with its own step-0 row (the base itself)."""
    base = {"model": "google/gemma-3-270m", "step": 0, "angle_deg_mean": 0.0, "auc": 0.772, "auc_ci_low": 0.70,
            "auc_ci_high": 0.84, "retrain_auc": 0.772, "alarm_mmd": False, "auc_change": 0.0,
            "auc_change_ci_low": 0.0, "auc_change_ci_high": 0.0}
    rows = [base | {"learning_rate": 0.0002, "checkpoint": "lora lr=0.0002 step 0"},
            base | {"learning_rate": 0.001, "checkpoint": "lora lr=0.001 step 0"},
            # unpaired intervals overlap ([0.69, 0.83] and [0.70, 0.84]) and the paired change covers 0
            {"model": "google/gemma-3-270m", "learning_rate": 0.0002, "step": 5, "angle_deg_mean": 6.0, "auc": 0.763,
             "auc_ci_low": 0.69, "auc_ci_high": 0.83, "retrain_auc": 0.77, "alarm_mmd": False, "auc_change": -0.009,
             "auc_change_ci_low": -0.02, "auc_change_ci_high": 0.004, "checkpoint": "lora lr=0.0002 step 5"},
            # unpaired intervals overlap ([0.66, 0.81] and [0.70, 0.84]) but the paired change lies below 0
            {"model": "google/gemma-3-270m", "learning_rate": 0.001, "step": 5, "angle_deg_mean": 42.0, "auc": 0.740,
             "auc_ci_low": 0.66, "auc_ci_high": 0.81, "retrain_auc": 0.78, "alarm_mmd": True, "auc_change": -0.032,
             "auc_change_ci_low": -0.055, "auc_change_ci_high": -0.009, "checkpoint": "lora lr=0.001 step 5"}]
    sep = pd.DataFrame([{"metric": "fisher", "step": 5, "learning_rate": 0.001, "relative_change": -0.1,
                         "relative_change_low": -0.3, "relative_change_high": 0.1}])
    # the notebook's reference: every row of the table, step 0 included, named by its checkpoint
    reference = pd.DataFrame({"source": [r["checkpoint"] for r in rows], "auc_real": [0.772, 0.772, 0.763, 0.74],
                              "auc_isotropic": [0.772, 0.772, 0.75, 0.70]})
    return pd.DataFrame(rows), sep, reference


def test_finetune_summary_judges_the_change_by_its_paired_interval():
    ft, sep, reference = _finetune_fixture()
    text = summaries.finetune_summary(ft, sep, reference)
    assert "The frozen probe of **gemma-3-270m** starts at AUC 0.77 [0.70, 0.84]" in text
    assert ("- learning rate 1e-3: step 5: 42.00° (AUC 0.74). At step 5 the frozen probe's AUC falls 0.032 "
            "(0.772 → 0.740; paired interval -0.055 to -0.009) against the base; a fall is resolved at step(s) 5; "
            "retraining on the new embeddings gives 0.78; monitors that alarm: mmd.") in text
    assert ("- learning rate 2e-4: step 5: 6.00° (AUC 0.76). At step 5 the frozen probe's AUC holds within its paired "
            "interval (0.772 → 0.763; -0.009; paired interval -0.020 to +0.004 includes 0)") in text
    assert "0.0002" not in text and "0.000:" not in text
    assert "not resolved from the base" not in text  # the unpaired overlap rule of the old summary
    assert "moved the embeddings most (learning rate 1e-3, step 5) moved them by 42.00° on average, more than" in text
    assert "fisher holds within its range (-10%; range -30% to +10% includes 0) at learning rate 1e-3" in text


def test_finetune_summary_leaves_the_base_out_of_the_isotropic_comparison():
    """The reference run's "+0.03 median over 8 checkpoints" counted the two step-0 rows (differences of 0)."""
    ft, sep, reference = _finetune_fixture()
    text = summaries.finetune_summary(ft, sep, reference)
    gaps = [0.763 - 0.75, 0.74 - 0.70]
    assert (f"differs by {np.median(gaps):+.2f} (median over 2 checkpoints, step 0 left out; range {min(gaps):+.2f} to "
            f"{max(gaps):+.2f})") in text
    no_source = reference.drop(columns="source").assign(angle_deg_mean=ft.angle_deg_mean)
    assert "median over 2 checkpoints" in summaries.finetune_summary(ft, sep, no_source)


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


# ------------------------------------------------------------------------------------------------ wording


@pytest.mark.parametrize("low, high, word", [(0.01, 0.05, "rises"), (-0.05, -0.01, "falls"), (-0.01, 0.01, "holds"),
                                             (0.0, 0.05, "holds"), (-0.05, 0.0, "holds"), (np.nan, 0.1, "holds"),
                                             (None, None, "holds")])
def test_direction_reads_only_the_interval(low, high, word):
    assert wording.direction(low, high) == word
    assert wording.direction(low, high, ("up", "down", "flat")) == {"rises": "up", "falls": "down",
                                                                    "holds": "flat"}[word]


def test_direction_refuses_an_inverted_interval():
    with pytest.raises(ProbedriftError, match="inverted"):
        wording.direction(0.2, 0.1)


def test_change_words_print_the_number_unsigned_beside_its_word():
    assert wording.change_words(-0.0312, -0.05, -0.01) == "falls 0.03 (interval -0.05 to -0.01)"
    assert wording.change_words(0.03, 0.01, 0.05, fmt=".0%", detail="0.93 → 0.96") == \
        "rises 3% (0.93 → 0.96; interval +1% to +5%)"
    assert wording.change_words(0.01, -0.02, 0.04) == \
        "holds within its interval (+0.01; interval -0.02 to +0.04 includes 0)"
    assert "no range" in wording.change_words(0.01, np.nan, 0.04, interval_name="range")
    assert wording.change_words(0.0, 0.0, 0.0, detail="0.70 → 0.70") == "holds (0.70 → 0.70; no change on any resample)"


@pytest.mark.parametrize("name, short", [("Qwen/Qwen3-0.6B", "Qwen3-0.6B"), ("/data/models/my-model/", "my-model"),
                                         ("gemma-3-270m", "gemma-3-270m"), ("./runs/enc", "enc"),
                                         ("C:\\models\\enc", "enc")])
def test_short_name_strips_the_organisation_and_the_directory(name, short):
    assert wording.short_name(name) == short


@pytest.mark.parametrize("lr, text", [(2e-4, "2e-4"), (1e-3, "1e-3"), (5e-3, "5e-3"), (1.5e-5, "1.5e-5"),
                                      (3.14159e-4, "3.14e-4")])
def test_learning_rates_stay_readable(lr, text):
    assert wording.fmt_lr(lr) == text
    assert float(text) == pytest.approx(lr, rel=5e-3)


def test_a_learning_rate_must_be_positive():
    with pytest.raises(ProbedriftError, match="learning rate"):
        wording.fmt_lr(0.0)


def test_every_summary_prints_short_model_names():
    hub, local = "org/model-a", "/tmp/models/model-b/"
    extraction = pd.DataFrame({"model": [hub], "width": [64], "blocks": [2], "seconds": [1.0]})
    baseline = pd.DataFrame({"model": hub, "metric": ["auc", "mean_confidence", "ece", "silent_failure_share"],
                             "value": [0.8, 0.9, 0.1, 0.5], "ci_low": [0.7, 0.8, 0.05, 0.4],
                             "ci_high": [0.9, 0.95, 0.15, 0.6]})
    agg = _agg().assign(model=local)
    budget = pd.DataFrame([{"model": hub, "layer": 2, "angle_half_predicted_deg": 1.0, "angle_half_simulated_deg": 1.0,
                            "norm_w_over_s": 1.0, "std_min": 0.1, "collapse_at_1deg": False, "max_curve_gap": 0.0}])
    pairs = pd.DataFrame([{"metric": "fisher", "note": "n", "base": hub, "instruct": local, "base_value": 1.0,
                           "instruct_value": 0.8, "relative_change": -0.2, "relative_change_low": -0.3,
                           "relative_change_high": -0.1}])
    texts = [summaries.embeddings_summary("d", 10, extraction, 0.5), summaries.probes_summary(baseline, 0.8),
             summaries.drift_summary(agg), summaries.budget_summary(budget),
             summaries.silent_failures_summary(_sweep_ends(0.9, 0.8).assign(model=local), NO_ALARMS, local, 0.8),
             summaries.separability_summary(pairs),
             summaries.finetune_summary(_finetune_fixture()[0].assign(model=hub), _finetune_fixture()[1])]
    for text in texts:
        assert "model-a" in text or "model-b" in text
        assert "org/" not in text and "/tmp/" not in text
