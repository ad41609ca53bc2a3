"""The "Key findings" box and the Discussion's numbers, computed from small fixture tables whose numbers are known."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from probedrift.report import findings


def _summary_row(model, t, c, sigma, angle, auc, share, rate=0.2, acc=0.73):
    return {"model": model, "drift_type": t, "convention": c, "sigma": sigma, "n_seeds": 3,
            "angle_deg_mean_mean": angle, "angle_deg_mean_ci_low": angle * 0.99, "angle_deg_mean_ci_high": angle * 1.01,
            "auc_mean": auc, "auc_ci_low": auc - 0.07, "auc_ci_high": auc + 0.07,
            "silent_failure_share_mean": share, "silent_failure_share_ci_low": share - 0.1,
            "silent_failure_share_ci_high": share + 0.1, "silent_failure_rate_mean": rate, "accuracy_mean": acc}


def _sweep():
    """Three drift seeds; per_dim AUC falls 0.81 → 0.51 between 20° and 60° (20-point fall at 40°, 45°, 50°)."""
    rows = []
    for seed, cross in enumerate((0.6, 0.5, 0.4)):  # the fraction of the 20→60° step at which AUC hits 0.61
        drop_at_60 = 0.20 / cross
        for s, a, auc in ((0.0, 0.0, 0.81), (0.02, 20.0, 0.81), (0.15, 60.0, 0.81 - drop_at_60)):
            rows.append({"model": "m", "drift_type": "gaussian", "convention": "per_dim", "sigma": s, "seed": seed,
                         "angle_deg_mean": a, "auc": auc})
        for s, a in ((0.0, 0.0), (0.02, 1.15), (0.15, 8.5)):
            rows.append({"model": "m", "drift_type": "gaussian", "convention": "relative", "sigma": s, "seed": seed,
                         "angle_deg_mean": a, "auc": 0.81})
    return pd.DataFrame(rows)


@pytest.fixture()
def run_dir(tmp_path):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    pd.DataFrame([
        _summary_row("m", "gaussian", "per_dim", 0.0, 0.0, 0.81, 0.84, rate=0.22),
        _summary_row("m", "gaussian", "relative", 0.0, 0.0, 0.81, 0.84),
        _summary_row("m", "gaussian", "per_dim", 0.02, 26.8, 0.74, 0.79),
        _summary_row("m", "gaussian", "relative", 0.02, 1.14, 0.806, 0.80),
        _summary_row("m", "rotation", "true", 0.15, 13.5, 0.76, 0.78),
        _summary_row("m", "rotation", "paper_literal", 0.15, 13.48, 0.78, 0.78),
    ]).to_csv(metrics / "drift_sweep_summary.csv", index=False)
    _sweep().to_csv(metrics / "drift_sweep.csv", index=False)
    pd.DataFrame([
        {"model": "m", "layer": 4, "pooling": "last_token", "angle_half_predicted_deg": 0.91, "std_min": 1.4e-4,
         "norm_w_over_s": 14268.0, "collapse_at_1deg": True},
        {"model": "m", "layer": 18, "pooling": "last_token", "angle_half_predicted_deg": 45.5, "std_min": 5e-3,
         "norm_w_over_s": 283.0, "collapse_at_1deg": False},
    ]).to_csv(metrics / "drift_budget.csv", index=False)
    pd.DataFrame([
        {"source": "precision_int8", "angle_deg_mean": 31.26, "auc": 0.72, "note": "float32 → int8"},
        {"source": "chat_template", "angle_deg_mean": 59.4, "auc": 0.59, "note": "raw → chat"},
        {"source": "precision_bf16", "angle_deg_mean": 0.0, "auc": 0.0, "note": "skipped: no GPU"},
    ]).to_csv(metrics / "real_drift.csv", index=False)
    pd.DataFrame([
        {"source": "precision_int8", "method": "no_update", "auc": 0.81},
        {"source": "chat_template", "method": "no_update", "auc": 0.79},
    ]).to_csv(metrics / "mitigations.csv", index=False)
    pd.DataFrame([{"model": "m", "metric": "auc", "value": 0.81, "ci_low": 0.74, "ci_high": 0.89, "n_test": 120}]) \
        .to_csv(metrics / "probe_baseline.csv", index=False)
    (tmp_path / "provenance.json").write_text(json.dumps({"parameters": {"tau": 0.8}}))
    return tmp_path


def _bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- **")]


def test_key_findings_box_opens_with_a_verdict_and_has_at_most_six_bullets(run_dir):
    text = findings.key_findings_markdown(run_dir)
    assert text.startswith(":::{admonition} Key findings") and text.rstrip().endswith(":::")
    verdict = text.split("\n\n")[1]
    assert verdict.startswith("The paper claims that a drift of σ = 0.02")
    # no layer_collapse table: the verdict falls back on the sweep, both readings' AUC intervals above chance
    assert "Neither reading reproduces" in verdict
    assert len(_bullets(text)) == 6


def test_key_findings_box_quotes_angles_aucs_and_intervals(run_dir):
    text = findings.key_findings_markdown(run_dir)
    assert ("m: clean AUC 0.81 [0.74, 0.88]; 26.8° [26.5, 27.1°] (per-dimension), AUC 0.74 [0.67, 0.81]; "
            "1.14° [1.13, 1.15°] (relative), AUC 0.81 [0.74, 0.88]") in text
    assert "**No collapse to chance at σ = 0.02.**" in text  # every interval lies above 0.55
    # arctan(0.02·√d), computed, at the paper's widths
    assert "30.9° at d = 896" in text and "32.6° at d = 1,024" in text and "45.3° at d = 2,560" in text


def test_the_head_of_the_sigma_bullet_follows_the_interval_not_the_point(run_dir):
    agg = pd.read_csv(run_dir / "metrics" / "drift_sweep_summary.csv")
    per = (agg.convention == "per_dim") & (agg.sigma == 0.02)
    agg.loc[per, ["auc_mean", "auc_ci_low", "auc_ci_high"]] = [0.62, 0.54, 0.70]  # point above, interval into 0.55
    agg.to_csv(run_dir / "metrics" / "drift_sweep_summary.csv", index=False)
    text = findings.key_findings_markdown(run_dir)
    assert "No collapse to chance" not in text and "A collapse to chance" not in text
    assert "**What σ = 0.02 means and does.**" in text


def test_key_findings_silent_share_without_drift_and_no_typed_cause(run_dir):
    text = findings.key_findings_markdown(run_dir)
    assert ("m: 84 [74, 94]% of the errors are confident (≥ 0.8) without drift, most of them already before any "
            "drift; the paired change drift makes is not in this run") in text
    assert "overconfidence, not the drift" not in text


def test_key_findings_cliff_angle_has_a_t_interval_over_seeds(run_dir):
    text = findings.key_findings_markdown(run_dir)
    # Per-seed cliffs at 44°, 40° and 36° (20° + 0.6/0.5/0.4 of the 40° step): mean 40°, t-interval ± 9.94°.
    cl = findings.seed_cliff_angles(_sweep())
    per = cl[cl.convention == "per_dim"].sort_values("seed").angle_deg.round(6).tolist()
    assert per == [44.0, 40.0, 36.0]
    assert "m: at 40.0° [30.1, 49.9°] (per-dimension), never within 8.50° (relative)" in text
    # the paper's cliff σ range, as angles under each reading (arctan σ; arctan(σ√d) at d = 896 and 2,560)
    assert "0.6–1.6° under the relative reading, but 17–55° under its per-dimension formula" in text


def test_key_findings_budget_real_updates_and_missing_tables(run_dir):
    text = findings.key_findings_markdown(run_dir)
    assert "m: 45.5° at the last probed layer (18), 0.91° at layer 4" in text
    assert "the closed form predicts a 1° drift to cost at least 5 AUC points at m layer 4" in text
    assert ("`chat_template` moved embeddings the most (59.4°) and also cost the frozen probe the most AUC "
            "(0.79 → 0.59") in text
    assert "precision_bf16" not in text
    assert "The fine-tuning chapter is not in this run." in text
    assert "A base/instruct pair is not in this run." in text


def test_budget_finding_names_no_smaller_earlier_layer():
    budget = pd.DataFrame([
        {"model": "m", "layer": 2, "angle_half_predicted_deg": 57.4, "std_min": 1.7e-2, "norm_w_over_s": 54.1,
         "collapse_at_1deg": False},
        {"model": "m", "layer": 3, "angle_half_predicted_deg": 57.3, "std_min": 2e-2, "norm_w_over_s": 50.0,
         "collapse_at_1deg": False},
    ])
    text = findings._budget_finding(budget)
    assert "m: 57.3° at the last probed layer (3);" in text and "layer 2" not in text
    assert "at no probed layer does the closed form predict a 1° drift to cost 5 AUC points" in text


def test_key_findings_of_an_empty_run_degrade_to_not_in_this_run(tmp_path):
    text = findings.key_findings_markdown(tmp_path)
    bullets = _bullets(text)
    assert len(bullets) == 6 and all("not in this run" in b for b in bullets)
    assert "**What σ = 0.02 means and does.**" in text


def test_model_names_print_short(run_dir):
    agg = pd.read_csv(run_dir / "metrics" / "drift_sweep_summary.csv").assign(model="/home/me/models/org/tiny-enc/")
    agg.to_csv(run_dir / "metrics" / "drift_sweep_summary.csv", index=False)
    text = findings.key_findings_markdown(run_dir) + findings.discussion_numbers_markdown(run_dir)
    assert "tiny-enc: clean AUC" in text and "**tiny-enc**" in text and "/home/me" not in text


def test_discussion_numbers_derive_the_width_and_compare_share_with_rate(run_dir):
    text = findings.discussion_numbers_markdown(run_dir)
    assert "moves embeddings by 26.8°, so tan θ / σ = 25.3, i.e. ‖ε‖ ≈ σ√d with d ≈ 638" in text
    assert "(arctan σ = 1.15°)" in text
    assert "the paper's literal formula moves embeddings by 13.5° (AUC 0.78), a true rotation by exactly 13.5° " \
           "(AUC 0.76)" in text
    assert "84% of the errors are confident (the share) but only 22% of all texts" in text
    assert "This run scores 120 test texts per model (the paper: 2,000); the 95% bootstrap interval of a clean " \
           "AUC is m 0.15 wide" in text


def test_cliff_finding_prefers_the_log_grid_table_when_the_run_has_it():
    from probedrift.report.findings import _cliff_finding

    rows = []
    for conv, angle in (("per_dim", 12.0), ("relative", float("nan"))):
        rows.append({"model": "m", "drift_type": "gaussian", "convention": conv, "criterion": "half_excess",
                     "angle_deg": angle, "angle_deg_ci_low": 10.0, "angle_deg_ci_high": 14.0, "max_angle_deg": 8.52})
    text = _cliff_finding(None, cliff_log=pd.DataFrame(rows))
    assert "half its excess AUC lost at 12.0° [10.0, 14.0°] (per-dimension)" in text
    assert "not half its excess lost within 8.52° (relative)" in text
