"""Separability measures: ordering on known Gaussian pairs, hand computations, limits, reports."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from probedrift.core.errors import ProbedriftError
from probedrift.science.separability import (
    METRICS,
    class_overlap,
    cv_auc,
    fisher_ratio,
    per_layer_report,
    separability_report,
    silhouette,
    to_space,
)


def gaussian_pair(sep: float, *, n: int = 400, d: int = 32, seed: int = 0, offset: float = 3.0):
    """Two unit-variance Gaussian classes whose means are ``sep`` apart, around a shared offset."""
    rng = np.random.default_rng(seed)
    direction = np.zeros(d)
    direction[0] = 1.0
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    X = rng.standard_normal((n, d)) + sep * (y[:, None] - 0.5) * direction + offset
    return X.astype(np.float32), y


SEPARATIONS = (0.5, 1.5, 4.0)


@pytest.fixture(scope="module")
def pairs():
    return [gaussian_pair(s, seed=i) for i, s in enumerate(SEPARATIONS)]


@pytest.mark.parametrize("space", ["raw", "normalized", "normalized_standardized"])
def test_every_measure_orders_known_separations(pairs, space):
    Z = [(to_space(X, space), y) for X, y in pairs]
    sil_cos = [silhouette(X, y, metric="cosine") for X, y in Z]
    sil_euc = [silhouette(X, y, metric="euclidean") for X, y in Z]
    fisher = [fisher_ratio(X, y) for X, y in Z]
    overlap = [class_overlap(X, y) for X, y in Z]
    auc = [cv_auc(X, y) for X, y in pairs]
    for up in (sil_cos, sil_euc, fisher, auc):
        assert up[0] < up[1] < up[2], up
    assert overlap[0] > overlap[1] > overlap[2], overlap


def test_cv_auc_tracks_the_bayes_auc(pairs):
    # equal-variance Gaussians sep apart along one axis: Bayes AUC = Φ(sep/√2)
    for (X, y), sep in zip(pairs, SEPARATIONS):
        assert cv_auc(X, y) == pytest.approx(scipy.stats.norm.cdf(sep / np.sqrt(2)), abs=0.08)


def test_fisher_ratio_matches_a_hand_computation():
    X = np.array([[0.0, 0.0], [2.0, 0.0], [4.0, 2.0], [6.0, 6.0]], dtype=np.float32)
    y = np.array([0, 0, 1, 1])
    # μ0 = (1, 0), μ1 = (5, 4): ‖μ1 − μ0‖² = 16 + 16 = 32
    # σ²0 = (1, 0) → mean 0.5;  σ²1 = (1, 4) → mean 2.5
    assert fisher_ratio(X, y, debiased=False) == pytest.approx(32 / (0.5 + 2.5))
    # debiased: minus tr S_k / n_k (ddof = 1): S0 = (2, 0), S1 = (2, 8) → 2/2 + 10/2 = 6
    assert fisher_ratio(X, y) == pytest.approx((32 - 6) / (0.5 + 2.5))


@settings(deadline=None, max_examples=15, derandomize=True)
@given(
    scale=st.floats(min_value=0.1, max_value=10.0),
    shift=st.floats(min_value=-5.0, max_value=5.0),
    seed=st.integers(0, 1000),
)
def test_fisher_ratio_is_affine_invariant_under_uniform_scaling(scale, shift, seed):
    X, y = gaussian_pair(1.0, n=60, d=8, seed=seed)
    assert fisher_ratio(X * scale + shift, y) == pytest.approx(fisher_ratio(X, y), rel=1e-4)


def test_debiased_fisher_removes_the_high_dimensional_noise_floor():
    # identical classes, d comparable to n: the plug-in ratio is ≈ d(1/n0 + 1/n1)/2, not 0
    X, y = gaussian_pair(0.0, n=400, d=256, seed=7)
    expected_floor = 256 * (1 / 200 + 1 / 200) / 2
    assert fisher_ratio(X, y, debiased=False) == pytest.approx(expected_floor, rel=0.15)
    assert abs(fisher_ratio(X, y)) < 0.15  # the default is debiased


def test_overlap_is_one_for_identical_and_zero_for_far_apart_classes():
    X, y = gaussian_pair(0.0, n=600, d=64, seed=3)
    assert class_overlap(X, y) > 0.85
    X, y = gaussian_pair(20.0, n=600, d=64, seed=4)
    assert class_overlap(X, y) < 0.01


def test_overlap_matches_the_gaussian_formula_in_one_dimension():
    # two 1-D unit Gaussians δ apart: OVL = 2Φ(−δ/2)
    for delta in (0.5, 1.0, 2.0):
        X, y = gaussian_pair(delta, n=4000, d=1, seed=11)
        assert class_overlap(X, y) == pytest.approx(2 * scipy.stats.norm.cdf(-delta / 2), abs=0.04)


def test_cross_fitting_keeps_identical_high_dimensional_classes_overlapping():
    # d > n/2: an in-sample LDA direction would separate these identical classes almost perfectly
    X, y = gaussian_pair(0.0, n=300, d=400, seed=5)
    assert class_overlap(X, y) > 0.7


def test_silhouette_subsample_and_errors():
    X, y = gaussian_pair(3.0, n=500, seed=2)
    full = silhouette(X, y, metric="euclidean", sample_size=None)
    sub = silhouette(X, y, metric="euclidean", sample_size=300, seed=1)
    assert sub == pytest.approx(full, abs=0.03)
    assert silhouette(X, y, sample_size=300, seed=1) == silhouette(X, y, sample_size=300, seed=1)
    with pytest.raises(ProbedriftError, match="cosine, euclidean"):
        silhouette(X, y, metric="manhattan")


def test_cv_auc_returns_folds_and_is_chance_for_identical_classes():
    X, y = gaussian_pair(0.0, n=400, d=16, seed=8)
    folds = cv_auc(X, y, folds=4, return_folds=True)
    assert folds.shape == (4,)
    assert abs(folds.mean() - 0.5) < 0.1
    with pytest.raises(ProbedriftError, match="at least 2"):
        cv_auc(X, y, folds=1)


def test_spaces():
    X, _ = gaussian_pair(1.0, n=50, d=8)
    np.testing.assert_allclose(to_space(X, "raw"), X, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(to_space(X, "normalized"), axis=1), 1.0, rtol=1e-6)
    Z = to_space(X, "normalized_standardized")
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-6)
    with pytest.raises(ProbedriftError, match="raw, normalized, normalized_standardized"):
        to_space(X, "whitened")


def test_separability_report_shape_intervals_and_order():
    X, y = gaussian_pair(1.5, n=300, d=32, seed=1)
    df = separability_report(X, y, n_boot=50, n_boot_expensive=8)
    assert list(df.columns) == ["metric", "value", "ci_low", "ci_high"]
    assert list(df["metric"]) == list(METRICS)
    assert (df["ci_high"] - df["ci_low"] > 0).all()
    # cv_auc: mean of the fold AUCs ± t(0.975, k − 1)·sd/√k, written out from the folds
    folds = cv_auc(X, y, return_folds=True)
    half = scipy.stats.t.ppf(0.975, folds.size - 1) * np.std(folds, ddof=1) / np.sqrt(folds.size)
    cv_row = df.set_index("metric").loc["cv_auc"]
    assert cv_row["value"] == pytest.approx(folds.mean(), abs=1e-12)
    expected = (folds.mean() - half, folds.mean() + half)
    assert (cv_row["ci_low"], cv_row["ci_high"]) == pytest.approx(expected, abs=1e-12)
    again = separability_report(X, y, n_boot=50, n_boot_expensive=8)
    pd.testing.assert_frame_equal(df, again)
    raw = separability_report(X, y, n_boot=20, space="raw", metrics=["fisher", "cv_auc"])
    assert list(raw["metric"]) == ["fisher", "cv_auc"]
    # the space changes the geometric measures, never cv_auc (its pipeline normalises by itself)
    assert raw["value"][0] != pytest.approx(df["value"][1], rel=0.01)
    assert raw["value"][1] == pytest.approx(df.set_index("metric").loc["cv_auc", "value"])
    # the raw (paper) Fisher sits above the debiased one by about its noise floor d(1/n0 + 1/n1)/2
    sep = df.set_index("metric")["value"]
    assert sep["fisher_raw"] - sep["fisher"] == pytest.approx(
        32 * (2 / 150) / 2 / sep["fisher_raw"] * sep["fisher_raw"], rel=0.35)
    with pytest.raises(ProbedriftError, match="separability metric"):
        separability_report(X, y, metrics=["auc"])


def test_resampled_intervals_are_centred_and_not_narrower_than_the_sampling_spread():
    # The normal intervals are θ̂ ± 1.96·sd, so half-width / 1.96 claims a standard deviation for θ̂.
    # Against the spread of θ̂ over fresh samples of the same population (n = 300, d = 32): the
    # jackknife of the Fisher ratios is close to it; silhouette's and overlap's bootstraps stay
    # conservative (resamples with duplicated points add spread of their own). None may be narrower.
    measures = ["fisher", "fisher_raw", "silhouette", "overlap"]
    X, y = gaussian_pair(1.5, n=300, d=32, seed=1)
    report = separability_report(X, y, n_boot=200, n_boot_expensive=16, metrics=measures).set_index("metric")
    fresh = {m: [] for m in measures}
    for seed in range(60):
        Xf, yf = gaussian_pair(1.5, n=300, d=32, seed=500 + seed)
        Z = to_space(Xf, "normalized_standardized")
        fresh["fisher"].append(fisher_ratio(Z, yf))
        fresh["fisher_raw"].append(fisher_ratio(Z, yf, debiased=False))
        fresh["silhouette"].append(silhouette(Z, yf, metric="cosine"))
        if seed < 20:
            fresh["overlap"].append(class_overlap(Z, yf))
    z975 = scipy.stats.norm.ppf(0.975)
    bands = {"fisher": (0.8, 1.35), "fisher_raw": (0.8, 1.35), "silhouette": (1.0, 3.5), "overlap": (1.0, 3.5)}
    for m in measures:
        row = report.loc[m]
        assert (row["ci_low"] + row["ci_high"]) / 2 == pytest.approx(row["value"], abs=1e-12)
        ratio = (row["ci_high"] - row["ci_low"]) / (2 * z975) / np.std(fresh[m], ddof=1)
        assert bands[m][0] < ratio < bands[m][1], (m, ratio)


def test_fisher_jackknife_equals_explicit_leave_one_out():
    from probedrift.science.separability import _fisher_jackknife

    X, y = gaussian_pair(1.0, n=30, d=5, seed=2)
    Xn = to_space(X, "normalized")
    value, var = _fisher_jackknife(Xn, y, standardize=True, debiased=True)
    assert value == pytest.approx(fisher_ratio(to_space(X), y), rel=1e-6)
    loo = {c: [] for c in (0, 1)}
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        Zi = StandardScaler().fit_transform(Xn[keep])
        loo[y[i]].append(fisher_ratio(Zi, y[keep]))
    expected = sum((len(v) - 1) / len(v) * np.sum((np.array(v) - np.mean(v)) ** 2) for v in loo.values())
    assert var == pytest.approx(expected, rel=1e-5)


def test_fisher_intervals_cover_the_population_ratio_at_the_nominal_rate():
    # raw space, offset 0: population Fisher = sep² / (1 + 1); the debiased estimate targets it.
    # 200 independent draws; a 95% interval must hit between the binomial 0.1% and 99.9% quantiles
    # (an interval 1.4x too wide covers ≈ 99.5% and fails the upper bound, one too narrow the lower).
    sep, draws = 1.5, 200
    hits = 0
    for seed in range(draws):
        X, y = gaussian_pair(sep, n=300, d=32, seed=1000 + seed, offset=0.0)
        row = separability_report(X, y, space="raw", metrics=["fisher"]).iloc[0]
        hits += bool(row["ci_low"] <= sep**2 / 2 <= row["ci_high"])
    lo, hi = scipy.stats.binom.ppf([0.001, 0.999], draws, 0.95)
    assert lo <= hits <= hi, hits


def test_per_layer_report():
    X, y = gaussian_pair(1.0, n=200, d=16)
    df = per_layer_report({3: X, 1: X * 2}, y, model="toy", n_boot=10, n_boot_expensive=3, metrics=["fisher"])
    assert list(df.columns) == ["model", "layer", "metric", "value", "ci_low", "ci_high"]
    assert list(df["layer"]) == [1, 3] and (df["model"] == "toy").all()
    # layer 1 is layer 3 scaled, which the normalised spaces cannot see
    assert df["value"][0] == pytest.approx(df["value"][1], rel=1e-5)
    with pytest.raises(ProbedriftError, match="no layers"):
        per_layer_report({}, y)


def test_fast_lda_direction_matches_sklearns_shrinkage_lda():
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from probedrift.science.separability import _lda_direction

    rng = np.random.default_rng(3)
    n, d = 200, 120
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
    X = rng.standard_normal((n, d)) + 0.3 * y[:, None] * rng.standard_normal(d)
    w_ref = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(X, y).coef_[0]
    w = _lda_direction(X, y)
    assert np.dot(w, w_ref) / (np.linalg.norm(w) * np.linalg.norm(w_ref)) > 0.95


# --------------------------------------------------------------------------- paired model comparison

from probedrift.report import tables  # noqa: E402
from probedrift.science.separability import PAIRED_INTERVAL, paired_relative_change  # noqa: E402

DELTA, TAU = 1.5, 0.5
TRUE_REL = -TAU**2 / (1 + TAU**2)  # Fisher ratio δ²/2 for the base, δ²/(2(1 + τ²)) for the instruct model


def shared_texts(seed: int, n: int = 200, d: int = 10):
    """Two "models" embedding the same texts: base x = z, instruct x = z + τε, with z ~ N(±δu/2, I)."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)].astype(int)
    z = rng.standard_normal((n, d))
    z[:, 0] += DELTA * (y - 0.5)
    return z, z + TAU * rng.standard_normal((n, d)), y


def unpaired(Xb, Xi, y, metric, **kw):
    """The conservative range from the two models' separate intervals (tables.pair_comparison without pairing)."""
    b, i = (separability_report(X, y, metrics=[metric], **kw).iloc[0] for X in (Xb, Xi))
    return (i.ci_low - b.ci_high) / abs(b.value), (i.ci_high - b.ci_low) / abs(b.value)


def test_paired_fisher_interval_is_narrower_and_covers_the_true_change_at_the_nominal_rate():
    draws, covered, widths, rels = 300, 0, [], []
    for seed in range(draws):
        Xb, Xi, y = shared_texts(seed)
        r = paired_relative_change(Xb, Xi, y, metrics=["fisher"], space="raw").iloc[0]
        # the value is the relative change of the two models' own (unpaired) ratios
        if seed < 3:
            fb, fi = fisher_ratio(Xb, y), fisher_ratio(Xi, y)
            assert r.relative_change == pytest.approx((fi - fb) / abs(fb), rel=1e-9)
        covered += r.relative_change_low < TRUE_REL < r.relative_change_high
        widths.append(r.relative_change_high - r.relative_change_low)
        rels.append(r.relative_change)
        if seed < 20:
            lo, hi = unpaired(Xb, Xi, y, "fisher", space="raw")
            assert widths[-1] < 0.5 * (hi - lo)
    # the nominal 95% within a 3-sd binomial band over the draws
    band = 3 * np.sqrt(0.95 * 0.05 / draws)
    assert abs(covered / draws - 0.95) < band, covered / draws
    # the half-width matches the Monte Carlo spread of the estimate over the draws
    assert 0.8 < np.mean(widths) / 2 / 1.96 / np.std(rels, ddof=1) < 1.3


def test_paired_relative_change_agrees_with_the_report_and_pairs_silhouette_too():
    Xb, Xi, y = shared_texts(0)
    df = paired_relative_change(Xb, Xi, y, n_boot_expensive=30, seed=3)
    assert list(df.metric) == list(METRICS) and set(df.interval) == {PAIRED_INTERVAL}
    rb, ri = (separability_report(X, y, n_boot_expensive=5, seed=3).set_index("metric") for X in (Xb, Xi))
    for r in df.itertuples():
        assert r.base_value == pytest.approx(rb.loc[r.metric, "value"], rel=1e-9), r.metric
        assert r.instruct_value == pytest.approx(ri.loc[r.metric, "value"], rel=1e-9), r.metric
        assert r.relative_change == pytest.approx((r.instruct_value - r.base_value) / abs(r.base_value))
        assert r.relative_change_high > r.relative_change_low
    sil = df.set_index("metric").loc["silhouette"]
    lo, hi = unpaired(Xb, Xi, y, "silhouette", n_boot_expensive=30, seed=3)
    assert sil.relative_change_high - sil.relative_change_low < 0.6 * (hi - lo)


def test_pair_comparison_takes_the_paired_interval_and_says_so():
    sep = pd.DataFrame([{"model": m, "layer": L, "metric": "fisher", "value": v, "ci_low": v - 0.5,
                         "ci_high": v + 0.5} for m, L, v in (("b", 1, 1.0), ("b", 2, 2.0), ("i", 2, 1.5))])
    pairs = [{"base": "b", "instruct": "i", "note": "same family"}]
    plain = tables.pair_comparison(sep, pairs)
    assert list(plain.columns) == tables.PAIR_COLUMNS
    r = plain.iloc[0]  # last layer: 2.0 → 1.5
    assert (r.relative_change, r.relative_change_low, r.relative_change_high) == pytest.approx((-0.25, -0.75, 0.25))
    assert r.interval == tables.UNPAIRED_PAIR_INTERVAL
    paired = pd.DataFrame([{"base": "b", "instruct": "i", "metric": "fisher", "relative_change": -0.25,
                            "relative_change_low": -0.3, "relative_change_high": -0.2, "interval": PAIRED_INTERVAL}])
    r = tables.pair_comparison(sep, pairs, paired=paired).iloc[0]
    assert (r.relative_change_low, r.relative_change_high, r.interval) == (-0.3, -0.2, PAIRED_INTERVAL)
    assert (r.base_value, r.instruct_value) == (2.0, 1.5)


def test_silhouette_interval_is_t_with_b_minus_one_df_over_recomputed_resamples():
    """With B resamples the half-width is t_{0.975, B−1} (2.776 for B = 5, not z = 1.96) times the spread of
    the resampled silhouettes, recomputed here from scratch with scikit-learn on the materialised resamples."""
    from sklearn.metrics import silhouette_score

    X, y = gaussian_pair(1.5, n=120, d=8, seed=3)
    B = 5
    row = separability_report(X, y, metrics=["silhouette"], n_boot_silhouette=B, seed=7).iloc[0]
    Z = to_space(X, "normalized_standardized")
    rng = np.random.default_rng(7)
    boots = []
    for _ in range(B):
        idx = np.concatenate([rng.choice(i, size=i.size, replace=True)
                              for i in (np.flatnonzero(y == c) for c in (0, 1))])
        boots.append(silhouette_score(Z[idx], y[idx], metric="cosine"))
    half = (row.ci_high - row.ci_low) / 2
    assert half == pytest.approx(2.7764451 * np.std(boots, ddof=1), rel=1e-6)
    assert (row.ci_high + row.ci_low) / 2 == pytest.approx(row.value, abs=1e-12)


def test_silhouette_uses_enough_resamples_by_default():
    from probedrift.science.separability import SILHOUETTE_RESAMPLES

    assert SILHOUETTE_RESAMPLES >= 100
    X, y = gaussian_pair(1.5, n=60, d=4, seed=4)
    with pytest.raises(ProbedriftError, match="n_boot_silhouette"):
        separability_report(X, y, metrics=["silhouette"], n_boot_silhouette=1)


def test_resampled_silhouettes_equal_scikit_learn_on_each_materialised_resample():
    """Every resample's silhouette from one distance matrix and the resample counts equals scikit-learn's on
    the resample's own rows, duplicates (at distance 0 from each other) included; a resample whose class
    has a single point gives that point 0, as scikit-learn does."""
    from sklearn.metrics import pairwise_distances, silhouette_score

    from probedrift.science.silhouette import resampled_silhouettes

    X, y = gaussian_pair(1.0, n=50, d=6, seed=11)
    D = pairwise_distances(X.astype(np.float64), metric="cosine")  # float64, as separability_report's space
    np.fill_diagonal(D, 0.0)
    rng = np.random.default_rng(5)
    idxs = [rng.choice(len(y), size=len(y), replace=True) for _ in range(30)]
    lonely = np.r_[np.flatnonzero(y == 0)[:1], rng.choice(np.flatnonzero(y == 1), size=20)]  # one class-0 point
    idxs.append(lonely)
    counts = np.stack([np.bincount(i, minlength=len(y)) for i in idxs]).astype(float)
    expected = [silhouette_score(D[np.ix_(i, i)], y[i], metric="precomputed") for i in idxs]
    assert resampled_silhouettes(D, y, counts) == pytest.approx(expected, abs=1e-12)
    assert len(set(np.round(expected, 6))) > 20  # the resamples differ, so the check is not one value repeated
