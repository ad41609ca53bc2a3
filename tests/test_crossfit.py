"""Cross-fitting: out-of-fold predictions, bootstrap weights, variance components, coverage and power."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from probedrift.core import intervals as I
from probedrift.inputs.synthetic import axes, two_class
from probedrift.science import crossfit as cf
from probedrift.science import metrics as M
from probedrift.science.probes import paper_probe


def _lda(X, y, seed):
    """A fast linear probe (Fisher LDA with a ridge), so coverage can be simulated over many data sets."""
    mu0, mu1 = X[y == 0].mean(axis=0), X[y == 1].mean(axis=0)
    cov = np.cov(X.T) + 1e-3 * np.eye(X.shape[1])
    w = np.linalg.solve(cov, mu1 - mu0)
    b = -w @ (mu0 + mu1) / 2
    return lambda Z: 1 / (1 + np.exp(-np.clip(Z @ w + b, -30, 30)))


def test_weighted_metrics_equal_the_metrics_of_the_resampled_texts():
    """Weights are counts of a stratified resample: every metric must equal the metric on the resample."""
    rng = np.random.default_rng(0)
    y = rng.permutation(np.arange(150) % 2)
    P = 1 / (1 + np.exp(-(rng.standard_normal((5, 150)) + 1.5 * y)))
    P[1] = np.round(P[1], 1)  # ties
    P[2, :40] = 0.5
    idx = I.stratified_bootstrap_indices(y, 40, 7)
    W = I.bootstrap_weights(y, 40, 7)
    assert (W.sum(axis=1) == 150).all() and (W[:, y == 1].sum(axis=1) == (y == 1).sum()).all()
    got = M.weighted_metrics(y, P, W)
    for name in M.METRIC_NAMES:
        ref = np.stack([M.probe_metrics_batch(y[idx], P[r][idx], 0.8, 5, [name])[name] for r in range(5)], axis=1)
        np.testing.assert_allclose(got[name], ref, rtol=0, atol=1e-12, err_msg=name)


def test_every_text_gets_exactly_one_out_of_fold_prediction_per_split_seed():
    X, y = two_class(90, 12, 1)
    seen = []

    def fit(X_tr, y_tr, seed):
        rows = {x.tobytes() for x in X_tr}
        seen.append(rows)
        probe = paper_probe(seed).fit(X_tr, y_tr)

        def predict(Z):
            if np.array_equal(Z, Z):  # σ = 0 is scored on the clean held-out rows: none of them was trained on
                assert not any(z.tobytes() in rows for z in Z)
            return probe.predict_proba(Z)
        return predict

    pred = cf.crossfit_sweep(X, y, fit, folds=4, split_seeds=[0, 1, 2], sigmas=[0.0, 0.05], drift_seeds=[0, 1],
                             drift_types="gaussian", conventions={"gaussian": ["relative"]})
    assert len(seen) == 3 * 4
    for r in range(3):
        folds = pred.folds[r]
        assert set(folds) == set(range(4))
        for c in (0, 1):  # stratified: class counts per fold differ by at most one
            counts = np.bincount(folds[y == c], minlength=4)
            assert counts.max() - counts.min() <= 1
        # the folds' training sets together hold every text K − 1 times
        train_sets = seen[4 * r: 4 * r + 4]
        assert sum(sum(x.tobytes() in s for s in train_sets) for x in X) == 3 * len(X)
    P = pred.probabilities[("gaussian", "relative")]
    assert P.shape == (3, 2, 2, 90) and np.isfinite(P).all()
    # different partitions give different out-of-fold predictions; σ = 0 is the same under every draw
    assert not np.allclose(P[0, 0, 0], P[1, 0, 0])
    np.testing.assert_array_equal(P[:, 0, 0], P[:, 1, 0])
    assert (pred.angles_deg[("gaussian", "relative")][:, :, 1] > 0).all()


def test_stratified_folds_refuse_too_few_texts_per_class():
    with pytest.raises(Exception, match="folds"):
        cf.stratified_folds(np.array([0, 0, 0, 1, 1]), 3, 0)


def test_variance_components_are_unbiased_for_the_variance_of_the_mean():
    """m_rk = a_r + b_k + e_rk with known variances: E[se_splits² + se_draws²] = σa²/R + σb²/k + σe²/(Rk),
    which also matches the simulated variance of the mean; se_splits² alone tracks σa²/R."""
    rng = np.random.default_rng(5)
    R, k, sa, sb, se = 3, 10, 0.03, 0.02, 0.01
    truth = sa ** 2 / R + sb ** 2 / k + se ** 2 / (R * k)
    est, split, means = [], [], []
    for _ in range(4000):
        m = 0.8 + sa * rng.standard_normal((R, 1)) + sb * rng.standard_normal((1, k)) + se * rng.standard_normal((R, k))
        mean, s_s, s_d, n = I.variance_components(m)
        assert n == R * k and mean == pytest.approx(m.mean())
        est.append(s_s ** 2 + s_d ** 2)
        split.append(s_s ** 2)
        means.append(mean)
    assert np.mean(est) == pytest.approx(truth, rel=0.06)
    assert np.var(means) == pytest.approx(truth, rel=0.08)
    assert np.mean(split) == pytest.approx(sa ** 2 / R, rel=0.1)
    # a table that ignored the split axis (draws only) would miss most of the variance
    draws_only = np.mean([np.var(rng.standard_normal(k) * sb, ddof=1) / k for _ in range(200)])
    assert draws_only < 0.5 * truth


def test_variance_components_single_split_is_the_between_draw_variance():
    m = np.array([[0.7, 0.75, 0.8, 0.72]])
    mean, s_s, s_d, n = I.variance_components(m)
    assert s_s == 0 and s_d == pytest.approx(m.std(ddof=1) / 2) and n == 4
    mean, s_s, s_d, n = I.variance_components(np.array([[0.7, np.nan], [0.8, 0.82]]))
    assert n == 3 and mean == pytest.approx((0.7 + 0.81) / 2)


def test_the_interval_widens_when_split_variance_is_present():
    """The same texts scored by probes that differ per split seed: se_splits > 0 and the interval is wider
    than with identical probes; with identical probes se_splits is exactly 0."""
    rng = np.random.default_rng(2)
    n = 300
    y = rng.permutation(np.arange(n) % 2)
    base = rng.standard_normal(n) + 1.2 * y
    draws = 0.3 * rng.standard_normal((1, 5, n))
    same = 1 / (1 + np.exp(-(base + draws).repeat(4, axis=0)))
    nuisance = rng.standard_normal(n)  # a direction each split's probe weighs differently
    weight = np.array([0.0, 1.5, -1.0, 2.5])[:, None, None]
    differ = 1 / (1 + np.exp(-(base + draws + weight * nuisance)))
    a = cf.crossfit_intervals(y, same, ["auc", "accuracy"], n_boot=200, seed=0)
    b = cf.crossfit_intervals(y, differ, ["auc", "accuracy"], n_boot=200, seed=0)
    z = stats.norm.ppf(0.975)
    for m in ("auc", "accuracy"):
        assert a[m]["se_splits"] == pytest.approx(0, abs=1e-12)
        assert b[m]["se_splits"] > 0.5 * b[m]["se_draws"]
        # wider than an interval over texts and draws alone would be on the same predictions
        without = 2 * z * np.hypot(b[m]["se_texts"], b[m]["se_draws"])
        assert b[m]["ci_high"] - b[m]["ci_low"] > 1.1 * without
        # the total is the root sum of squares of the three parts
        assert b[m]["se"] == pytest.approx(np.sqrt(b[m]["se_texts"] ** 2 + b[m]["se_splits"] ** 2
                                                   + b[m]["se_draws"] ** 2))


def test_texts_and_draws_interval_is_the_single_split_case():
    rng = np.random.default_rng(4)
    y = rng.permutation(np.arange(120) % 2)
    P = 1 / (1 + np.exp(-(rng.standard_normal((6, 120)) + y)))
    one = M.texts_and_draws_interval(y, P, ["auc", "ece"], n_boot=100, seed=3)
    many = cf.crossfit_intervals(y, P[None], ["auc", "ece"], n_boot=100, seed=3)
    for m in ("auc", "ece"):
        assert one[m]["mean"] == pytest.approx(P.shape and np.mean(M.probe_metrics_batch(y, P, metrics=[m])[m]))
        for key in ("ci_low", "ci_high", "se_texts", "se_draws"):
            assert one[m][key] == pytest.approx(many[m][key])


def test_cross_fitted_interval_covers_the_population_auc_at_its_nominal_rate():
    """Two-class synthetic data (d = 6, 160 texts): the population AUC of the fitted recipe (linear probes
    trained on 128 texts, evaluated on 20,000) is covered by the cross-fitted σ = 0 interval in a binomial
    band around 95% over 200 independent data sets."""
    d, n, reps = 6, 160, 200
    geom = axes(d, seed=11)
    rng = np.random.default_rng(0)
    X_big, y_big = two_class(20000, d, rng, class_axes=geom)
    truth = np.mean([M.roc_auc(y_big, _lda(*two_class(128, d, rng, class_axes=geom), 0)(X_big)) for _ in range(50)])
    hits = 0
    for rep in range(reps):
        X, y = two_class(n, d, rng, class_axes=geom)
        pred = cf.crossfit_sweep(X, y, _lda, folds=5, split_seeds=[0, 1], sigmas=[0.0], drift_seeds=[0],
                                 drift_types="gaussian", conventions={"gaussian": ["relative"]})
        r = cf.crossfit_intervals(y, pred.probabilities[("gaussian", "relative")][:, :, 0], ["auc"], n_boot=100,
                                  seed=rep)["auc"]
        hits += r["ci_low"] <= truth <= r["ci_high"]
    lo, hi = stats.binom.ppf([0.001, 0.999], reps, 0.95)
    assert lo <= hits <= hi, (hits, truth)


def test_minimum_detectable_difference_known_answer_and_power():
    """(z_.975 + z_.8)·√2·se; a z-test of two independent estimates with that true gap rejects 80% of the time."""
    se = 0.02
    mde = float(cf.minimum_detectable_difference(se))
    assert mde == pytest.approx((1.959964 + 0.841621) * np.sqrt(2) * se, rel=1e-5)
    assert float(cf.minimum_detectable_difference(se, correlation=0.5)) == pytest.approx(mde / np.sqrt(2))
    rng = np.random.default_rng(0)
    a = rng.normal(0.8, se, 20000)
    b = rng.normal(0.8 - mde, se, 20000)
    reject = np.abs(a - b) / (se * np.sqrt(2)) > stats.norm.ppf(0.975)
    assert reject.mean() == pytest.approx(0.8, abs=0.015)


def test_power_table_reads_the_standard_errors_of_each_design():
    paper = pd.DataFrame({"model": ["m"], "drift_type": ["gaussian"], "convention": ["relative"], "sigma": [0.0],
                          "n_texts": [120], "auc_mean": [0.8], "auc_se_texts": [0.03], "auc_se_draws": [0.04],
                          "silent_failure_share_mean": [0.7], "silent_failure_share_se_texts": [0.05],
                          "silent_failure_share_se_draws": [0.0]})
    cross = paper.assign(n_texts=600, auc_se_texts=0.015, auc_se_draws=0.0, auc_se_splits=0.0,
                         auc_se=0.015, silent_failure_share_se_texts=0.02, silent_failure_share_se_splits=0.01)
    out = cf.power_table({"paper split": paper, "cross-fitted": cross}).set_index(["design", "metric"])
    assert out.loc[("paper split", "auc"), "se"] == pytest.approx(0.05)
    assert out.loc[("cross-fitted", "auc"), "se"] == pytest.approx(0.015)  # the total `_se` is not added again
    assert out.loc[("cross-fitted", "auc"), "mde"] < out.loc[("paper split", "auc"), "mde"]
    assert out.loc[("paper split", "auc"), "mde"] == pytest.approx(float(cf.minimum_detectable_difference(0.05)))


def test_collapse_table_picks_the_sigma_nearest_one_degree():
    rows = []
    for layer, auc_at in ((6, 0.52), (12, 0.85)):
        for sigma, angle, auc in ((0.0, 0.0, 0.9), (0.01, 0.6, (0.9 + auc_at) / 2), (0.02, 1.1, auc_at),
                                  (0.05, 2.9, 0.5)):
            rows.append({"model": "m", "layer": layer, "pooling": "last_token", "drift_type": "gaussian",
                         "convention": "relative", "sigma": sigma, "angle_deg_mean": angle, "auc_mean": auc,
                         "auc_ci_low": auc - 0.03, "auc_ci_high": auc + 0.03})
    budget = pd.DataFrame({"model": ["m", "m"], "layer": [6, 12], "pooling": ["last_token"] * 2,
                           "angle_half_predicted_deg": [0.8, 9.0]})
    out = cf.collapse_table(pd.DataFrame(rows), budget).set_index("layer")
    assert (out.sigma_near_angle == 0.02).all()
    assert out.loc[6, "collapse"] and not out.loc[12, "collapse"]
    assert out.loc[6, "drop_resolved"] and not out.loc[12, "drop_resolved"]
    assert out.loc[12, "angle_half_predicted_deg"] == 9.0


def test_paired_drop_interval_against_explicit_resamples():
    """The drop's text part from index resamples scored by sklearn (each resample applied to the clean
    and the drifted scores), its draw part from the per-draw drops: an independent path to both."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(4)
    n, k = 160, 6
    y = np.r_[np.zeros(n // 2, int), np.ones(n // 2, int)]
    signal = rng.standard_normal(n) + 1.2 * y
    clean = 1 / (1 + np.exp(-signal))
    drifted = 1 / (1 + np.exp(-(signal[None] + 0.6 * rng.standard_normal((k, n)))))
    W = I.bootstrap_weights(y, 300, 9)
    out = cf.paired_drop_interval(y, np.tile(clean, (k, 1)), drifted, "auc", W=W)
    per_draw = np.array([roc_auc_score(y, clean) - roc_auc_score(y, d) for d in drifted])
    assert out["mean"] == pytest.approx(per_draw.mean(), abs=1e-12)
    boot = []
    for w in W:
        idx = np.repeat(np.arange(n), w.astype(int))
        boot.append(np.mean([roc_auc_score(y[idx], clean[idx]) - roc_auc_score(y[idx], d[idx]) for d in drifted]))
    se = np.sqrt(np.std(boot, ddof=1) ** 2 + per_draw.var(ddof=1) / k)
    assert out["se"] == pytest.approx(se, rel=1e-6)
    assert out["ci_low"] == pytest.approx(out["mean"] - 1.959964 * se, abs=1e-6)
    # paired beats separate: the unpaired intervals of the two AUCs overlap, the paired drop is above 0
    sep = {name: M.texts_and_draws_interval(y, P, ["auc"], n_boot=300, seed=9)["auc"]
           for name, P in (("clean", clean[None]), ("drifted", drifted))}
    assert sep["drifted"]["ci_high"] > sep["clean"]["ci_low"] and out["ci_low"] > 0


def test_collapse_table_uses_the_paired_drop_when_the_sweep_has_it():
    rows = []
    for layer, drop_low in ((4, 0.04), (12, -0.01)):
        for sigma, angle, auc in ((0.0, 0.0, 0.73), (0.02, 1.1, 0.64)):
            rows.append({"model": "m", "layer": layer, "pooling": "last_token", "drift_type": "gaussian",
                         "convention": "relative", "sigma": sigma, "angle_deg_mean": angle, "auc_mean": auc,
                         "auc_ci_low": auc - 0.09, "auc_ci_high": auc + 0.09, "auc_drop_mean": 0.73 - auc,
                         "auc_drop_ci_low": drop_low if sigma else 0.0, "auc_drop_ci_high": 0.15 if sigma else 0.0})
    out = cf.collapse_table(pd.DataFrame(rows)).set_index("layer")
    assert out.loc[4, "drop_resolved"] and not out.loc[12, "drop_resolved"]  # the unpaired intervals overlap at both
    assert out.loc[4, "auc_drop"] == pytest.approx(0.09)


def test_power_summary_and_layer_plot_read_the_tables():
    import matplotlib.pyplot as plt

    from probedrift.report.plots import layer_sweep
    from probedrift.report.summaries import power_summary

    paper = pd.DataFrame({"model": ["m"], "drift_type": ["gaussian"], "convention": ["relative"], "sigma": [0.0],
                          "n_texts": [120], "auc_mean": [0.8], "auc_se_texts": [0.04], "auc_se_draws": [0.0],
                          "silent_failure_share_mean": [0.7], "silent_failure_share_se_texts": [0.06],
                          "silent_failure_share_se_draws": [0.0]})
    power = cf.power_table({"paper split": paper})
    text = power_summary(power)
    mde = float(cf.minimum_detectable_difference(0.04))
    assert f"{mde:.3f}" in text and "120 texts" in text and "80% power" in text
    rows = [{"model": "m", "layer": layer, "pooling": "last_token", "drift_type": "gaussian", "convention": conv,
             "sigma": s, "angle_deg_mean": 10 * s, "auc_mean": 0.9 - s, "auc_ci_low": 0.85 - s, "auc_ci_high": 0.95 - s}
            for layer in (6, 12) for conv in ("per_dim", "relative") for s in (0.0, 0.05, 0.1)]
    fig = layer_sweep(pd.DataFrame(rows))
    assert len(fig.axes) == 2 and all(len(ax.lines) >= 2 for ax in fig.axes)
    plt.close(fig)
