"""The book's "Key findings" box and the run-dependent numbers of its Discussion, from a run's tables.

:func:`key_findings_markdown` and :func:`discussion_numbers_markdown` read ``<run_dir>/metrics/*.csv``
(and the parameters in ``provenance.json``) and return MyST Markdown that the book includes; no number
in either is typed by hand. Each finding degrades on its own: a table missing from a run (a profile
without the fine-tuning chapter, say) turns its bullet into "not in this run" instead of failing the
build. Numbers are rounded for reading, with 95% intervals where the run has them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from probedrift.core.intervals import mean_t_interval
from probedrift.report.paper import CLIFF_DROP
from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.report.tables import fmt_ci, row_at_sigma
from probedrift.run import catalogue
from probedrift.science.cliff import first_crossing

__all__ = ["key_findings_markdown", "discussion_numbers_markdown", "seed_cliff_angles"]

NOT_IN_RUN = "not in this run"


def _read(run_dir: Path, name: str) -> pd.DataFrame | None:
    table = catalogue.load(run_dir, name, missing_ok=True)
    return None if table is None or table.empty else table


def _tau(run_dir: Path) -> float:
    try:
        return float(json.loads((Path(run_dir) / "provenance.json").read_text())["parameters"]["tau"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0.8


def _ci(row: pd.Series, metric: str, digits: int = 2, pct: bool = False) -> str:
    """``0.74 [0.69, 0.79]`` from ``<metric>_mean``/``_ci_low``/``_ci_high`` (percent with ``pct``)."""
    get = lambda suffix: float(row.get(f"{metric}_{suffix}", np.nan))  # noqa: E731
    v, lo, hi = get("mean"), get("ci_low"), get("ci_high")
    if pct:
        v, lo, hi = 100 * v, 100 * lo, 100 * hi
        return fmt_ci(v, lo, hi, 0).replace(" [", "% [").replace("]", "%]") if np.isfinite(lo) else f"{v:.0f}%"
    return fmt_ci(v, lo, hi, digits)


def _deg(v: float) -> str:
    """An angle rounded for reading: 26.7°, 1.15°, 0.91°."""
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.1f}°" if abs(v) >= 10 else f"{v:.2f}°"


def _deg_ci(v: float, lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)) or abs(hi - lo) < 1e-9:
        return _deg(v)
    return f"{_deg(v)} [{_deg(lo).rstrip('°')}, {_deg(hi)}]"


def _depth_key(layer: float) -> float:
    """Probed depth for sorting: hidden-state index −1 (the final norm) is deeper than any positive index."""
    return float(layer) if layer >= 0 else 1e6 + float(layer)


def _models(*tables: pd.DataFrame | None) -> list[str]:
    for t in tables:
        if t is not None and "model" in t.columns:
            return list(dict.fromkeys(t.model))
    return []


def seed_cliff_angles(sweep: pd.DataFrame, drop: float = CLIFF_DROP) -> pd.DataFrame:
    """Per model, drift type, convention and drift seed: the measured angle (and σ) at which that seed's
    AUC first falls ``drop`` below its σ = 0 value, by linear interpolation on the grid
    (:func:`probedrift.science.cliff.first_crossing`); NaN beyond it."""
    rows = []
    for (m, t, c, seed), g in sweep.groupby(["model", "drift_type", "convention", "seed"], sort=False):
        g = g.sort_values("sigma")
        s, a, auc = (g[col].to_numpy(dtype=float) for col in ("sigma", "angle_deg_mean", "auc"))
        if len(s) == 0 or s[0] > 1e-9:
            continue
        target = auc[0] - drop
        angle = first_crossing(a, auc, target, at_start="nan")
        sigma = first_crossing(s, auc, target, at_start="nan")
        rows.append({"model": m, "drift_type": t, "convention": c, "seed": seed, "angle_deg": angle, "sigma": sigma,
                     "max_angle_deg": float(np.nanmax(a)), "auc_clean": auc[0]})
    return pd.DataFrame(rows, columns=["model", "drift_type", "convention", "seed", "angle_deg", "sigma",
                                       "max_angle_deg", "auc_clean"])


# ---------------------------------------------------------------- the findings, one function each


def _angle_finding(agg: pd.DataFrame | None, sigma: float) -> str:
    head = f"**What σ = {sigma:g} means.** "
    if agg is None:
        return head + f"The drift sweep is {NOT_IN_RUN}."
    parts = []
    for m in _models(agg):
        per = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")
        rel = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="relative")
        if per is None and rel is None:
            parts.append(f"{m}: σ = {sigma:g} {NOT_IN_RUN}")
            continue
        bits = []
        for row, label in ((per, "per-dimension"), (rel, "relative")):
            if row is not None:
                bits.append(f"{_deg_ci(row.angle_deg_mean_mean, row.angle_deg_mean_ci_low, row.angle_deg_mean_ci_high)}"
                            f" ({label})")
        parts.append(f"{m}: " + " vs ".join(bits))
    per_angles = [r.angle_deg_mean_mean for m in _models(agg)
                  if (r := row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")) is not None]
    tail = (" The paper's formula adds noise per dimension and moves embeddings by tens of degrees; only the relative "
            "reading gives the abstract's \"≈ 1°\"."
            if per_angles and min(per_angles) >= 10 else "")
    return head + "The measured angle between clean and drifted embeddings is " + "; ".join(parts) + "." + tail


def _auc_finding(agg: pd.DataFrame | None, sigma: float) -> str:
    head = f"**ROC-AUC at σ = {sigma:g}.** "
    if agg is None:
        return head + f"The drift sweep is {NOT_IN_RUN}."
    at = [r.auc_mean for m in _models(agg) for c in ("per_dim", "relative")
          if (r := row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention=c)) is not None]
    if at and min(at) > 0.6:
        head = f"**No collapse to chance at σ = {sigma:g}.** "
    parts = []
    for m in _models(agg):
        clean = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
        per = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")
        rel = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="relative")
        bits = [f"clean {_ci(clean, 'auc')}" if clean is not None else "clean n/a"]
        bits += [f"{label} {_ci(r, 'auc')}" for r, label in ((per, "per-dimension"), (rel, "relative"))
                 if r is not None]
        parts.append(f"{m}: " + ", ".join(bits))
    return (head + "ROC-AUC of the frozen probe — " + "; ".join(parts)
            + ". The paper reports 0.85 → 0.50 (abstract; paper Fig. 2).")


def _silent_finding(agg: pd.DataFrame | None, sigma: float, tau: float) -> str:
    head = "**Silent failures.** "
    if agg is None:
        return head + f"The drift sweep is {NOT_IN_RUN}."
    zeros = [r.silent_failure_share_mean for m in _models(agg)
             if (r := row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")) is not None]
    before = bool(zeros) and min(zeros) >= 0.5
    if before:
        head = "**Silent failures are there before any drift.** "
    parts = []
    for m in _models(agg):
        zero = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
        at = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")
        if zero is None:
            continue
        part = f"{m}: {_ci(zero, 'silent_failure_share', pct=True)} at σ = 0"
        if at is not None:
            part += f", {_ci(at, 'silent_failure_share', pct=True)} at σ = {sigma:g} (per-dimension)"
        parts.append(part)
    if not parts:
        return head + f"The σ = 0 row is {NOT_IN_RUN}."
    return (head + f"Share of the errors made with confidence ≥ {tau:g} — " + "; ".join(parts)
            + ". The paper's figure is 72% (abstract)."
            + (" Most errors are confident already without drift: the pattern reflects the probe's overconfidence, "
               "not the drift." if before else ""))


def _log_grid_cliff_finding(cliff_log: pd.DataFrame) -> str:
    """The cliff from ``cliff_log.csv`` (log-spaced σ grid, intervals over texts and drift seeds)."""
    parts = []
    for m in _models(cliff_log):
        bits = []
        for conv, label in (("per_dim", "per-dimension"), ("relative", "relative")):
            g = cliff_log[(cliff_log.model == m) & (cliff_log.convention == conv)].set_index("criterion")
            if "half_excess" not in g.index:
                continue
            r = g.loc["half_excess"]
            if np.isfinite(r.angle_deg):
                bits.append("half its excess AUC lost at "
                            f"{_deg_ci(r.angle_deg, r.angle_deg_ci_low, r.angle_deg_ci_high)}"
                            f" ({label})")
            else:
                bits.append(f"not half its excess lost within {_deg(r.max_angle_deg)} ({label})")
        if bits:
            parts.append(f"{m}: " + ", ".join(bits))
    return ("**Where the cliff is.** On a log-spaced σ grid (intervals over test texts and drift seeds) — "
            + "; ".join(parts) + ". The paper puts its cliff at about one degree (σ ≈ 0.01–0.028).")


def _cliff_finding(sweep: pd.DataFrame | None, drop: float = CLIFF_DROP,
                   cliff_log: pd.DataFrame | None = None) -> str:
    head = "**Where the cliff is.** "
    if cliff_log is not None:
        return _log_grid_cliff_finding(cliff_log)
    if sweep is None:
        return head + f"The per-seed drift sweep is {NOT_IN_RUN}."
    cl = seed_cliff_angles(sweep, drop)
    parts = []
    for m in _models(sweep):
        bits = []
        for conv, label in (("per_dim", "per-dimension"), ("relative", "relative")):
            g = cl[(cl.model == m) & (cl.drift_type == "gaussian") & (cl.convention == conv)]
            if g.empty:
                continue
            v, lo, hi = mean_t_interval(g.angle_deg.to_numpy(dtype=float))
            n_beyond = int(g.angle_deg.isna().sum())
            if not np.isfinite(v):
                bits.append(f"never within {_deg(float(g.max_angle_deg.max()))} ({label})")
            else:
                bits.append(f"at {_deg_ci(v, lo, hi)} ({label}"
                            + (f"; {n_beyond} of {len(g)} seeds never" if n_beyond else "") + ")")
        if bits:
            parts.append(f"{m}: " + ", ".join(bits))
    if not parts:
        return head + f"The Gaussian sweep is {NOT_IN_RUN}."
    return (head + f"AUC falls {drop * 100:.0f} points below its clean value (mean over drift seeds, 95% t-interval) — "
            + "; ".join(parts) + ". The paper puts its cliff at about one degree (σ ≈ 0.01–0.028).")


def _budget_finding(budget: pd.DataFrame | None) -> str:
    head = "**The drift budget explains both.** "
    if budget is None:
        return head + f"The drift-budget table is {NOT_IN_RUN}."
    parts = []
    for m, g in budget.groupby("model", sort=False):
        g = g.assign(_depth=g.layer.map(_depth_key)).sort_values("_depth")
        last = g.iloc[-1]
        mid = g.iloc[:-1]
        part = f"{m}: {_deg(last.angle_half_predicted_deg)} at the last probed layer ({int(last.layer)})"
        if len(mid):
            k = mid.angle_half_predicted_deg.idxmin()
            scales = f"smallest scaler std {mid.std_min[k]:.1e}, ‖w/s‖ ≈ {mid.norm_w_over_s[k]:.3g}"
            where = f"{_deg(mid.angle_half_predicted_deg[k])} at layer {int(mid.layer[k])}"
            if mid.angle_half_predicted_deg[k] < last.angle_half_predicted_deg:
                part += f", down to {where} ({scales})"
            else:  # no earlier layer has a smaller budget: say so rather than "down to" a larger angle
                part += f", no smaller at earlier layers (the smallest: {where}; {scales})"
        parts.append(part)
    collapsed = budget[budget.collapse_at_1deg.astype(bool)] if "collapse_at_1deg" in budget else budget.iloc[0:0]
    where = ("; a 1° drift costs at least 5 AUC points at " + ", ".join(
        f"{r.model} layer {int(r.layer)}" for r in collapsed.itertuples())) if len(collapsed) else \
        "; at no probed layer does a 1° drift cost 5 AUC points"
    return (head + "The angle at which the probe is predicted to lose half its AUC above chance, from ‖w/s‖ and the "
            "scaler's per-dimension scales — " + "; ".join(parts) + where + ".")


def _real_finding(real: pd.DataFrame | None, mit: pd.DataFrame | None) -> str:
    head = "**Real model updates.** "
    if real is None:
        return head + f"Real model updates are {NOT_IN_RUN}."
    real = real[~real.note.astype(str).str.startswith("skipped")] if "note" in real else real
    if real.empty:
        return head + "No real update applied to this run."
    before = {}
    if mit is not None:
        before = mit[mit.method == "no_update"].set_index("source").auc.to_dict()
    parts = []
    for r in real.itertuples():
        b = before.get(r.source)
        parts.append(f"`{r.source}` {_deg(r.angle_deg_mean)}, AUC "
                     + (f"{b:.2f} → {r.auc:.2f}" if b is not None and np.isfinite(b) else f"{r.auc:.2f}"))
    tail = ""
    if before:
        drops = {r.source: before[r.source] - r.auc for r in real.itertuples() if r.source in before}
        if drops:
            worst = max(drops, key=drops.get)
            tail = f" The largest loss: `{worst}` ({drops[worst]:.2f} AUC)."
    return head + "Mean angle and frozen-probe AUC before → after: " + "; ".join(parts) + "." + tail


def _finetune_finding(ft: pd.DataFrame | None) -> str:
    head = "**Fine-tuning the model under the probe.** "
    if ft is None:
        return head + f"The fine-tuning chapter is {NOT_IN_RUN}."
    base = ft[ft.step == 0]
    tuned = ft[ft.step > 0]
    if base.empty or tuned.empty:
        return head + f"Fine-tuned checkpoints are {NOT_IN_RUN}."
    b = base.iloc[0]
    far = tuned.loc[tuned.angle_deg_mean.idxmax()]
    low = tuned.loc[tuned.auc.idxmin()]
    method = str(b.get("method", "")).replace("lora", "LoRA") or "fine-tuning"
    return (head + f"{len(tuned)} {method} checkpoints of {b.model} moved its embeddings by "
            f"{_deg(tuned.angle_deg_mean.min())} to {_deg(far.angle_deg_mean)}; the frozen probe went from AUC "
            f"{fmt_ci(b.auc, b.auc_ci_low, b.auc_ci_high)} to, at worst, "
            f"{fmt_ci(low.auc, low.auc_ci_low, low.auc_ci_high)} "
            f"(learning rate {low.learning_rate:g}, step {int(low.step)}).")


def _separability_finding(pairs: pd.DataFrame | None) -> str:
    head = "**Base against instruct.** "
    if pairs is None:
        return head + f"A base/instruct pair is {NOT_IN_RUN}."
    rows = pairs[pairs.metric.isin(["silhouette", "fisher"])]
    if rows.empty:
        return head + f"Silhouette and Fisher ratio are {NOT_IN_RUN}."
    parts = [f"{r.metric} {r.relative_change:+.0%} "
             f"(range {r.relative_change_low:+.0%} to {r.relative_change_high:+.0%}; "
             f"{r.base} → {r.instruct}, {r.note})" for r in rows.itertuples()]
    return (head + "; ".join(parts) + ". A pair that differs in family, size and width cannot isolate instruction "
            "tuning (paper Table 2 has the same confound).")


def key_findings_markdown(run_dir, sigma: float = PAPER_SIGMA) -> str:
    """The "Key findings" admonition for the top of the book, from ``run_dir``'s tables.

    One bullet per finding: the measured angle under each reading of σ at ``sigma``; the AUC there under
    each (with the clean AUC); the silent-failure share at σ = 0 and at ``sigma``; the cliff angle with
    a t-interval over drift seeds; the drift budget at the last against the middle layers; what real
    updates and fine-tuning did; the base/instruct comparison. A missing table says "not in this run".
    """
    run_dir = Path(run_dir)
    agg = _read(run_dir, "drift_sweep_summary")
    sweep = _read(run_dir, "drift_sweep")
    tau = _tau(run_dir)
    bullets = [
        _angle_finding(agg, sigma),
        _auc_finding(agg, sigma),
        _silent_finding(agg, sigma, tau),
        _cliff_finding(sweep, cliff_log=_read(run_dir, "cliff_log")),
        _budget_finding(_read(run_dir, "drift_budget")),
        _real_finding(_read(run_dir, "real_drift"), _read(run_dir, "mitigations")),
        _finetune_finding(_read(run_dir, "finetune_drift")),
        _separability_finding(_read(run_dir, "pairs")),
    ]
    body = "\n".join(f"- {b}" for b in bullets)
    return (":::{admonition} Key findings of this run\n:class: tip key-findings\n\n"
            "Every number below is read from this run's tables; brackets are 95% intervals.\n\n"
            f"{body}\n:::\n")


def discussion_numbers_markdown(run_dir, sigma: float = PAPER_SIGMA) -> str:
    """The run-dependent numbers of the Discussion chapter: the angle each reading of σ implies at the
    run's widths, the literal "rotation" against a true one, the silent-failure share against the rate,
    the test-set size and the width of an AUC interval."""
    run_dir = Path(run_dir)
    agg = _read(run_dir, "drift_sweep_summary")
    base = _read(run_dir, "probe_baseline")
    out = []
    if agg is None:
        out.append(f"- The drift sweep is {NOT_IN_RUN}, so the two readings of σ cannot be compared here.")
    else:
        for m in _models(agg):
            per = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")
            rel = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="relative")
            if per is None or rel is None:
                out.append(f"- **{m}**: σ = {sigma:g} under both readings is {NOT_IN_RUN}.")
                continue
            ratio = math.tan(math.radians(per.angle_deg_mean_mean)) / sigma
            out.append(f"- **{m}**: at σ = {sigma:g} the per-dimension reading moves embeddings by "
                       f"{_deg(per.angle_deg_mean_mean)}, so tan θ / σ = {ratio:.1f}, i.e. ‖ε‖ ≈ σ√d with "
                       f"d ≈ {ratio ** 2:.0f}; the relative reading moves them by {_deg(rel.angle_deg_mean_mean)} "
                       f"(arctan σ = {_deg(math.degrees(math.atan(sigma)))}). The same σ is a "
                       f"{per.angle_deg_mean_mean / rel.angle_deg_mean_mean:.0f}-fold larger drift in the paper's "
                       "formula.")
        smax = float(agg.sigma.max())
        for m in _models(agg):
            lit = row_at_sigma(agg, smax, model=m, drift_type="rotation", convention="paper_literal")
            true = row_at_sigma(agg, smax, model=m, drift_type="rotation", convention="true")
            if lit is not None and true is not None:
                out.append(f"- **{m}**, rotation at σ = {smax:g}: the paper's literal formula moves embeddings by "
                           f"{_deg(lit.angle_deg_mean_mean)} (AUC {lit.auc_mean:.2f}), a true rotation by exactly "
                           f"{_deg(true.angle_deg_mean_mean)} (AUC {true.auc_mean:.2f}).")
        for m in _models(agg):
            zero = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
            if zero is not None:
                out.append(f"- **{m}**, clean test set: {zero.silent_failure_share_mean:.0%} of the errors are "
                           f"confident (the share) but only {zero.silent_failure_rate_mean:.0%} of all texts are "
                           f"confident errors (the rate), at accuracy {zero.accuracy_mean:.2f}.")
    real = _read(run_dir, "real_drift")
    if real is not None and "note" in real:
        real = real[~real.note.astype(str).str.startswith("skipped")]
    if real is not None and len(real):
        cols = [c for c in real.columns if c.startswith("alarm_")]
        counts = ", ".join(f"{c.removeprefix('alarm_').replace('_', ' ')} {int(real[c].astype(str).eq('True').sum())}"
                           for c in cols)
        out.append(f"- Monitors on the {len(real)} real updates of this run (alarms out of {len(real)}): {counts}.")
    mit = _read(run_dir, "mitigations")
    if mit is not None and {"method", "auc"} <= set(mit.columns):
        med = lambda m: mit[mit.method == m].auc.median()  # noqa: E731
        line = (f"- Median AUC over the real updates: before the update {med('no_update'):.2f}, frozen probe after it "
                f"{med('frozen'):.2f}, retrained {med('retrain'):.2f}")
        if "k" in mit and mit[mit.method == "align"].k.notna().any():
            k = mit[mit.method == "align"].k.max()
            line += (f", aligned on k = {k:.0f} anchor texts "
                     f"{mit[(mit.method == 'align') & (mit.k == k)].auc.median():.2f}")
        out.append(line + ".")
    if base is None:
        out.append(f"- The clean baseline table is {NOT_IN_RUN}.")
    else:
        auc = base[base.metric == "auc"]
        n = int(auc.n_test.iloc[0]) if "n_test" in auc and len(auc) else 0
        widths = ", ".join(f"{r.model} {r.ci_high - r.ci_low:.2f}" for r in auc.itertuples())
        out.append(f"- This run scores {n} test texts per model (the paper: 2,000); the 95% bootstrap interval of a "
                   f"clean AUC is {widths} wide, so smaller differences are not resolved.")
    return "\n".join(out) + "\n"
