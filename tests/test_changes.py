"""Paired changes (clean → drifted) and the variance parts behind every texts-and-draws interval, against
textbook formulas and simulations with known variance components."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from probedrift.core.errors import ProbedriftError
from probedrift.core.intervals import combined_interval, variance_components
from probedrift.science.changes import paired_changes
from probedrift.science.metrics import texts_and_draws_interval

Z95 = 1.959963984540054  # the textbook 97.5% normal quantile


def _independent_correctness(n: int, k: int, p_correct: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Labels and a (k, n) stack whose draws are correct independently per text and draw, at confidence
    0.9 (so no draw shares a text's outcome with another)."""
    y = np.arange(n) % 2
    correct = rng.random((k, n)) < p_correct
    right = np.where(y == 1, 0.9, 0.1)
    return y, np.where(correct, right[None], 1 - right[None])


def test_text_standard_error_is_that_of_the_mean_over_draws_not_of_one_draw():
    """Correct or not independently per text and draw with probability p: accuracy averaged over k draws
    is a mean of n per-text averages, each of variance p(1−p)/k, so its text s.e. is √(p(1−p)/(kn))
    (one draw alone: √(p(1−p)/n), √k = 4 times larger)."""
    n, k, p = 400, 16, 0.7
    y, P = _independent_correctness(n, k, p, np.random.default_rng(0))
    r = texts_and_draws_interval(y, P, ["accuracy"], n_boot=2000, seed=1)["accuracy"]
    assert r["se_texts"] == pytest.approx(np.sqrt(p * (1 - p) / (k * n)), rel=0.15)


def test_draw_standard_error_is_the_se_of_the_mean_over_draws_not_their_sd():
    """The same simulation: per-draw accuracies have s.d. √(p(1−p)/n) between draws; the mean over k draws
    has s.e. √(p(1−p)/(nk)), and that is the draw part of the interval."""
    n, k, p = 400, 16, 0.7
    y, P = _independent_correctness(n, k, p, np.random.default_rng(2))
    r = texts_and_draws_interval(y, P, ["accuracy"], n_boot=200, seed=0)["accuracy"]
    assert r["se_draws"] == pytest.approx(np.sqrt(p * (1 - p) / (n * k)), rel=0.35)


def test_combined_interval_text_part_averages_the_cells_before_taking_the_spread():
    """Resampled estimates of k cells that vary independently with s.d. s_j: the cell mean varies with
    s.d. √(Σ s_j²)/k; the first cell's spread (s_0, here the largest) is not it."""
    rng = np.random.default_rng(3)
    sd = np.array([0.05, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01])
    resampled = 0.5 + rng.standard_normal((20000, sd.size)) * sd
    r = combined_interval(np.full((1, sd.size), 0.5), resampled)
    assert r["se_texts"] == pytest.approx(np.sqrt((sd ** 2).sum()) / sd.size, rel=0.03)


def test_variance_components_recover_known_split_and_draw_variances():
    """m_rk = μ + a_r + b_k + e_rk with σ_a = 0.03, σ_b = 0.02, σ_e = 0.01 on a 5 × 10 table: averaged over
    simulations, se_splits² → σ_a²/R and se_draws² → σ_b²/k + σ_e²/(Rk) (the ANOVA expectations)."""
    rng = np.random.default_rng(4)
    R, k, sa, sb, se = 5, 10, 0.03, 0.02, 0.01
    s2 = np.array([variance_components(0.5 + sa * rng.standard_normal((R, 1)) + sb * rng.standard_normal((1, k))
                                       + se * rng.standard_normal((R, k)))[1:3] for _ in range(3000)]) ** 2
    assert s2[:, 0].mean() == pytest.approx(sa ** 2 / R, rel=0.08)
    assert s2[:, 1].mean() == pytest.approx(sb ** 2 / k + se ** 2 / (R * k), rel=0.08)


def test_combined_interval_is_95_percent_normal():
    r = combined_interval(np.array([[0.4, 0.5, 0.6]]), 0.5 + np.zeros((10, 3)), 0.95)
    se = np.std([0.4, 0.5, 0.6], ddof=1) / np.sqrt(3)
    assert r["ci_high"] - r["mean"] == pytest.approx(Z95 * se, rel=1e-9)
    assert r["mean"] - r["ci_low"] == pytest.approx(Z95 * se, rel=1e-9)


def _paired_population(n, k, rng, shift):
    """Scores N(±1, 1) by class; each draw adds N(0, 0.3²) noise and moves every logit by ``shift``."""
    y = rng.permutation(np.arange(n) % 2)
    logit = rng.standard_normal(n) + np.where(y == 1, 1.0, -1.0)
    clean = 1 / (1 + np.exp(-logit))
    drift = 1 / (1 + np.exp(-(logit[None] + shift + 0.3 * rng.standard_normal((k, n)))))
    return y, clean, drift


def test_the_change_interval_covers_the_population_change_at_95_percent():
    """Accuracy of a threshold at 0 on N(±1, 1) scores, moved by s = 0.5 and blurred by N(0, 0.3²) per draw:
    clean Φ(1); drifted ½[Φ((1 + s)/√1.09) + Φ((1 − s)/√1.09)]. 300 data sets of 200 texts and 5 draws;
    the hits of a 95% interval lie in the central 99.8% of Binomial(300, 0.95) (a 90% interval would not)."""
    s, b = 0.5, np.sqrt(1 + 0.3 ** 2)
    truth = 0.5 * (stats.norm.cdf((1 + s) / b) + stats.norm.cdf((1 - s) / b)) - stats.norm.cdf(1.0)
    rng = np.random.default_rng(5)
    hits = 0
    for rep in range(300):
        y, clean, drift = _paired_population(200, 5, rng, s)
        r = paired_changes(y, clean[None], drift, ["accuracy"], n_boot=200, seed=rep)["accuracy"]
        hits += r["change_ci_low"] <= truth <= r["change_ci_high"]
    lo, hi = stats.binom.ppf([0.001, 0.999], 300, 0.95)
    assert lo <= hits <= hi, hits


def test_paired_change_is_narrower_than_the_levels_and_agrees_with_them():
    rng = np.random.default_rng(6)
    y, clean, drift = _paired_population(300, 8, rng, 0.2)
    r = paired_changes(y, clean[None], drift, ["auc", "ece"], n_boot=300, seed=0)
    for m in ("auc", "ece"):
        assert r[m]["change"] == pytest.approx(r[m]["drifted"] - r[m]["clean"], abs=1e-12)
        assert r[m]["change_ci_high"] - r[m]["change_ci_low"] < r[m]["clean_ci_high"] - r[m]["clean_ci_low"]
    one = texts_and_draws_interval(y, clean[None], ["auc"], n_boot=300, seed=0)["auc"]
    assert r["auc"]["clean_ci_low"] == pytest.approx(one["ci_low"]) and r["auc"]["clean"] == pytest.approx(one["mean"])


def test_with_splits_the_change_interval_counts_the_split_variance():
    """Two split seeds whose drifted predictions differ by a constant logit offset: se_splits > 0, and it is
    the ANOVA's between-split part of the change table."""
    rng = np.random.default_rng(7)
    y, clean, drift = _paired_population(200, 4, rng, 0.3)
    logit = np.log(drift / (1 - drift))
    P1 = np.stack([drift, 1 / (1 + np.exp(-(logit + 0.6)))])
    P0 = np.stack([clean[None].repeat(4, 0)] * 2)
    r = paired_changes(y, P0, P1, ["mean_confidence"], n_boot=100, seed=0)["mean_confidence"]
    conf = np.maximum(P1, 1 - P1).mean(-1) - np.maximum(P0, 1 - P0).mean(-1)
    assert r["change_se_splits"] == pytest.approx(variance_components(conf)[1], rel=1e-9)
    assert r["change_se_splits"] > 0


def test_paired_changes_rejects_mismatched_stacks():
    y = np.arange(10) % 2
    with pytest.raises(ProbedriftError, match="P_clean"):
        paired_changes(y, np.full((3, 10), 0.5), np.full((2, 4, 10), 0.5))
    with pytest.raises(ProbedriftError, match="texts|splits, draws"):
        paired_changes(y, np.full((2, 9), 0.5), np.full((2, 10), 0.5))


def test_validation_c_minimises_the_validation_log_loss_of_an_independently_fitted_pipeline():
    """Few texts in many dimensions (the regime where C = 1 overfits): the chosen C has the smallest validation
    log-loss over the grid, the losses recomputed with scikit-learn's own Normalizer → StandardScaler →
    LogisticRegression, and it is not the paper's C = 1."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import log_loss
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer, StandardScaler

    from probedrift.experiments.claim_changes import VALIDATION_C_GRID, validation_c

    rng = np.random.default_rng(8)
    d, n = 200, 160
    y = np.arange(n) % 2
    X = rng.standard_normal((n, d)) + 0.25 * (2 * y[:, None] - 1) * (np.arange(d) < 20) + 2.0
    tr, va = np.arange(n) < 120, np.arange(n) >= 120
    chosen = validation_c(X[tr], y[tr], X[va], y[va], seed=0)
    losses = {}
    for c in VALIDATION_C_GRID:
        pipe = make_pipeline(Normalizer(), StandardScaler(),
                             LogisticRegression(C=c, class_weight="balanced", max_iter=2000)).fit(X[tr], y[tr])
        losses[c] = log_loss(y[va], pipe.predict_proba(X[va])[:, 1])
    assert losses[chosen] == pytest.approx(min(losses.values()), rel=1e-3)
    assert chosen < 1.0
