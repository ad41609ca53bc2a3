"""Probe metrics: discrimination, confidence, silent failure, calibration and intervals (paper §3).

Every metric takes binary labels ``y`` (0/1, shape (n,)) and the probe's probability of class 1,
``p1`` (shape (n,)). The ``*_batch`` functions take a stack ``P`` of shape (S, n) -- one row per drift
level or bootstrap resample -- and compute the same quantities for every row at once; ``y`` may then be
(n,) (shared labels) or (S, n) (one label vector per row, as in a bootstrap).

Conventions (paper §3, open questions 4 and 8):

- confidence = max(p, 1 - p), the probability of the predicted class; prediction = [p >= 0.5].
- a *silent failure* is a wrong prediction made with confidence >= tau (tau = 0.8). The paper quotes
  two figures with different denominators, so both are given: the *share* of errors that are silent
  (divided by the number of errors, the abstract's "72%") and the *rate* over all samples (divided by N,
  the "38.4% of test samples").
- ECE uses equal-width bins over the max-class confidence, whose range is [0.5, 1]; the paper gives
  M = 5 bins but no edges.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from probedrift.errors import ProbedriftError, check_choice, check_positive

__all__ = [
    "METRIC_NAMES",
    "aggregate_seeds",
    "bootstrap_ci",
    "confidence",
    "expected_calibration_error",
    "high_confidence_accuracy",
    "predictions",
    "probe_metrics",
    "probe_metrics_batch",
    "reliability_table",
    "roc_auc",
    "roc_auc_batch",
    "silent_failure_rate",
    "silent_failure_share",
]

#: Keys of :func:`probe_metrics` and :func:`probe_metrics_batch`, in order.
METRIC_NAMES = (
    "auc",
    "accuracy",
    "f1",
    "mean_confidence",
    "mean_confidence_correct",
    "mean_confidence_wrong",
    "silent_failure_share",
    "silent_failure_rate",
    "ece",
    "high_confidence_accuracy",
)


# --------------------------------------------------------------------------- input checks


def _as_labels(y: object) -> np.ndarray:
    """Labels as an int64 array of 0/1 with at least one dimension."""
    arr = np.asarray(y)
    if arr.ndim == 0 or arr.size == 0:
        raise ProbedriftError("labels y are empty or a scalar", "pass a 1-D array of 0/1 labels")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
        raise ProbedriftError(
            "labels y must be binary 0/1",
            "map the classes to 0 (safe) and 1 (unsafe) before computing metrics",
        )
    return arr.astype(np.int64)


def _as_probs(p1: object, name: str = "p1") -> np.ndarray:
    arr = np.asarray(p1, dtype=np.float64)
    if arr.ndim == 0 or arr.size == 0:
        raise ProbedriftError(f"{name} is empty or a scalar", f"pass an array of p(class 1) as {name}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ProbedriftError(
            f"{name} must hold probabilities in [0, 1] (found NaN, inf or values outside)",
            "pass p(class 1), e.g. predict_proba(X)[:, 1], not logits",
        )
    return arr


def _check_pair(y: object, p1: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate one (y, p1) pair of equal 1-D length."""
    y_arr, p_arr = _as_labels(y), _as_probs(p1)
    if y_arr.ndim != 1 or p_arr.ndim != 1 or y_arr.shape != p_arr.shape:
        raise ProbedriftError(
            f"y and p1 must be 1-D of the same length, got shapes {y_arr.shape} and {p_arr.shape}",
            "pass one label and one probability per sample",
        )
    return y_arr, p_arr


def _check_batch(y: object, P: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch: P (S, n), y (n,) or (S, n); returns y broadcast-ready as (1, n) or (S, n)."""
    y_arr, p_arr = _as_labels(y), _as_probs(P, "P")
    if p_arr.ndim != 2:
        raise ProbedriftError(
            f"P must be 2-D (rows x samples), got shape {p_arr.shape}",
            "stack the probability vectors as rows, e.g. P[None] for a single one",
        )
    if y_arr.ndim == 1:
        y_arr = y_arr[None, :]
    if y_arr.ndim != 2 or y_arr.shape[1] != p_arr.shape[1] or y_arr.shape[0] not in (1, p_arr.shape[0]):
        raise ProbedriftError(
            f"labels of shape {np.shape(y)} do not match P of shape {p_arr.shape}",
            "pass y of shape (n,) or (S, n) for P of shape (S, n)",
        )
    return y_arr, p_arr


def _check_tau(tau: float) -> float:
    if not 0.5 < tau < 1:
        raise ProbedriftError(
            f"confidence threshold tau must lie in (0.5, 1), got {tau!r}",
            "use the paper's tau = 0.8 or another value strictly between 0.5 and 1",
        )
    return float(tau)


def _check_both_classes(y: np.ndarray) -> None:
    n1 = int(y.sum())
    if n1 == 0 or n1 == y.size:
        raise ProbedriftError(
            "ROC-AUC needs both classes, but the labels hold only one",
            "evaluate on a set with at least one sample of each class",
        )


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den elementwise, NaN where den == 0 (an undefined ratio, not an error)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _as_scalar(x: np.ndarray) -> float:
    return float(np.asarray(x).reshape(-1)[0])


# --------------------------------------------------------------------------- single-vector metrics


def confidence(p1: object) -> np.ndarray:
    """Max-class confidence, max(p, 1 - p) (paper §3: confidence = max_y p(y | z))."""
    p = _as_probs(p1)
    return np.maximum(p, 1.0 - p)


def predictions(p1: object) -> np.ndarray:
    """Predicted class, 1 where p(class 1) >= 0.5 else 0 (int64)."""
    return (_as_probs(p1) >= 0.5).astype(np.int64)


def silent_failure_share(y: object, p1: object, tau: float = 0.8) -> float:
    """Share of errors made with high confidence, |C ∩ E| / |E| (paper §3 SFR, the abstract's "72%").

    C = {i : confidence_i >= tau}, E = {i : prediction_i != y_i}. NaN when there are no errors
    (open question 4).
    """
    y_arr, p = _check_pair(y, p1)
    return _as_scalar(_silent_share(y_arr[None], p[None], _check_tau(tau)))


def silent_failure_rate(y: object, p1: object, tau: float = 0.8) -> float:
    """Share of all samples that are confidently wrong, |C ∩ E| / N (the "38.4% of test samples")."""
    y_arr, p = _check_pair(y, p1)
    return _as_scalar(_silent_rate(y_arr[None], p[None], _check_tau(tau)))


def high_confidence_accuracy(y: object, p1: object, tau: float = 0.8) -> float:
    """Accuracy among samples with confidence >= tau, |C \\ E| / |C| (NaN if C is empty).

    The paper's "at 90% confidence, accuracy is only 56%" is this quantity at a high tau.
    """
    y_arr, p = _check_pair(y, p1)
    return _as_scalar(_high_conf_accuracy(y_arr[None], p[None], _check_tau(tau)))


def _check_bins(bins: int, confidence_range: tuple[float, float]) -> tuple[int, float, float]:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise ProbedriftError(f"bins must be an integer, got {bins!r}", "pass e.g. bins=5 (the paper's M)")
    check_positive("bins", int(bins))
    lo, hi = (float(v) for v in confidence_range)
    if not 0.0 <= lo < hi <= 1.0:
        raise ProbedriftError(
            f"confidence_range must satisfy 0 <= low < high <= 1, got {confidence_range!r}",
            "use (0.5, 1.0) for max-class confidence, or (0.0, 1.0)",
        )
    return int(bins), lo, hi


def _bin_index(conf: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Equal-width bin of each confidence: [lo + k w, lo + (k+1) w), the last bin closed at hi.

    Values outside the range fall into the end bins (none do for the default range [0.5, 1]).
    """
    inner = np.linspace(lo, hi, bins + 1)[1:-1]
    return np.searchsorted(inner, conf, side="right")


def expected_calibration_error(
    y: object, p1: object, bins: int = 5, confidence_range: tuple[float, float] = (0.5, 1.0)
) -> float:
    """ECE = Σ_m (|B_m| / N) · |acc(B_m) − conf(B_m)| over equal-width confidence bins (paper §3, M = 5).

    Confidence is the max-class probability, which lives in [0.5, 1], so the default bins split
    [0.5, 1] (width 0.1 for M = 5). The paper does not give its bin edges (open question 8); with
    ``confidence_range=(0, 1)`` the lower half of the bins is always empty and the effective resolution
    halves, which is why it is not the default.
    """
    y_arr, p = _check_pair(y, p1)
    bins, lo, hi = _check_bins(bins, confidence_range)
    return _as_scalar(_ece(y_arr[None], p[None], bins, lo, hi))


def reliability_table(
    y: object, p1: object, bins: int = 5, confidence_range: tuple[float, float] = (0.5, 1.0)
) -> pd.DataFrame:
    """Reliability diagram data: per confidence bin, count, mean confidence and accuracy (paper Fig. 3).

    Same bins as :func:`expected_calibration_error`; empty bins have NaN mean_confidence and accuracy.
    """
    y_arr, p = _check_pair(y, p1)
    bins, lo, hi = _check_bins(bins, confidence_range)
    conf = np.maximum(p, 1.0 - p)
    correct = ((p >= 0.5).astype(np.int64) == y_arr).astype(np.float64)
    idx = _bin_index(conf, bins, lo, hi)
    count = np.bincount(idx, minlength=bins)
    edges = np.linspace(lo, hi, bins + 1)
    return pd.DataFrame(
        {
            "bin_low": edges[:-1],
            "bin_high": edges[1:],
            "count": count,
            "mean_confidence": _safe_div(np.bincount(idx, conf, minlength=bins), count),
            "accuracy": _safe_div(np.bincount(idx, correct, minlength=bins), count),
        }
    )


def roc_auc(y: object, p1: object) -> float:
    """ROC-AUC of p(class 1) against the labels (scikit-learn's ``roc_auc_score``)."""
    y_arr, p = _check_pair(y, p1)
    _check_both_classes(y_arr)
    return float(roc_auc_score(y_arr, p))


def roc_auc_batch(y: object, P: object) -> np.ndarray:
    """ROC-AUC of every row of P (S, n) at once: AUC = (Σ_{i: y=1} rank_i − n₁(n₁+1)/2) / (n₁ n₀).

    This is the Mann-Whitney form; average ranks for ties give exactly scikit-learn's trapezoidal
    AUC. Hand-written because ``roc_auc_score`` takes one vector per call and a Python loop over
    thousands of bootstrap rows is the bottleneck. Rows whose labels hold a single class give NaN.
    """
    y_arr, p = _check_batch(y, P)
    return _auc(y_arr, p)


# --------------------------------------------------------------------------- vectorized kernels
# All kernels take y (1 or S, n) int and P (S, n) float64, already validated, and return (S,).


def _auc(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    ranks = stats.rankdata(P, axis=1)
    n1 = y.sum(axis=1)
    n0 = y.shape[1] - n1
    u = (ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2.0
    return _safe_div(u, n1 * n0)


def _correct(y: np.ndarray, P: np.ndarray) -> np.ndarray:
    return (P >= 0.5) == (y == 1)


def _accuracy(y, P):
    return _correct(y, P).mean(axis=1)


def _f1(y, P):
    pred = P >= 0.5
    pos = y == 1
    tp = (pred & pos).sum(axis=1)
    fp = (pred & ~pos).sum(axis=1)
    fn = (~pred & pos).sum(axis=1)
    # scikit-learn's zero_division default: F1 = 0 when there are no positives and no predictions.
    return np.nan_to_num(_safe_div(2 * tp, 2 * tp + fp + fn), nan=0.0)


def _mean_conf(y, P):
    return np.maximum(P, 1.0 - P).mean(axis=1)


def _mean_conf_correct(y, P):
    ok = _correct(y, P)
    return _safe_div((np.maximum(P, 1.0 - P) * ok).sum(axis=1), ok.sum(axis=1))


def _mean_conf_wrong(y, P):
    bad = ~_correct(y, P)
    return _safe_div((np.maximum(P, 1.0 - P) * bad).sum(axis=1), bad.sum(axis=1))


def _silent(y, P, tau):
    return (np.maximum(P, 1.0 - P) >= tau) & ~_correct(y, P)


def _silent_share(y, P, tau):
    return _safe_div(_silent(y, P, tau).sum(axis=1), (~_correct(y, P)).sum(axis=1))


def _silent_rate(y, P, tau):
    return _silent(y, P, tau).mean(axis=1)


def _high_conf_accuracy(y, P, tau):
    high = np.maximum(P, 1.0 - P) >= tau
    return _safe_div((high & _correct(y, P)).sum(axis=1), high.sum(axis=1))


def _ece(y, P, bins, lo=0.5, hi=1.0):
    # Σ_m |B_m|/N |acc_m − conf_m| = Σ_m |Σ_{B_m} correct − Σ_{B_m} conf| / N: one bincount over
    # (row, bin) pairs gives both sums for every row at once.
    S, n = P.shape
    conf = np.maximum(P, 1.0 - P)
    flat = (np.arange(S)[:, None] * bins + _bin_index(conf, bins, lo, hi)).ravel()
    correct = np.broadcast_to(_correct(y, P), P.shape).ravel().astype(np.float64)
    sum_conf = np.bincount(flat, conf.ravel(), minlength=S * bins).reshape(S, bins)
    sum_correct = np.bincount(flat, correct, minlength=S * bins).reshape(S, bins)
    return np.abs(sum_correct - sum_conf).sum(axis=1) / n


def _kernels(tau: float, ece_bins: int) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    return {
        "auc": _auc,
        "accuracy": _accuracy,
        "f1": _f1,
        "mean_confidence": _mean_conf,
        "mean_confidence_correct": _mean_conf_correct,
        "mean_confidence_wrong": _mean_conf_wrong,
        "silent_failure_share": lambda y, P: _silent_share(y, P, tau),
        "silent_failure_rate": lambda y, P: _silent_rate(y, P, tau),
        "ece": lambda y, P: _ece(y, P, ece_bins),
        "high_confidence_accuracy": lambda y, P: _high_conf_accuracy(y, P, tau),
    }


# --------------------------------------------------------------------------- bundles


def probe_metrics(y: object, p1: object, tau: float = 0.8, ece_bins: int = 5) -> dict[str, float]:
    """All probe metrics of paper §3 for one probability vector, as a dict keyed by METRIC_NAMES.

    AUC, accuracy and F1 come from scikit-learn; the confidence, silent-failure and calibration
    figures from this module (silent failure at confidence >= tau; ECE with ``ece_bins`` bins on
    [0.5, 1]). Undefined ratios (no errors, no high-confidence samples) are NaN.
    """
    y_arr, p = _check_pair(y, p1)
    tau = _check_tau(tau)
    _check_bins(ece_bins, (0.5, 1.0))
    _check_both_classes(y_arr)
    pred = (p >= 0.5).astype(np.int64)
    conf = np.maximum(p, 1.0 - p)
    ok = pred == y_arr
    return {
        "auc": float(roc_auc_score(y_arr, p)),
        "accuracy": float(accuracy_score(y_arr, pred)),
        "f1": float(f1_score(y_arr, pred, zero_division=0.0)),
        "mean_confidence": float(conf.mean()),
        "mean_confidence_correct": float(conf[ok].mean()) if ok.any() else float("nan"),
        "mean_confidence_wrong": float(conf[~ok].mean()) if (~ok).any() else float("nan"),
        "silent_failure_share": silent_failure_share(y_arr, p, tau),
        "silent_failure_rate": silent_failure_rate(y_arr, p, tau),
        "ece": expected_calibration_error(y_arr, p, ece_bins),
        "high_confidence_accuracy": high_confidence_accuracy(y_arr, p, tau),
    }


def probe_metrics_batch(
    y: object,
    P: object,
    tau: float = 0.8,
    ece_bins: int = 5,
    metrics: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """:func:`probe_metrics` for every row of P (S, n) at once, as a dict of (S,) float arrays.

    Fully vectorized (ranks for AUC, one bincount for ECE). ``y`` is (n,) or (S, n). ``metrics``
    restricts the output to some of METRIC_NAMES.
    """
    y_arr, p = _check_batch(y, P)
    kernels = _kernels(_check_tau(tau), _check_bins(ece_bins, (0.5, 1.0))[0])
    names = METRIC_NAMES if metrics is None else [check_choice("metric", m, METRIC_NAMES) for m in metrics]
    return {name: np.asarray(kernels[name](y_arr, p), dtype=np.float64) for name in names}


# --------------------------------------------------------------------------- uncertainty


def bootstrap_ci(
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    y: object,
    p1: object,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    *,
    tau: float = 0.8,
    ece_bins: int = 5,
) -> tuple[float, float, float]:
    """Percentile bootstrap interval of a metric: (value on the full set, ci_low, ci_high).

    Resamples with replacement *within each class* (stratified), so every resample keeps the class
    counts and AUC stays defined. ``metric`` is a name from METRIC_NAMES -- computed for all
    resamples at once from an (n_boot, n) index matrix -- or a callable ``f(y, p1) -> float``
    (evaluated in a loop, slower). Resamples where the metric is undefined (NaN, e.g. no errors for
    the silent-failure share) are left out of the percentiles.
    """
    y_arr, p = _check_pair(y, p1)
    _check_both_classes(y_arr)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ProbedriftError(f"n_boot must be an integer >= 2, got {n_boot!r}", "use e.g. n_boot=1000")
    if not 0 < level < 1:
        raise ProbedriftError(f"level must lie in (0, 1), got {level!r}", "use e.g. level=0.95")
    rng = np.random.default_rng(seed)
    idx1 = np.flatnonzero(y_arr == 1)
    idx0 = np.flatnonzero(y_arr == 0)
    boot_idx = np.concatenate(
        [
            idx0[rng.integers(0, idx0.size, size=(n_boot, idx0.size))],
            idx1[rng.integers(0, idx1.size, size=(n_boot, idx1.size))],
        ],
        axis=1,
    )
    if callable(metric):
        value = float(metric(y_arr, p))
        samples = np.array([float(metric(y_arr[row], p[row])) for row in boot_idx])
    else:
        check_choice("metric", metric, METRIC_NAMES)
        value = _as_scalar(probe_metrics_batch(y_arr, p[None], tau, ece_bins, [metric])[metric])
        samples = probe_metrics_batch(y_arr[boot_idx], p[boot_idx], tau, ece_bins, [metric])[metric]
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return value, float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [alpha, 1.0 - alpha])
    return value, float(lo), float(hi)


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
    if not 0 < level < 1:
        raise ProbedriftError(f"level must lie in (0, 1), got {level!r}", "use e.g. level=0.95")
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


#: What the intervals of :func:`texts_and_draws_interval` cover, for the tables' ``interval`` column.
TEXTS_AND_DRAWS = ("95% interval over test texts (stratified bootstrap, paired across drift draws) and drift draws "
                   "(between-seed variance); one split and one fitted probe")


def stratified_bootstrap_indices(y: object, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) row indices, each row a resample with replacement *within each class* (class counts kept)."""
    y_arr = _as_labels(y)
    rng = np.random.default_rng(seed)
    idx0, idx1 = np.flatnonzero(y_arr == 0), np.flatnonzero(y_arr == 1)
    return np.concatenate([idx0[rng.integers(0, idx0.size, size=(n_boot, idx0.size))],
                           idx1[rng.integers(0, idx1.size, size=(n_boot, idx1.size))]], axis=1)


def texts_and_draws_interval(
    y: object,
    P: object,
    metrics: Sequence[str] | None = None,
    *,
    n_boot: int = 200,
    seed: int = 0,
    level: float = 0.95,
    tau: float = 0.8,
    ece_bins: int = 5,
) -> dict[str, dict[str, float]]:
    """Mean over drift draws of each metric, with an interval covering test sampling *and* the draw.

    ``P`` is (k, n): the probe's p(y=1) on the same n test texts under k drift draws. The estimate is
    m̄ = mean_k m(y, P_k). Its variance has two parts, estimated separately and added:

    - test texts: the variance of m̄ over ``n_boot`` stratified bootstrap resamples of the texts, the
      same resample applied to every draw (paired), so the between-draw spread is not counted twice;
    - drift draws: s²/k, the between-draw variance of m over k (0 for k = 1, or when the draw is
      deterministic).

    The interval is m̄ ± z_{(1+level)/2} √(v_texts + s²/k) (normal approximation), clipped to [0, 1]
    for metrics bounded there. Returns ``{metric: {mean, ci_low, ci_high, se_texts, se_draws}}``;
    NaN where the metric is undefined on every resample (e.g. the silent-failure share without errors).
    """
    from .crossfit import crossfit_intervals  # the same estimator with one split; resamples as weights

    _, P = _check_batch(y, P)
    y_arr = _as_labels(y)
    if not 0 < level < 1:
        raise ProbedriftError(f"level must lie in (0, 1), got {level!r}", "use e.g. level=0.95")
    _check_both_classes(y_arr)
    names = list(METRIC_NAMES if metrics is None else [check_choice("metric", m, METRIC_NAMES) for m in metrics])
    r = crossfit_intervals(y_arr, P[None], names, n_boot=n_boot, seed=seed, level=level, tau=tau, ece_bins=ece_bins)
    return {name: {k: float(v[k]) for k in ("mean", "ci_low", "ci_high", "se_texts", "se_draws")}
            for name, v in r.items()}
