"""The run's conclusions as sentences: what the key findings, the chapter summaries and the Discussion
say happened, with every outcome word chosen from an interval (:mod:`probedrift.report.outcomes`).

Every function is pure (tables in, Markdown out) and degrades to a sentence saying what the run lacks.
:func:`run_conclusions` reads a run directory and returns all of them by name; chapter summaries can call
the table functions directly:

- :func:`layer_outcomes` / :func:`collapse_sentence` — does a ≈1° drift collapse the probe, per layer;
- :func:`budget_cause` — the drift budget and why it is small where it is (near-constant dimensions or
  a tight cap of the sphere), from ``drift_budget`` and ``variance_floor``;
- :func:`reading_sentence` — what each reading of σ does to the last-layer probe (Discussion §1);
- :func:`cliff_range_sentence` — the paper's cliff σ range as angles under each reading;
- :func:`rotation_sentence` — the literal and the true rotation at the largest σ (Discussion §2);
- :func:`monitor_sentence` — which monitors alarm before a 5-point AUC loss (``first_alarms``);
- :func:`update_sentence` — which real update moved embeddings most and which cost most (``real_drift``);
- :func:`silent_sentence` — the silent-failure share without drift and the paired change drift makes;
- :func:`failure_modes_sentence` — per-text scatter against a shared shift (``failure_modes``).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from probedrift.report.claim_rows import NOT_IN_RUN
from probedrift.report.outcomes import (
    UNRESOLVED,
    alarm_order,
    band_position,
    change_word,
    collapse_word,
    per_dim_angle_deg,
    short_name,
)
from probedrift.report.paper import CLIFF_SIGMA_RANGE, PAPER_WIDTHS
from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.report.tables import fmt_ci, row_at_sigma

__all__ = ["budget_cause", "change_clauses", "cliff_range_sentence", "collapse_sentence", "depth_key",
           "failure_modes_sentence", "layer_outcomes", "monitor_sentence", "reading_sentence", "rotation_sentence",
           "silent_sentence", "update_sentence"]

#: AUC band of "at chance" (the collapse claim's band, paper abstract's 0.50 ± 0.05).
CHANCE = (0.45, 0.55)
#: A drift budget (angle that costs half the AUC above chance) this small or smaller gets its cause named:
#: a few degrees is the size of the smallest real updates (chapter 6), so such a probe is fragile.
SMALL_BUDGET_DEG = 5.0


def depth_key(layer: float) -> float:
    """Probed depth for sorting: hidden-state index −1 (the final norm) is deeper than any positive index."""
    return float(layer) if layer >= 0 else 1e6 + float(layer)


def _deg(v: float) -> str:
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.1f}°" if abs(v) >= 10 else f"{v:.2f}°"


def layer_outcomes(layer_collapse: pd.DataFrame) -> pd.DataFrame:
    """``layer_collapse`` with ``word`` (:func:`probedrift.report.outcomes.collapse_word` on the paired drop
    interval; without one, the AUC interval against the half-excess target) and ``last`` (the deepest
    probed layer of its model)."""
    out = layer_collapse.copy()
    words = []
    for r in out.itertuples(index=False):
        if hasattr(r, "auc_drop_ci_low") and np.isfinite(getattr(r, "auc_drop_ci_low", np.nan)):
            words.append(collapse_word(r.auc_drop_ci_low, r.auc_drop_ci_high, r.auc_clean))
        else:  # the AUC interval against the target ½ + (clean − ½)/2, as a drop: clean − AUC
            words.append(collapse_word(r.auc_clean - r.auc_at_angle_ci_high, r.auc_clean - r.auc_at_angle_ci_low,
                                       r.auc_clean))
    out["word"] = words
    out["_depth"] = out.layer.map(depth_key)
    out["last"] = out._depth == out.groupby("model")._depth.transform("max")
    return out.drop(columns="_depth")


def _drop_text(r) -> str:
    return (f"AUC {r.auc_clean:.2f} → {fmt_ci(r.auc_at_angle, r.auc_at_angle_ci_low, r.auc_at_angle_ci_high)} "
            f"at {_deg(r.angle_deg)}")


def collapse_sentence(layer_collapse: pd.DataFrame | None, budget: pd.DataFrame | None = None) -> str:
    """Per model: does a ≈1° drift (relative reading) collapse the last-layer probe, and at which other
    layers; "collapses" / "holds" / "cannot be told" from the paired interval of the AUC drop, with the drift
    budget (the angle that costs half the AUC above chance) where the run has it."""
    if layer_collapse is None or layer_collapse.empty:
        return f"The per-layer collapse table is {NOT_IN_RUN}."
    lo = layer_outcomes(layer_collapse)
    phrase = {"collapses": "collapses at about 1°", "holds": "does not collapse at about 1°",
              UNRESOLVED: "may or may not collapse at about 1° — the interval cannot tell —"}
    parts = []
    for m, g in lo.groupby("model", sort=False):
        last = g[g["last"]].iloc[0]
        text = f"the last-layer probe of {short_name(m)} {phrase[last.word]} ({_drop_text(last)}"
        b = _budget_at(budget, m, last.layer)
        text += f"; drift budget {_deg(b)})" if np.isfinite(b) else ")"
        others = g[~g["last"]]
        for word in ("collapses", UNRESOLVED):
            hit = others[others.word == word]
            if len(hit):
                layers = ", ".join(f"{int(r.layer)} ({_drop_text(r)}"
                                   + (f"; budget {_deg(_budget_at(budget, m, r.layer))})"
                                      if np.isfinite(_budget_at(budget, m, r.layer)) else ")")
                                   for r in hit.itertuples())
                text += (f"; at layer {layers} it collapses" if word == "collapses"
                         else f"; at layer {layers} the interval cannot tell")
        parts.append(text)
    return "; ".join(parts) + "."


def _budget_at(budget: pd.DataFrame | None, model: str, layer) -> float:
    if budget is None or "angle_half_predicted_deg" not in budget:
        return math.nan
    hit = budget[(budget.model == model) & (budget.layer == layer)]
    return float(hit.angle_half_predicted_deg.iloc[0]) if len(hit) else math.nan


def budget_cause(budget: pd.DataFrame | None, floor: pd.DataFrame | None = None) -> str:
    """Per model, the smallest drift budget over the probed layers and its cause, read from the tables:
    near-constant dimensions when a floor on the scaler's std (``variance_floor``) raises the budget,
    else — when the floor changes nothing — every dimension is narrow: the embeddings lie in a tight cap
    of the sphere (their mean cosine). The cause is named only for a budget of at most
    :data:`SMALL_BUDGET_DEG`, and not without ``variance_floor``."""
    if budget is None or budget.empty:
        return f"The drift-budget table is {NOT_IN_RUN}."
    parts = []
    for m, g in budget.groupby("model", sort=False):
        g = g.assign(_d=g.layer.map(depth_key)).sort_values("_d")
        last, k = g.iloc[-1], g.angle_half_predicted_deg.idxmin()
        low = g.loc[k]
        text = f"{short_name(m)}: {_deg(last.angle_half_predicted_deg)} at the last probed layer ({int(last.layer)})"
        if k != last.name:
            text += f", {_deg(low.angle_half_predicted_deg)} at layer {int(low.layer)}"
        ratio = float(low.std_min) / float(low.std_median) if "std_median" in low and low.std_median else math.nan
        f = None if floor is None else floor[(floor.model == m) & (floor.layer == low.layer)
                                             & (floor.scaler.astype(str) != "none")]
        if f is not None and len(f) and float(low.angle_half_predicted_deg) <= SMALL_BUDGET_DEG:
            gain = float(f.budget_gain_half.max())
            if gain > 1.05:  # the floored probe's budget is larger by more than rounding
                text += (f" (near-constant dimensions: the smallest scaler std is {ratio:.2g} of the median, and a "
                         f"floor on the scales raises that budget {gain:.1f}-fold)")
            else:
                cap = f", mean cosine {float(low.mean_cosine):.2f}" if "mean_cosine" in low else ""
                text += (f" (no near-constant dimensions: the smallest scaler std is {ratio:.2g} of the median and "
                         f"a floor on the scales changes nothing; every dimension is narrow because the embeddings "
                         f"lie in a tight cap of the sphere{cap})")
        parts.append(text)
    return "; ".join(parts) + "."


def _auc_phrase(r: pd.Series | None) -> tuple[str, str]:
    """(position of the AUC interval against chance, the AUC with its interval)."""
    if r is None:
        return UNRESOLVED, "n/a"
    return (band_position(r.auc_ci_low, r.auc_ci_high, *CHANCE),
            fmt_ci(r.auc_mean, r.auc_ci_low, r.auc_ci_high))


def reading_sentence(agg: pd.DataFrame | None, layer_collapse: pd.DataFrame | None,
                     sigma: float = PAPER_SIGMA) -> str:
    """Discussion §1's outcome: what each reading of σ does to the last-layer probe at ``sigma``, and
    whether either reproduces the abstract's "85% → 50% at ≈ 1°" (an AUC interval within chance ± 5
    points at an angle of about a degree; "neither" only when every such interval lies outside)."""
    if agg is None or agg.empty:
        return f"The drift sweep is {NOT_IN_RUN}."
    where = {"within": "to chance", "above": "but stays above chance", "below": "below chance",
             UNRESOLVED: "to a level the interval cannot place against chance"}
    parts, reproduced, undecided = [], [], []
    lo = None if layer_collapse is None or layer_collapse.empty else layer_outcomes(layer_collapse)
    for m in dict.fromkeys(agg.model):
        clean = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
        per = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="per_dim")
        rel = row_at_sigma(agg, sigma, model=m, drift_type="gaussian", convention="relative")
        bits = []
        if rel is not None:
            last = None if lo is None else lo[(lo.model == m) & lo["last"]]
            if last is not None and len(last):
                word = {"collapses": "collapses", "holds": "does not collapse",
                        UNRESOLVED: "may or may not collapse"}[last.iloc[0].word]
            else:
                word = {"within": "collapses", "above": "does not collapse"}.get(_auc_phrase(rel)[0],
                                                                               "may or may not collapse")
            bits.append(f"under the relative reading ({_deg(rel.angle_deg_mean_mean)}) it {word} "
                        f"(AUC {_auc_phrase(clean)[1]} → {_auc_phrase(rel)[1]})")
            if _auc_phrase(rel)[0] == "within":
                reproduced.append(f"{short_name(m)} (relative)")
            elif _auc_phrase(rel)[0] == UNRESOLVED:
                undecided.append(f"{short_name(m)} (relative)")
        if per is not None:
            pos, text = _auc_phrase(per)
            fall = change_word(clean.auc_mean - per.auc_ci_high, clean.auc_mean - per.auc_ci_low, up="falls",
                               down="rises", none="changes by less than its interval") if clean is not None else ""
            bits.append(f"under the per-dimension reading ({_deg(per.angle_deg_mean_mean)}) its AUC {fall}"
                        + (f" {where[pos]}" if fall == "falls" else "") + f" ({text})")
            if per.angle_deg_mean_mean <= 2 and pos in ("within", UNRESOLVED):
                (reproduced if pos == "within" else undecided).append(f"{short_name(m)} (per-dimension)")
        if bits:
            parts.append(f"for {short_name(m)}'s last-layer probe, " + "; ".join(bits))
    if reproduced:
        verdict = f"A collapse to chance at about a degree appears for {', '.join(reproduced)}."
    elif undecided:
        verdict = ("Whether a last-layer probe here reproduces \"85% → 50% at 1°\" the intervals cannot tell "
                   f"({', '.join(undecided)}).")
    else:
        verdict = "Neither reading reproduces \"85% → 50% at 1°\" for a last-layer probe."
    return "At σ = " + f"{sigma:g}, " + "; ".join(parts) + ". " + verdict


def cliff_range_sentence(sigmas: tuple[float, float] = CLIFF_SIGMA_RANGE) -> str:
    """The paper's cliff σ range as angles: arctan σ under the relative reading, arctan(σ√d) under the
    per-dimension one at the widths the paper names (:data:`probedrift.report.paper.PAPER_WIDTHS`)."""
    lo, hi = sigmas
    rel = (math.degrees(math.atan(lo)), math.degrees(math.atan(hi)))
    widths = sorted(PAPER_WIDTHS.values())
    per = (per_dim_angle_deg(lo, widths[0]), per_dim_angle_deg(hi, widths[-1]))
    return (f"The paper puts its cliff at σ ≈ {lo:g}–{hi:g}: that is {rel[0]:.1f}–{rel[1]:.1f}° under the relative "
            f"reading, but {per[0]:.0f}–{per[1]:.0f}° under its per-dimension formula at the widths it names "
            f"({widths[0]:,}–{widths[-1]:,}).")


def rotation_sentence(agg: pd.DataFrame | None) -> str:
    """Discussion §2's outcome: how far the literal and the true rotation move embeddings at the largest σ
    and whether either takes the AUC to chance (its interval against chance ± 5 points)."""
    if agg is None or agg.empty:
        return f"The drift sweep is {NOT_IN_RUN}."
    smax = float(agg.sigma.max())
    rows = [(m, c, r) for m in dict.fromkeys(agg.model) for c in ("paper_literal", "true")
            if (r := row_at_sigma(agg, smax, model=m, drift_type="rotation", convention=c)) is not None]
    if not rows:
        return f"The rotation sweep is {NOT_IN_RUN}."
    angle = max(r.angle_deg_mean_mean for _, _, r in rows)
    pos = [band_position(r.auc_ci_low, r.auc_ci_high, *CHANCE) for _, _, r in rows]
    if all(p == "above" for p in pos):
        outcome = "neither comes near a collapse: every interval lies above chance"
    elif any(p == "within" for p in pos):
        hit = [f"{short_name(m)} ({c.replace('_', ' ')})" for (m, c, _), p in zip(rows, pos) if p == "within"]
        outcome = f"the AUC falls to chance for {', '.join(hit)}"
    else:
        outcome = "the intervals cannot tell whether the AUC reaches chance"
    aucs = "; ".join(f"{short_name(m)} {c.replace('_', ' ')} {fmt_ci(r.auc_mean, r.auc_ci_low, r.auc_ci_high)}"
                     for m, c, r in rows)
    return f"At σ = {smax:g} the rotations move embeddings by at most {_deg(angle)}, and {outcome} ({aucs})."


def _quiet_angle(agg: pd.DataFrame | None, r) -> float:
    """The largest grid angle of r's sweep at which no seed had alarmed yet."""
    if agg is None:
        return math.nan
    g = agg[(agg.model == r.model) & (agg.drift_type == r.drift_type) & (agg.convention == r.convention)]
    if g.empty:
        return math.nan
    first = float(r.first_alarm_sigma_min) if np.isfinite(r.first_alarm_sigma_min) else math.inf
    before = g[g.sigma < first - 1e-12]
    return float(before.angle_deg_mean_mean.max()) if len(before) else 0.0


def _log_order(r) -> str | None:
    """On the log-spaced σ grid (``first_alarms``' log_* columns): "before" when every drift seed's first
    alarm comes at a smaller angle than the 5-point loss there, "after" when none does, :data:`UNRESOLVED`
    when the seeds disagree; None when the row has no log-grid figures."""
    share = float(getattr(r, "log_share_seeds_alarm_before_5pt", math.nan))
    if not np.isfinite(share):
        return None
    return "before" if share >= 1 else "after" if share <= 0 else UNRESOLVED


def monitor_sentence(first_alarms: pd.DataFrame | None, agg: pd.DataFrame | None = None,
                     drift_type: str = "gaussian", convention: str = "per_dim") -> str:
    """Per model: the angle of a 5-point AUC loss and which monitors alarm before it, after it, or where the
    grid cannot tell. On the log-spaced σ grid when ``first_alarms`` has it (its log_* columns: every seed's
    first alarm before the loss there, none, or some), to that grid's resolution; else on the sweep's grid
    (:func:`probedrift.report.outcomes.alarm_order`: every seed's first alarm at or before the loss, or no
    seed alarmed at a grid angle at or beyond it), where ``agg`` must hold the σ grid the monitors were
    tested on (its measured angles give the last grid angle before a first alarm)."""
    if first_alarms is None or first_alarms.empty:
        return f"The first-alarm table is {NOT_IN_RUN}."
    fa = first_alarms[(first_alarms.drift_type == drift_type) & (first_alarms.convention == convention)]
    parts, on_log = [], False
    for m, g in fa.groupby("model", sort=False):
        log_loss = float(g.log_angle_deg_5pt.iloc[0]) if "log_angle_deg_5pt" in g else math.nan
        loss = log_loss if np.isfinite(log_loss) else (float(g.angle_deg_5pt.iloc[0]) if "angle_deg_5pt" in g
                                                      else math.nan)
        if not np.isfinite(loss):
            parts.append(f"{short_name(m)}: the AUC never loses 5 points on this grid")
            continue
        groups: dict[str, list[str]] = {"before": [], "after": [], UNRESOLVED: []}
        for r in g.itertuples(index=False):
            word = _log_order(r) if np.isfinite(log_loss) else None
            if word is None:
                first_max = r.first_alarm_angle_deg_max if r.share_seeds_alarmed >= 1 else math.nan
                word = alarm_order(first_max, _quiet_angle(agg, r), loss)
            else:
                on_log = True
            groups[word].append(str(r.detector).replace("_", " "))
        bits = [f"a 5-point AUC loss at {_deg(loss)}"]
        if groups["before"]:
            bits.append(f"alarm before it: {', '.join(groups['before'])}")
        if groups["after"]:
            bits.append(f"not by then: {', '.join(groups['after'])}")
        if groups[UNRESOLVED]:
            bits.append(f"the grid or the drift seeds cannot tell: {', '.join(groups[UNRESOLVED])}")
        parts.append(f"{short_name(m)}: " + "; ".join(bits))
    if not parts:
        return f"The {drift_type}/{convention} first alarms are {NOT_IN_RUN}."
    reading = {"per_dim": "per-dimension reading", "relative": "relative reading"}.get(convention, convention)
    grid = ", on the log-spaced σ grid" if on_log else ""
    return f"Under {drift_type.capitalize()} drift ({reading}{grid}) — " + "; ".join(parts) + "."


def update_sentence(real: pd.DataFrame | None, mit: pd.DataFrame | None = None) -> str:
    """Which real update moved embeddings the most (mean angle) and which cost the frozen probe the most
    AUC (before − after, point values: ``real_drift`` has no interval)."""
    if real is None or real.empty:
        return f"Real model updates are {NOT_IN_RUN}."
    if "note" in real:
        real = real[~real.note.astype(str).str.startswith("skipped")]
    real = real.dropna(subset=["angle_deg_mean"])
    if real.empty:
        return "No real update applied to this run."
    far = real.loc[real.angle_deg_mean.idxmax()]
    text = f"Of this run's real updates, `{far.source}` moved embeddings the most ({_deg(far.angle_deg_mean)})"
    before = {} if mit is None else mit[mit.method == "no_update"].set_index("source").auc.to_dict()
    cost = {r.source: before[r.source] - r.auc for r in real.itertuples() if r.source in before}
    if cost:
        worst = max(cost, key=cost.get)
        same = " and also" if worst == far.source else f"; `{worst}`"
        text += (f"{same} cost the frozen probe the most AUC ({before[worst]:.2f} → "
                 f"{before[worst] - cost[worst]:.2f}; point values, no interval)")
    return text + "."


def silent_sentence(agg: pd.DataFrame | None, changes: pd.DataFrame | None, tau: float,
                    sigma: float = PAPER_SIGMA) -> str:
    """The silent-failure share on clean data and the change drift makes: "most errors are confident
    already without drift" only when the clean share's interval lies above ½; the direction of each change
    only from its paired interval in ``claim_changes`` (:func:`change_clauses`), else "not in this run"."""
    if agg is None or agg.empty:
        return f"The drift sweep is {NOT_IN_RUN}."
    parts = []
    for m in dict.fromkeys(agg.model):
        zero = row_at_sigma(agg, 0.0, model=m, drift_type="gaussian", convention="per_dim")
        if zero is None:
            continue
        share = fmt_ci(100 * zero.silent_failure_share_mean, 100 * zero.silent_failure_share_ci_low,
                       100 * zero.silent_failure_share_ci_high, 0)
        text = f"{short_name(m)}: {share}% of the errors are confident (≥ {tau:g}) without drift"
        if zero.silent_failure_share_ci_low > 0.5:
            text += ", most of them already before any drift"
        moved = change_clauses(changes, m, sigma)
        text += f"; {moved}" if moved else f"; the paired change drift makes is {NOT_IN_RUN}"
        parts.append(text)
    return "; ".join(parts) + "." if parts else f"The σ = 0 row is {NOT_IN_RUN}."


#: claim_changes metrics whose paired change the silent-failure sentence states, with their names.
CHANGE_LABELS = {"silent_failure_share": "the share", "mean_confidence": "mean confidence", "ece": "the ECE"}


def change_clauses(changes: pd.DataFrame | None, model: str, sigma: float = PAPER_SIGMA,
                   design: str = "paper split", c_rule: str = "paper") -> str:
    """"a per-dimension drift of σ = 0.02 raises the share 12 points [5, 19]; mean confidence falls 3 points
    [1, 5]": each word from the paired interval of drifted − clean (:func:`change_word`), the size printed
    unsigned beside it, so a word and a sign never disagree; "" without ``claim_changes`` rows."""
    if changes is None or changes.empty:
        return ""
    g = changes[(changes.model == model) & (changes.design == design) & (changes.c_rule == c_rule)
                & (changes.convention == "per_dim")]
    if g.empty:
        return ""
    at = float(g.sigma.iloc[(g.sigma - sigma).abs().argmin()])
    clauses = []
    for metric, label in CHANGE_LABELS.items():
        hit = g[(g.metric == metric) & np.isclose(g.sigma, at)]
        if hit.empty:
            continue
        r = hit.iloc[0]
        word = change_word(r.change_ci_low, r.change_ci_high, up="rises", down="falls",
                           none="does not change measurably")
        c, lo, hi = 100 * float(r.change), 100 * float(r.change_ci_low), 100 * float(r.change_ci_high)
        if word in ("rises", "falls"):  # resolved: the size unsigned, its bounds smallest first
            ends = sorted((abs(lo), abs(hi)))
            size = f" {abs(c):.1f} points [{ends[0]:.1f}, {ends[1]:.1f}]"
        else:
            size = f" ({c:+.1f} points [{lo:+.1f}, {hi:+.1f}])"
        clauses.append(f"{label} {word}{size}")
    if not clauses:
        return ""
    return f"a per-dimension drift of σ = {at:g} (paired over the same texts): " + ", ".join(clauses)


def _pick(fm: pd.DataFrame, kind: str, by: str) -> pd.Series | None:
    g = fm[fm.kind == kind].dropna(subset=[by])
    return None if g.empty else g.loc[g[by].idxmin()]


#: The rows of ``failure_modes`` that are updates a deployment meets (not the synthetic references).
UPDATE_KINDS = ("real update", "fine-tuning")


def _moved(row: pd.Series, metric: str) -> str:
    """rose / fell / held: the metric's interval after the update against its clean value."""
    clean = row[f"{metric}_clean"]
    return change_word(row[f"{metric}_ci_low"] - clean, row[f"{metric}_ci_high"] - clean, up="rose", down="fell",
                       none="held")


def _alarmed(value) -> bool | None:
    """The confidence monitor's alarm as the tables store it (1.0/0.0, True/False, "True"); None if untested."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value in (True, 1, 1.0, "True", "1")


def failure_modes_sentence(fm: pd.DataFrame | None) -> str:
    """The two failure modes (``failure_modes``), each read from the run: what per-text scatter (the Gaussian row
    with the lowest AUC) did to the AUC; which real update or fine-tuning checkpoint broke the thresholded
    classifier most beyond its ranking (largest accuracy loss less AUC loss), with its shared shift μ against
    its scatter τ; how often the confidence monitor alarmed on those updates; and how far the label-free
    prediction (from unlabelled texts, before shipping) lay above the measured AUC. Directions come from each
    interval against the clean value."""
    if fm is None or fm.empty:
        return f"The failure-mode table is {NOT_IN_RUN}."
    bits = []
    scatter = _pick(fm, "gaussian", "auc")
    if scatter is not None:
        bits.append(f"per-text scatter ({short_name(scatter.model)}, Gaussian, {_deg(scatter.angle_deg_mean)}; "
                    f"τ = {scatter.tau:.1f}, μ = {scatter.mu:+.1f}): AUC {_moved(scatter, 'auc')}, "
                    f"{scatter.auc_clean:.2f} → {fmt_ci(scatter.auc, scatter.auc_ci_low, scatter.auc_ci_high)}")
    updates = fm[fm.kind.isin(UPDATE_KINDS)].dropna(subset=["auc", "accuracy"])
    if updates.empty:
        bits.append(f"real updates and fine-tuning checkpoints are {NOT_IN_RUN}")
        return "; ".join(bits) + "."
    beyond = (updates.accuracy_clean - updates.accuracy) - (updates.auc_clean - updates.auc)
    shift = updates.loc[beyond.idxmax()]
    lead = ("a shift shared by all texts" if _moved(shift, "accuracy") == "fell" else
            "no update broke the thresholded classifier measurably; the one that came closest")
    bits.append(f"{lead} ({short_name(shift.model)}, {shift.kind} `{shift.source}`, "
                f"{_deg(shift.angle_deg_mean)}; μ = {shift.mu:+.1f} against τ = {shift.tau:.1f}): AUC "
                f"{_moved(shift, 'auc')} ({shift.auc_clean:.2f} → "
                f"{fmt_ci(shift.auc, shift.auc_ci_low, shift.auc_ci_high)}), "
                f"accuracy {_moved(shift, 'accuracy')} ({shift.accuracy_clean:.2f} → "
                f"{fmt_ci(shift.accuracy, shift.accuracy_ci_low, shift.accuracy_ci_high)}) and the silent-failure "
                f"rate went {shift.silent_failure_rate_clean:.0%} → {shift.silent_failure_rate:.0%}")
    alarms = [a for a in map(_alarmed, updates.alarm_confidence) if a is not None]
    if alarms:
        bits.append(f"the confidence monitor alarmed on {sum(alarms)} of the {len(alarms)} updates it was tested on")
    over = (updates.auc_label_free - updates.auc).dropna()
    if len(over):
        worst = over.max()
        side = (f"at most {worst:.2f} above the measured AUC" if worst > 0 else "never above the measured AUC")
        bits.append(f"predicted from unlabelled texts before shipping, the AUC was {side} on {len(over)} updates")
    return "; ".join(bits) + "."
