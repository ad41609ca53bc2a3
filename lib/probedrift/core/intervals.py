"""Interval statistics that know nothing of probes: t-intervals, bootstrap resamples, binomial intervals
and the split/draw variance components of a cross-fitted estimate.

This module is the ground floor of the statistics: it imports numpy, scipy, pandas and the package's
errors only, so metrics, cross-fitting, cliffs and tables can all build on it without import cycles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from probedrift.core.errors import ProbedriftError

__all__ = [
    "aggregate_seeds",
    "bootstrap_weights",
    "centred_t_interval",
    "clopper_pearson",
    "clustered_rate_interval",
    "combined_interval",
    "mean_t_interval",
    "percentile_interval",
    "stratified_bootstrap_indices",
    "variance_components",
]


def check_level(level: float) -> float:
    """``level`` if it lies in (0, 1); otherwise an error saying so."""
    if not 0 < level < 1:
        raise ProbedriftError(f"level must lie in (0, 1), got {level!r}", "use e.g. level=0.95")
    return level


# --------------------------------------------------------------------------- t-intervals


def mean_t_interval(values: object, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the finite values and its Student-t interval, m ± t_{(1+level)/2, k−1}·s/√k.

    NaN bounds with fewer than two finite values (no spread to estimate); all NaN with none.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return math.nan, math.nan, math.nan
    mean = float(x.mean())
    if len(x) < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf((1 + level) / 2, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def aggregate_seeds(
    df: pd.DataFrame,
    by: str | Sequence[str],
    metrics: Sequence[str] | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Mean and Student-t confidence interval of the mean across seeds, per group.

    For each group of ``by`` and each metric: <metric>_mean, <metric>_ci_low, <metric>_ci_high with
    half-width t_{(1+level)/2, k−1} · s / √k over the k seeds where the metric is defined (NaNs are
    skipped). ``<metric>_n`` is that k, the seeds at which the metric is defined; ``n_seeds`` counts the
    seeds at which at least one of the metrics is defined (rows whose metrics are all NaN are not
    counted). With a single seed the interval collapses to the value, and ``_n`` = 1 makes that visible.
    ``metrics`` defaults to every numeric column except ``by`` and "seed".
    """
    by = [by] if isinstance(by, str) else list(by)
    missing = [c for c in by if c not in df.columns]
    if metrics is None:
        metrics = [
            c for c in df.columns if c not in by and c != "seed" and pd.api.types.is_numeric_dtype(df[c])
        ]
    missing += [m for m in metrics if m not in df.columns]
    if missing:
        raise ProbedriftError(
            f"columns not in the table: {', '.join(map(str, missing))}",
            f"choose from: {', '.join(map(str, df.columns))}",
        )
    check_level(level)
    numeric = df[by].copy()
    for m in metrics:
        numeric[m] = pd.to_numeric(df[m], errors="coerce")
    stats_ = numeric.groupby(by, sort=False, dropna=False)[list(metrics)].agg(["mean", "std", "count"])
    defined = numeric[list(metrics)].notna().any(axis=1).astype(np.int64) if metrics else pd.Series(1, df.index)
    out = defined.groupby([numeric[c] for c in by], sort=False, dropna=False).sum().rename("n_seeds").to_frame()
    out.index.names = by
    for m in metrics:
        mean = stats_[(m, "mean")].to_numpy()
        std = stats_[(m, "std")].to_numpy()
        k = stats_[(m, "count")].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = stats.t.ppf((1.0 + level) / 2.0, np.maximum(k - 1.0, 1.0))
            half = np.where(k > 1, t * std / np.sqrt(k), 0.0)
        out[f"{m}_mean"] = mean
        out[f"{m}_ci_low"] = mean - half
        out[f"{m}_ci_high"] = mean + half
        out[f"{m}_n"] = k.astype(np.int64)
    return out.reset_index()


# --------------------------------------------------------------------------- binomial rates


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial rate k/n: ``scipy.stats.binomtest(k, n).proportion_ci``."""
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def clustered_rate_interval(counts: object, sizes: object, level: float = 0.95) -> dict[str, float]:
    """A binomial rate from G clusters of trials that share something within a cluster (Korn & Graubard 1998).

    p̂ = Σk_g / Σn_g; its variance from the spread between clusters (ratio estimator),
    v = G/(G − 1) · Σ_g (k_g − p̂ n_g)² / (Σn_g)²; design effect deff = max(1, v / (p̂(1 − p̂)/n)) (1 when
    p̂ is 0 or 1, where v is 0 too); effective size n* = n/deff · (t_{n−1}/t_{G−1})², the t quantiles at
    (1 + level)/2 (Korn–Graubard's degrees-of-freedom correction: G clusters, not n trials, carry the
    variance); the Clopper–Pearson interval of x* = p̂ n* successes in n* trials, from the beta quantiles
    B((1 − level)/2; x*, n* − x* + 1) and B((1 + level)/2; x* + 1, n* − x*). Returns
    ``{rate, ci_low, ci_high, design_effect, n_effective}``.
    """
    k = np.asarray(counts, dtype=np.float64)
    n_g = np.asarray(sizes, dtype=np.float64)
    if k.shape != n_g.shape or k.ndim != 1 or k.size < 2 or (n_g <= 0).any() or (k < 0).any() or (k > n_g).any():
        raise ProbedriftError("counts and sizes must be two 1-D arrays of the same length >= 2, 0 <= k_g <= n_g",
                              "pass the alarms and the runs of each cluster (e.g. each pool of texts)")
    check_level(level)
    n, G = float(n_g.sum()), k.size
    rate = float(k.sum() / n)
    v = G / (G - 1) * float(((k - rate * n_g) ** 2).sum()) / n ** 2
    v_srs = rate * (1 - rate) / n
    deff = max(1.0, v / v_srs) if v_srs > 0 else 1.0
    q = (1 + level) / 2
    n_eff = n / deff * (stats.t.ppf(q, n - 1) / stats.t.ppf(q, G - 1)) ** 2
    x = rate * n_eff
    low = float(stats.beta.ppf(1 - q, x, n_eff - x + 1)) if x > 0 else 0.0
    high = float(stats.beta.ppf(q, x + 1, n_eff - x)) if x < n_eff else 1.0
    return {"rate": rate, "ci_low": low, "ci_high": high, "design_effect": deff, "n_effective": n_eff}


# --------------------------------------------------------------------------- bootstrap


def _binary_labels(y: object) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0 or not np.isin(arr, (0, 1)).all():
        raise ProbedriftError("labels y must be a non-empty 1-D array of 0/1",
                              "map the classes to 0 (safe) and 1 (unsafe) before resampling")
    return arr.astype(np.int64)


def stratified_bootstrap_indices(y: object, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) row indices, each row a resample with replacement *within each class* (class counts kept).

    Class 0's indices come first in each row, then class 1's, both drawn by ``default_rng(seed)``.
    """
    y_arr = _binary_labels(y)
    rng = np.random.default_rng(seed)
    idx0, idx1 = np.flatnonzero(y_arr == 0), np.flatnonzero(y_arr == 1)
    return np.concatenate([idx0[rng.integers(0, idx0.size, size=(n_boot, idx0.size))],
                           idx1[rng.integers(0, idx1.size, size=(n_boot, idx1.size))]], axis=1)


def bootstrap_weights(y: object, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) resample counts of :func:`stratified_bootstrap_indices`: W[b, i] is how often text i
    appears in resample b (class counts kept, so Σ_i W[b, i] = n)."""
    idx = stratified_bootstrap_indices(y, n_boot, seed)
    n = idx.shape[1]
    flat = (np.arange(n_boot)[:, None] * n + idx).ravel()
    return np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def centred_t_interval(estimate: float, resampled: object, level: float = 0.95) -> tuple[float, float]:
    """``θ̂ ± t_{(1+level)/2, B−1} · sd(θ*)``: a bootstrap standard-error interval centred on the estimate,
    with the t quantile of the B − 1 degrees of freedom the resampled standard deviation carries (the
    resamples' own centre is not used, so a bias of the resamples does not move it). NaN without two
    finite resamples."""
    x = np.asarray(resampled, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        return math.nan, math.nan
    half = float(stats.t.ppf((1 + check_level(level)) / 2, x.size - 1) * x.std(ddof=1))
    return estimate - half, estimate + half


def percentile_interval(samples: object, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval: the (1 − level)/2 and (1 + level)/2 quantiles of the finite samples
    (NaN for both when none is finite, e.g. a metric undefined on every resample)."""
    x = np.asarray(samples, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


# --------------------------------------------------------------------------- splits × draws


def variance_components(m: object) -> tuple[float, float, float, int]:
    """Mean of an (R split seeds × k drift draws) table of a metric and the standard errors of that mean.

    Two-way random-effects ANOVA without replication, m_{rk} = μ + a_r + b_k + e_{rk}:
    MS_r = k Σ_r (m̄_r· − m̄)²/(R−1), MS_k = R Σ_k (m̄_·k − m̄)²/(k−1),
    MS_e = Σ (m_{rk} − m̄_r· − m̄_·k + m̄)²/((R−1)(k−1))
    (each 0 when its degrees of freedom are 0). Returns (m̄, se_splits, se_draws, n) with
    se_splits² = max(MS_r − MS_e, 0)/(Rk) (≈ σ_a²/R) and se_draws² = MS_k/(Rk) (≈ σ_b²/k + σ_e²/(Rk)),
    so E[se_splits² + se_draws²] = Var(m̄) when the truncation is inactive. n = defined cells. When
    some cells are NaN (an undefined metric), means over the defined cells are used instead:
    se_splits² = var_r(m̄_r·)/R' and se_draws² = mean_r(var_k(m_r·)/k_r)/R' (conservative).
    """
    m = np.atleast_2d(np.asarray(m, dtype=np.float64))
    ok = np.isfinite(m)
    n = int(ok.sum())
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    R, k = m.shape
    if ok.all():
        grand = m.mean()
        row, col = m.mean(axis=1), m.mean(axis=0)
        ms_r = k * ((row - grand) ** 2).sum() / (R - 1) if R > 1 else 0.0
        ms_k = R * ((col - grand) ** 2).sum() / (k - 1) if k > 1 else 0.0
        resid = m - row[:, None] - col[None, :] + grand
        ms_e = (resid ** 2).sum() / ((R - 1) * (k - 1)) if R > 1 and k > 1 else 0.0
        return float(grand), float(np.sqrt(max(ms_r - ms_e, 0.0) / (R * k))), float(np.sqrt(ms_k / (R * k))), n
    rows = [m[r, ok[r]] for r in range(R) if ok[r].any()]
    means = np.array([v.mean() for v in rows])
    r_eff = len(rows)
    se_s2 = means.var(ddof=1) / r_eff if r_eff > 1 else 0.0
    se_d2 = np.mean([v.var(ddof=1) / v.size if v.size > 1 else 0.0 for v in rows]) / r_eff
    return float(means.mean()), float(np.sqrt(se_s2)), float(np.sqrt(se_d2)), n


def combined_interval(cells: object, resampled: object, level: float = 0.95, *,
                      clip: bool = True) -> dict[str, float]:
    """Mean of an (R, k) table of an estimate and its normal interval over texts, splits and draws.

    ``cells`` holds the estimate per split seed r and drift draw k; ``resampled`` (B, R·k) the same
    estimates on B text resamples (the same resample for every cell). se_texts is the standard
    deviation over resamples of the cell mean (resamples where it is undefined left out); se_splits
    and se_draws come from :func:`variance_components`. Interval m̄ ± z_{(1+level)/2}·se with
    se = √(se_texts² + se_splits² + se_draws²), clipped to [0, 1] with ``clip``. Returns
    ``{mean, ci_low, ci_high, se, se_texts, se_splits, se_draws, n}`` (n = defined cells).
    """
    mean, se_s, se_d, n = variance_components(cells)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where the estimate is undefined
        bm = np.nanmean(np.asarray(resampled, dtype=np.float64), axis=1)
    bm = bm[np.isfinite(bm)]
    se_t = float(bm.std(ddof=1)) if bm.size > 1 else float("nan")
    se = float(np.sqrt(se_t ** 2 + se_s ** 2 + se_d ** 2))
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    low, high = mean - z * se, mean + z * se
    if clip:
        low, high = max(low, 0.0), min(high, 1.0)
    return {"mean": mean, "ci_low": low, "ci_high": high, "se": se, "se_texts": se_t, "se_splits": se_s,
            "se_draws": se_d, "n": n}
