"""Each chapter's "What this shows" paragraph, written as Markdown from the run's tables.

Every function is pure (tables in, text out), so each sentence a reader sees is computed from the
run and unit-tested on small fixture tables; a notebook only calls one of these and displays the
result. Numbers are rounded for reading; the tables keep full precision.

No outcome word is typed: whether something rises, falls or holds is read from the interval of the
change (:func:`probedrift.report.wording.direction`), and the number is printed unsigned beside its
word. Model names are printed short (:func:`probedrift.report.wording.short_name`).
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.report.paper import SIGMA_ANGLE_DEG
from probedrift.report.tables import fmt_ci, row_at_sigma
from probedrift.report.wording import change_words, direction, fmt_lr, short_name

#: Level of the intervals the summaries compute themselves (:func:`level_change`).
LEVEL = 0.95


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``df``, or NaN everywhere when a table of an older run lacks it."""
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=float)


def level_change(before: pd.Series, after: pd.Series, metric: str, level: float = LEVEL) -> tuple[float, float, float]:
    """The change of ``<metric>_mean`` between two rows of the sweep summary, with a conservative interval.

    Change Δ = m₁ − m₀ ± z_{(1+level)/2}·√(Σ_rows se_texts² + se_draws²), from the ``_se_texts`` and
    ``_se_draws`` columns of :func:`probedrift.report.tables.aggregate_sweep`. The two levels are treated
    as independent: both are measured on the same test texts, so their errors are positively correlated
    and a paired interval would be narrower; this one is wider, never falsely resolved. NaN bounds when a
    row lacks its standard errors.
    """
    def var(row):
        parts = [row.get(f"{metric}_se_texts", np.nan), row.get(f"{metric}_se_draws", 0.0)]
        return sum(float(x) ** 2 if pd.notna(x) else np.nan for x in parts)

    change = float(after[f"{metric}_mean"]) - float(before[f"{metric}_mean"])
    half = NormalDist().inv_cdf((1.0 + level) / 2.0) * float(np.sqrt(var(before) + var(after)))
    return change, change - half, change + half


def embeddings_summary(dataset: str, n_texts: int, extraction: pd.DataFrame, length_only_auc: float) -> str:
    """Chapter 1: widths and depths of the models, extraction time, and the length-only AUC floor."""
    text = " ".join(
        f"**{short_name(r.model)}** gives {int(r.width)}-dimensional vectors ({int(r.blocks)} blocks; "
        f"{r.seconds:.0f} s including cache look-ups)." for r in extraction.itertuples())
    return (f"The run uses {n_texts} balanced texts of `{dataset}`. {text} Text length alone reaches an AUC of "
            f"{length_only_auc:.2f} (|AUC − 0.5| = {abs(length_only_auc - 0.5):.2f}), so a probe's AUC should be read "
            "against that floor.")


def probes_summary(baseline: pd.DataFrame, tau: float) -> str:
    """Chapter 2: clean AUC with its interval, mean confidence, ECE and silent-failure share per model."""
    v = baseline.set_index(["model", "metric"])
    parts = []
    for m in dict.fromkeys(baseline.model):
        auc = v.loc[(m, "auc")]
        parts.append(f"**{short_name(m)}**: AUC {fmt_ci(auc.value, auc.ci_low, auc.ci_high)}, mean confidence "
                     f"{v.loc[(m, 'mean_confidence')].value:.2f}, ECE {v.loc[(m, 'ece')].value:.1%}, and "
                     f"{v.loc[(m, 'silent_failure_share')].value:.0%} of its errors are made with confidence ≥ {tau}.")
    return ("On clean test data " + " ".join(parts) + " The paper's clean baseline is an AUC of 0.85–0.90 on Civil "
            "Comments; ours is a different dataset and models, so only the pattern under drift, not the level, is "
            "comparable.")


def drift_summary(agg: pd.DataFrame, sigma: float = PAPER_SIGMA, budget: pd.DataFrame | None = None) -> str:
    """Chapter 3: at ``sigma`` under both Gaussian readings, the measured angle and AUC; the largest true
    rotation; whether the relative reading's AUC interval lies above chance (0.5); and, with ``budget``
    (:func:`~probedrift.experiments.synthetic_drift.drift_budget`), each model's drift budget per layer and
    where a 1° drift costs 5 AUC points."""
    smax = float(agg.sigma.max())
    lines, chance = [], []
    for m in dict.fromkeys(agg.model):
        def at(convention, s, col, t="gaussian", m=m):
            r = row_at_sigma(agg, s, model=m, drift_type=t, convention=convention)
            return float(r[col]) if r is not None and col in r.index else float("nan")

        name = short_name(m)
        base = at("per_dim", 0.0, "auc_mean")
        if np.isnan(at("per_dim", sigma, "auc_mean")) and np.isnan(at("relative", sigma, "auc_mean")):
            lines.append(f"- **{name}**: σ = {sigma} is not on this run's grid (add it to `extra_sigmas`).")
            continue
        line = (f"- **{name}** (clean AUC {base:.2f}): at σ = {sigma} the paper's per-dimension formula moves "
                f"embeddings by {at('per_dim', sigma, 'angle_deg_mean_mean'):.1f}° and leaves AUC "
                f"{at('per_dim', sigma, 'auc_mean'):.2f}; "
                f"the relative reading moves them by {at('relative', sigma, 'angle_deg_mean_mean'):.2f}° and leaves "
                f"AUC {at('relative', sigma, 'auc_mean'):.2f}.")
        rot = at("true", smax, "auc_mean", t="rotation")
        if not np.isnan(rot):
            line += f" A true rotation by {smax * 90:.1f}° (σ = {smax:.2f}) leaves AUC {rot:.2f}."
        lines.append(line)
        if not np.isnan(at("relative", sigma, "auc_mean")):
            word = direction(at("relative", sigma, "auc_ci_low") - 0.5, at("relative", sigma, "auc_ci_high") - 0.5,
                             ("lies above chance", "lies below chance", "does not exclude chance (0.5)"))
            chance.append((word, f"**{name}**"))
    text = "\n".join(lines)
    if chance:
        grouped = {w: [n for word, n in chance if word == w] for w in dict.fromkeys(w for w, _ in chance)}
        text += (f"\n\nA collapse to chance at about {SIGMA_ANGLE_DEG:g}° would need AUC ≈ 0.5 in the relative "
                 f"rows; at σ = {sigma} the relative reading's AUC interval (over test texts and drift draws) "
                 + "; ".join(f"{w} for {' and '.join(names)}" for w, names in grouped.items())
                 + ". The measured angles say which reading of σ any collapse belongs to.")
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
        lines.append(f"- **{short_name(m)}**, angle at which AUC loses half its excess over chance — "
                     + "; ".join(parts) + ". "
                     + (f"A 1° drift costs ≥ 5 AUC points at layer(s) {', '.join(collapsed)}."
                        if collapsed else "At no probed layer does a 1° drift cost 5 AUC points."))
    gap = float(budget.max_curve_gap.max())
    return ("The drift budget, predicted in closed form from the clean logits and checked by simulation:\n\n"
            + "\n".join(lines) + f"\n\nThe predicted AUC-versus-angle curve stays within {gap:.3f} AUC of the "
            "simulated one at every angle and layer of this run.")


def silent_failures_summary(agg: pd.DataFrame, alarms: pd.DataFrame, model: str, tau: float) -> str:
    """Chapter 4: the change of mean confidence against the change of AUC under the paper's Gaussian drift
    (σ = 0 to the largest σ), each word from the interval of the change (:func:`level_change`), and how
    often monitors alarm."""
    g = agg[(agg.model == model) & (agg.drift_type == "gaussian") & (agg.convention == "per_dim")].sort_values("sigma")
    name = short_name(model)
    if g.empty:
        return (f"The paper's Gaussian drift (`per_dim`) was not run for **{name}**, so its silent-failure figures "
                "are not shown.")
    clean, worst = g.iloc[0], g.iloc[-1]
    c0, c1 = float(clean.mean_confidence_mean), float(worst.mean_confidence_mean)
    conf = [x / c0 for x in level_change(clean, worst, "mean_confidence")]
    auc = level_change(clean, worst, "auc")
    a = alarms[alarms.model == model]
    parts = [f"For **{name}** under the paper's Gaussian drift, from σ = 0 to σ = {worst.sigma:.2f} mean confidence "
             f"{change_words(*conf, fmt='.0%', detail=f'{c0:.3f} → {c1:.3f}')} while AUC "
             f"{change_words(*auc, fmt='.2f', detail=f'{clean.auc_mean:.2f} → {worst.auc_mean:.2f}')}; at the "
             f"largest σ {worst.silent_failure_share_mean:.0%} of errors are made with confidence ≥ {tau} "
             f"({worst.silent_failure_rate_mean:.0%} of all texts). Each interval is the {LEVEL:.0%} interval of the "
             "change over test texts and drift draws, with the two levels treated as independent (wider than a "
             "paired interval; a relative change is read against the clean level)."]
    for det, label in (("confidence", "The confidence monitor"), ("mmd", "MMD")):
        first = a[a.detector == det].first_alarm_angle_deg
        if len(first):
            parts.append(f"{label} alarms in {int(first.notna().sum())} of {len(first)} drift settings"
                         + (f", with a median first-alarm angle of {first.median():.2f}°."
                            if first.notna().any() else "."))
    return " ".join(parts)


def _range_words(r, detail: str = "") -> str:
    """A row's relative change (``relative_change`` with its ``_low``/``_high`` range) in words."""
    return change_words(r.relative_change, r.relative_change_low, r.relative_change_high, fmt=".0%",
                        interval_name="range", detail=detail)


def separability_summary(pairs_table: pd.DataFrame) -> str:
    """Chapter 5: the relative change of silhouette and Fisher ratio from base to instruct, per pair, its
    direction read from the conservative range of the change."""
    def line(r) -> str:
        levels = f"{short_name(r.base)} {r.base_value:.3f} → {short_name(r.instruct)} {r.instruct_value:.3f}"
        return f"- {r.metric} ({r.note}) {_range_words(r, levels)}."

    lines = [line(r) for r in pairs_table[pairs_table.metric.isin(["silhouette", "fisher"])].itertuples()]
    if not lines:
        return "This run has no base/instruct pair among its models, so there is nothing to compare."
    return ("The paper reports −19% (silhouette) and −26% (Fisher) for instruct vs base.\n\n" + "\n".join(lines)
            + "\n\nA measure holds where its range spans zero: the difference is not resolved by this run; and a "
            "cross-family pair cannot attribute any difference to instruction tuning.")


_PAIRED = "paired interval"
_GAIN_WORDS = ("better", "worse", "not resolved")


def _listing(names) -> str:
    return ", ".join(f"`{n}`" for n in names) if len(names) else "none"


def _mitigation_text(by: dict, mit: pd.DataFrame, n: int, paired: bool = True) -> list[str]:
    """What each fix did against the frozen probe, by the paired interval of ``auc_vs_frozen``."""
    def verdicts(rows: pd.DataFrame) -> pd.Series:
        return pd.Series([direction(lo, hi, _GAIN_WORDS) for lo, hi in
                          zip(_col(rows, "auc_vs_frozen_ci_low"), _col(rows, "auc_vs_frozen_ci_high"))],
                         index=rows.index, dtype=object)

    def counts(rows: pd.DataFrame) -> str:
        v = verdicts(rows)
        return ", ".join(f"{word} for {int((v == word).sum())}" for word in _GAIN_WORDS)

    retrain = by["retrain"]
    gate = by["detector_gate"]
    parts = [f"Mitigations, median AUC over sources: frozen {by['frozen'].auc.median():.2f}, retrained "
             f"{retrain.auc.median():.2f}, gated {gate.auc.median():.2f} (retrained for "
             f"{int(gate.alarm.astype('boolean').fillna(False).sum())} sources)."]
    if paired:
        align = mit[mit.method == "align"]
        parts.append(f"Against the frozen probe, by the paired interval of the AUC difference per source, retraining "
                     f"is {counts(retrain)} of {n} sources"
                     + "".join(f"; anchor alignment with k = {int(k)} anchors is {counts(g.set_index('source'))} of "
                               f"{n} sources" for k, g in align.groupby("k", sort=True)) + ".")
    rec, frozen = by["recalibrate"], by["frozen"].reindex(by["recalibrate"].index)
    same = bool(np.allclose(rec.auc, frozen.auc, atol=1e-9))
    auc_text = (" while the AUC stayed the frozen probe's: it fixes confidence, not ranking." if same else
                f"; its AUC differs from the frozen probe's by up to {float((rec.auc - frozen.auc).abs().max()):.3f}.")
    parts.append(f"Recalibration took the median mean confidence from {frozen.mean_confidence.median():.2f} to "
                 f"{rec.mean_confidence.median():.2f} and the median ECE from {frozen.ece.median():.3f} to "
                 f"{rec.ece.median():.3f}" + auc_text)
    return parts


def _interval_text(mit: pd.DataFrame, n_test: int) -> str:
    """What the table's intervals cover, and how wide the single and the paired ones are."""
    methods = mit.drop_duplicates("method").groupby("interval", sort=False).method.agg(list)
    covers = "; ".join(f"{interval} for {_listing(m)}" for interval, m in methods.items())
    single = mit[mit.method == "frozen"]
    width = float((single.ci_high - single.ci_low).median())
    text = (f"Intervals of a single AUC (the table's `interval` column) — {covers}. With {n_test} test texts a single "
            f"AUC's interval is {width:.2f} wide (median).")
    paired = _col(single, "auc_change_ci_high") - _col(single, "auc_change_ci_low")
    if paired.notna().any():
        how = _col(mit, "change_interval").dropna().drop_duplicates()
        text += (f" Changes are judged by paired intervals instead ({'; '.join(how)}), which are "
                 f"{float(paired.median()):.2f} wide (median) for the frozen probe: both AUCs move with the same "
                 "texts, so whether two single intervals overlap says little about the change.")
    return text


def real_drift_summary(real: pd.DataFrame, mit: pd.DataFrame, reference: pd.DataFrame, tau: float, n_test: int) -> str:
    """Chapter 6: the angles real changes caused (which moved most), the AUC change of the frozen probe per
    source by its paired interval (which cost most), silent losses, what each fix recovered per anchor size,
    what each interval covers, and the sources skipped with their reasons."""
    skipped = real[real.note.astype(str).str.startswith("skipped")]
    r = real.drop(skipped.index).set_index("source")
    skip_text = ("" if skipped.empty else " Skipped, with the reason: "
                 + "; ".join(f"`{s}` ({n.removeprefix('skipped: ')})"
                             for s, n in zip(skipped.source, skipped.note)) + ".")
    if r.empty:
        return "No real drift source applied to this run." + skip_text
    by = {m: mit[mit.method == m].set_index("source") for m in ("no_update", "frozen", "retrain", "recalibrate",
                                                               "detector_gate")}
    frozen, before = by["frozen"].reindex(r.index), by["no_update"].reindex(r.index)
    paired = "auc_change_ci_low" in mit.columns
    change = frozen.auc - before.auc
    lo, hi = _col(frozen, "auc_change_ci_low"), _col(frozen, "auc_change_ci_high")
    verdict = pd.Series([direction(a, b) for a, b in zip(lo, hi)], index=r.index, dtype=object)
    alarm_cols = [c for c in real.columns if c.startswith("alarm_")]
    alarmed = r[alarm_cols].astype("boolean").fillna(False).any(axis=1).astype(bool)
    small = r.index[r.angle_deg_mean < SIGMA_ANGLE_DEG]
    gap = (reference.set_index("source").auc_real - reference.set_index("source").auc_isotropic).dropna()
    silent = [s for s in r.index if verdict[s] == "falls" and not alarmed[s]]

    moved = r.angle_deg_mean.idxmax()
    parts = [f"The {len(r)} real changes moved the embeddings of the same texts by {r.angle_deg_mean.min():.2f}° "
             f"(`{r.angle_deg_mean.idxmin()}`) to {r.angle_deg_mean.max():.1f}° (`{moved}`) on average."]
    if len(small):
        parts.append(f"Below the paper's ≈{SIGMA_ANGLE_DEG:g}°: " + ", ".join(
            f"`{s}` ({r.angle_deg_mean[s]:.2f}°, frozen-probe AUC {before.auc[s]:.2f} → {frozen.auc[s]:.2f})"
            for s in small) + ".")
    else:
        parts.append(f"None stayed below the paper's ≈{SIGMA_ANGLE_DEG:g}°.")
    which = {word: _listing(verdict.index[verdict == word]) for word in ("falls", "rises", "holds")}
    parts.append(f"By the paired interval of its change, the frozen probe's AUC falls for {which['falls']}, rises "
                 f"for {which['rises']} and is not resolved for {which['holds']}." if paired else
                 "This mitigations table has no paired intervals of the AUC change (it predates them), so no change "
                 "is judged here: rerun chapter 6.")
    if (change < 0).any():
        worst = change.idxmin()
        cost = change_words(change[worst], lo[worst], hi[worst], interval_name=_PAIRED)
        parts.append(f"The largest point loss was `{worst}` (AUC {before.auc[worst]:.2f} → {frozen.auc[worst]:.2f} "
                     f"at {r.angle_deg_mean[worst]:.1f}°; it {cost}), with {r.silent_failure_share[worst]:.0%} of its "
                     f"errors made at confidence ≥ {tau}"
                     + ("." if worst == moved else f"; the change that moved the embeddings most was `{moved}`."))
    else:
        parts.append("No source lowered the frozen probe's point AUC.")
    if len(gap):
        parts.append(f"Against isotropic noise of the same angle, the real AUC differs by {gap.median():+.2f} "
                     f"(median over {len(gap)} sources, range {gap.min():+.2f} to {gap.max():+.2f}).")
    parts.append(f"At least one monitor alarmed for {int(alarmed.sum())} of {len(r)} sources"
                 + (f" (not for {_listing(r.index[~alarmed])})" if (~alarmed).any() else "")
                 + "; " + (f"silent losses (an AUC fall resolved by its paired interval, without any alarm): "
                           f"{_listing(silent)}." if silent else "no resolved AUC fall went without an alarm."))
    parts += _mitigation_text(by, mit, len(r), paired)
    parts.append(_interval_text(mit, n_test) + skip_text)
    return " ".join(parts)


def finetune_summary(ft: pd.DataFrame, sep: pd.DataFrame, reference: pd.DataFrame | None = None) -> str:
    """Chapter 7: per update strength, how far the checkpoints moved the embeddings and what the frozen
    probe's AUC did, by the paired interval of its change against the base (``auc_change``); the
    controlled separability change; and the checkpoints (not step 0, the base itself) against isotropic
    noise."""
    base = ft[ft.step == 0].iloc[0] if (ft.step == 0).any() else None
    name = short_name(ft.model.iloc[0])
    intro = (f"The frozen probe of **{name}** starts at AUC {fmt_ci(base.auc, base.auc_ci_low, base.auc_ci_high)} "
             "(step 0 is the base model itself)." if base is not None else f"The frozen probe of **{name}**:")
    bullets, lines = [], []
    for lr, g in ft[ft.step > 0].groupby("learning_rate", sort=True):
        g = g.sort_values("step")
        last = g.iloc[-1]
        steps = ", ".join(f"step {int(r.step)}: {r.angle_deg_mean:.2f}° (AUC {r.auc:.2f})" for r in g.itertuples())
        point = last.auc - base.auc if base is not None else np.nan
        words = change_words(last.get("auc_change", point), last.get("auc_change_ci_low", np.nan),
                             last.get("auc_change_ci_high", np.nan), fmt=".3f", interval_name=_PAIRED,
                             detail="" if base is None else f"{base.auc:.3f} → {last.auc:.3f}")
        falls = [int(r.step) for r in g.itertuples()
                 if direction(getattr(r, "auc_change_ci_low", np.nan), getattr(r, "auc_change_ci_high", np.nan))
                 == "falls"]
        alarms = [c.removeprefix("alarm_") for c in ft.columns if c.startswith("alarm_") and bool(last[c])]
        bullets.append(f"- learning rate {fmt_lr(lr)}: {steps}. At step {int(last.step)} the frozen probe's AUC "
                       f"{words} against the base; a fall is resolved at "
                       + (f"step(s) {', '.join(map(str, falls))}" if falls else "no step")
                       + f"; retraining on the new embeddings gives {last.retrain_auc:.2f}; "
                       + (f"monitors that alarm: {', '.join(alarms)}." if alarms else "no monitor alarms."))
    moved = ft.loc[ft.angle_deg_mean.idxmax()]
    largest = float(moved.angle_deg_mean)
    lines.append(f"The checkpoint that moved the embeddings most (learning rate {fmt_lr(moved.learning_rate)}, step "
                 f"{int(moved.step)}) moved them by {largest:.2f}° on average"
                 + (f", more than the paper's ≈{SIGMA_ANGLE_DEG:g}°." if largest > SIGMA_ANGLE_DEG else
                    f", less than the paper's ≈{SIGMA_ANGLE_DEG:g}°: updates of this size (a few CPU-sized steps) "
                    "move them less."))
    if reference is not None:
        ref = reference
        if "source" in ref.columns and "checkpoint" in ft.columns:
            ref = ref[~ref.source.isin(ft.checkpoint[ft.step == 0])]
        elif "angle_deg_mean" in ref.columns:
            ref = ref[ref.angle_deg_mean > 0]
        gap = (ref.auc_real - ref.auc_isotropic).dropna()
        if len(gap):
            lines.append(f"Against isotropic noise of the same angle the checkpoints' AUC differs by "
                         f"{gap.median():+.2f} (median over {len(gap)} checkpoints, step 0 left out; range "
                         f"{gap.min():+.2f} to {gap.max():+.2f}).")
    rows = sep[sep.metric.isin(["silhouette", "fisher"])]
    if len(rows):
        last_step = rows.step.max()
        parts = [f"{r.metric} {_range_words(r)} at learning rate {fmt_lr(r.learning_rate)}"
                 for r in rows[rows.step == last_step].itertuples()]
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
        lines.append(f"- **{short_name(model)}**: " + "; ".join(parts) + ".")
    return (f"At σ = {first.sigma:g} ({first.drift_type}/{first.convention}), with {first.power:.0%} power and a "
            f"two-sided α = {first.alpha:g}:\n" + "\n".join(lines)
            + "\n\nA smaller gap between two models, layers or runs is not evidence either way at this size.")
