"""The logit-shift decomposition ℓ′ = a·ℓ + μ + δ·y + ε and its predictions, against known answers: parameters
planted in a simulation are recovered, predicted AUC/accuracy/silent failures match a Monte-Carlo measurement
with scikit-learn and the study's metric kernels, and a shift shared by every text leaves the AUC exactly unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
from sklearn.metrics import accuracy_score, roc_auc_score

from probedrift.core.errors import ProbedriftError
from probedrift.science import metrics
from probedrift.science.failure_modes import (
    LogitShift,
    decompose,
    label_free_shift,
    predict_accuracy,
    predict_auc,
    predict_silent_failure_rate,
)

TRUE = {"a": 0.7, "mu": -0.8, "delta": 0.5, "tau": 0.9}


def clean_logits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels and clean logits that separate them (AUC ≈ 0.8)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    return rng.normal(0.0, 1.5, n) + 1.2 * (2 * y - 1), y


def shifted(logits, y, rng, a, mu, delta, tau):
    return a * logits + mu + delta * y + rng.normal(0.0, tau, logits.shape)


def test_the_fit_recovers_planted_coefficients():
    logits, y = clean_logits(20_000, seed=1)
    after = shifted(logits, y, np.random.default_rng(2), **TRUE)
    fit = decompose(logits, after, y)
    assert fit.n == 20_000
    for name, value in TRUE.items():  # standard errors are ≈ 0.01 at this n
        assert getattr(fit, name) == pytest.approx(value, abs=0.04), name
    # without δ the class shift lands in the residual, which then correlates with the label
    assert fit.label_corr > 0.1
    no_delta = shifted(logits, y, np.random.default_rng(3), **{**TRUE, "delta": 0.0})
    assert abs(decompose(logits, no_delta, y).label_corr) < 0.03
    free = label_free_shift(logits, no_delta)
    assert free.delta == 0.0 and np.isnan(free.label_corr)
    assert (free.a, free.mu, free.tau) == pytest.approx((0.7, -0.8, 0.9), abs=0.04)


def test_tau_uses_the_number_of_fitted_coefficients_as_ddof():
    before = np.array([0.0, 1.0, 2.0, 3.0])
    after = np.array([1.0, 0.0, 3.0, 2.0])  # OLS line 0.6ℓ + 0.6, residuals 0.4, −1.2, 1.2, −0.4: RSS = 3.2
    fit = decompose(before, after)
    assert (fit.a, fit.mu) == pytest.approx((0.6, 0.6))
    assert fit.tau == pytest.approx(np.sqrt(3.2 / 2))


@pytest.mark.parametrize("params", [TRUE, {"a": 1.0, "mu": 1.5, "delta": -0.4, "tau": 0.3},
                                    {"a": 0.3, "mu": 0.0, "delta": 0.0, "tau": 2.0}])
def test_predictions_match_a_monte_carlo_measurement(params):
    logits, y = clean_logits(400, seed=4)
    shift = LogitShift(**params, n=400, label_corr=float("nan"))
    rng = np.random.default_rng(5)
    draws = shifted(np.broadcast_to(logits, (2000, 400)), y, rng, **params)  # 2000 independent updates
    measured = metrics.probe_metrics_batch(y, scipy.special.expit(draws), tau=0.8,
                                           metrics=["auc", "accuracy", "silent_failure_rate"])
    auc, acc, sfr = (float(measured[m].mean()) for m in ("auc", "accuracy", "silent_failure_rate"))
    # Monte-Carlo standard errors over 2000 draws are below 0.001 for each figure
    assert predict_auc(logits, y, shift) == pytest.approx(auc, abs=0.004)
    assert predict_accuracy(logits, y, shift) == pytest.approx(acc, abs=0.004)
    assert predict_silent_failure_rate(logits, y, shift, 0.8) == pytest.approx(sfr, abs=0.004)


def test_a_shift_shared_by_every_text_leaves_the_auc_exactly_unchanged():
    logits, y = clean_logits(300, seed=6)
    after = 0.5 * logits - 3.0  # every text's logit moves by a common affine map: no scatter
    fit = decompose(logits, after, y)
    assert fit.tau == pytest.approx(0.0, abs=1e-12)
    assert fit.delta == pytest.approx(0.0, abs=1e-12)
    exact = LogitShift(a=0.5, mu=-3.0, delta=0.0, tau=0.0, n=300, label_corr=float("nan"))
    assert predict_auc(logits, y, exact) == roc_auc_score(y, logits)
    assert predict_auc(logits, y, fit) == pytest.approx(roc_auc_score(y, logits), abs=1e-9)
    # the threshold does move: the predicted accuracy is the measured accuracy of the shifted logits
    assert predict_accuracy(logits, y, exact) == accuracy_score(y, (after >= 0).astype(int))
    assert predict_accuracy(logits, y, exact) < accuracy_score(y, (logits >= 0).astype(int)) - 0.1
    # a reversed slope reverses the ranking
    flipped = LogitShift(a=-1.0, mu=0.0, delta=0.0, tau=0.0, n=300, label_corr=float("nan"))
    assert predict_auc(logits, y, flipped) == pytest.approx(1.0 - roc_auc_score(y, logits), abs=1e-12)


def test_pure_scatter_drives_the_auc_to_one_half():
    logits, y = clean_logits(300, seed=7)
    noise = LogitShift(a=1.0, mu=0.0, delta=0.0, tau=1e6, n=300, label_corr=float("nan"))
    assert predict_auc(logits, y, noise) == pytest.approx(0.5, abs=1e-5)
    assert predict_accuracy(logits, y, noise) == pytest.approx(0.5, abs=1e-5)


def test_bad_input_is_named():
    logits, y = clean_logits(50, seed=8)
    shift = decompose(logits, logits + 1.0, y)
    with pytest.raises(ProbedriftError, match="logits_after has 49 values"):
        decompose(logits, logits[:-1])
    with pytest.raises(ProbedriftError, match="NaN or inf"):
        decompose(np.where(np.arange(50) == 3, np.nan, logits), logits)
    with pytest.raises(ProbedriftError, match="only one class"):
        decompose(logits, logits, np.ones(50))
    with pytest.raises(ProbedriftError, match="one 0/1 label per text"):
        predict_auc(logits, y[:-1], shift)
    with pytest.raises(ProbedriftError, match="3 texts cannot fit 3 coefficients"):
        decompose(logits[:3], logits[:3], np.array([0, 1, 0]))
    with pytest.raises(ProbedriftError, match="all equal"):
        decompose(np.ones(10), logits[:10])
    with pytest.raises(ProbedriftError, match="must be a LogitShift"):
        predict_accuracy(logits, y, (1.0, 0.0, 0.0, 1.0))
    with pytest.raises(ProbedriftError, match="tau_conf"):
        predict_silent_failure_rate(logits, y, shift, 0.4)
    with pytest.raises(ProbedriftError, match="1-D array"):
        predict_auc(logits[:, None], y, shift)


@pytest.mark.parametrize("update", [
    {"a": 0.9, "mu": -2.0, "delta": 0.0, "tau": 0.5},   # mostly a shared shift: accuracy falls, AUC holds
    {"a": 0.6, "mu": 0.3, "delta": 1.0, "tau": 1.2},    # label-aligned: the frozen probe still reads the change
    {"a": 1.0, "mu": 0.0, "delta": 0.0, "tau": 2.5},    # pure scatter: the ranking breaks
])
def test_a_decomposition_fitted_on_the_texts_accounts_for_their_measured_change(update):
    # One update of 160 texts (the default run's test size), measured once with scikit-learn: the four fitted
    # numbers must reproduce what happened to these texts within 0.05 AUC and 0.08 accuracy.
    logits, y = clean_logits(160, seed=11)
    after = shifted(logits, y, np.random.default_rng(12), **update)
    fit = decompose(logits, after, y)
    assert predict_auc(logits, y, fit) == pytest.approx(roc_auc_score(y, after), abs=0.05)
    assert predict_accuracy(logits, y, fit) == pytest.approx(accuracy_score(y, (after > 0).astype(int)), abs=0.08)
