"""The paper-vs-study table: every verdict rule on tiny run tables whose right verdicts are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from probedrift.report.compare import BANDS, COLUMNS, paper_vs_study, to_markdown
from probedrift.report.verdicts import VERDICTS
from probedrift.run.params import Pair, load_params
from probedrift.science.sweep import SWEEP_COLUMNS

MODEL = "m-base"
SEEDS = (0, 1, 2)
NOISE = {0: -0.01, 1: 0.0, 2: 0.01}
# smoke: linspace(0, 0.15, 4) ∪ {0.01, 0.02}; checkpoint 1 is σ = 0.05.
GRID = (0.0, 0.01, 0.02, 0.05, 0.10, 0.15)
CHECKPOINT = 0.05
READINGS = (("gaussian", "per_dim"), ("gaussian", "relative"), ("directional", "random"),
            ("rotation", "paper_literal"))

SAME = "same family and size"
CROSS = "cross-family (size, width and data differ too)"


def _values(t: str, c: str, sigma: float, seed: int) -> dict:
    """A run that matches the paper under its formula: AUC 0.85 → 0.50 by σ = 0.02, 14% confidence drop,
    72% share, 38.4% rate, 22.6% ECE at checkpoint 1; the relative reading barely moves."""
    n = NOISE[seed] if sigma > 0 else 0.0
    drifted = sigma > 0
    if (t, c) == ("gaussian", "relative"):
        auc, angle = 0.85 - sigma + n, math.degrees(math.atan(sigma)) + n / 100
    elif (t, c) == ("gaussian", "per_dim"):
        auc = 0.85 if not drifted else (0.70 if sigma == 0.01 else 0.50) + n
        angle = 1400 * sigma + n
    else:
        auc, angle = (0.49 + n if drifted else 0.85), 1400 * sigma + n
    at_cp = drifted and sigma >= CHECKPOINT
    return {"angle_deg_mean": angle, "angle_deg_median": angle, "auc": auc, "accuracy": 0.6, "f1": 0.6,
            "mean_confidence": 0.73 + n if at_cp else 0.85,
            "silent_failure_share": 0.72 + n if at_cp else 0.30,
            "silent_failure_rate": 0.384 + n if at_cp else 0.05,
            "ece": 0.226 + n if at_cp else 0.012}


def _run(tmp_path, tweak=None, *, seeds=SEEDS, grid=GRID, readings=READINGS, pairs=None, baseline=True):
    """Write drift_sweep.csv (and probe_baseline.csv, pairs.csv) under tmp_path/metrics and return the dir.

    ``tweak(row)`` may change a sweep row in place; ``pairs`` is a list of
    (base, instruct, note, metric, relative_change, low, high)."""
    d = tmp_path / "metrics"
    d.mkdir(exist_ok=True)
    rows = []
    for t, c in readings:
        for sigma in grid:
            for seed in seeds:
                row = {"model": MODEL, "drift_type": t, "convention": c, "sigma": sigma, "seed": seed,
                       **_values(t, c, sigma, seed)}
                if tweak:
                    tweak(row)
                rows.append(row)
    pd.DataFrame(rows, columns=list(SWEEP_COLUMNS)).to_csv(d / "drift_sweep.csv", index=False)
    if baseline:
        pd.DataFrame([{"model": MODEL, "metric": "auc", "value": 0.85, "ci_low": 0.82, "ci_high": 0.88,
                       "n_test": 100, "seed": 42}]).to_csv(d / "probe_baseline.csv", index=False)
    if pairs is not None:
        pd.DataFrame([{"base": b, "instruct": i, "note": note, "metric": m, "base_value": 1.0, "base_ci_low": 0.9,
                       "base_ci_high": 1.1, "instruct_value": 1 + rel, "instruct_ci_low": 1 + lo,
                       "instruct_ci_high": 1 + hi, "relative_change": rel, "relative_change_low": lo,
                       "relative_change_high": hi} for b, i, note, m, rel, lo, hi in pairs]
                     ).to_csv(d / "pairs.csv", index=False)
    return d


def _params(pairs=()):
    return load_params("smoke").replace(models=(MODEL,), pairs=tuple(pairs))


def _one(df: pd.DataFrame, claim_start: str, model: str = MODEL) -> pd.Series:
    rows = df[df.claim.str.startswith(claim_start) & (df.model == model)]
    assert len(rows) == 1, (claim_start, model, df[["claim", "model"]].to_string())
    return rows.iloc[0]


def _verdict(df, claim_start, model=MODEL):
    return _one(df, claim_start, model).verdict


COLLAPSE = "AUC at σ = 0.02 (the paper's formula)"
COLLAPSE_REL = "AUC at σ = 0.02 (the abstract's"
ANGLE = "σ = 0.02 is ≈ 1° of angle (the paper's formula)"
ANGLE_REL = "σ = 0.02 is ≈ 1° of angle (the abstract's"
CLIFF = "the cliff: 85% → 50% between σ ≈ 0.01 and 0.028 (the paper's formula)"
CLIFF_REL = "the cliff: 85% → 50% between σ ≈ 0.01 and 0.028 (the abstract's"
CONF = "mean confidence drops only 14%"
SHARE = "72% of errors"
RATE = "38.4% of all texts"
ECE = "ECE rises"
INVARIANCE = "all drift types fail alike"
SEP = "instruct models separate ~20% worse"


# --------------------------------------------------------------------------- shape of the table


def test_every_row_has_the_columns_and_every_judged_row_a_band(tmp_path):
    pairs = [("b", "i", SAME, "silhouette", -0.20, -0.25, -0.15), ("b", "i", SAME, "fisher", -0.20, -0.24, -0.16)]
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME)]))
    assert list(df.columns) == COLUMNS
    assert set(df.verdict) <= set(VERDICTS)
    assert df.rule.str.len().gt(0).all()
    judged = df[df.verdict != "context"]
    assert np.isfinite(judged.band_low.astype(float)).all() and np.isfinite(judged.band_high.astype(float)).all()
    assert (judged.band_low.astype(float) <= judged.band_high.astype(float)).all()
    censored = np.isinf(judged.ci_high.astype(float))  # a cliff beyond the grid has a bound, not a value
    measured = ~censored & ~judged.why.str.contains("not in this run")
    assert censored.sum() == 1 and np.isfinite(judged.value.astype(float)[measured]).all()
    ok = judged[judged.verdict.isin(["agrees", "disagrees"])]
    assert np.isfinite(ok.ci_low.astype(float)).all() and (ok.ci_low <= ok.ci_high).all()
    assert "interval" in " ".join(judged.why)
    assert (df.groupby(["claim", "model"]).size() == 1).all()


def test_a_run_that_matches_the_paper_gets_the_expected_verdicts(tmp_path):
    df = paper_vs_study(_run(tmp_path), _params())
    # the levels of claims of change are context; their paired changes need claim_changes (not in this run)
    expected = {COLLAPSE: "agrees", COLLAPSE_REL: "disagrees", ANGLE: "disagrees", ANGLE_REL: "context",
                CLIFF: "agrees", CLIFF_REL: "disagrees", CONF: "context", SHARE: "context", RATE: "context",
                ECE: "context", INVARIANCE: "agrees", "clean ROC-AUC": "context",
                "paired change: " + CONF: "unresolved", "paired change: ECE": "unresolved"}
    got = {claim: _verdict(df, claim) for claim in expected}
    assert got == expected
    clean = _one(df, "clean ROC-AUC")
    assert clean.value == pytest.approx(0.85) and math.isnan(clean.band_low)
    conf = _one(df, CONF)
    assert conf.value == pytest.approx(0.12 / 0.85, abs=1e-9) and conf.ci_low < conf.value < conf.ci_high
    cliff = _one(df, CLIFF)
    assert cliff.value == pytest.approx(0.0125, abs=1e-9) and cliff.ci_low < 0.0125 < cliff.ci_high
    assert "per-seed" in cliff.why and "per-seed" in conf.why


# --------------------------------------------------------------------------- collapse at σ = 0.02


def _auc_at_002(value):
    def tweak(r):
        if (r["convention"], r["sigma"]) == ("per_dim", 0.02):
            r["auc"] = value + NOISE[r["seed"]]
    return tweak


def test_collapse_agrees_when_every_seed_is_near_chance(tmp_path):
    r = _one(paper_vs_study(_run(tmp_path, _auc_at_002(0.50)), _params()), COLLAPSE)
    assert r.verdict == "agrees"
    assert (r.band_low, r.band_high) == (0.45, 0.55)
    assert 0.45 <= r.ci_low < r.value < r.ci_high <= 0.55
    assert "[0.45, 0.55]" in r.rule and "drift seeds" in r.why


def test_collapse_disagrees_at_074(tmp_path):
    r = _one(paper_vs_study(_run(tmp_path, _auc_at_002(0.74)), _params()), COLLAPSE)
    assert r.verdict == "disagrees" and r.value == pytest.approx(0.74)
    assert r.ci_low > 0.55


def test_collapse_is_unresolved_when_the_interval_straddles_the_band_edge(tmp_path):
    def tweak(r):
        if (r["convention"], r["sigma"]) == ("per_dim", 0.02):
            r["auc"] = 0.55 + 2 * NOISE[r["seed"]]
    r = _one(paper_vs_study(_run(tmp_path, tweak), _params()), COLLAPSE)
    assert r.ci_low < 0.55 < r.ci_high
    assert r.value == pytest.approx(0.55)  # the point value alone would sit inside the band
    assert r.verdict == "unresolved"


def test_a_single_drift_seed_gives_no_interval_and_no_verdict(tmp_path):
    df = paper_vs_study(_run(tmp_path, _auc_at_002(0.50), seeds=(0,)), _params())
    for claim in (COLLAPSE, ANGLE, CLIFF):
        r = _one(df, claim)
        assert r.verdict == "unresolved", claim
        assert "no interval" in r.why, claim
        assert np.isfinite(r.value) and math.isnan(r.ci_low) and math.isnan(r.ci_high), claim
    assert _one(df, COLLAPSE).value == pytest.approx(0.49)


# --------------------------------------------------------------------------- angle and context rows


def test_the_angle_under_the_papers_formula_is_judged_by_its_interval(tmp_path):
    def tweak(r):
        if (r["convention"], r["sigma"]) == ("per_dim", 0.02):
            r["angle_deg_mean"] = 1.0 + NOISE[r["seed"]] * 5
    r = _one(paper_vs_study(_run(tmp_path, tweak), _params()), ANGLE)
    assert r.verdict == "agrees" and (r.band_low, r.band_high) == (0.5, 2.0)
    r = _one(paper_vs_study(_run(tmp_path), _params()), ANGLE)
    assert r.verdict == "disagrees" and r.value == pytest.approx(28.0)


def test_the_relative_angle_and_the_clean_auc_are_context_even_when_they_match(tmp_path):
    df = paper_vs_study(_run(tmp_path), _params())
    rel = _one(df, ANGLE_REL)
    assert rel.verdict == "context" and 1.0 < rel.value < 1.3
    assert "construction" in rel.rule and rel.band == "—"
    clean = _one(df, "clean ROC-AUC")
    assert clean.verdict == "context" and "0.85 [0.82, 0.88]" == clean["this study"]


# --------------------------------------------------------------------------- checkpoint-1 figures


def test_share_rate_and_ece_levels_are_context_with_their_interval(tmp_path):
    def tweak(r):
        if r["convention"] == "per_dim" and r["sigma"] == CHECKPOINT:
            r["silent_failure_share"] = 0.72 + 17 * NOISE[r["seed"]]
    df = paper_vs_study(_run(tmp_path, tweak), _params())
    for claim in (SHARE, RATE, ECE, CONF):
        r = _one(df, claim)
        assert r.verdict == "context" and r.band == "—" and "paired" in r.rule, claim
        assert np.isfinite(r.ci_low) and r.ci_low < r.value < r.ci_high, claim
    assert _one(df, SHARE).value == pytest.approx(0.72)


def _changes(monkeypatch, rows):
    """Serve ``rows`` (claim_changes records) as the run's claim_changes table."""
    from probedrift.report import claim_rows

    table = pd.DataFrame([{"model": MODEL, "design": "paper split", "c_rule": "paper", "c": 1.0,
                           "convention": "per_dim", "sigma": 0.02, "n_texts": 100, "n_draws": 3,
                           "interval": "95% paired interval over test texts and drift draws", **r} for r in rows])
    real = claim_rows.optional_table
    monkeypatch.setattr(claim_rows, "optional_table",
                        lambda run_dir, name: table if name == "claim_changes" else real(run_dir, name))


def _change(metric, clean, drifted, lo, hi, **kw):
    return {"metric": metric, "clean": clean, "clean_ci_low": clean - 0.05, "clean_ci_high": clean + 0.05,
            "drifted": drifted, "drifted_ci_low": drifted - 0.05, "drifted_ci_high": drifted + 0.05,
            "change": drifted - clean, "change_ci_low": lo, "change_ci_high": hi, **kw}


def test_changes_are_judged_on_their_paired_interval_under_both_c_rules(tmp_path, monkeypatch):
    _changes(monkeypatch, [
        _change("ece", 0.012, 0.226, 0.16, 0.27),  # +21.4 points, interval inside [11.4, 31.4]: agrees
        _change("ece", 0.012, 0.226, 0.16, 0.27, c_rule="validation", c=0.1),
        _change("mean_confidence", 0.85, 0.88, 0.01, 0.05),  # confidence rises: the 14% drop disagrees
        _change("silent_failure_share", 0.70, 0.72, -0.03, 0.07),  # the share may or may not rise
        _change("silent_failure_rate", 0.05, 0.30, 0.20, 0.30),  # the rate rises: agrees
    ])
    df = paper_vs_study(_run(tmp_path), _params())
    ece = df[df.claim.str.startswith("paired change: ECE")]
    assert len(ece) == 2 and set(ece.verdict) == {"agrees"}
    assert ece.convention.str.contains("the paper's C").sum() == 1
    assert ece.convention.str.contains("C chosen on the validation split").sum() == 1
    conf = _one(df, "paired change: " + CONF)
    assert conf.verdict == "disagrees" and conf.value == pytest.approx(0.03 / 0.85)
    assert conf.ci_low == pytest.approx(0.01 / 0.85) and (conf.band_low, conf.band_high) == (-0.21, -0.07)
    assert _one(df, "paired change: 72%").verdict == "unresolved"
    assert _one(df, "paired change: 38.4%").verdict == "agrees"
    assert "paired" in conf.why and "100 texts" in conf.why


# --------------------------------------------------------------------------- invariance and cliff


@pytest.mark.parametrize(("auc", "expected"), [(0.80, "disagrees"), (0.58, "unresolved"), (0.49, "agrees")])
def test_invariance_needs_every_drift_type_inside_the_band(tmp_path, auc, expected):
    def tweak(r):
        if r["drift_type"] == "rotation" and r["sigma"] == 0.15:
            r["auc"] = auc + NOISE[r["seed"]]
    r = _one(paper_vs_study(_run(tmp_path, tweak), _params()), INVARIANCE)
    assert r.verdict == expected
    assert "rotation" in r["this study"] and "directional" in r["this study"]


def test_invariance_cannot_agree_when_a_paper_drift_type_was_not_run(tmp_path):
    r = _one(paper_vs_study(_run(tmp_path, readings=READINGS[:3]), _params()), INVARIANCE)
    assert r.verdict == "unresolved" and "rotation/paper_literal not run" in r.why


def test_a_cliff_some_seeds_never_reach_is_unresolved(tmp_path):
    def tweak(r):
        if r["convention"] == "per_dim" and r["seed"] == 2 and r["sigma"] > 0:
            r["auc"] = 0.80
    r = _one(paper_vs_study(_run(tmp_path, tweak), _params()), CLIFF)
    assert r.verdict == "unresolved" and "1 of 3 drift seeds never fall" in r.why


def test_a_cliff_no_seed_reaches_lies_beyond_the_grid(tmp_path):
    r = _one(paper_vs_study(_run(tmp_path), _params()), CLIFF_REL)
    assert r.verdict == "disagrees" and r.ci_low == pytest.approx(0.15) and math.isinf(r.ci_high)


# --------------------------------------------------------------------------- separability


FISHER = "fisher: base → instruct (debiased ratio)"
FISHER_RAW = "fisher_raw: base → instruct (paper's formula)"


def _pair_rows(note, sil, fis, raw=None):
    rows = [("b", "i", note, "silhouette", *sil), ("b", "i", note, "fisher", *fis)]
    return rows + ([("b", "i", note, "fisher_raw", *raw)] if raw is not None else [])


def _sep(df, claim):
    return _one(df, claim, model="b → i")


def test_a_cross_family_pair_is_context_whatever_its_numbers(tmp_path):
    pairs = _pair_rows(CROSS, (-0.20, -0.22, -0.18), (-0.20, -0.22, -0.18), (-0.10, -0.12, -0.08))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", CROSS)]))
    rows = df[df.model == "b → i"]
    assert len(rows) == 4 and set(rows.verdict) == {"context"}
    assert _sep(df, FISHER_RAW).value == pytest.approx(-0.10)
    assert "paper's raw" in _sep(df, FISHER_RAW).why and "debiased" in _sep(df, FISHER).why
    assert all("a cross-family pair cannot isolate instruction tuning" in w for w in rows.why)
    assert _sep(df, "silhouette").value == pytest.approx(-0.20)


def test_a_pair_without_same_family_in_its_note_is_context(tmp_path):
    pairs = _pair_rows("size differs", (-0.20, -0.22, -0.18), (-0.20, -0.22, -0.18))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", "size differs")]))
    assert set(df[df.model == "b → i"].verdict) == {"context"}


def test_a_same_family_pair_agrees_when_both_measures_fall_about_20_percent(tmp_path):
    pairs = _pair_rows(SAME, (-0.20, -0.25, -0.15), (-0.21, -0.24, -0.17))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME)]))
    assert [_sep(df, c).verdict for c in (SEP, "silhouette", FISHER)] == ["agrees"] * 3
    r = _sep(df, SEP)
    assert (r.band_low, r.band_high) == (-0.35, -0.05)
    assert (r.ci_low, r.ci_high) == (-0.25, -0.15)


def test_a_same_family_pair_does_not_agree_when_one_measure_rises(tmp_path):
    pairs = _pair_rows(SAME, (-0.20, -0.25, -0.15), (0.10, 0.05, 0.15))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME)]))
    assert _sep(df, "silhouette").verdict == "agrees"
    assert _sep(df, FISHER).verdict == "disagrees"
    assert _sep(df, SEP).verdict == "disagrees"


def test_a_same_family_pair_with_one_wide_interval_is_unresolved(tmp_path):
    pairs = _pair_rows(SAME, (-0.20, -0.25, -0.15), (-0.20, -0.60, 0.20))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME)]))
    assert _sep(df, FISHER).verdict == "unresolved" and _sep(df, SEP).verdict == "unresolved"


def test_the_debiased_fisher_ratio_is_judged_and_the_raw_formula_shown_beside_it(tmp_path):
    # the raw formula's change is inside the band and the debiased one outside: only the debiased decides
    pairs = _pair_rows(SAME, (-0.20, -0.25, -0.15), (0.10, 0.05, 0.15), raw=(-0.20, -0.24, -0.16))
    d = _run(tmp_path, pairs=pairs)
    frame = pd.read_csv(d / "pairs.csv")
    frame.loc[frame.metric == "fisher_raw", "base_value"] = 3.0  # raw − debiased = 2.0 at the base model
    frame["interval"] = "95% interval, paired over shared texts"
    frame.to_csv(d / "pairs.csv", index=False)
    df = paper_vs_study(d, _params([Pair("b", "i", SAME)]))
    raw, fis = _sep(df, FISHER_RAW), _sep(df, FISHER)
    assert raw.verdict == "context" and raw.band == "—"
    assert (raw.value, raw.ci_low, raw.ci_high) == pytest.approx((-0.20, -0.24, -0.16))
    assert "here 2 of the base model's 3" in raw.why
    assert fis.verdict == "disagrees" and _sep(df, SEP).verdict == "disagrees"
    # the combined value is the mean of silhouette and the debiased ratio, not of the raw one
    assert _sep(df, SEP).value == pytest.approx((-0.20 + 0.10) / 2)
    assert all("paired over shared texts" in _sep(df, c).why for c in (SEP, "silhouette", FISHER, FISHER_RAW))
    assert "debiased Fisher ratio" in fis.why


def test_a_missing_raw_fisher_row_does_not_block_the_verdict(tmp_path):
    pairs = _pair_rows(SAME, (-0.20, -0.25, -0.15), (-0.21, -0.24, -0.17))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME)]))
    assert _sep(df, SEP).verdict == "agrees"
    raw = _sep(df, FISHER_RAW)
    assert raw.verdict == "context" and "no fisher_raw row" in raw.why


# --------------------------------------------------------------------------- missing inputs


def test_a_run_without_per_dim_gets_unresolved_rows_naming_it(tmp_path):
    df = paper_vs_study(_run(tmp_path, readings=READINGS[1:]), _params())
    for claim in (COLLAPSE, ANGLE, CLIFF):
        r = _one(df, claim)
        assert r.verdict == "unresolved", claim
        assert "per_dim" in r.why, claim
        assert math.isnan(r.value) and np.isfinite(r.band_low), claim
    for claim in (CONF, SHARE, RATE, ECE):
        r = _one(df, claim)
        assert r.verdict == "context" and "per_dim" in r.why and math.isnan(r.value), claim
    assert _verdict(df, COLLAPSE_REL) == "disagrees"
    assert _verdict(df, INVARIANCE) == "unresolved"


def test_a_grid_without_002_gets_unresolved_rows_naming_it(tmp_path):
    grid = tuple(s for s in GRID if s != 0.02)
    df = paper_vs_study(_run(tmp_path, grid=grid), _params())
    for claim in (COLLAPSE, COLLAPSE_REL, ANGLE):
        r = _one(df, claim)
        assert r.verdict == "unresolved" and "σ = 0.02 is not on this run's σ grid" in r.why, claim
    assert _verdict(df, ANGLE_REL) == "context"
    assert _one(df, SHARE).value == pytest.approx(0.72)


def test_missing_pairs_csv_cliffs_csv_and_baseline_do_not_crash(tmp_path):
    d = _run(tmp_path, baseline=False)
    assert not (d / "cliffs.csv").exists() and not (d / "pairs.csv").exists()
    df = paper_vs_study(d, _params([Pair("b", "i", SAME)]))
    for claim in (SEP, "silhouette", FISHER):
        r = _sep(df, claim)
        assert r.verdict == "unresolved" and "pairs.csv is missing" in r.why, claim
    assert "probe_baseline.csv is missing" in _one(df, "clean ROC-AUC").why
    assert _verdict(df, CLIFF) == "agrees"

    df = paper_vs_study(d, _params())
    r = df[df.claim == SEP].iloc[0]
    assert r.verdict == "unresolved" and "no base/instruct pair" in r.why


def test_a_run_without_a_sweep_gets_unresolved_rows(tmp_path):
    (tmp_path / "metrics").mkdir()
    df = paper_vs_study(tmp_path / "metrics", _params())
    judged = df[df.verdict != "context"]
    assert len(judged) and (judged.verdict == "unresolved").all()
    assert judged.why.str.contains("drift_sweep.csv is missing|no base/instruct pair|not in this run").all()


# --------------------------------------------------------------------------- the page


def test_the_page_lists_rows_bands_rules_and_the_citation(tmp_path):
    pairs = _pair_rows(CROSS, (-0.20, -0.22, -0.18), (-0.20, -0.22, -0.18))
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", CROSS)]))
    md = to_markdown(df)
    assert "{cite}`sahoo2026robust`" in md and "## Verdict rules" in md
    assert "notes §" not in md and "notes §" not in " ".join(df.astype(str).to_numpy().ravel())
    for word in ("**agrees**", "**disagrees**", "**unresolved**", "**context**"):
        assert word in md
    for spec in BANDS.values():
        assert spec.text() in md and spec.justification[1:] in md
    table = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| claim")]
    assert len(table) == len(df) + 1  # the rows plus the separator
    assert "| m-base | 0.50, from 0.85 (abstract; Table 1) | 0.50 [" in md


# --------------------------------------------------------------------------- cliff on the log grid


def _cliff_log(d, rows):
    cols = ["model", "drift_type", "convention", "criterion", "auc_clean", "target_auc", "n_seeds", "n_seeds_reached",
            "angle_deg", "angle_deg_ci_low", "angle_deg_ci_high", "sigma", "sigma_ci_low", "sigma_ci_high",
            "max_angle_deg", "interval"]
    pd.DataFrame([dict(zip(cols, r)) for r in rows]).to_csv(d / "cliff_log.csv", index=False)


def test_the_cliff_is_read_from_the_log_grid_when_the_run_has_it(tmp_path):
    """The linear grid of _run puts the per-dimension cliff inside the band; the log grid's interval
    (stated in σ) decides instead: one wholly above the band disagrees, one inside agrees, a mean curve
    that never falls lies beyond the grid, and seeds that do not all fall leave it unresolved."""
    d = _run(tmp_path)
    base = (MODEL, "gaussian")
    _cliff_log(d, [(*base, "per_dim", "drop_20", 0.85, 0.65, 3, 3, 40.0, 35.0, 45.0, 0.04, 0.035, 0.05, 75.0,
                    "texts+seeds"),
                   (*base, "per_dim", "half_excess", 0.85, 0.675, 3, 3, 30.0, 25.0, 35.0, 0.03, 0.02, 0.04, 75.0, "x"),
                   (*base, "relative", "drop_20", 0.85, 0.65, 3, 0, *[math.nan] * 6, 8.5, "texts+seeds")])
    df = paper_vs_study(d, _params())
    per_dim, rel = _one(df, CLIFF), _one(df, CLIFF_REL)
    assert per_dim.verdict == "disagrees" and (per_dim.ci_low, per_dim.ci_high) == (0.035, 0.05)
    assert "log-spaced" in per_dim.convention and "texts+seeds" in per_dim.why and "40.0°" in per_dim.why
    assert rel.verdict == "disagrees" and rel.ci_low == pytest.approx(0.15) and math.isinf(rel.ci_high)
    _cliff_log(d, [(*base, "per_dim", "drop_20", 0.85, 0.65, 3, 3, 14.0, 12.0, 16.0, 0.012, 0.01, 0.014, 75.0, "x"),
                   (*base, "relative", "drop_20", 0.85, 0.65, 3, 2, *[math.nan] * 6, 8.5, "x")])
    df = paper_vs_study(d, _params())
    assert _verdict(df, CLIFF) == "agrees"
    rel = _one(df, CLIFF_REL)
    assert rel.verdict == "unresolved" and "2 of 3 drift seeds fall" in rel.why
    # some seeds never fall: a lower end above the band still disagrees (those seeds' cliffs lie
    # further out); one that reaches into the band is unresolved
    _cliff_log(d, [(*base, "per_dim", "drop_20", 0.85, 0.65, 3, 2, 60.0, 50.0, 70.0, 0.08, 0.05, math.inf, 75.0, "x")])
    r = _one(paper_vs_study(d, _params()), CLIFF)
    assert r.verdict == "disagrees" and r.ci_low == 0.05 and math.isinf(r.ci_high) and "1 of 3" in r.why
    _cliff_log(d, [(*base, "per_dim", "drop_20", 0.85, 0.65, 3, 2, 20.0, 10.0, 30.0, 0.02, 0.01, 0.03, 75.0, "x")])
    assert _verdict(paper_vs_study(d, _params()), CLIFF) == "unresolved"
    _cliff_log(d, [(*base, "per_dim", "drop_20", 0.62, math.nan, 3, 0, *[math.nan] * 6, 75.0, "x")])
    r = _one(paper_vs_study(d, _params()), CLIFF)
    assert r.verdict == "unresolved" and "no cliff to locate" in r.why


def test_the_cliff_verdict_uses_the_intervals_bounds_not_the_point_value(tmp_path):
    """A crossing at σ = 0.02 sits inside the band [0.005, 0.03]; its interval decides. Judged on the point
    value, both rows below would agree."""
    d, base = _run(tmp_path), (MODEL, "gaussian")
    straddles = (*base, "per_dim", "drop_20", 0.85, 0.65, 3, 3, 27.0, 15.0, 38.0, 0.02, 0.011, 0.045, 75.0, "x")
    _cliff_log(d, [straddles])
    r = _one(paper_vs_study(d, _params()), CLIFF)
    assert r.band_low <= r.value <= r.band_high  # the point alone is inside the band
    assert r.verdict == "unresolved"
    inside = (*base, "per_dim", "drop_20", 0.85, 0.65, 3, 3, 27.0, 20.0, 33.0, 0.02, 0.011, 0.028, 75.0, "x")
    _cliff_log(d, [inside])
    assert _verdict(paper_vs_study(d, _params()), CLIFF) == "agrees"


def test_the_per_dimension_reading_is_judged_at_the_angle_it_has_at_the_papers_widths(tmp_path):
    """arctan(0.02·√d): 30.9° at d = 896, 32.6° at 1,024, 45.3° at 2,560. The fixture's per-dimension AUC is
    0.50 from σ = 0.02 (28°) on, so every angle-matched AUC is read between grid points at chance."""
    d = _run(tmp_path)
    df = paper_vs_study(d, _params())
    rows = df[df.claim.str.startswith("angle-matched: AUC")]
    assert len(rows) == 3
    for width, angle in ((896, 30.9), (1024, 32.6), (2560, 45.3)):
        r = rows[rows.claim.str.contains(f"d = {width} ")].iloc[0]
        assert f"{angle:.1f}°" in r.claim
        assert r.value == pytest.approx(0.50, abs=0.011) and r.verdict == "agrees"
    # the cliff angle band at d = 896 is [arctan(0.005·√896), arctan(0.03·√896)] = [8.5°, 41.9°]
    _cliff_log(d, [(MODEL, "gaussian", "per_dim", "drop_20", 0.85, 0.65, 3, 3, 40.0, 35.0, 45.0, 0.04, 0.035,
                    0.05, 75.0, "x")])
    r = _one(paper_vs_study(d, _params()), "angle-matched: the cliff at the angles of σ ≈ 0.01–0.028 per "
                                            "dimension at d = 896")
    assert (round(r.band_low, 1), round(r.band_high, 1)) == (8.5, 41.9)
    assert r.verdict == "unresolved" and (r.ci_low, r.ci_high) == (35.0, 45.0)


def test_the_page_opens_with_a_headline_read_from_its_own_verdicts(tmp_path):
    df = paper_vs_study(_run(tmp_path), _params())
    head = to_markdown(df).split("\n\n")[1]
    assert head.startswith("Under the abstract's ≈1° reading (last layer), the paper's collapse claim")
    first, second = head.split(". ")[:2]
    assert f"σ = 0.02) disagrees for {MODEL}" in first  # the relative reading barely moves the fixture's AUC
    assert f"σ = 0.02) agrees for {MODEL}" in second  # the per-dimension reading reaches chance


def test_the_width_free_cross_validated_auc_heads_the_separability_rows(tmp_path):
    pairs = [("b", "i", SAME, "cv_auc", -0.20, -0.26, -0.14), ("b", "i", SAME, "silhouette", -0.2, -0.25, -0.15),
             ("c", "j", CROSS, "cv_auc", -0.20, -0.26, -0.14)]
    df = paper_vs_study(_run(tmp_path, pairs=pairs), _params([Pair("b", "i", SAME), Pair("c", "j", CROSS)]))
    cv = df[df.claim.str.startswith("cross-validated AUC (width-free)")]
    assert cv.set_index("model").verdict.to_dict() == {"b → i": "agrees", "c → j": "context"}
    assert cv.index.max() < df[df.claim == SEP].index.min()  # read before silhouette and the Fisher ratio
