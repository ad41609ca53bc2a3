"""Intervals that cover test sampling and the drift draw (the drift-sweep summary's intervals)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from probedrift.science.metrics import texts_and_draws_interval


def _scores(n, rng, shift=1.0):
    y = rng.permutation(np.arange(n) % 2)
    s = rng.standard_normal(n) + shift * y
    return y, 1 / (1 + np.exp(-s))


def test_the_interval_covers_the_population_auc_at_its_nominal_rate():
    """Scores N(0,1) vs N(1,1): population AUC Φ(1/√2). 200 test sets of 120 texts, one draw each."""
    truth = stats.norm.cdf(1 / np.sqrt(2))
    rng = np.random.default_rng(0)
    hits = 0
    for rep in range(200):
        y, p = _scores(120, rng)
        r = texts_and_draws_interval(y, p[None], ["auc"], n_boot=200, seed=rep)["auc"]
        hits += r["ci_low"] <= truth <= r["ci_high"]
    lo, hi = stats.binom.ppf([0.001, 0.999], 200, 0.95)
    assert lo <= hits <= hi, hits


def test_draw_variance_is_added_and_a_deterministic_draw_adds_none():
    rng = np.random.default_rng(1)
    y, p = _scores(200, rng)
    logit = np.log(p / (1 - p))
    noisy = 1 / (1 + np.exp(-(logit[None] + 1.5 * rng.standard_normal((10, 200)))))
    same = np.repeat(p[None], 10, axis=0)
    r_noisy = texts_and_draws_interval(y, noisy, ["auc", "accuracy"], n_boot=200, seed=0)
    r_same = texts_and_draws_interval(y, same, ["auc", "accuracy"], n_boot=200, seed=0)
    one = texts_and_draws_interval(y, p[None], ["auc"], n_boot=200, seed=0)["auc"]
    assert r_same["auc"]["se_draws"] == 0 and r_same["auc"]["se_texts"] == pytest.approx(one["se_texts"])
    assert r_same["auc"]["ci_high"] - r_same["auc"]["ci_low"] > 0.05  # test sampling alone: never zero width
    # the between-draw standard error is the plain s/√k of the per-draw AUCs
    from probedrift.science.metrics import roc_auc_batch

    aucs = roc_auc_batch(y, noisy)
    assert r_noisy["auc"]["se_draws"] == pytest.approx(aucs.std(ddof=1) / np.sqrt(10))
    assert r_noisy["auc"]["mean"] == pytest.approx(aucs.mean())
    z = stats.norm.ppf(0.975)
    half = z * np.hypot(r_noisy["auc"]["se_texts"], r_noisy["auc"]["se_draws"])
    assert r_noisy["auc"]["ci_high"] == pytest.approx(min(1.0, aucs.mean() + half))


def test_clopper_pearson_is_the_beta_quantile_interval():
    from probedrift.core.intervals import clopper_pearson

    lo, hi = clopper_pearson(7, 50)
    assert lo == pytest.approx(stats.beta.ppf(0.025, 7, 44)) and hi == pytest.approx(stats.beta.ppf(0.975, 8, 43))
    assert clopper_pearson(0, 20)[0] == 0.0 and clopper_pearson(20, 20)[1] == 1.0


def test_bootstrap_weights_count_the_stratified_resample():
    from probedrift.core.intervals import bootstrap_weights, stratified_bootstrap_indices

    y = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1])
    idx = stratified_bootstrap_indices(y, 30, 4)
    W = bootstrap_weights(y, 30, 4)
    for b in range(30):
        assert all(W[b, i] == np.sum(idx[b] == i) for i in range(y.size))
    assert (W[:, y == 1].sum(axis=1) == 5).all() and (W[:, y == 0].sum(axis=1) == 4).all()
    assert (y[idx[:, :4]] == 0).all() and (y[idx[:, 4:]] == 1).all()


def test_percentile_interval_of_a_known_sample():
    from probedrift.core.intervals import percentile_interval

    assert percentile_interval(np.r_[np.arange(101.0), np.nan], 0.9) == pytest.approx((5.0, 95.0))
    assert all(np.isnan(v) for v in percentile_interval([np.nan, np.inf]))


def test_combined_interval_adds_the_parts_in_quadrature():
    from probedrift.core.intervals import combined_interval

    cells = np.array([[0.6, 0.7, 0.8, 0.9]])  # one split, four draws
    rs = np.random.default_rng(0).normal(0, 0.01, 50)
    resampled = cells.ravel()[None, :] + rs[:, None]  # each resample shifts every cell alike
    r = combined_interval(cells, resampled)
    se_draws = np.std([0.6, 0.7, 0.8, 0.9], ddof=1) / 2
    assert r["mean"] == pytest.approx(0.75) and r["se_splits"] == 0 and r["se_draws"] == pytest.approx(se_draws)
    assert r["se_texts"] == pytest.approx(rs.std(ddof=1)) and r["n"] == 4
    half = stats.norm.ppf(0.975) * np.hypot(rs.std(ddof=1), se_draws)
    assert r["ci_low"] == pytest.approx(0.75 - half) and r["ci_high"] == pytest.approx(min(1.0, 0.75 + half))
    wide = combined_interval(cells + 0.2, resampled + 0.2, clip=False)
    assert wide["ci_high"] > 1.0 and combined_interval(cells + 0.2, resampled + 0.2)["ci_high"] == 1.0
