"""The paper's headline numbers against this study's, computed from a run's tables.

One row per claim (notes §4–§5): the paper's value, this study's value with its 95% interval and
the convention it was measured under, a verdict, and why. Verdicts follow explicit rules
(:data:`RULES`), so the page never depends on hand-typed judgements:

- ``agree``: the study's value meets the claim's rule for every model of the run;
- ``disagree``: it fails the rule for every model;
- ``mixed``: some models meet it, some do not;
- ``context``: the number depends on data and model (e.g. a clean AUC) and is shown for reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .study import aggregate_sweep, fmt_ci

RULES = {
    "collapse": "seed-mean AUC with its upper 95% bound ≤ 0.55 (chance is 0.50)",
    "angle": "measured mean angle within 0.5°–2°",
    "cliff": "AUC falls 20 points at a σ between 0.005 and 0.03",
    "confidence_drop": "relative drop of mean confidence within ±7 points of 14%",
    "share": "silent-failure share within ±10 points of 72%",
    "rate": "silent-failure rate within ±10 points of 38.4%",
    "ece": "ECE within ±10 points of 22.6%",
    "invariance": "AUC at the largest σ within 0.40–0.58 for every drift type (paper readings)",
    "separability": "relative change within −35% to −5% and its range excludes 0",
    "direction": "instruct below base and the relative-change range excludes 0",
    "context": "not compared: depends on the data and model",
}


def _verdict(flags: list[bool]) -> str:
    flags = [bool(f) for f in flags if f is not None]
    if not flags:
        return "no data"
    if all(flags):
        return "agree"
    if not any(flags):
        return "disagree"
    return "mixed"


def _row(claim, paper, study, convention, verdict, rule, why):
    return {"claim": claim, "paper": paper, "this study": study, "convention": convention,
            "verdict": verdict, "rule": RULES[rule], "why": why}


def _at(agg: pd.DataFrame, model: str, t: str, c: str, sigma: float) -> pd.Series | None:
    g = agg[(agg.model == model) & (agg.drift_type == t) & (agg.convention == c)]
    if g.empty:
        return None
    i = (g.sigma - sigma).abs().idxmin()
    return g.loc[i]


def paper_vs_study(metrics_dir: Path, params: dict) -> pd.DataFrame:
    """The comparison table for the run whose tables live in ``metrics_dir``."""
    metrics_dir = Path(metrics_dir)
    base = pd.read_csv(metrics_dir / "probe_baseline.csv")
    sweep = pd.read_csv(metrics_dir / "drift_sweep.csv")
    agg = aggregate_sweep(sweep)
    models = list(dict.fromkeys(sweep.model))
    grid = np.linspace(0.0, float(params["sigma_max"]), int(params["n_sigmas"]))
    cp1 = float(grid[1]) if len(grid) > 1 else 0.02
    smax = float(agg.sigma.max())
    rows = []

    def per_model(fn):
        parts, flags = [], []
        for m in models:
            text, flag = fn(m)
            parts.append(f"{m}: {text}")
            flags.append(flag)
        return "; ".join(parts), flags

    # Clean AUC.
    def clean(m):
        r = base[(base.model == m) & (base.metric == "auc")].iloc[0]
        return fmt_ci(r.value, r.ci_low, r.ci_high), None
    text, _ = per_model(clean)
    rows.append(_row("clean ROC-AUC", "0.85–0.90", text, "clean test split", "context", "context",
                     "different data and models; only the change under drift is comparable"))

    # AUC at sigma = 0.02 under both readings, and the angle.
    for conv, label in (("per_dim", "the paper's formula"), ("relative", "the abstract's ≈1° reading")):
        def auc02(m, conv=conv):
            r = _at(agg, m, "gaussian", conv, 0.02)
            if r is None:
                return "n/a", None
            return fmt_ci(r.auc_mean, r.auc_ci_low, r.auc_ci_high), bool(r.auc_ci_high <= 0.55)
        text, flags = per_model(auc02)
        ang = [_at(agg, m, "gaussian", conv, 0.02) for m in models]
        ang_txt = ", ".join(f"{a.angle_deg_mean_mean:.2f}°" for a in ang if a is not None)
        rows.append(_row(f"AUC at σ = 0.02 ({label})", "0.50 (from 0.85)", text, f"gaussian / {conv}",
                         _verdict(flags), "collapse", f"measured angle at σ = 0.02: {ang_txt}"))

        def angle(m, conv=conv):
            r = _at(agg, m, "gaussian", conv, 0.02)
            if r is None:
                return "n/a", None
            return f"{r.angle_deg_mean_mean:.2f}°", bool(0.5 <= r.angle_deg_mean_mean <= 2.0)
        text, flags = per_model(angle)
        rows.append(_row(f"σ = 0.02 is ≈ 1° of angle ({label})", "≈ 1°", text, f"gaussian / {conv}",
                         _verdict(flags), "angle",
                         "per-dimension noise of σ on a unit vector in d dimensions has norm ≈ σ√d"
                         if conv == "per_dim" else "relative noise of norm σ‖z‖ turns z by ≈ atan σ"))

    # Cliff location.
    cl_path = metrics_dir / "cliffs.csv"
    if cl_path.is_file():
        cliffs = pd.read_csv(cl_path)
        for conv in ("per_dim", "relative"):
            def cliff(m, conv=conv):
                r = cliffs[(cliffs.model == m) & (cliffs.drift_type == "gaussian") & (cliffs.convention == conv)]
                if r.empty or not np.isfinite(r.sigma_20pt.iloc[0]):
                    return f"AUC never falls 20 points up to σ = {smax:.2f}", False
                s, a = r.sigma_20pt.iloc[0], r.angle_deg_20pt.iloc[0]
                return f"σ = {s:.3f} ({a:.1f}°)", bool(0.005 <= s <= 0.03)
            text, flags = per_model(cliff)
            rows.append(_row("the cliff: 85% → 50% between σ ≈ 0.01 and 0.028", "σ 0.01–0.028", text,
                             f"gaussian / {conv}", _verdict(flags), "cliff",
                             "σ where the seed-mean AUC has fallen 20 points (interpolated)"))

    # Confidence, silent failure, ECE at checkpoint 1 under the paper's formula.
    def conf_drop(m):
        r0, r1 = _at(agg, m, "gaussian", "per_dim", 0.0), _at(agg, m, "gaussian", "per_dim", cp1)
        drop = (r0.mean_confidence_mean - r1.mean_confidence_mean) / r0.mean_confidence_mean
        return (f"{r0.mean_confidence_mean:.2f} → {r1.mean_confidence_mean:.2f} ({drop:.0%} drop)",
                bool(abs(drop - 0.14) <= 0.07))
    text, flags = per_model(conf_drop)
    rows.append(_row("mean confidence drops only 14%", "0.85 → 0.73 (−14%)", text,
                     f"gaussian / per_dim, σ = 0 → {cp1:.4f} (checkpoint 1)", _verdict(flags), "confidence_drop",
                     "a probe whose confidence barely moves while AUC collapses fails silently"))

    for col, claim, paper, rule, target, why in (
        ("silent_failure_share", "72% of errors made with confidence ≥ 0.8", "72%", "share", 0.72,
         "share = confident errors / all errors (the abstract's normaliser)"),
        ("silent_failure_rate", "38.4% of all predictions wrong and confident", "38.4%", "rate", 0.384,
         "rate = confident errors / all texts (the other normaliser the notes report)"),
        ("ece", "ECE rises from 1.2% to 22.6%", "1.2% → 22.6%", "ece", 0.226,
         "equal-width confidence bins on [0.5, 1]; the paper does not give its bin edges"),
    ):
        def value(m, col=col, target=target):
            r0, r1 = _at(agg, m, "gaussian", "per_dim", 0.0), _at(agg, m, "gaussian", "per_dim", cp1)
            v, lo, hi = r1[f"{col}_mean"], r1[f"{col}_ci_low"], r1[f"{col}_ci_high"]
            prefix = f"{r0[f'{col}_mean']:.1%} → " if col == "ece" else ""
            ok = bool(abs(v - target) <= 0.10) if np.isfinite(v) else None
            return prefix + (f"{v:.1%} [{lo:.1%}, {hi:.1%}]" if np.isfinite(v) else "n/a"), ok
        text, flags = per_model(value)
        rows.append(_row(claim, paper, text, f"gaussian / per_dim at checkpoint 1 (σ = {cp1:.4f}), τ = {params['tau']}, "
                         f"{params['ece_bins']} ECE bins", _verdict(flags), rule, why))

    # Drift-type invariance at the largest sigma, paper readings.
    from .drift import PAPER_CONVENTIONS

    def invariance(m):
        parts, ok = [], []
        for t, c in PAPER_CONVENTIONS.items():
            r = _at(agg, m, t, c, smax)
            if r is not None:
                parts.append(f"{t} {r.auc_mean:.2f}")
                ok.append(0.40 <= r.auc_mean <= 0.58)
        return ", ".join(parts), bool(ok) and all(ok)
    text, flags = per_model(invariance)
    rows.append(_row("all drift types fail alike (AUC 46–52% at max drift)", "0.46–0.52", text,
                     f"paper readings at σ = {smax:.2f}", _verdict(flags), "invariance",
                     "a fixed direction shifts every logit alike, so it moves accuracy far more than AUC"))

    # Separability, per pair.
    pairs_path = metrics_dir / "pairs.csv"
    if pairs_path.is_file():
        pairs = pd.read_csv(pairs_path)
        for (b, i), g in pairs.groupby(["base", "instruct"], sort=False):
            note = g.note.iloc[0]
            sub = g[g.metric.isin(["silhouette", "fisher"])]
            mean_rel = sub.relative_change.mean()
            excl = bool(((sub.relative_change_high < 0) | (sub.relative_change_low > 0)).all())
            rows.append(_row("instruct models separate ~20% worse", "−19% / −26% (≈ −20%)",
                             f"{mean_rel:+.0%} (mean of silhouette and Fisher)", f"{b} → {i} ({note})",
                             _verdict([(-0.35 <= mean_rel <= -0.05) and excl]), "separability",
                             "last layer, probe input space; a cross-family pair cannot isolate tuning"))
            for metric, paper in (("silhouette", "0.245 → 0.198"), ("fisher", "4.23 → 3.12")):
                r = g[g.metric == metric]
                if r.empty:
                    continue
                r = r.iloc[0]
                ok = (r.instruct_value < r.base_value) and (r.relative_change_high < 0)
                rows.append(_row(f"{metric}: base → instruct", paper,
                                 f"{fmt_ci(r.base_value, r.base_ci_low, r.base_ci_high, 3)} → "
                                 f"{fmt_ci(r.instruct_value, r.instruct_ci_low, r.instruct_ci_high, 3)}",
                                 f"{b} → {i}", _verdict([ok]), "direction",
                                 "levels depend on data, dimension and space; only the direction is compared"))
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """A MyST page with the comparison table and the verdict rules."""
    def esc(s):
        return str(s).replace("|", "\\|")
    lines = ["| claim | paper | this study (95% interval) | convention | verdict | why |",
             "| --- | --- | --- | --- | --- | --- |"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(esc(r[c]) for c in ("claim", "paper", "this study", "convention", "verdict", "why"))
                     + " |")
    counts = df.verdict.value_counts()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items())
    rules = "\n".join(f"- **{k}**: {v}" for k, v in RULES.items())
    return "\n".join([
        "# The paper against this study", "",
        "Every row is computed from this run's tables (`metrics/*.csv`); nothing here is typed by hand. "
        f"Verdicts: {summary}. The paper's numbers come from {{cite}}`sahoo2026robust` as summarised in the "
        "study's notes; where the paper is ambiguous (what σ means) both readings get a row.", "",
        *lines, "",
        "## Verdict rules", "",
        "A verdict is `agree` when the rule holds for every model of the run, `disagree` when it holds for none, "
        "`mixed` otherwise; `context` rows are shown for reference only.", "",
        rules, "",
    ])
