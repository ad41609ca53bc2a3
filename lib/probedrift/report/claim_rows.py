"""The paper-against-study rows beyond the paper split's same-σ levels (:mod:`probedrift.report.compare`
builds those): changes judged on paired intervals, the per-dimension reading judged at the angles it
implies at the paper's widths, the cross-fitted design, each probed layer, and the only controlled
base-against-tuned comparison (chapter 7).

- **Changes** (``claim_changes``): the claims that drift *changes* something — ECE rises 1.2% → 22.6%,
  mean confidence drops 14%, drift produces silent failures — are judged on the paired interval of
  drifted − clean (same texts, same drift draws), under the paper's C and the C chosen on the
  validation split. Until the run has that table the rows say "not in this run".
- **Angle-matched** (``drift_sweep_summary``, ``cliff_log``): σ = 0.02 per dimension turns a unit vector
  by arctan(σ√d) (:func:`probedrift.report.outcomes.per_dim_angle_deg`); the AUC there is read from the
  sweep's measured angles by linear interpolation, and the cliff angle is judged against the paper's
  cliff σ range read as angles at the same width.
- **Cross-fitted** (``drift_sweep_crossfit``): every text a test text; its interval also covers the split
  and probe seed.
- **Per layer** (``layer_collapse``): the collapse claim at each probed layer, conditional on the layer,
  since the paper does not say which it probed.
- **Same-model tuning** (``finetune_separability``) and the **cross-validated AUC** of each pair
  (``pairs``), the separability measure that does not depend on the width.
"""

from __future__ import annotations

import math

import numpy as np

from probedrift.report.claims import (
    BANDS,
    CLAIMS,
    CROSS_FAMILY,
    PAIR_INTERVAL,
    RunTables,
    combined_verdict,
    fmt_value,
    interval_text,
    missing_row,
    optional_table,
    verdict_row,
)
from probedrift.report.outcomes import interp_at, per_dim_angle_deg, short_name
from probedrift.report.paper import PAPER_WIDTHS
from probedrift.report.paper import SIGMA as HEADLINE_SIGMA
from probedrift.report.tables import row_at_sigma
from probedrift.report.verdicts import context, judge

__all__ = ["CHANGE_METRICS", "NOT_IN_RUN", "angle_band", "cv_auc_rows", "extra_rows", "verdict_headline"]

NOT_IN_RUN = "not in this run"
#: claim_changes metric → the claim it tests (:data:`probedrift.report.claims.CLAIMS`).
CHANGE_METRICS = {"mean_confidence": "confidence", "silent_failure_share": "share",
                  "silent_failure_rate": "rate", "ece": "ece"}
#: How the C rules of ``claim_changes`` read.
C_RULES = {"paper": "the paper's C", "validation": "C chosen on the validation split"}
LAYER_CONDITION = "conditional on the layer: the paper does not say which layer it probed"


def _change_rows(run: RunTables) -> list[dict]:
    """One row per (model, design, C rule, reading, σ, change claim) of ``claim_changes``: the paired
    interval of drifted − clean judged against the claim's band (mean confidence as a relative change,
    change/clean, with the clean value taken as fixed)."""
    table = optional_table(run.dir.parent, "claim_changes")
    rows = []
    if table is None:
        for key in CHANGE_METRICS.values():
            c = CLAIMS[key]
            for m in run.models:
                rows.append(missing_row(f"paired change: {c.words}", m, c.spec, "paired change, drifted − clean",
                                        f"the paired change table (claim_changes) is {NOT_IN_RUN}"))
        return rows
    for r in table[table.metric.isin(list(CHANGE_METRICS))].itertuples(index=False):
        c = CLAIMS[CHANGE_METRICS[r.metric]]
        scale = float(r.clean) if r.metric == "mean_confidence" else 1.0
        value, lo, hi = (float(x) / scale for x in (r.change, r.change_ci_low, r.change_ci_high))
        decimals = 3 if c.band == "rises" else None
        v = judge(value, lo, hi, c.spec.band, decimals=decimals)
        what = "relative change (drifted − clean)/clean" if r.metric == "mean_confidence" else "drifted − clean"
        text = (f"{fmt_value(r.clean, 'pct')} → {fmt_value(r.drifted, 'pct')}; "
                f"{what} {interval_text(value, lo, hi, 'pct')}")
        convention = (f"{r.design}, {C_RULES.get(str(r.c_rule), r.c_rule)} (C = {float(r.c):g}), "
                      f"gaussian / {r.convention}, σ = {float(r.sigma):g}")
        why = f"{r.interval}; {int(r.n_texts)} texts, {int(r.n_draws)} drift draws; {what}"
        rows.append(verdict_row(f"paired change: {c.words}", r.model, c.spec, v, convention, why, text=text))
    return rows


def angle_band(width: int) -> tuple[float, float]:
    """The cliff band of :data:`BANDS` (σ ∈ [0.005, 0.03]) read as angles under the per-dimension
    reading at width d: [arctan(0.005√d), arctan(0.03√d)] in degrees."""
    spec = BANDS["cliff"]
    return per_dim_angle_deg(spec.low, width), per_dim_angle_deg(spec.high, width)


def _angle_matched_rows(run: RunTables) -> list[dict]:
    """AUC at, and cliff angle against, the angle σ = 0.02 per dimension has at each of the paper's widths."""
    rows, spec = [], BANDS["collapse"]
    for label, width in PAPER_WIDTHS.items():
        theta = per_dim_angle_deg(HEADLINE_SIGMA, width)
        claim = f"angle-matched: AUC at {theta:.1f}°, the angle of σ = 0.02 per dimension at d = {width} ({label})"
        convention = f"gaussian / per_dim, measured angle {theta:.1f}° = arctan(0.02·√{width})"
        for m in run.models:
            g = None if run.agg is None else run.agg[(run.agg.model == m) & (run.agg.drift_type == "gaussian")
                                                   & (run.agg.convention == "per_dim")]
            if g is None or g.empty:
                rows.append(missing_row(claim, m, spec, convention, f"the per-dimension sweep is {NOT_IN_RUN}"))
                continue
            x = g.angle_deg_mean_mean.to_numpy(dtype=float)
            value, lo, hi = (interp_at(x, g[col], theta) for col in ("auc_mean", "auc_ci_low", "auc_ci_high"))
            if not np.isfinite(value):
                rows.append(missing_row(claim, m, spec, convention,
                                        f"{theta:.1f}° lies beyond this sweep's largest measured angle "
                                        f"({np.nanmax(x):.1f}°)"))
                continue
            rows.append(verdict_row(claim, m, spec, judge(value, lo, hi, spec.band), convention,
                                    f"{run.interval}, read between the two grid points around {theta:.1f}° by linear "
                                    "interpolation of the value and of each bound"))
    rows += _angle_matched_cliff_rows(run)
    return rows


def _angle_matched_cliff_rows(run: RunTables) -> list[dict]:
    """The per-dimension cliff angle (``cliff_log``, criterion drop_20) against the paper's cliff σ range
    read as angles at each of its widths (:func:`angle_band`)."""
    rows, spec, table = [], BANDS["cliff"], run.cliff_log
    for label, width in PAPER_WIDTHS.items():
        b_lo, b_hi = angle_band(width)
        claim = f"angle-matched: the cliff at the angles of σ ≈ 0.01–0.028 per dimension at d = {width} ({label})"
        convention = "gaussian / per_dim, log-spaced σ grid, angle where the seed-mean AUC falls 20 points"
        for m in run.models:
            hit = None if table is None else table[(table.model == m) & (table.convention == "per_dim")
                                                  & (table.drift_type == "gaussian") & (table.criterion == "drop_20")]
            if hit is None or hit.empty:
                rows.append(missing_row(claim, m, spec, convention, f"the log-grid cliff table is {NOT_IN_RUN}",
                                        unit="deg"))
                continue
            r = hit.iloc[0]
            if not np.isfinite(float(r.target_auc)):
                rows.append(missing_row(claim, m, spec, convention, "a 20-point fall would end below chance",
                                        unit="deg"))
                continue
            value = float(r.angle_deg)
            lo, hi = float(r.angle_deg_ci_low), float(r.angle_deg_ci_high)
            why = f"{r.interval}"
            if not np.isfinite(value) and int(r.n_seeds_reached) == 0:
                lo, hi = float(r.max_angle_deg), math.inf
                why = f"no drift seed falls 20 points up to {lo:.1f}°: the cliff lies beyond the grid"
            elif int(r.n_seeds_reached) < int(r.n_seeds):
                hi = math.inf
                why += (f"; {int(r.n_seeds) - int(r.n_seeds_reached)} of {int(r.n_seeds)} drift seeds never fall on "
                        "the grid, so the interval is open above")
            v = judge(value, lo, hi, (b_lo, b_hi), decimals=1)
            rows.append(verdict_row(claim, m, spec, v, convention, why, unit="deg",
                                    paper=f"σ ≈ 0.01–0.028 (Fig. 2), {b_lo:.1f}–{b_hi:.1f}° at d = {width} "
                                          "(band widened to σ 0.005–0.03)",
                                    text=interval_text(value, lo, hi, "deg")))
    return rows


def _crossfit_rows(run: RunTables) -> list[dict]:
    """AUC at σ = 0.02 under each reading in the cross-fitted design (every text a test text)."""
    table, spec, rows = optional_table(run.dir.parent, "drift_sweep_crossfit"), BANDS["collapse"], []
    for conv, label in (("per_dim", "the paper's formula"), ("relative", "the abstract's ≈1° reading")):
        claim = f"cross-fitted design: AUC at σ = 0.02 ({label})"
        convention = f"gaussian / {conv}, σ = 0.02, cross-fitted: every text a test text"
        for m in run.models:
            r = None if table is None else row_at_sigma(table, HEADLINE_SIGMA, model=m, drift_type="gaussian",
                                                         convention=conv)
            if r is None:
                rows.append(missing_row(claim, m, spec, convention,
                                        f"the cross-fitted sweep at σ = 0.02 is {NOT_IN_RUN}"))
                continue
            why = str(r.get("interval", "interval over test texts, splits and drift draws"))
            rows.append(verdict_row(claim, m, spec, judge(r.auc_mean, r.auc_ci_low, r.auc_ci_high, spec.band),
                                    convention, f"{why}; {int(r.n_texts)} texts"))
    return rows


def _layer_rows(run: RunTables) -> list[dict]:
    """The collapse claim at each probed layer (``layer_collapse``: ≈1°, relative reading)."""
    table, spec = optional_table(run.dir.parent, "layer_collapse"), BANDS["collapse"]
    if table is None:
        return [missing_row("per layer: AUC at ≈ 1°", m, spec, "gaussian / relative, per layer",
                            f"the per-layer collapse table is {NOT_IN_RUN}") for m in run.models]
    rows = []
    for r in table.itertuples(index=False):
        claim = f"per layer: AUC at ≈ 1° at layer {int(r.layer)} ({r.pooling})"
        budget = getattr(r, "angle_half_predicted_deg", math.nan)
        why = f"{LAYER_CONDITION}; {r.interval}"
        if np.isfinite(budget):
            why += f"; drift budget (half the AUC above chance lost) {budget:.2f}°"
        rows.append(verdict_row(claim, r.model, spec,
                                judge(r.auc_at_angle, r.auc_at_angle_ci_low, r.auc_at_angle_ci_high, spec.band),
                                f"gaussian / {r.convention}, σ = {r.sigma_near_angle:g} ({r.angle_deg:.2f}°)", why))
    return rows


def _separability_text(r) -> str:
    return (f"{float(r.base_value):.3g} → {float(r.instruct_value):.3g} "
            f"({interval_text(r.relative_change, r.relative_change_low, r.relative_change_high, 'rel')})")


def _finetune_rows(run: RunTables) -> list[dict]:
    """Chapter 7's base → its own tuned checkpoint, the last step of each learning rate: silhouette and
    the debiased Fisher ratio judged together, as for a same-family pair."""
    table, c = optional_table(run.dir.parent, "finetune_separability"), CLAIMS["separability"]
    claim = f"same model, fine-tuned (chapter 7): {BANDS['separability'].label}"
    if table is None:
        return [missing_row(claim, "—", c.spec, "same-model fine-tuning", f"the fine-tuning chapter is {NOT_IN_RUN}")]
    rows = []
    rule = ("agrees if both silhouette's and the debiased Fisher ratio's 95% ranges lie within "
            f"{c.spec.text()}, disagrees if either lies wholly outside, unresolved otherwise")
    last = table[table.step == table.groupby("learning_rate").step.transform("max")]
    for (base, ckpt), g in last.groupby(["base", "checkpoint"], sort=False):
        g = g.set_index("metric")
        parts = [judge(float(g.loc[k].relative_change), float(g.loc[k].relative_change_low),
                       float(g.loc[k].relative_change_high), c.spec.band)
                 for k in ("silhouette", "fisher") if k in g.index]
        value = float(np.mean([p.value for p in parts])) if parts else math.nan
        v = combined_verdict(value, parts, c.spec, rule, complete=len(parts) == 2)
        text = "; ".join(f"{k} {_separability_text(g.loc[k])}" for k in ("silhouette", "fisher", "cv_auc")
                         if k in g.index)
        why = f"{g.interval.iloc[0]}; the only comparison in which tuning is the one difference (same width and data)"
        rows.append(verdict_row(claim, f"{base} → {ckpt}", c.spec, v, str(g.note.iloc[0]), why, text=text))
    return rows


def cv_auc_rows(run: RunTables) -> list[dict]:
    """Each pair's cross-validated AUC, the separability measure that does not depend on the width:
    judged for a same-family pair, context otherwise."""
    c, rows = CLAIMS["separability"], []
    claim = f"cross-validated AUC (width-free): {BANDS['separability'].label}"
    if run.pairs is None:
        return rows
    for (b, i), g in run.pairs[run.pairs.metric == "cv_auc"].groupby(["base", "instruct"], sort=False):
        r, note = g.iloc[0], str(g.note.iloc[0])
        if "same family" in note.lower():
            v = judge(r.relative_change, r.relative_change_low, r.relative_change_high, c.spec.band)
            why = (f"{r.get('interval', PAIR_INTERVAL)}; silhouette and the Fisher ratio depend on the width, "
                   "the CV AUC does not")
        else:
            why = f"{CROSS_FAMILY} (note: {note})"
            v = context(why, r.relative_change)
        row = verdict_row(claim, f"{b} → {i}", c.spec, v, f"{note}; last layer", why, text=_separability_text(r),
                          paper="≈ −20% (abstract; Table 2)")
        row["ci_low"], row["ci_high"] = float(r.relative_change_low), float(r.relative_change_high)
        rows.append(row)
    return rows


def extra_rows(run: RunTables) -> list[dict]:
    """The rows of this module that follow the paper split's: changes, angle-matched, cross-fitted, per layer,
    same-model fine-tuning (:func:`cv_auc_rows` heads the separability rows instead)."""
    return [*_change_rows(run), *_angle_matched_rows(run), *_crossfit_rows(run), *_layer_rows(run),
            *_finetune_rows(run)]


#: The rows the comparison page opens with: (claim prefix, how the reading is named).
HEADLINE_ROWS = (("AUC at σ = 0.02 (the abstract's", "Under the abstract's ≈1° reading (last layer)"),
                 ("AUC at σ = 0.02 (the paper's formula)", "under the paper's per-dimension formula"),
                 ("per layer: ", "at each probed layer (≈1°, relative reading)"))


def verdict_headline(df) -> str:
    """The comparison page's opening sentence, read from its own verdicts: for the collapse claim under each
    reading and at each probed layer, which models (and layers) agree, disagree or are unresolved."""
    parts = []
    for prefix, label in HEADLINE_ROWS:
        rows = df[df.claim.str.startswith(prefix)]
        if rows.empty:
            continue
        groups: dict[str, list[str]] = {}
        for r in rows.itertuples(index=False):
            name = short_name(r.model) + (f" layer {r.claim.split('at layer ')[1].split(' ')[0]}"
                                          if "at layer " in r.claim else "")
            groups.setdefault(r.verdict, []).append(name)
        verbs = {"unresolved": "is unresolved", "context": "is context"}
        said = "; ".join(f"{verbs.get(v, v)} for {', '.join(n)}" for v, n in groups.items())
        parts.append(f"{label[0].upper()}{label[1:]}, the paper's collapse claim (AUC 0.50 at ≈ 1°, σ = 0.02) {said}")
    return (". ".join(parts) + ".") if parts else ""
