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
from probedrift.report.claims import optional_table
from probedrift.report.conclusions import (
    CHANCE,
    budget_cause,
    cliff_range_sentence,
    collapse_sentence,
    failure_modes_sentence,
    monitor_sentence,
    reading_sentence,
    rotation_sentence,
    silent_sentence,
    update_sentence,
)
from probedrift.report.outcomes import band_position, change_word, per_dim_angle_deg, short_name
from probedrift.report.paper import CLIFF_DROP, PAPER_WIDTHS
from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.report.tables import fmt_ci, row_at_sigma
from probedrift.run import catalogue
from probedrift.science.cliff import first_crossing

__all__ = ["discussion_numbers_markdown", "discussion_outcomes", "key_findings_markdown", "seed_cliff_angles"]

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
    """"26.8° [26.5, 27.1°]"; an interval open above (the grid's end) reads "0.33° [0.08°, ∞)"."""
    if np.isfinite(lo) and math.isinf(hi) and hi > 0:
        return f"{_deg(v)} [{_deg(lo)}, ∞)"
    if not (np.isfinite(lo) and np.isfinite(hi)) or abs(hi - lo) < 1e-9:
        return _deg(v)
    return f"{_deg(v)} [{_deg(lo).rstrip('°')}, {_deg(hi)}]"


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


def _sigma_finding(agg: pd.DataFrame | None, sigma: float) -> str:
    """The angle and the AUC at ``sigma`` under each reading; the head says "no collapse to chance" only when
    every interval lies above chance ± 5 points, "a collapse to chance" when one lies within."""
    head = f"**What σ = {sigma:g} means and does.** "
    if agg is None:
        return head + f"The drift sweep is {NOT_IN_RUN}."
    parts, positions = [], []
    for m in _models(agg):
        clean = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
        bits = []
        for conv, label in (("per_dim", "per-dimension"), ("relative", "relative")):
            r = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention=conv)
            if r is None:
                continue
            positions.append(band_position(r.auc_ci_low, r.auc_ci_high, *CHANCE))
            bits.append(f"{_deg_ci(r.angle_deg_mean_mean, r.angle_deg_mean_ci_low, r.angle_deg_mean_ci_high)} "
                        f"({label}), AUC {_ci(r, 'auc')}")
        if bits:
            parts.append(f"{short_name(m)}: clean AUC {_ci(clean, 'auc') if clean is not None else 'n/a'}; "
                         + "; ".join(bits))
    if positions and all(p == "above" for p in positions):
        head = f"**No collapse to chance at σ = {sigma:g}.** "
    elif "within" in positions:
        head = f"**A collapse to chance at σ = {sigma:g}.** "
    widths = ", ".join(f"{per_dim_angle_deg(sigma, d):.1f}° at d = {d:,} ({label})"
                       for label, d in PAPER_WIDTHS.items())
    return (head + "Measured angle and ROC-AUC — " + " — ".join(parts) + f". At the paper's widths the per-dimension "
            f"σ = {sigma:g} would be {widths}; only the relative reading gives the abstract's \"≈ 1°\". The paper "
            "reports 0.85 → 0.50.")


def _log_grid_cliff_finding(cliff_log: pd.DataFrame) -> str:
    """The cliff from ``cliff_log.csv`` (log-spaced σ grid, intervals over test texts and drift seeds)."""
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
            parts.append(f"{short_name(m)}: " + ", ".join(bits))
    return ("**Where the cliff is.** On a log-spaced σ grid (intervals over test texts and drift seeds) — "
            + "; ".join(parts) + ". " + cliff_range_sentence())


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
            parts.append(f"{short_name(m)}: " + ", ".join(bits))
    if not parts:
        return head + f"The Gaussian sweep is {NOT_IN_RUN}."
    return (head + f"AUC falls {drop * 100:.0f} points below its clean value (mean over drift seeds, 95% t-interval) — "
            + "; ".join(parts) + ". " + cliff_range_sentence())


def _budget_finding(budget: pd.DataFrame | None, floor: pd.DataFrame | None = None) -> str:
    head = "**The drift budget.** "
    if budget is None:
        return head + f"The drift-budget table is {NOT_IN_RUN}."
    collapsed = budget[budget.collapse_at_1deg.astype(bool)] if "collapse_at_1deg" in budget else budget.iloc[0:0]
    where = ("; the closed form predicts a 1° drift to cost at least 5 AUC points at " + ", ".join(
        f"{short_name(r.model)} layer {int(r.layer)}" for r in collapsed.itertuples())) if len(collapsed) else \
        "; at no probed layer does the closed form predict a 1° drift to cost 5 AUC points"
    return (head + "The angle at which the probe is predicted to lose half its AUC above chance, from ‖w/s‖ and the "
            "scaler's per-dimension scales — " + budget_cause(budget, floor).rstrip(".") + where + ".")


def _updates_finding(run_dir: Path) -> str:
    """The two failure modes when the run has ``failure_modes``; else real updates and fine-tuning."""
    fm = optional_table(run_dir, "failure_modes")
    if fm is not None:
        return "**Two failure modes.** " + failure_modes_sentence(fm)
    ft = _read(run_dir, "finetune_drift")
    text = "**Real updates and fine-tuning.** " + update_sentence(_read(run_dir, "real_drift"),
                                                                  _read(run_dir, "mitigations"))
    if ft is None or ft[ft.step == 0].empty or ft[ft.step > 0].empty:
        return text + f" The fine-tuning chapter is {NOT_IN_RUN}."
    b, tuned = ft[ft.step == 0].iloc[0], ft[ft.step > 0]
    low = tuned.loc[tuned.auc.idxmin()]
    word = change_word(low.auc_ci_low - b.auc, low.auc_ci_high - b.auc, up="rises", down="falls",
                       none="does not change measurably")
    return (text + f" Fine-tuning {short_name(b.model)} into {len(tuned)} checkpoints moved its embeddings by "
            f"{_deg(tuned.angle_deg_mean.min())} to {_deg(tuned.angle_deg_mean.max())}; at the worst checkpoint the "
            f"frozen probe's AUC {word} ({fmt_ci(b.auc, b.auc_ci_low, b.auc_ci_high)} → "
            f"{fmt_ci(low.auc, low.auc_ci_low, low.auc_ci_high)}).")


def _separability_finding(pairs: pd.DataFrame | None, ft_sep: pd.DataFrame | None = None) -> str:
    """Base against instruct, headlined on the width-free cross-validated AUC; the same-model fine-tuning
    comparison (chapter 7) beside it."""
    head = "**Base against instruct.** "
    bits = []
    if pairs is not None:
        for r in pairs[pairs.metric == "cv_auc"].itertuples():
            word = change_word(r.relative_change_low, r.relative_change_high, up="higher than", down="lower than",
                               none="not measurably different from")
            bits.append(f"the cross-validated AUC of {short_name(r.instruct)} is {word} {short_name(r.base)}'s "
                        f"({r.base_value:.2f} → {r.instruct_value:.2f}, {r.relative_change:+.0%} "
                        f"[{r.relative_change_low:+.0%}, {r.relative_change_high:+.0%}]; {r.note})")
    if ft_sep is not None:
        last = ft_sep[(ft_sep.metric == "cv_auc") & (ft_sep.step == ft_sep.step.max())]
        for r in last.itertuples():
            word = change_word(r.relative_change_low, r.relative_change_high, up="raises", down="lowers",
                               none="does not measurably change")
            bits.append(f"tuning {short_name(r.base)} itself ({r.checkpoint}) {word} its cross-validated AUC "
                        f"({r.relative_change:+.0%} [{r.relative_change_low:+.0%}, {r.relative_change_high:+.0%}])")
    if not bits:
        return head + f"A base/instruct pair is {NOT_IN_RUN}."
    said = "; ".join(bits)
    return (head + said[0].upper() + said[1:] + ". The paper's \"20% worse\" (silhouette and Fisher ratio, "
            "Table 2) compares models of different size; only the same-model rows isolate tuning.")


def _verdict(run_dir: Path, agg: pd.DataFrame | None, sigma: float) -> str:
    """The box's opening: the paper's claim, then what this run found, under which reading, at which layer."""
    claim = (f"The paper claims that a drift of σ = {sigma:g}, \"≈ 1°\" of angle, takes a safety probe from ROC-AUC "
             "0.85 to 0.50. ")
    layers = _read(run_dir, "layer_collapse")
    if layers is not None:
        found = collapse_sentence(layers, _read(run_dir, "drift_budget"))
        return claim + "Under the relative reading of σ (the one that gives ≈ 1°), " + found
    return claim + reading_sentence(agg, None, sigma)


def key_findings_markdown(run_dir, sigma: float = PAPER_SIGMA) -> str:
    """The "Key findings" admonition for the top of the book, from ``run_dir``'s tables.

    It opens with a generated verdict (the paper's claim; whether a ≈1° drift collapses the last-layer
    probe, and at which layers it does, from the paired interval of the AUC drop), then at most six
    bullets: σ = ``sigma`` as an angle and its AUC under each reading; the cliff; the drift budget and
    its cause; silent failures; the two failure modes (or real updates and fine-tuning); base against
    instruct. A missing table says "not in this run".
    """
    run_dir = Path(run_dir)
    agg = _read(run_dir, "drift_sweep_summary")
    tau = _tau(run_dir)
    bullets = [
        _sigma_finding(agg, sigma),
        _cliff_finding(_read(run_dir, "drift_sweep"), cliff_log=_read(run_dir, "cliff_log")),
        _budget_finding(_read(run_dir, "drift_budget"), _read(run_dir, "variance_floor")),
        "**Silent failures.** " + silent_sentence(agg, optional_table(run_dir, "claim_changes"), tau, sigma),
        _updates_finding(run_dir),
        _separability_finding(_read(run_dir, "pairs"), _read(run_dir, "finetune_separability")),
    ]
    body = "\n".join(f"- {b}" for b in bullets)
    return (":::{admonition} Key findings of this run\n:class: tip key-findings\n\n"
            f"{_verdict(run_dir, agg, sigma)}\n\n"
            "Every number below is read from this run's tables; brackets are 95% intervals.\n\n"
            f"{body}\n:::\n")


def discussion_outcomes(run_dir, sigma: float = PAPER_SIGMA) -> dict[str, str]:
    """The Discussion's outcome sentences by page name (``generated/<name>.md``), each computed from the run:
    ``discussion_readings`` (§1), ``discussion_rotation`` (§2), ``discussion_silent`` (§3),
    ``discussion_layers`` (what remains unresolved: which layer collapses and why), ``discussion_monitors``
    (practitioner point 3) and ``discussion_updates`` (point 5)."""
    run_dir = Path(run_dir)
    agg = _read(run_dir, "drift_sweep_summary")
    layers, budget = _read(run_dir, "layer_collapse"), _read(run_dir, "drift_budget")
    out = {
        "discussion_readings": f"{reading_sentence(agg, layers, sigma)} {cliff_range_sentence()}",
        "discussion_rotation": rotation_sentence(agg),
        "discussion_silent": silent_sentence(agg, optional_table(run_dir, "claim_changes"), _tau(run_dir), sigma),
        "discussion_layers": (("Under the relative reading, " if layers is not None else "")
                              + f"{collapse_sentence(layers, budget)} "
                              + ("The drift budget per model: " if budget is not None else "")
                              + budget_cause(budget, _read(run_dir, "variance_floor"))),
        "discussion_monitors": monitor_sentence(_read(run_dir, "first_alarms"), agg),
        "discussion_updates": update_sentence(_read(run_dir, "real_drift"), _read(run_dir, "mitigations")),
    }
    return {k: v.strip() + "\n" for k, v in out.items()}


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
                out.append(f"- **{short_name(m)}**: σ = {sigma:g} under both readings is {NOT_IN_RUN}.")
                continue
            ratio = math.tan(math.radians(per.angle_deg_mean_mean)) / sigma
            out.append(f"- **{short_name(m)}**: at σ = {sigma:g} the per-dimension reading moves embeddings by "
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
                out.append(f"- **{short_name(m)}**, rotation at σ = {smax:g}: the paper's literal formula moves "
                           f"embeddings by {_deg(lit.angle_deg_mean_mean)} (AUC {lit.auc_mean:.2f}), a true rotation "
                           "by exactly "
                           f"{_deg(true.angle_deg_mean_mean)} (AUC {true.auc_mean:.2f}).")
        for m in _models(agg):
            zero = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
            if zero is not None:
                out.append(f"- **{short_name(m)}**, clean test set: {zero.silent_failure_share_mean:.0%} of the "
                           f"errors are confident (the share) but only {zero.silent_failure_rate_mean:.0%} of all "
                           "texts are "
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
        widths = ", ".join(f"{short_name(r.model)} {r.ci_high - r.ci_low:.2f}" for r in auc.itertuples())
        out.append(f"- This run scores {n} test texts per model (the paper: 2,000); the 95% bootstrap interval of a "
                   f"clean AUC is {widths} wide, so smaller differences are not resolved.")
    return "\n".join(out) + "\n"
