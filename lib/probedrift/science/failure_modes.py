"""The two ways a frozen linear probe fails under drift: its ranking breaks, or its threshold does.

A frozen probe reads an update only through its logits. Over a set of texts, regress the logit after
the update on the logit before it (ordinary least squares):

    ℓ_i′ = a·ℓ_i + μ + δ·y_i + ε_i,     ε_i independent, mean 0, spread τ,

- a: how much of the probe's signal survives (a = cos θ for isotropic drift of angle θ);
- μ: a shift shared by every text, which moves every score against the fixed threshold;
- δ: a shift shared by the texts of one class (label-aligned movement the frozen probe still reads;
  fitted only when labels are given);
- ε: per-text scatter of spread τ, which reorders texts.

**Ranking (ROC-AUC) depends on a, δ and τ only.** For a positive p and a negative n,
P(ℓ_p′ > ℓ_n′) = Φ((a·(ℓ_p − ℓ_n) + δ) / (√2·τ)) (ε_p − ε_n has spread √2·τ), and the expected AUC is its
mean over all positive×negative pairs (:func:`predict_auc`). A shift μ shared by every text leaves
every pair's order, and so the AUC, unchanged. Isotropic per-text drift of angle θ is the special
case a = cos θ, δ = 0, τ_i = sin θ·σ̃_i, the closed form of :mod:`probedrift.science.budget`.

**Thresholded decisions (accuracy, silent failures, calibration) depend on μ too.** The probe says
"unsafe" when its logit is ≥ 0 (probability ≥ 0.5), so a text is right after the update with
probability Φ(s_i·(a·ℓ_i + μ + δ·y_i)/τ), s_i = +1 for a positive and −1 for a negative
(:func:`predict_accuracy`); it is wrong *and* confident (max(p, 1 − p) ≥ c, i.e. |ℓ′| ≥ logit(c))
with probability Φ((−logit(c) − s_i·m_i)/τ), m_i = a·ℓ_i + μ + δ·y_i (:func:`predict_silent_failure_rate`).
A shared μ can flip many decisions while every |ℓ′| stays large: the silent failure.

**What a practitioner can predict before shipping an update** (:func:`label_free_shift`): embed some
unlabelled texts with the old and the new model, fit ℓ′ = a·ℓ + μ + ε without labels (δ = 0), and
combine (a, μ, τ) with the clean labelled logits already at hand. A label-aligned δ then lands in τ
(and in a, μ): when δ > 0 the prediction is pessimistic, when δ < 0 it is optimistic.

Every function takes the probe's logits (``decision_function``: the logit divided by the probe's
temperature, so σ(ℓ) is the probability the probe reports).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.special

from probedrift.core.errors import ProbedriftError

__all__ = ["MAX_PAIRS", "LogitShift", "decompose", "label_free_shift", "predict_accuracy", "predict_auc",
           "predict_silent_failure_rate"]

#: Above this many positive×negative pairs, :func:`predict_auc` averages over a fixed-seed sample of pairs.
MAX_PAIRS = 4_000_000
_PAIR_SAMPLE_SEED = 0  # the seed of that sample, so a prediction is a fixed function of its inputs


@dataclass(frozen=True)
class LogitShift:
    """ℓ′ = a·ℓ + μ + δ·y + ε fitted on ``n`` texts: ``tau`` is the residual spread of ε (ddof = the number
    of fitted coefficients), ``delta`` is 0 when no labels were given, and ``label_corr`` is corr(ε, y)
    of the fit *without* δ (NaN without labels): how much of the scatter is label-aligned."""

    a: float
    mu: float
    delta: float
    tau: float
    n: int
    label_corr: float


# --------------------------------------------------------------------------- inputs


def _logits(values: object, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ProbedriftError(f"{name} must be a non-empty 1-D array of real logits, got shape {arr.shape}",
                              "pass the probe's decision_function of each text, one value per text")
    if n is not None and arr.size != n:
        raise ProbedriftError(f"{name} has {arr.size} values, expected {n} (one per text)",
                              "pass the logits of the same texts, in the same order")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ProbedriftError(f"{name} holds NaN or inf", "drop those texts or score them in float64")
    return arr


def _labels(y: object, n: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.shape != (n,) or not np.isin(arr, (0, 1)).all():
        raise ProbedriftError(f"y must hold one 0/1 label per text ({n}), got shape {arr.shape}",
                              "pass the labels of the same texts (1 = unsafe)")
    arr = arr.astype(np.int64)
    if arr.min() == arr.max():
        raise ProbedriftError("y holds only one class", "use texts of both classes (AUC and δ need both)")
    return arr


def _shift(shift: object) -> LogitShift:
    if not isinstance(shift, LogitShift):
        raise ProbedriftError(f"shift must be a LogitShift, got {type(shift).__name__}",
                              "fit one with decompose(logits_before, logits_after, y) or label_free_shift(...)")
    if not all(np.isfinite([shift.a, shift.mu, shift.delta, shift.tau])) or shift.tau < 0:
        raise ProbedriftError(f"shift has non-finite coefficients or a negative tau: {shift}",
                              "fit it on at least one more text than coefficients, with varying logits")
    return shift


# --------------------------------------------------------------------------- the fit


def _least_squares(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef, target - design @ coef


def decompose(logits_before: object, logits_after: object, y: object = None) -> LogitShift:
    """Least-squares fit of ℓ′ = a·ℓ + μ (+ δ·y when ``y`` is given) + ε over the texts (module docstring).

    τ = √(Σ ε_i² / (n − k)) with k the number of fitted coefficients (2, or 3 with labels);
    ``label_corr`` = Pearson corr(ε, y) of the fit without δ (NaN without labels, or when that ε is
    constant). Needs n > k texts and logits before the update that are not all equal.
    """
    before = _logits(logits_before, "logits_before")
    after = _logits(logits_after, "logits_after", before.size)
    labels = None if y is None else _labels(y, before.size)
    k = 2 if labels is None else 3
    if before.size <= k:
        raise ProbedriftError(f"{before.size} texts cannot fit {k} coefficients and a residual spread",
                              f"pass at least {k + 1} texts")
    if np.ptp(before) == 0:
        raise ProbedriftError("logits_before are all equal, so the slope a is undefined",
                              "pass texts the probe scores differently")
    plain = np.column_stack([before, np.ones_like(before)])
    coef, resid = _least_squares(plain, after)
    label_corr = float("nan")
    if labels is not None:
        if np.std(resid) > 0:
            label_corr = float(np.corrcoef(resid, labels)[0, 1])
        coef, resid = _least_squares(np.column_stack([plain, labels]), after)
    tau = float(np.sqrt(resid @ resid / (before.size - k)))
    delta = float(coef[2]) if labels is not None else 0.0
    return LogitShift(a=float(coef[0]), mu=float(coef[1]), delta=delta, tau=tau, n=int(before.size),
                      label_corr=label_corr)


def label_free_shift(logits_before: object, logits_after: object) -> LogitShift:
    """(a, μ, τ) of ℓ′ = a·ℓ + μ + ε from unlabelled texts (δ = 0, ``label_corr`` NaN): what a
    practitioner can measure before shipping an update, from the old probe's logits of the same
    texts under the old and the new model (:func:`decompose` without labels)."""
    return decompose(logits_before, logits_after)


# --------------------------------------------------------------------------- predictions


def _pairs(logits: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ℓ_p and ℓ_n of all positive×negative pairs (or of MAX_PAIRS pairs drawn with a fixed seed)."""
    pos, neg = logits[y == 1], logits[y == 0]
    if pos.size * neg.size <= MAX_PAIRS:
        return np.repeat(pos, neg.size), np.tile(neg, pos.size)
    rng = np.random.default_rng(_PAIR_SAMPLE_SEED)
    return pos[rng.integers(0, pos.size, MAX_PAIRS)], neg[rng.integers(0, neg.size, MAX_PAIRS)]


def _normal_cdf(mean: np.ndarray, tau: float) -> np.ndarray:
    """P(mean + e > 0) for e ~ N(0, τ²); the step function (one half at 0) when τ = 0."""
    if tau == 0:
        return np.where(mean > 0, 1.0, np.where(mean < 0, 0.0, 0.5))
    return scipy.special.ndtr(mean / tau)


def predict_auc(logits_clean: object, y: object, shift: LogitShift) -> float:
    """Expected ROC-AUC after the update: the mean over positive×negative pairs of
    Φ((a·(ℓ_p − ℓ_n) + δ) / (√2·τ)), the exact step function (ties one half) when τ = 0. μ cancels."""
    shift = _shift(shift)
    logits = _logits(logits_clean, "logits_clean")
    labels = _labels(y, logits.size)
    lp, ln = _pairs(logits, labels)
    return float(_normal_cdf(shift.a * (lp - ln) + shift.delta, np.sqrt(2.0) * shift.tau).mean())


def _margins(logits_clean: object, y: object, shift: LogitShift) -> tuple[np.ndarray, LogitShift]:
    """s_i·(a·ℓ_i + μ + δ·y_i) with s_i = +1 for a positive and −1 for a negative: a text is right after
    the update when s_i·ℓ_i′ > 0 (the probe's rule, logit ≥ 0 ⇔ probability ≥ 0.5)."""
    shift = _shift(shift)
    logits = _logits(logits_clean, "logits_clean")
    labels = _labels(y, logits.size)
    sign = 2.0 * labels - 1.0
    return sign * (shift.a * logits + shift.mu + shift.delta * labels), shift


def predict_accuracy(logits_clean: object, y: object, shift: LogitShift) -> float:
    """Expected accuracy after the update: mean over texts of P(s_i·(a·ℓ_i + μ + δ·y_i + ε_i) > 0) =
    Φ(s_i·(a·ℓ_i + μ + δ·y_i)/τ), s_i = ±1 for a positive/negative; the threshold is logit 0 (the
    probe's decision rule, probability 0.5); τ = 0 gives the 0/1 outcome (a logit exactly at 0 counts one half)."""
    margins, shift = _margins(logits_clean, y, shift)
    return float(_normal_cdf(margins, shift.tau).mean())


def predict_silent_failure_rate(logits_clean: object, y: object, shift: LogitShift, tau_conf: float) -> float:
    """Expected share of texts that are wrong *and* confident after the update, P(s_i·ℓ_i′ < 0 and
    max(p, 1 − p) ≥ c) with c = ``tau_conf`` (paper §3's silent failures), i.e. s_i·ℓ_i′ ≤ −logit(c):
    mean over texts of Φ((−logit(c) − s_i·m_i)/τ), m_i = a·ℓ_i + μ + δ·y_i (the step function when τ = 0)."""
    if not 0.5 < float(tau_conf) < 1.0:
        raise ProbedriftError(f"tau_conf must lie in (0.5, 1), got {tau_conf!r}",
                              "pass the high-confidence threshold, e.g. 0.8 (the study's tau)")
    margins, shift = _margins(logits_clean, y, shift)
    return float(_normal_cdf(-scipy.special.logit(float(tau_conf)) - margins, shift.tau).mean())
