"""Each chapter's "What this shows" paragraph, written as Markdown from the run's tables.

Every function is pure (tables in, text out), so each sentence a reader sees is computed from the
run and unit-tested on small fixture tables; a notebook only calls one of these and displays the
result. Numbers are rounded for reading; the tables keep full precision.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.report.tables import fmt_ci, row_at_sigma


def embeddings_summary(dataset: str, n_texts: int, extraction: pd.DataFrame, length_only_auc: float) -> str:
    """Chapter 1: widths and depths of the models, extraction time, and the length-only AUC floor."""
    text = " ".join(
        f"**{r.model}** gives {int(r.width)}-dimensional vectors ({int(r.blocks)} blocks; {r.seconds:.0f} s "
        "including cache look-ups)." for r in extraction.itertuples())
    return (f"The run uses {n_texts} balanced texts of `{dataset}`. {text} Text length alone reaches an AUC of "
            f"{length_only_auc:.2f} (|AUC − 0.5| = {abs(length_only_auc - 0.5):.2f}), so a probe's AUC should be read "
            "against that floor.")


def probes_summary(baseline: pd.DataFrame, tau: float) -> str:
    """Chapter 2: clean AUC with its interval, mean confidence, ECE and silent-failure share per model."""
    v = baseline.set_index(["model", "metric"])
    parts = []
    for m in dict.fromkeys(baseline.model):
        auc = v.loc[(m, "auc")]
        parts.append(f"**{m}**: AUC {fmt_ci(auc.value, auc.ci_low, auc.ci_high)}, mean confidence "
                     f"{v.loc[(m, 'mean_confidence')].value:.2f}, ECE {v.loc[(m, 'ece')].value:.1%}, and "
                     f"{v.loc[(m, 'silent_failure_share')].value:.0%} of its errors are made with confidence ≥ {tau}.")
    return ("On clean test data " + " ".join(parts) + " The paper's clean baseline is an AUC of 0.85–0.90 on Civil "
            "Comments; ours is a different dataset and models, so only the pattern under drift, not the level, is "
            "comparable.")


def drift_summary(agg: pd.DataFrame, sigma: float = PAPER_SIGMA, budget: pd.DataFrame | None = None) -> str:
    """Chapter 3: at ``sigma`` under both Gaussian readings, the measured angle and AUC; the largest true
    rotation; and, with ``budget`` (:func:`~probedrift.experiments.synthetic_drift.drift_budget`), each
    model's drift budget per layer and where a 1° drift costs 5 AUC points."""
    smax = float(agg.sigma.max())
    lines = []
    for m in dict.fromkeys(agg.model):
        def at(convention, s, col, t="gaussian", m=m):
            r = row_at_sigma(agg, s, model=m, drift_type=t, convention=convention)
            return float(r[col]) if r is not None else float("nan")

        base = at("per_dim", 0.0, "auc_mean")
        if np.isnan(at("per_dim", sigma, "auc_mean")) and np.isnan(at("relative", sigma, "auc_mean")):
            lines.append(f"- **{m}**: σ = {sigma} is not on this run's grid (add it to `extra_sigmas`).")
            continue
        line = (f"- **{m}** (clean AUC {base:.2f}): at σ = {sigma} the paper's per-dimension formula moves "
                f"embeddings by {at('per_dim', sigma, 'angle_deg_mean_mean'):.1f}° and leaves AUC "
                f"{at('per_dim', sigma, 'auc_mean'):.2f}; "
                f"the relative reading moves them by {at('relative', sigma, 'angle_deg_mean_mean'):.2f}° and leaves "
                f"AUC {at('relative', sigma, 'auc_mean'):.2f}.")
        rot = at("true", smax, "auc_mean", t="rotation")
        if not np.isnan(rot):
            line += f" A true rotation by {smax * 90:.1f}° (σ = {smax:.2f}) leaves AUC {rot:.2f}."
        lines.append(line)
    text = ("\n".join(lines) + "\n\nA collapse to chance at about one degree would need AUC ≈ 0.5 in the relative "
            "rows; the measured angles say which reading of σ any collapse belongs to.")
    return text + ("" if budget is None or budget.empty else "\n\n" + budget_summary(budget))


def budget_summary(budget: pd.DataFrame) -> str:
    """The drift budget per model and layer (predicted vs simulated half-excess angle), where 1° collapses
    the probe, and how closely the closed form tracks the simulation."""
    lines = []
    for m, g in budget.groupby("model", sort=False):
        parts = [f"layer {int(r.layer)}: {r.angle_half_predicted_deg:.2g}° predicted / "
                 f"{r.angle_half_simulated_deg:.2g}° "
                 f"simulated (‖w/s‖ ≈ {r.norm_w_over_s:.3g}, smallest std {r.std_min:.2g})"
                 for r in g.itertuples()]
        collapsed = [str(int(r.layer)) for r in g.itertuples() if r.collapse_at_1deg]
        lines.append(f"- **{m}**, angle at which AUC loses half its excess over chance — " + "; ".join(parts) + ". "
                     + (f"A 1° drift costs ≥ 5 AUC points at layer(s) {', '.join(collapsed)}."
                        if collapsed else "At no probed layer does a 1° drift cost 5 AUC points."))
    gap = float(budget.max_curve_gap.max())
    return ("The drift budget, predicted in closed form from the clean logits and checked by simulation:\n\n"
            + "\n".join(lines) + f"\n\nThe predicted AUC-versus-angle curve stays within {gap:.3f} AUC of the "
            "simulated one at every angle and layer of this run.")


def silent_failures_summary(agg: pd.DataFrame, alarms: pd.DataFrame, model: str, tau: float) -> str:
    """Chapter 4: confidence drop against AUC loss under the paper's Gaussian drift, and how often monitors alarm."""
    g = agg[(agg.model == model) & (agg.drift_type == "gaussian") & (agg.convention == "per_dim")].sort_values("sigma")
    if g.empty:
        return (f"The paper's Gaussian drift (`per_dim`) was not run for **{model}**, so its silent-failure figures "
                "are not shown.")
    clean, worst = g.iloc[0], g.iloc[-1]
    drop = (clean.mean_confidence_mean - worst.mean_confidence_mean) / clean.mean_confidence_mean
    a = alarms[alarms.model == model]
    parts = [f"For **{model}** under the paper's Gaussian drift, mean confidence falls {drop:.0%} from σ = 0 to "
             f"σ = {worst.sigma:.2f} while AUC goes from {clean.auc_mean:.2f} to {worst.auc_mean:.2f}; at the "
             f"largest σ {worst.silent_failure_share_mean:.0%} of errors are made with confidence ≥ {tau} "
             f"({worst.silent_failure_rate_mean:.0%} of all texts)."]
    for name, label in (("confidence", "The confidence monitor"), ("mmd", "MMD")):
        first = a[a.detector == name].first_alarm_angle_deg
        if len(first):
            parts.append(f"{label} alarms in {int(first.notna().sum())} of {len(first)} drift settings"
                         + (f", with a median first-alarm angle of {first.median():.2f}°."
                            if first.notna().any() else "."))
    return " ".join(parts)


def separability_summary(pairs_table: pd.DataFrame) -> str:
    """Chapter 5: the relative change of silhouette and Fisher ratio from base to instruct, per pair."""
    lines = [f"- {r.metric} ({r.note}): {r.base} {r.base_value:.3f} → {r.instruct} {r.instruct_value:.3f}, a relative "
             f"change of {r.relative_change:+.0%} (range {r.relative_change_low:+.0%} to "
             f"{r.relative_change_high:+.0%})."
             for r in pairs_table[pairs_table.metric.isin(["silhouette", "fisher"])].itertuples()]
    if not lines:
        return "This run has no base/instruct pair among its models, so there is nothing to compare."
    return ("The paper reports −19% (silhouette) and −26% (Fisher) for instruct vs base.\n\n" + "\n".join(lines)
            + "\n\nWhere the range spans zero the difference is not resolved by this run; and a cross-family pair "
            "cannot attribute any difference to instruction tuning.")


def real_drift_summary(real: pd.DataFrame, mit: pd.DataFrame, reference: pd.DataFrame, tau: float, n_test: int) -> str:
    """Chapter 6: the angles real changes caused, the worst loss, silent losses, and what each mitigation recovered."""
    skipped = real[real.note.astype(str).str.startswith("skipped")]
    r = real.drop(skipped.index).set_index("source")
    skip_text = ("" if skipped.empty else " Skipped as inapplicable: "
                 + "; ".join(f"`{s}` ({n.removeprefix('skipped: ')})"
                             for s, n in zip(skipped.source, skipped.note)) + ".")
    if r.empty:
        return "No real drift source applied to this run." + skip_text
    by = {m: mit[mit.method == m].set_index("source") for m in ("no_update", "frozen", "retrain", "recalibrate",
                                                               "detector_gate")}
    kmax = int(mit[mit.method == "align"].k.max())
    align_max = mit[(mit.method == "align") & (mit.k == kmax)].set_index("source")
    drop = by["no_update"].auc - by["frozen"].auc
    alarm_cols = [c for c in real.columns if c.startswith("alarm_")]
    alarmed = r[alarm_cols].astype("boolean").fillna(False).any(axis=1).astype(bool)
    small = r.index[r.angle_deg_mean < 1.0]
    gap = (reference.set_index("source").auc_real - reference.set_index("source").auc_isotropic).dropna()
    ci_width = float((by["frozen"].ci_high - by["frozen"].ci_low).median())
    silent = [s for s in r.index if drop[s] >= 0.05 and not alarmed[s]]

    parts = [f"The {len(r)} real changes moved the embeddings of the same texts by {r.angle_deg_mean.min():.2f}° "
             f"(`{r.angle_deg_mean.idxmin()}`) to {r.angle_deg_mean.max():.1f}° (`{r.angle_deg_mean.idxmax()}`) on "
             "average."]
    if len(small):
        parts.append("Below the paper's ≈1°: " + ", ".join(
            f"`{s}` ({r.angle_deg_mean[s]:.2f}°, frozen-probe AUC {by['no_update'].auc[s]:.2f} → "
            f"{by['frozen'].auc[s]:.2f})"
            for s in small) + ".")
    else:
        parts.append("None stayed below the paper's ≈1°.")
    worst = drop.idxmax()
    parts.append(f"The largest loss was `{worst}`: AUC {by['no_update'].auc[worst]:.2f} → "
                 f"{by['frozen'].auc[worst]:.2f} "
                 f"at {r.angle_deg_mean[worst]:.1f}°, with {r.silent_failure_share[worst]:.0%} of its errors made at "
                 f"confidence ≥ {tau}.")
    if len(gap):
        parts.append(f"Against isotropic noise of the same angle, the real AUC differs by {gap.median():+.2f} "
                     f"(median over {len(gap)} sources, range {gap.min():+.2f} to {gap.max():+.2f}).")
    parts.append(f"At least one monitor alarmed for {int(alarmed.sum())} of {len(r)} sources"
                 + (f" (not for {', '.join(f'`{s}`' for s in r.index[~alarmed])})" if (~alarmed).any() else "")
                 + "; " + (f"silent losses of ≥ 0.05 AUC without any alarm: {', '.join(f'`{s}`' for s in silent)}."
                           if silent else "no source lost ≥ 0.05 AUC without an alarm."))
    dconf = (by["recalibrate"].mean_confidence - by["frozen"].mean_confidence).median()
    dece = (by["recalibrate"].ece - by["frozen"].ece).median()
    helped = int((align_max.auc > by["frozen"].auc.reindex(align_max.index)).sum())
    parts.append(f"Mitigations (median over sources): frozen AUC {by['frozen'].auc.median():.2f}, retrained "
                 f"{by['retrain'].auc.median():.2f}, aligned with k = {kmax} anchors {align_max.auc.median():.2f}, "
                 f"gated {by['detector_gate'].auc.median():.2f} (retrained for {int(by['detector_gate'].alarm.sum())} "
                 f"sources); aligning beat the frozen probe for {helped} of {len(align_max)} sources. Recalibration "
                 f"moved mean confidence by {dconf:+.2f} and ECE by {dece:+.3f} while the AUC stayed the frozen "
                 "probe's: it fixes confidence, not ranking.")
    parts.append(f"With {n_test} test texts the bootstrap intervals of a single AUC are {ci_width:.2f} wide (median), "
                 "so differences smaller than that are not resolved by this run." + skip_text)
    return " ".join(parts)


def finetune_summary(ft: pd.DataFrame, sep: pd.DataFrame, reference: pd.DataFrame | None = None) -> str:
    """Chapter 7: per update strength, how far the checkpoints moved the embeddings and what the frozen
    probe lost; the controlled separability change; and the checkpoints against isotropic noise."""
    base = ft[ft.step == 0].iloc[0]
    intro = (f"The frozen probe of **{base.model}** starts at AUC "
             f"{fmt_ci(base.auc, base.auc_ci_low, base.auc_ci_high)} (step 0 is the base model itself).")
    bullets, lines = [], []
    for lr, g in ft[ft.step > 0].groupby("learning_rate", sort=True):
        g = g.sort_values("step")
        last = g.iloc[-1]
        steps = ", ".join(f"step {int(r.step)}: {r.angle_deg_mean:.2f}° (AUC {r.auc:.2f})" for r in g.itertuples())
        resolved = last.auc_ci_high < base.auc_ci_low or last.auc_ci_low > base.auc_ci_high
        alarms = [c.removeprefix("alarm_") for c in ft.columns if c.startswith("alarm_") and bool(last[c])]
        bullets.append(f"- learning rate {lr:g}: {steps}. At step {int(last.step)} the AUC is "
                     f"{fmt_ci(last.auc, last.auc_ci_low, last.auc_ci_high)}"
                     + (" — a change the test texts resolve" if resolved
                        else " — not resolved from the base by this run's test texts")
                     + f"; retraining on the new embeddings gives {last.retrain_auc:.2f}; "
                     + (f"monitors that alarm: {', '.join(alarms)}." if alarms else "no monitor alarms."))
    largest = float(ft.angle_deg_mean.max())
    lines.append(f"The largest checkpoint moved the embeddings by {largest:.2f}° on average"
                 + (", more than the paper's ≈1°." if largest > 1 else
                    ", less than the paper's ≈1°: updates of this size (a few CPU-sized steps) move them less."))
    if reference is not None and len(reference.dropna(subset=["auc_isotropic"])):
        gap = (reference.auc_real - reference.auc_isotropic).dropna()
        lines.append(f"Against isotropic noise of the same angle the checkpoints' AUC differs by {gap.median():+.2f} "
                     f"(median over {len(gap)} checkpoints, range {gap.min():+.2f} to {gap.max():+.2f}).")
    rows = sep[sep.metric.isin(["silhouette", "fisher"])]
    if len(rows):
        last_step = rows.step.max()
        parts = [f"{r.metric} {r.relative_change:+.0%} "
                 f"(range {r.relative_change_low:+.0%} to {r.relative_change_high:+.0%}, "
                 f"lr {r.learning_rate:g})" for r in rows[rows.step == last_step].itertuples()]
        lines.append(f"Separability at the same width and tokenizer, base → step {int(last_step)}: " + "; ".join(parts)
                     + ". The paper reports about −20% for instruct against base; here tuning is the only difference.")
    return intro + "\n\n" + "\n".join(bullets) + "\n\n" + " ".join(lines)


def power_summary(power: pd.DataFrame) -> str:
    """The smallest differences this run can resolve, from :func:`probedrift.science.crossfit.power_table`.

    Per model and design (paper split, cross-fitted): the minimum detectable AUC and silent-failure-share
    difference, MDE = (z_{1−α/2} + z_power)·√2·se (two independent estimates with the design's standard
    error at the observed value, two-sided level α).
    """
    if power.empty:
        return "No power figures: the run has no clean rows to read a standard error from."
    first = power.iloc[0]
    lines = []
    for model, g in power.groupby("model", sort=False):
        parts = []
        for design, d in g.groupby("design", sort=False):
            v = d.set_index("metric")
            n = v.n_texts.iloc[0]
            texts = f"{int(n)} texts" if np.isfinite(n) else "its test texts"
            bits = []
            if "auc" in v.index:
                bits.append(f"AUC differences below {v.loc['auc', 'mde']:.3f} (se {v.loc['auc', 'se']:.3f})")
            if "silent_failure_share" in v.index and np.isfinite(v.loc["silent_failure_share", "mde"]):
                bits.append(f"silent-failure-share differences below {v.loc['silent_failure_share', 'mde']:.0%}")
            parts.append(f"the {design} ({texts}) cannot resolve " + " or ".join(bits))
        lines.append(f"- **{model}**: " + "; ".join(parts) + ".")
    return (f"At σ = {first.sigma:g} ({first.drift_type}/{first.convention}), with {first.power:.0%} power and a "
            f"two-sided α = {first.alpha:g}:\n" + "\n".join(lines)
            + "\n\nA smaller gap between two models, layers or runs is not evidence either way at this size.")
