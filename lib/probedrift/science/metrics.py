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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from probedrift.core import intervals
from probedrift.core.errors import ProbedriftError, check_choice, check_positive
from probedrift.core.registry import Registry

__all__ = ["METRICS", "METRIC_NAMES", "SWEEP_METRICS", "TEXTS_AND_DRAWS", "MetricSpec", "bootstrap_ci",
           "confidence", "expected_calibration_error", "high_confidence_accuracy",
           "predictions", "probe_metrics", "probe_metrics_batch", "reliability_table", "roc_auc", "roc_auc_batch",
           "silent_failure_rate", "silent_failure_share", "texts_and_draws_interval", "weighted_metrics"]


# --------------------------------------------------------------------------- input checks


def _as_labels(y: object) -> np.ndarray:
    """Labels as an int64 array of 0/1 with at least one dimension."""
    arr = np.asarray(y)
    if arr.ndim == 0 or arr.size == 0:
        raise ProbedriftError("labels y are empty or a scalar", "pass a 1-D array of 0/1 labels")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, (0, 1)).all():
        raise ProbedriftError("labels y must be binary 0/1",
                              "map the classes to 0 (safe) and 1 (unsafe) before computing metrics")
    return arr.astype(np.int64)


def _as_probs(p1: object, name: str = "p1") -> np.ndarray:
    arr = np.asarray(p1, dtype=np.float64)
    if arr.ndim == 0 or arr.size == 0:
        raise ProbedriftError(f"{name} is empty or a scalar", f"pass an array of p(class 1) as {name}")
    if not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
        raise ProbedriftError(f"{name} must hold probabilities in [0, 1] (found NaN, inf or values outside)",
                              "pass p(class 1), e.g. predict_proba(X)[:, 1], not logits")
    return arr


def _check_pair(y: object, p1: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate one (y, p1) pair of equal 1-D length."""
    y_arr, p_arr = _as_labels(y), _as_probs(p1)
    if y_arr.ndim != 1 or p_arr.ndim != 1 or y_arr.shape != p_arr.shape:
        raise ProbedriftError(f"y and p1 must be 1-D of the same length, got shapes {y_arr.shape} and {p_arr.shape}",
                              "pass one label and one probability per sample")
    return y_arr, p_arr


def _check_batch(y: object, P: object) -> tuple[np.ndarray, np.ndarray]:
    """Validate a batch: P (S, n), y (n,) or (S, n); returns y broadcast-ready as (1, n) or (S, n)."""
    y_arr, p_arr = _as_labels(y), _as_probs(P, "P")
    if p_arr.ndim != 2:
        raise ProbedriftError(f"P must be 2-D (rows x samples), got shape {p_arr.shape}",
                              "stack the probability vectors as rows, e.g. P[None] for a single one")
    if y_arr.ndim == 1:
        y_arr = y_arr[None, :]
    if y_arr.ndim != 2 or y_arr.shape[1] != p_arr.shape[1] or y_arr.shape[0] not in (1, p_arr.shape[0]):
        raise ProbedriftError(f"labels of shape {np.shape(y)} do not match P of shape {p_arr.shape}",
                              "pass y of shape (n,) or (S, n) for P of shape (S, n)")
    return y_arr, p_arr


def _check_tau(tau: float) -> float:
    if not 0.5 < tau < 1:
        raise ProbedriftError(f"confidence threshold tau must lie in (0.5, 1), got {tau!r}",
                              "use the paper's tau = 0.8 or another value strictly between 0.5 and 1")
    return float(tau)


def _check_both_classes(y: np.ndarray) -> None:
    n1 = int(y.sum())
    if n1 == 0 or n1 == y.size:
        raise ProbedriftError("ROC-AUC needs both classes, but the labels hold only one",
                              "evaluate on a set with at least one sample of each class")


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
    return _score_one("silent_failure_share", y_arr, p, tau=_check_tau(tau))


def silent_failure_rate(y: object, p1: object, tau: float = 0.8) -> float:
    """Share of all samples that are confidently wrong, |C ∩ E| / N (the "38.4% of test samples")."""
    y_arr, p = _check_pair(y, p1)
    return _score_one("silent_failure_rate", y_arr, p, tau=_check_tau(tau))


def high_confidence_accuracy(y: object, p1: object, tau: float = 0.8) -> float:
    """Accuracy among samples with confidence >= tau, |C \\ E| / |C| (NaN if C is empty).

    The paper's "at 90% confidence, accuracy is only 56%" is this quantity at a high tau.
    """
    y_arr, p = _check_pair(y, p1)
    return _score_one("high_confidence_accuracy", y_arr, p, tau=_check_tau(tau))


def _check_bins(bins: int, confidence_range: tuple[float, float]) -> tuple[int, float, float]:
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)):
        raise ProbedriftError(f"bins must be an integer, got {bins!r}", "pass e.g. bins=5 (the paper's M)")
    check_positive("bins", int(bins))
    lo, hi = (float(v) for v in confidence_range)
    if not 0.0 <= lo < hi <= 1.0:
        raise ProbedriftError(f"confidence_range must satisfy 0 <= low < high <= 1, got {confidence_range!r}",
                              "use (0.5, 1.0) for max-class confidence, or (0.0, 1.0)")
    return int(bins), lo, hi


def _bin_index(conf: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Equal-width bin of each confidence: [lo + k w, lo + (k+1) w), the last bin closed at hi; values outside
    the range fall into the end bins (none do for the default range [0.5, 1])."""
    inner = np.linspace(lo, hi, bins + 1)[1:-1]
    return np.searchsorted(inner, conf, side="right")


def expected_calibration_error(y: object, p1: object, bins: int = 5,
                               confidence_range: tuple[float, float] = (0.5, 1.0)) -> float:
    """ECE = Σ_m (|B_m| / N) · |acc(B_m) − conf(B_m)| over equal-width confidence bins (paper §3, M = 5).

    Confidence is the max-class probability, which lives in [0.5, 1], so the default bins split
    [0.5, 1] (width 0.1 for M = 5). The paper does not give its bin edges (open question 8); with
    ``confidence_range=(0, 1)`` the lower half of the bins is always empty and the effective resolution
    halves, which is why it is not the default.
    """
    y_arr, p = _check_pair(y, p1)
    bins, lo, hi = _check_bins(bins, confidence_range)
    return _score_one("ece", y_arr, p, ece_bins=bins, confidence_range=(lo, hi))


def reliability_table(y: object, p1: object, bins: int = 5,
                      confidence_range: tuple[float, float] = (0.5, 1.0)) -> pd.DataFrame:
    """Reliability diagram data: per confidence bin, count, mean confidence and accuracy (paper Fig. 3).

    Same bins as :func:`expected_calibration_error`; empty bins have NaN mean_confidence and accuracy.
    """
    y_arr, p = _check_pair(y, p1)
    bins, lo, hi = _check_bins(bins, confidence_range)
    b = _Batch(y_arr[None], p[None], _UnitWeights(p.size))
    conf, correct = b.conf[0], b.correct[0].astype(np.float64)
    idx = _bin_index(conf, bins, lo, hi)
    count = np.bincount(idx, minlength=bins)
    edges = np.linspace(lo, hi, bins + 1)
    return pd.DataFrame({"bin_low": edges[:-1], "bin_high": edges[1:], "count": count,
                         "mean_confidence": _safe_div(np.bincount(idx, conf, minlength=bins), count),
                         "accuracy": _safe_div(np.bincount(idx, correct, minlength=bins), count)})


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
    return _UnitWeights(p.shape[1]).auc(y_arr, p)


# --------------------------------------------------------------------------- one weighted kernel set
# A metric is one kernel on a _Batch: labels y (1 or S, n), probabilities P (S, n) and how much each
# text counts. Unit weights give the plain metric of every row, (S,); a weight matrix W (B, n) gives it
# under every weight vector, (B, S) -- with resample counts as weights, exactly the metric of the
# resampled texts. Each kind of weights brings its own sums (plain sums for unit weights, W @ x for a
# matrix), so either keeps its own exact floating-point arithmetic.


class _UnitWeights:
    """Every text counts once: sums over the texts of each row."""

    def __init__(self, n: int):
        self.total = n

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Σ_i x_i over the texts of each row, (S,)."""
        return np.asarray(x).sum(axis=1)

    def auc(self, y: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Mann-Whitney AUC of every row from average ranks: (Σ_{i: y=1} rank_i − n₁(n₁+1)/2) / (n₁ n₀)."""
        ranks = stats.rankdata(P, axis=1)
        n1 = y.sum(axis=1)
        n0 = y.shape[1] - n1
        u = (ranks * y).sum(axis=1) - n1 * (n1 + 1) / 2.0
        return _safe_div(u, n1 * n0)

    def binned_gaps(self, bins: np.ndarray, correct: np.ndarray, conf: np.ndarray, n_bins: int) -> np.ndarray:
        """Σ_m |Σ_{i∈B_m} (correct_i − conf_i)| of every row, from one bincount over (row, bin) pairs."""
        S = conf.shape[0]
        flat = (np.arange(S)[:, None] * n_bins + bins).ravel()
        correct = np.broadcast_to(correct, conf.shape).ravel().astype(np.float64)
        sum_conf = np.bincount(flat, conf.ravel(), minlength=S * n_bins).reshape(S, n_bins)
        sum_correct = np.bincount(flat, correct, minlength=S * n_bins).reshape(S, n_bins)
        return np.abs(sum_correct - sum_conf).sum(axis=1)


class _MatrixWeights:
    """Text i counts W[b, i] times under weight vector b (W: (B, n), e.g. bootstrap resample counts)."""

    def __init__(self, W: np.ndarray):
        self.W = W
        self.total = W.sum(axis=1)[:, None]

    def sum(self, x: np.ndarray) -> np.ndarray:
        """Σ_i W[b, i] x_i for every weight vector b and row, (B, S)."""
        return self.W @ np.asarray(x, dtype=np.float64).T

    def auc(self, y: np.ndarray, P: np.ndarray) -> np.ndarray:
        """Σ_{i∈1} w_i (Σ_{j∈0, p_j<p_i} w_j + ½ Σ_{j∈0, p_j=p_i} w_j) / (Σ_{1} w · Σ_{0} w), the weighted
        Mann-Whitney AUC with ties counted half. One sort per row, then cumulative negative weights in score
        order; float32 is exact for integer weights (every sum is a half-integer below 2²⁴ for n < 4000)."""
        y, W = y[0], self.W
        exact = W.shape[1] < 4000 and np.array_equal(W, np.round(W))
        dtype = np.float32 if exact else np.float64
        WT = np.ascontiguousarray(W.T, dtype=dtype)  # (n, B): gathers and cumsums run over contiguous rows
        negT = WT * (y == 0)[:, None].astype(dtype)
        pos = np.flatnonzero(y == 1)
        Wpos = WT[pos]
        den = Wpos.sum(axis=0, dtype=np.float64) * negT.sum(axis=0, dtype=np.float64)
        out = np.empty((W.shape[0], P.shape[0]))
        cum = np.zeros((y.size + 1, W.shape[0]), dtype=dtype)
        for r, p in enumerate(P):
            order = np.argsort(p, kind="stable")
            ps = p[order]
            np.cumsum(negT[order], axis=0, out=cum[1:])
            s = cum[np.searchsorted(ps, p[pos], side="left")]
            s += cum[np.searchsorted(ps, p[pos], side="right")]
            out[:, r] = 0.5 * (Wpos * s).sum(axis=0, dtype=np.float64)
        return _safe_div(out, den[:, None])

    def binned_gaps(self, bins: np.ndarray, correct: np.ndarray, conf: np.ndarray, n_bins: int) -> np.ndarray:
        """Σ_m |Σ_{i∈B_m} w_i (correct_i − conf_i)| for every weight vector and row."""
        gap = correct - conf
        return sum(np.abs(self.sum(np.where(bins == m, gap, 0.0))) for m in range(n_bins))


class _Batch:
    """What every kernel reads: labels y (1 or S, n), probabilities P (S, n), the weights, τ, the ECE bins,
    and the per-text prediction, correctness, max-class confidence and high-confidence flag."""

    def __init__(self, y: np.ndarray, P: np.ndarray, weights: _UnitWeights | _MatrixWeights, tau: float = 0.8,
                 ece_bins: int = 5, confidence_range: tuple[float, float] = (0.5, 1.0)):
        self.y, self.P, self.weights, self.tau, self.ece_bins = y, P, weights, tau, ece_bins
        self.confidence_range = confidence_range
        self.sum, self.total = weights.sum, weights.total
        self.pred, self.pos = P >= 0.5, y == 1
        self.correct = self.pred == self.pos
        self.conf = np.maximum(P, 1.0 - P)
        self.high = self.conf >= tau


def _f1(b: _Batch) -> np.ndarray:
    tp, fp, fn = b.sum(b.pred & b.pos), b.sum(b.pred & ~b.pos), b.sum(~b.pred & b.pos)
    # scikit-learn's zero_division default: F1 = 0 when there are no positives and no predictions.
    return np.nan_to_num(_safe_div(2 * tp, 2 * tp + fp + fn), nan=0.0)


def _ece(b: _Batch) -> np.ndarray:
    # Σ_m |B_m|/N |acc_m − conf_m| = Σ_m |Σ_{B_m} correct − Σ_{B_m} conf| / N
    bins = _bin_index(b.conf, b.ece_bins, *b.confidence_range)
    return b.weights.binned_gaps(bins, b.correct, b.conf, b.ece_bins) / b.total


@dataclass(frozen=True)
class MetricSpec:
    """A probe metric: its name (the column it fills), its kernel on a :class:`_Batch` (weighted sums
    ``b.sum``, the total weight ``b.total``), and whether the drift sweep's table reports it (``default``)."""

    name: str
    kernel: Callable[[_Batch], np.ndarray]
    default: bool = True


#: Every probe metric, in column order: adding one is one line here (and its kernel, if longer than a line).
METRICS: Registry[MetricSpec] = Registry("metric")
for _spec in (
    MetricSpec("auc", lambda b: b.weights.auc(b.y, b.P)),
    MetricSpec("accuracy", lambda b: b.sum(b.correct) / b.total),
    MetricSpec("f1", _f1),
    MetricSpec("mean_confidence", lambda b: b.sum(b.conf) / b.total),
    MetricSpec("mean_confidence_correct", lambda b: _safe_div(b.sum(b.conf * b.correct), b.sum(b.correct)),
               default=False),
    MetricSpec("mean_confidence_wrong", lambda b: _safe_div(b.sum(b.conf * ~b.correct), b.sum(~b.correct)),
               default=False),
    # |C ∩ E| / |E| and |C ∩ E| / N, C = {confidence ≥ τ}, E = {wrong}
    MetricSpec("silent_failure_share", lambda b: _safe_div(b.sum(b.high & ~b.correct), b.sum(~b.correct))),
    MetricSpec("silent_failure_rate", lambda b: b.sum(b.high & ~b.correct) / b.total),
    MetricSpec("ece", _ece),
    MetricSpec("high_confidence_accuracy", lambda b: _safe_div(b.sum(b.high & b.correct), b.sum(b.high)),
               default=False),
):
    METRICS.add(_spec)

#: Keys of :func:`probe_metrics` and :func:`probe_metrics_batch`, in order.
METRIC_NAMES = METRICS.names()
#: The metrics of the drift sweep's table (and of the cross-fitted and summary tables built on it).
SWEEP_METRICS = METRICS.names(default_only=True)


def _score(b: _Batch, names: Sequence[str]) -> dict[str, np.ndarray]:
    return {name: np.asarray(METRICS.get(name).kernel(b), dtype=np.float64) for name in names}


def _score_one(name: str, y: np.ndarray, p: np.ndarray, **batch) -> float:
    """One metric of one validated (y, p1) pair."""
    return _as_scalar(_score(_Batch(y[None], p[None], _UnitWeights(p.size), **batch), [name])[name])


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


def probe_metrics_batch(y: object, P: object, tau: float = 0.8, ece_bins: int = 5,
                        metrics: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """:func:`probe_metrics` for every row of P (S, n) at once, as a dict of (S,) float arrays: the kernels of
    :data:`METRICS` with unit weights, fully vectorized (ranks for AUC, one bincount for ECE). ``y`` is (n,)
    or (S, n). ``metrics`` restricts the output to some of METRIC_NAMES."""
    y_arr, p = _check_batch(y, P)
    batch = _Batch(y_arr, p, _UnitWeights(p.shape[1]), _check_tau(tau), _check_bins(ece_bins, (0.5, 1.0))[0])
    names = METRIC_NAMES if metrics is None else [check_choice("metric", m, METRIC_NAMES) for m in metrics]
    return _score(batch, names)


def weighted_metrics(y: object, P: object, W: object, metrics: Sequence[str] | None = None, *, tau: float = 0.8,
                     ece_bins: int = 5) -> dict[str, np.ndarray]:
    """Each metric of every row of P (rows, n) under every weight vector of W (B, n), as (B, rows) arrays.

    The kernels of :data:`METRICS` with text i counted W[b, i] times: with W from
    :func:`probedrift.core.intervals.bootstrap_weights` the value equals :func:`probe_metrics_batch` on the
    resampled texts (counts as weights), without materialising the resample. Ratios of weighted sums
    (W @ indicator), the weighted Mann-Whitney AUC, ECE = Σ_m |W @ (1[bin m]·(correct − conf))| / Σw.
    Undefined ratios are NaN.
    """
    y_arr = np.asarray(y).astype(np.int64)
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    W = np.atleast_2d(np.asarray(W, dtype=np.float64))
    names = list(METRIC_NAMES if metrics is None else [check_choice("metric", m, METRIC_NAMES) for m in metrics])
    if P.shape[0] > 1:  # identical rows (σ = 0 under every draw, seed-free directions) are computed once
        unique, inverse = np.unique(P, axis=0, return_inverse=True)
        if unique.shape[0] < P.shape[0]:
            out = weighted_metrics(y_arr, unique, W, names, tau=tau, ece_bins=ece_bins)
            return {name: v[:, inverse.reshape(-1)] for name, v in out.items()}
    return _score(_Batch(y_arr[None], P, _MatrixWeights(W), tau, ece_bins), names)


# --------------------------------------------------------------------------- uncertainty


def bootstrap_ci(metric: str | Callable[[np.ndarray, np.ndarray], float], y: object, p1: object, n_boot: int = 1000,
                 level: float = 0.95, seed: int = 0, *, tau: float = 0.8,
                 ece_bins: int = 5) -> tuple[float, float, float]:
    """Percentile bootstrap interval of a metric: (value on the full set, ci_low, ci_high).

    Resamples with replacement *within each class* (stratified,
    :func:`probedrift.core.intervals.stratified_bootstrap_indices`), so every resample keeps the class
    counts and AUC stays defined. ``metric`` is a name from METRIC_NAMES -- computed for all
    resamples at once from an (n_boot, n) index matrix -- or a callable ``f(y, p1) -> float``
    (evaluated in a loop, slower). Resamples where the metric is undefined (NaN, e.g. no errors for
    the silent-failure share) are left out of the percentiles.
    """
    y_arr, p = _check_pair(y, p1)
    _check_both_classes(y_arr)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 2:
        raise ProbedriftError(f"n_boot must be an integer >= 2, got {n_boot!r}", "use e.g. n_boot=1000")
    intervals.check_level(level)
    boot_idx = intervals.stratified_bootstrap_indices(y_arr, n_boot, seed)
    if callable(metric):
        value = float(metric(y_arr, p))
        samples = np.array([float(metric(y_arr[row], p[row])) for row in boot_idx])
    else:
        check_choice("metric", metric, METRIC_NAMES)
        value = _as_scalar(probe_metrics_batch(y_arr, p[None], tau, ece_bins, [metric])[metric])
        samples = probe_metrics_batch(y_arr[boot_idx], p[boot_idx], tau, ece_bins, [metric])[metric]
    lo, hi = intervals.percentile_interval(samples, level)
    return value, lo, hi



#: What the intervals of :func:`texts_and_draws_interval` cover, for the tables' ``interval`` column.
TEXTS_AND_DRAWS = ("95% interval over test texts (stratified bootstrap, paired across drift draws) and drift draws "
                   "(between-seed variance); one split and one fitted probe")


def texts_and_draws_interval(y: object, P: object, metrics: Sequence[str] | None = None, *, n_boot: int = 200,
                             seed: int = 0, level: float = 0.95, tau: float = 0.8,
                             ece_bins: int = 5) -> dict[str, dict[str, float]]:
    """Mean over drift draws of each metric, with an interval covering test sampling *and* the draw.

    ``P`` is (k, n): the probe's p(y=1) on the same n test texts under k drift draws. The estimate is
    m̄ = mean_k m(y, P_k), its variance the sum of two parts: test texts, the variance of m̄ over ``n_boot``
    stratified bootstrap resamples of the texts (the same resample for every draw, so the between-draw
    spread is not counted twice); drift draws, s²/k, the between-draw variance of m (0 for k = 1, or when
    the draw is deterministic).

    The interval is m̄ ± z_{(1+level)/2} √(v_texts + s²/k) (normal approximation), clipped to [0, 1]
    (:func:`probedrift.core.intervals.combined_interval`; :func:`probedrift.science.crossfit.crossfit_intervals`
    with one split). Returns ``{metric: {mean, ci_low, ci_high, se_texts, se_draws}}``; NaN where the metric is
    undefined on every resample (e.g. the silent-failure share without errors).
    """
    _, P = _check_batch(y, P)
    y_arr = _as_labels(y)
    intervals.check_level(level)
    _check_both_classes(y_arr)
    names = list(METRIC_NAMES if metrics is None else [check_choice("metric", m, METRIC_NAMES) for m in metrics])
    per = probe_metrics_batch(y_arr, P, tau, ece_bins, names)
    W = intervals.bootstrap_weights(y_arr, n_boot, seed)
    boot = weighted_metrics(y_arr, P, W, names, tau=tau, ece_bins=ece_bins)
    parts = ("mean", "ci_low", "ci_high", "se_texts", "se_draws")
    return {name: {k: float(v) for k, v in intervals.combined_interval(per[name][None], boot[name], level).items()
                   if k in parts} for name in names}
