"""Where the cliff is: the drift angle at which a frozen probe loses a given share of its AUC.

The paper places a cliff between σ ≈ 0.01 and 0.028 (its Fig. 2) on a linear grid of eight σ; on such
a grid, under the per-dimension reading, σ = 0.01 is already about 14°, so any "cliff" between 0 and
that point is found by interpolating across a gap of many degrees. Here the σ grid is log-spaced from
``cliff_sigma_min`` to ``sigma_max`` (plus σ = 0; :func:`probedrift.core.grids.log_sigma_grid`), so consecutive
measured angles differ by a factor well below 2, and two criteria are located on it:

- ``half_excess``: AUC ≤ 0.5 + (AUC₀ − 0.5)/2, the probe has lost half of its excess over chance —
  defined for any clean AUC above 0.5;
- ``drop_20``: AUC ≤ AUC₀ − 0.20, the paper's "85% → 50%"-sized fall — only where AUC₀ ≥ 0.70, so that
  the fall does not end below chance.

The crossing is interpolated linearly in log-angle between the two grid points that bracket it; the
ratio of those two angles is reported (``bracket_ratio``).

The interval covers the test texts and the drift draw together: each of ``n_boot`` resamples draws the
test texts (stratified bootstrap, the same resample for every drift seed) *and* the drift seeds (k of
the k, with replacement), and locates the crossing of its own seed-mean AUC curve (target from its own
clean AUC). The interval is the percentile interval of those crossings. A resample whose curve never
reaches the target inside the grid is kept, censored at the grid's end: its crossing lies beyond the
largest angle, so it counts as +∞ in the order statistics. The lower end, an order statistic of the
lower tail, is unaffected by that censoring; the upper end is +∞ -- "beyond the grid" -- as soon as
more than (1 − level)/2 of the resamples never reach the target (and σ's upper end with it). Dropping
those resamples (or the seeds that never fall) instead would narrow the interval and raise its lower
end. Resampling k seeds with replacement understates the seed variance by the factor (k − 1)/k.

``angle_se_texts`` (texts resampled, seeds fixed) and ``angle_se_draws`` (per-seed crossings, s/√k)
describe the two sources separately; a resample or seed that never reaches the target enters them at
the grid's end, so where any does they are lower bounds on the spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from probedrift.core.intervals import stratified_bootstrap_indices
from probedrift.report.paper import CLIFF_DROP
from probedrift.science.metrics import roc_auc_batch

__all__ = ["CLIFF_COLUMNS", "CRITERIA", "INTERVAL", "censored_crossing", "cliff_table", "crossing_angle",
           "first_crossing", "interval_text", "target_auc"]

CRITERIA = ("half_excess", "drop_20")
CLIFF_COLUMNS = ["model", "drift_type", "convention", "criterion", "auc_clean", "target_auc", "n_seeds",
                 "n_seeds_reached", "angle_deg", "angle_deg_ci_low", "angle_deg_ci_high", "angle_se_texts",
                 "angle_se_draws", "sigma", "sigma_ci_low", "sigma_ci_high", "max_angle_deg", "bracket_ratio",
                 "n_texts", "interval"]


def interval_text(level: float = 0.95) -> str:
    """What :func:`cliff_table`'s interval covers, for its ``interval`` column."""
    return (f"{level:.0%} percentile interval over test texts (stratified bootstrap, the same resample for every drift "
            "seed) and drift seeds (resampled with replacement), jointly resampled; a resample whose seed-mean curve "
            "never reaches the target inside the grid is kept as beyond the grid's end, so the upper end is ∞ "
            f"(beyond the grid) when more than {(1 - level) / 2:.1%} of resamples never reach it")


INTERVAL = interval_text(0.95)


def target_auc(auc_clean: float, criterion: str) -> float:
    """The AUC that marks the criterion (NaN where it is undefined for this clean AUC)."""
    if criterion == "half_excess":
        return 0.5 + (auc_clean - 0.5) / 2 if auc_clean > 0.5 else math.nan
    if criterion == "drop_20":
        return auc_clean - CLIFF_DROP if auc_clean >= 0.5 + CLIFF_DROP else math.nan
    raise ValueError(f"unknown criterion {criterion!r}; one of {CRITERIA}")


AT_START = ("x0", "nan", "skip")


def _bracket(y: np.ndarray, target: float, at_start: str) -> tuple[int, int, float] | None:
    """(i, j, frac) of the first fall of ``y`` to ``target``: j the first index with y[j] ≤ target, i = j − 1
    and frac = (y_i − target)/(y_i − y_j) (0 when y_i = y_j); None when y never falls that far. A fall
    already at j = 0 gives (0, 0, 0.0) with ``at_start="x0"``, None with "nan"; "skip" looks from j = 1."""
    if at_start not in AT_START:
        raise ValueError(f"unknown at_start {at_start!r}; one of {AT_START}")
    first = 1 if at_start == "skip" else 0
    below = np.flatnonzero(np.asarray(y)[first:] <= target)
    if below.size == 0:
        return None
    j = int(below[0]) + first
    if j == 0:
        return (0, 0, 0.0) if at_start == "x0" else None
    i = j - 1
    return i, j, (0.0 if y[i] == y[j] else (y[i] - target) / (y[i] - y[j]))


def _interpolate(x: np.ndarray, i: int, j: int, frac: float, log_x: bool) -> float:
    if log_x and x[i] > 0:
        return float(math.exp(math.log(x[i]) + frac * (math.log(x[j]) - math.log(x[i]))))
    return float(x[i] + frac * (x[j] - x[i]))


def first_crossing(x: np.ndarray, y: np.ndarray, target: float, *, log_x: bool = False, at_start: str = "x0",
                   never: float = math.nan) -> float:
    """The first x where the curve y(x) (x increasing) falls to ``target``, interpolated between the two grid
    points that bracket the fall: x_i + f (x_j − x_i) with f = (y_i − target)/(y_i − y_j), j the first
    point with y_j ≤ target and i = j − 1 (f = 0 when y_i = y_j); ``never`` when y stays above target
    (NaN by default; a NaN target never falls).

    ``log_x``: interpolate linearly in log x instead, exp(log x_i + f (log x_j − log x_i)), in x when x_i
    is 0 (the cliff on its log-spaced grid, :func:`crossing_angle`). ``at_start``: what a fall already at
    the first point gives -- "x0" its x (the seed-mean cliff of :func:`probedrift.report.tables.cliff_points`),
    "nan" NaN (the per-seed cliffs of findings and the paper comparison), "skip" nothing: the first point
    is the clean reference and the search starts at the second (:func:`crossing_angle`).
    """
    bracket = _bracket(y, target, at_start)
    return never if bracket is None else _interpolate(x, *bracket, log_x)


def crossing_angle(angles: np.ndarray, aucs: np.ndarray, target: float) -> tuple[float, float]:
    """First angle where the AUC curve (angles increasing, angles[0] = 0) falls to ``target``.

    :func:`first_crossing` in log-angle, from the second point on (in angle when the lower bracketing
    point is 0). Returns (angle, bracket ratio a_j/a_i, ∞ when a_i = 0), NaN for both when the curve
    never falls that far.
    """
    bracket = _bracket(aucs, target, "skip")
    if bracket is None:
        return math.nan, math.nan
    i, j = bracket[:2]
    return _interpolate(angles, *bracket, True), (math.inf if angles[i] <= 0 else float(angles[j] / angles[i]))


def _raw_target(auc_clean: float, criterion: str) -> float:
    """The criterion's target for a resample's clean AUC, without :func:`target_auc`'s definedness guard (a
    resample's clean AUC may fall just outside the range where the criterion is defined on the full data)."""
    return 0.5 + (auc_clean - 0.5) / 2 if criterion == "half_excess" else auc_clean - CLIFF_DROP


def censored_crossing(angles: np.ndarray, aucs: np.ndarray, target: float) -> float:
    """:func:`crossing_angle`, +∞ (beyond the grid's end) where the curve never reaches a finite target."""
    angle = crossing_angle(angles, aucs, target)[0]
    return math.inf if math.isnan(angle) and math.isfinite(target) else angle


def _order_statistic_interval(x: np.ndarray, level: float) -> tuple[float, float]:
    """The (1 ∓ level)/2 quantiles of x as order statistics (``inverted_cdf``: no interpolation, so +∞
    values -- censored crossings -- stay +∞ and only move the ends they reach); NaN values left out."""
    x = x[~np.isnan(x)]
    if x.size == 0:
        return math.nan, math.nan
    lo, hi = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return float(lo), float(hi)


def _spread(x: np.ndarray, end: float) -> float:
    """Standard deviation of x with +∞ (never reached) counted at the grid's end ``end``; NaN when nothing
    reached the target inside the grid."""
    x = x[~np.isnan(x)]
    if x.size < 2 or np.isinf(x).all():
        return math.nan  # no spread to measure: fewer than two values, or none reached inside the grid
    return float(np.std(np.where(np.isinf(x), end, x), ddof=1))


def cliff_table(y: np.ndarray, probabilities: np.ndarray, angles_deg: np.ndarray, sigmas: np.ndarray, *,
                model: str, drift_type: str, convention: str, n_boot: int = 200, seed: int = 0,
                criteria: Sequence[str] = CRITERIA, level: float = 0.95) -> pd.DataFrame:
    """Cliff angles of one drift (``probabilities`` and ``angles_deg``: (k seeds, S σ, n texts)).

    Per criterion: the crossing angle of the seed-mean AUC curve against the seed-mean angle, its
    percentile interval over texts and seeds resampled together, with resamples that never reach the
    target kept as beyond the grid (module docstring), the σ at the crossing and at the interval's ends
    (read off the monotone σ ↦ mean-angle curve of the grid, so they state the same interval in σ; +∞
    beyond the grid), and how many seeds reach it.
    """
    y = np.asarray(y)
    P = np.asarray(probabilities, dtype=float)
    A = np.asarray(angles_deg, dtype=float)
    k, S, n = P.shape
    auc = roc_auc_batch(y, P.reshape(k * S, n)).reshape(k, S)
    ang = A.mean(axis=2)                                   # (k, S) mean angle per seed and σ
    curve_auc, curve_ang = auc.mean(axis=0), ang.mean(axis=0)
    idx = stratified_bootstrap_indices(y, n_boot, seed)    # (B, n)
    boot = np.stack([roc_auc_batch(y[b], P[:, :, b].reshape(k * S, n)).reshape(k, S) for b in idx])  # (B, k, S)
    seed_draws = np.random.default_rng([seed, k]).integers(0, k, size=(n_boot, k))
    joint_auc = np.take_along_axis(boot, seed_draws[:, :, None], axis=1).mean(axis=1)  # (B, S)
    joint_ang = ang[seed_draws].mean(axis=1)                                           # (B, S)
    end = float(curve_ang[-1])
    rows = []
    for criterion in criteria:
        target = target_auc(float(curve_auc[0]), criterion)
        angle, ratio = crossing_angle(curve_ang, curve_auc, target)
        defined = math.isfinite(target)
        per_seed = np.array([censored_crossing(ang[s], auc[s], target_auc(float(auc[s, 0]), criterion))
                             for s in range(k)])
        texts_only = np.array([censored_crossing(curve_ang, b.mean(axis=0), _raw_target(float(b[:, 0].mean()),
                                                                                         criterion)) for b in boot])
        joint = np.array([censored_crossing(joint_ang[b], joint_auc[b], _raw_target(float(joint_auc[b, 0]),
                                                                                   criterion)) for b in range(n_boot)])
        low, high = _order_statistic_interval(joint, level) if defined else (math.nan, math.nan)
        low = min(low, end)  # when even the lower end is beyond the grid, all that is known is "past its end"
        reached = np.isfinite(per_seed)
        se_draws = _spread(per_seed, end) / math.sqrt(k) if defined else math.nan
        se_texts = _spread(texts_only, end) if defined else math.nan
        sigma, sigma_lo, sigma_hi = (float(np.interp(a, curve_ang, sigmas)) if np.isfinite(a) else math.nan
                                     for a in (angle, low, high))
        if high > end:
            sigma_hi = math.inf  # the interval reaches past the grid: only "at least σ_max" is known
        rows.append({"model": model, "drift_type": drift_type, "convention": convention, "criterion": criterion,
                     "auc_clean": float(curve_auc[0]), "target_auc": target, "n_seeds": k,
                     "n_seeds_reached": int(reached.sum()), "angle_deg": angle,
                     "angle_deg_ci_low": low, "angle_deg_ci_high": high,
                     "angle_se_texts": se_texts, "angle_se_draws": se_draws, "sigma": sigma,
                     "sigma_ci_low": sigma_lo, "sigma_ci_high": sigma_hi,
                     "max_angle_deg": end, "bracket_ratio": ratio, "n_texts": n,
                     "interval": interval_text(level)})
    return pd.DataFrame(rows, columns=CLIFF_COLUMNS)
