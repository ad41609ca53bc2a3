"""K-fold cross-fitting of the paper's probe under drift, and intervals that cover texts, splits and draws.

The paper (§1.2) fits one probe on one 70/10/20 split and reports metrics on its 20% test set, so
every number rests on a few hundred test texts and on one split. Cross-fitting uses every text as a
test text once per split seed:

1. for each split seed r, a stratified K-fold partition of all N texts (:func:`stratified_folds`);
2. in each fold, the probe is fitted on the other K − 1 folds (its normalisation fitted there too)
   and the drift of :func:`probedrift.science.sweep.sweep` is applied to the held-out fold's embeddings,
   with directions that need a labelled reference (class-mean difference, top PC) taken from the
   fold's training texts;
3. pooling the folds gives one out-of-fold prediction per text, split seed r, drift seed k and σ
   (:func:`crossfit_sweep`), and each metric m_{rk} is computed on all N texts.

The estimate is m̄ = mean_{r,k} m_{rk}. Its standard error has three parts, added in quadrature
(:func:`crossfit_intervals`):

- texts: the standard deviation of m̄ over stratified bootstrap resamples of the N texts, the same
  resample applied to every split seed, drift draw and σ (paired), computed from bootstrap *weights*
  (:func:`probedrift.science.metrics.weighted_metrics`, exactly the metric on the resample, without materialising it);
- split/probe seeds and drift draws: the two-way random-effects ANOVA of the R × k table m_{rk}
  (:func:`probedrift.core.intervals.variance_components`), m_{rk} = μ + a_r + b_k + e_{rk}, whose mean has variance
  σ_a²/R + σ_b²/k + σ_e²/(Rk) = (MS_r + MS_k − MS_e)/(Rk). se_splits² = max(MS_r − MS_e, 0)/(Rk)
  estimates σ_a²/R; se_draws² = MS_k/(Rk) estimates σ_b²/k + σ_e²/(Rk) (the split × draw interaction
  is booked with the draws).

The interval is m̄ ± z_{(1+level)/2} √(se_texts² + se_splits² + se_draws²), clipped to [0, 1].

It covers sampling of the evaluated texts, the choice of split (and the probe refitted on it) and
the drift draw. It does not cover the variability of a probe trained on an *independent* training
set of the same size: no unbiased estimator of that part of the K-fold variance exists (Bengio &
Grandvalet 2004), so with few texts per dimension the interval can be too narrow for the expected
AUC of "a probe trained on (K − 1)/K · N texts".

Note on the draws: each fold is drifted with the same drift seeds, so a seed's global objects (the
random direction, the rotation matrix) are one model update shared by every fold; the Gaussian noise
of a seed is drawn per row of a fold, so texts at the same row of different folds share a noise vector.
That correlation makes the between-draw spread a little larger, and it is counted in se_draws.

Power (:func:`minimum_detectable_difference`, :func:`power_table`): the smallest true difference a
two-sided test at level α detects with probability ``power`` is (z_{1−α/2} + z_power) · se_diff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from probedrift.core.errors import ProbedriftError
from probedrift.core.intervals import bootstrap_weights, check_level, combined_interval
from probedrift.report.tables import rows_at_sigma
from probedrift.science import drift as drift_mod
from probedrift.science import metrics as metrics_mod
from probedrift.science import sweep as sweep_mod

__all__ = [
    "CROSSFIT_INTERVAL",
    "CrossfitPredictions",
    "collapse_table",
    "crossfit_intervals",
    "crossfit_sweep",
    "crossfit_table",
    "interval_rows",
    "minimum_detectable_difference",
    "paired_drop_interval",
    "power_table",
    "stratified_folds",
]

#: Metrics of the cross-fitted table (those of the sweep table).
CROSSFIT_METRICS = metrics_mod.SWEEP_METRICS


def crossfit_interval_text(folds: int, n_splits: int, level: float = 0.95) -> str:
    """What the cross-fitted intervals cover, for the table's ``interval`` column."""
    return (f"{level:.0%} normal interval over test texts (stratified bootstrap of all texts, paired across split "
            f"seeds, drift draws and σ), split/probe seeds ({n_splits} seeds of {folds}-fold cross-fitting, probe "
            "refitted in each fold) and drift draws (two-way ANOVA components); out-of-fold predictions")


CROSSFIT_INTERVAL = crossfit_interval_text(5, 3)  # the wording at the default profile's settings


# --------------------------------------------------------------------------- folds


def stratified_folds(y: object, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k−1) of every text: each class shuffled by ``default_rng(seed)`` and dealt round-robin,
    so every fold holds ⌊n_c/k⌋ or ⌈n_c/k⌉ texts of class c and every text lies in exactly one fold."""
    y_arr = np.asarray(y)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2:
        raise ProbedriftError(f"folds must be an integer >= 2, got {k!r}", "use e.g. 5 folds")
    counts = np.bincount(y_arr.astype(np.int64), minlength=2)
    if counts.min() < k:
        raise ProbedriftError(f"{k} folds need at least {k} texts of each class, got {counts.tolist()}",
                              "use fewer folds or more texts")
    rng = np.random.default_rng(seed)
    out = np.empty(y_arr.size, dtype=np.int64)
    start = 0
    for c in (0, 1):
        idx = rng.permutation(np.flatnonzero(y_arr == c))
        out[idx] = (start + np.arange(idx.size)) % k  # continue the deal, so fold sizes differ by at most 1
        start += idx.size
    return out


# --------------------------------------------------------------------------- cross-fitted predictions


@dataclass
class CrossfitPredictions:
    """Out-of-fold probe outputs of every text under drift.

    probabilities[(drift_type, convention)]: (R split seeds, k drift seeds, S σ, N texts) p(class 1)
    of the probe that did not see the text; angles_deg[...]: same shape (float32); folds: (R, N) fold
    index of each text per split seed; y: (N,) labels.
    """

    y: np.ndarray
    sigmas: np.ndarray
    split_seeds: np.ndarray
    drift_seeds: np.ndarray
    n_folds: int
    folds: np.ndarray
    probabilities: dict
    angles_deg: dict


def crossfit_sweep(
    X: object,
    y: object,
    fit: Callable[[np.ndarray, np.ndarray, int], Callable[[np.ndarray], np.ndarray]],
    *,
    folds: int,
    split_seeds: Sequence[int],
    sigmas: object,
    drift_seeds: Sequence[int],
    drift_types: Sequence[str] | str = drift_mod.DRIFT_TYPES,
    conventions=None,
    tau: float = 0.8,
    ece_bins: int = 5,
) -> CrossfitPredictions:
    """Out-of-fold predictions of every text of X (N, d unit rows) under every drift, σ and seed.

    For each split seed r and fold f of :func:`stratified_folds`: ``fit(X_train, y_train, r)`` returns
    a ``predict_proba`` fitted on the other folds (the study passes the paper's probe, whose
    normalisation is fitted there), and :func:`probedrift.science.sweep.sweep` drifts the held-out fold with
    every drift seed (one vectorised pass per seed; reference directions from the fold's training
    texts) and scores it with that probe.
    """
    X = np.asarray(X, dtype=np.float32)
    y_arr = np.asarray(y).astype(np.int64)
    sig = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    split_seeds = [int(s) for s in split_seeds]
    seeds = [int(s) for s in drift_seeds]
    if not split_seeds:
        raise ProbedriftError("split_seeds is empty", "pass e.g. split_seeds=[0, 1, 2]")
    pairs = drift_mod.resolve_conventions(drift_types, conventions)
    R, k, S, N = len(split_seeds), len(seeds), sig.size, y_arr.size
    probs = {pair: np.full((R, k, S, N), np.nan) for pair in pairs}
    angles = {pair: np.full((R, k, S, N), np.nan, dtype=np.float32) for pair in pairs}
    fold_ids = np.stack([stratified_folds(y_arr, folds, r) for r in split_seeds])
    for i, r in enumerate(split_seeds):
        for f in range(folds):
            test = np.flatnonzero(fold_ids[i] == f)
            train = np.flatnonzero(fold_ids[i] != f)
            predict = fit(X[train], y_arr[train], r)
            _, pred = sweep_mod.sweep(X[test], y_arr[test], predict, drift_types=drift_types, conventions=conventions,
                                      sigmas=sig, seeds=seeds, tau=tau, ece_bins=ece_bins, reference=X[train],
                                      reference_labels=y_arr[train], progress=False, return_predictions=True)
            for pair in pairs:
                probs[pair][i][..., test] = pred.probabilities[pair]
                angles[pair][i][..., test] = pred.angles_deg[pair]
    return CrossfitPredictions(y_arr, sig, np.array(split_seeds), np.array(seeds), int(folds), fold_ids, probs, angles)


# --------------------------------------------------------------------------- variance and intervals


def crossfit_intervals(
    y: object,
    P: object,
    metrics: Sequence[str] | None = None,
    *,
    W: np.ndarray | None = None,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    tau: float = 0.8,
    ece_bins: int = 5,
) -> dict[str, dict[str, float]]:
    """Mean and interval of each metric over an (R split seeds, k drift draws, n texts) stack of predictions.

    m̄ = mean_{r,k} m(y, P_{rk}); se² = se_texts² + se_splits² + se_draws² with se_texts the standard
    deviation of m̄ over text resamples (weights ``W`` from :func:`probedrift.core.intervals.bootstrap_weights`,
    or ``n_boot`` drawn with ``seed``; the same resample for every r and k) and se_splits, se_draws from
    :func:`probedrift.core.intervals.variance_components`. Interval m̄ ± z_{(1+level)/2}·se clipped to [0, 1]
    (:func:`probedrift.core.intervals.combined_interval`). Returns
    ``{metric: {mean, ci_low, ci_high, se, se_texts, se_splits, se_draws, n}}`` (n = defined (r, k) cells).
    A (k, n) stack is read as one split seed.
    """
    y_arr = np.asarray(y).astype(np.int64)
    P = np.asarray(P, dtype=np.float64)
    if P.ndim == 2:
        P = P[None]
    if P.ndim != 3 or P.shape[-1] != y_arr.size:
        raise ProbedriftError(f"P must be (splits, draws, {y_arr.size}), got {P.shape}",
                              "stack the out-of-fold predictions of every split seed and drift draw")
    check_level(level)
    names = list(CROSSFIT_METRICS if metrics is None else metrics)
    R, k, n = P.shape
    flat = P.reshape(R * k, n)
    W = bootstrap_weights(y_arr, n_boot, seed) if W is None else W
    per = metrics_mod.probe_metrics_batch(y_arr, flat, tau, ece_bins, names)
    boot = metrics_mod.weighted_metrics(y_arr, flat, W, names, tau=tau, ece_bins=ece_bins)
    return {name: combined_interval(per[name].reshape(R, k), boot[name], level) for name in names}


def _cell_and_resample_metrics(y: np.ndarray, P: np.ndarray, metric: str, W: np.ndarray, tau: float,
                               ece_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """A metric of every (split, draw) cell of an (R, k, n) stack, (R·k,), and under every resample of
    ``W``, (B, R·k) as :func:`probedrift.science.metrics.weighted_metrics` gives it."""
    flat = np.asarray(P, dtype=np.float64).reshape(-1, y.size)
    per = metrics_mod.probe_metrics_batch(y, flat, tau, ece_bins, [metric])[metric]
    return per, metrics_mod.weighted_metrics(y, flat, W, [metric], tau=tau, ece_bins=ece_bins)[metric]


def paired_drop_interval(
    y: object,
    P_clean: object,
    P: object,
    metric: str,
    *,
    W: np.ndarray,
    level: float = 0.95,
    tau: float = 0.8,
    ece_bins: int = 5,
    clean_metrics: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, float]:
    """The drop m(clean) − m(drifted) of one metric, with an interval paired over everything shared.

    ``P_clean`` and ``P`` are (R, k, n) predictions on the same texts (split seed r, drift draw k).
    Per cell Δ_rk = m(y, P_clean,rk) − m(y, P_rk); Δ̄ and its split and draw standard errors come from
    :func:`probedrift.core.intervals.variance_components` of the Δ table, the text part from the standard
    deviation of Δ̄ over the resamples ``W`` (each applied to both, so what the two share cancels). Interval
    Δ̄ ± z_{(1+level)/2} √(se_texts² + se_splits² + se_draws²). Much narrower than two separate
    intervals when the two are correlated over texts, as a probe before and after a small drift is.
    ``clean_metrics`` may carry :func:`_cell_and_resample_metrics` of ``P_clean``, computed once for
    many drifted stacks. Returns ``{mean, ci_low, ci_high, se}``.
    """
    y_arr = np.asarray(y).astype(np.int64)
    P1 = np.asarray(P, dtype=np.float64)
    if P1.ndim == 2:
        P1 = P1[None]
    R, k, n = P1.shape
    per0, b0 = (_cell_and_resample_metrics(y_arr, np.broadcast_to(np.asarray(P_clean, dtype=np.float64), P1.shape),
                                           metric, W, tau, ece_bins) if clean_metrics is None else clean_metrics)
    per1, b1 = _cell_and_resample_metrics(y_arr, P1, metric, W, tau, ece_bins)
    drop = combined_interval((per0 - per1).reshape(R, k), b0 - b1, level, clip=False)
    return {part: drop[part] for part in ("mean", "ci_low", "ci_high", "se")}


def interval_rows(
    y: object,
    probabilities: dict,
    angles_deg: dict,
    sigmas: np.ndarray,
    metrics: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    level: float = 0.95,
    tau: float = 0.8,
    ece_bins: int = 5,
    keys: dict | None = None,
    paired_drops: Sequence[str] = (),
) -> pd.DataFrame:
    """One row per (drift_type, convention, σ) with :func:`crossfit_intervals` of each metric.

    ``probabilities[(t, c)]`` is (R, k, S, n) or (k, S, n) (one split); ``angles_deg`` the same shape.
    Columns: ``keys`` (constants such as model), drift_type, convention, sigma, angle_deg_mean (over
    texts, splits and draws), then ``<metric>_mean/_ci_low/_ci_high/_se/_se_texts/_se_splits/_se_draws/_n``.
    One set of bootstrap weights serves every row (paired across σ, draws and conventions). For each
    metric of ``paired_drops`` (σ = 0 must be on the grid) also ``<metric>_drop_mean/_ci_low/_ci_high/_se``:
    the loss against σ = 0 with :func:`paired_drop_interval`.
    """
    y_arr = np.asarray(y).astype(np.int64)
    W = bootstrap_weights(y_arr, n_boot, seed)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if paired_drops and not np.any(sigmas == 0):
        raise ProbedriftError("paired drops are measured against σ = 0, which the grid lacks", "add σ = 0 to the grid")
    clean = int(np.flatnonzero(sigmas == 0)[0]) if paired_drops else None
    rows = []
    for (t, c), P in probabilities.items():
        P = np.asarray(P)
        A = np.asarray(angles_deg[(t, c)])
        if P.ndim == 3:
            P, A = P[None], A[None]
        clean_metrics = {m: _cell_and_resample_metrics(y_arr, P[:, :, clean], m, W, tau, ece_bins)
                         for m in paired_drops}  # once per drift, not once per σ
        for i, sigma in enumerate(sigmas):
            r = crossfit_intervals(y_arr, P[:, :, i], metrics, W=W, level=level, tau=tau, ece_bins=ece_bins)
            row = {**(keys or {}), "drift_type": t, "convention": c, "sigma": float(sigma),
                   "angle_deg_mean": float(np.mean(A[:, :, i]))}
            row.update({f"{m}_{part}": v for m, parts in r.items() for part, v in parts.items()})
            for m in paired_drops:
                drop = paired_drop_interval(y_arr, P[:, :, clean], P[:, :, i], m, W=W, level=level, tau=tau,
                                            ece_bins=ece_bins, clean_metrics=clean_metrics[m])
                row.update({f"{m}_drop_{part}": v for part, v in drop.items()})
            rows.append(row)
    return pd.DataFrame(rows)


def crossfit_table(pred: CrossfitPredictions, *, model: str = "", n_boot: int = 200, seed: int = 0,
                   level: float = 0.95, tau: float = 0.8, ece_bins: int = 5) -> pd.DataFrame:
    """The cross-fitted drift sweep: :func:`interval_rows` of :data:`CROSSFIT_METRICS` over all N texts, with
    n_texts, folds, n_split_seeds, n_drift_seeds and an ``interval`` column saying what is covered."""
    df = interval_rows(pred.y, pred.probabilities, pred.angles_deg, pred.sigmas, list(CROSSFIT_METRICS), n_boot=n_boot,
                       seed=seed, level=level, tau=tau, ece_bins=ece_bins,
                       keys={"model": model, "n_texts": int(pred.y.size), "folds": pred.n_folds,
                             "n_split_seeds": int(pred.split_seeds.size), "n_drift_seeds": int(pred.drift_seeds.size)})
    df["interval"] = crossfit_interval_text(pred.n_folds, int(pred.split_seeds.size), level)
    return df


# --------------------------------------------------------------------------- power


def minimum_detectable_difference(se_a: object, se_b: object = None, *, alpha: float = 0.05, power: float = 0.8,
                                  correlation: float = 0.0) -> np.ndarray:
    """Smallest true difference between two estimates that a two-sided z-test at level α detects with
    probability ``power``: MDE = (z_{1−α/2} + z_power) · √(se_a² + se_b² − 2ρ·se_a·se_b).

    ``se_b`` defaults to ``se_a`` (two runs of the same design), giving (z_{1−α/2} + z_power)·se·√(2(1−ρ));
    ρ = 0 is an unpaired comparison (≈ 2.80·√2·se at α = 0.05, 80% power), ρ > 0 a paired one on the same texts.
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ProbedriftError(f"alpha and power must lie in (0, 1), got {alpha!r}, {power!r}",
                              "use e.g. alpha=0.05, power=0.8")
    a = np.asarray(se_a, dtype=np.float64)
    b = a if se_b is None else np.asarray(se_b, dtype=np.float64)
    se_diff = np.sqrt(np.maximum(a ** 2 + b ** 2 - 2 * correlation * a * b, 0.0))
    return (stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)) * se_diff


def power_table(designs: dict[str, pd.DataFrame], *, sigma: float = 0.0, drift_type: str = "gaussian",
                convention: str = "relative", metrics: Sequence[str] = ("auc", "silent_failure_share"),
                alpha: float = 0.05, power: float = 0.8) -> pd.DataFrame:
    """Per design (e.g. ``{"paper split": drift_sweep_summary, "cross-fitted": drift_sweep_crossfit}``), model and
    metric: the value at (drift_type, convention, σ), its standard error √(Σ of the table's ``_se_*`` columns²),
    and the minimum detectable difference of :func:`minimum_detectable_difference` (unpaired, equal se).

    Columns: design, model, metric, drift_type, convention, sigma, n_texts, value, se, mde, alpha, power.
    """
    out = []
    for design, table in designs.items():
        rows = rows_at_sigma(table, sigma, drift_type=drift_type, convention=convention)
        for _, r in rows.iterrows():
            for m in metrics:
                parts = [c for c in r.index if c.startswith(f"{m}_se_")]
                se = float(np.sqrt(sum(float(r[c]) ** 2 for c in parts if np.isfinite(r[c])))) if parts else np.nan
                out.append({"design": design, "model": r["model"], "metric": m, "drift_type": drift_type,
                            "convention": convention, "sigma": float(r["sigma"]),
                            "n_texts": float(r["n_texts"]) if "n_texts" in r.index else np.nan,
                            "value": float(r[f"{m}_mean"]), "se": se,
                            "mde": float(minimum_detectable_difference(se, alpha=alpha, power=power)),
                            "alpha": alpha, "power": power})
    return pd.DataFrame(out, columns=["design", "model", "metric", "drift_type", "convention", "sigma", "n_texts",
                                      "value", "se", "mde", "alpha", "power"])


# --------------------------------------------------------------------------- layer axis


def collapse_table(layer_sweep: pd.DataFrame, budget: pd.DataFrame | None = None, *, angle_deg: float = 1.0,
                   convention: str = "relative") -> pd.DataFrame:
    """Per model × layer × pooling: does AUC collapse at ≈ ``angle_deg`` of Gaussian drift?

    Takes the σ of the ``convention`` rows whose mean measured angle is closest to ``angle_deg`` and
    sets its AUC (with interval) beside the clean AUC (σ = 0). ``collapse`` = the AUC there has lost at
    least half its excess over chance, AUC − ½ ≤ (AUC_clean − ½)/2 (the drift budget's half-excess
    criterion); ``auc_drop`` = AUC_clean − AUC there with its paired interval (same texts and
    resamples, :func:`paired_drop_interval`) when the sweep has ``auc_drop_*`` columns, and
    ``drop_resolved`` = that interval lies above 0 (without those columns: the two unpaired intervals
    do not overlap, a conservative stand-in). With ``budget``
    (:func:`probedrift.experiments.synthetic_drift.drift_budget`'s first table) the predicted half-excess
    angle is set beside.
    """
    g_all = layer_sweep[(layer_sweep.drift_type == "gaussian") & (layer_sweep.convention == convention)]
    rows = []
    for (model, layer, pooling), g in g_all.groupby(["model", "layer", "pooling"], sort=False):
        clean = g.loc[g.sigma.abs().idxmin()]
        moved = g[g.sigma > 0]
        if moved.empty:
            continue
        at = moved.loc[(moved.angle_deg_mean - angle_deg).abs().idxmin()]
        rows.append({"model": model, "layer": int(layer), "pooling": pooling, "convention": convention,
                     "auc_clean": clean.auc_mean, "auc_clean_ci_low": clean.auc_ci_low,
                     "auc_clean_ci_high": clean.auc_ci_high, "sigma_near_angle": float(at.sigma),
                     "angle_deg": float(at.angle_deg_mean), "auc_at_angle": at.auc_mean,
                     "auc_at_angle_ci_low": at.auc_ci_low, "auc_at_angle_ci_high": at.auc_ci_high,
                     "collapse": bool(at.auc_mean - 0.5 <= (clean.auc_mean - 0.5) / 2)})
        if "auc_drop_mean" in g.columns:
            rows[-1].update({"auc_drop": at.auc_drop_mean, "auc_drop_ci_low": at.auc_drop_ci_low,
                             "auc_drop_ci_high": at.auc_drop_ci_high, "drop_resolved": bool(at.auc_drop_ci_low > 0)})
        else:
            rows[-1]["drop_resolved"] = bool(at.auc_ci_high < clean.auc_ci_low)
        rows[-1]["interval"] = at.get("interval", "")
    out = pd.DataFrame(rows)
    if budget is not None and len(out) and "angle_half_predicted_deg" in budget.columns:
        keys = [k for k in ("model", "layer", "pooling") if k in budget.columns]
        out = out.merge(budget[keys + ["angle_half_predicted_deg"]], on=keys, how="left")
    return out
