"""Tests for probedrift.science.metrics: agreement with scikit-learn, hand-computed cases, calibration, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from probedrift.core.errors import ProbedriftError
from probedrift.core.intervals import aggregate_seeds, mean_t_interval
from probedrift.science.metrics import (
    METRIC_NAMES,
    bootstrap_ci,
    confidence,
    expected_calibration_error,
    high_confidence_accuracy,
    predictions,
    probe_metrics,
    probe_metrics_batch,
    reliability_table,
    roc_auc,
    roc_auc_batch,
    silent_failure_rate,
    silent_failure_share,
)

SETTINGS = settings(deadline=None, max_examples=25, derandomize=True)


def _labels_probs(seed: int, n: int, rows: int = 1, round_to: int | None = None):
    """Random labels with both classes and probabilities (optionally rounded, to create ties)."""
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    P = rng.random((rows, n))
    if round_to is not None:
        P = np.round(P, round_to)
    return y, P


# --------------------------------------------------------------------------- hand-computed cases


def test_small_case_by_hand():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.35, 0.9])
    # positive-negative pairs ranked correctly: (.35>.1), (.9>.1), (.9>.6); wrong: (.35<.6) -> 3/4
    assert roc_auc(y, p) == pytest.approx(0.75)
    m = probe_metrics(y, p)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["f1"] == pytest.approx(0.5)  # tp=1, fp=1, fn=1
    assert m["mean_confidence"] == pytest.approx((0.9 + 0.6 + 0.65 + 0.9) / 4)
    assert m["mean_confidence_correct"] == pytest.approx(0.9)
    assert m["mean_confidence_wrong"] == pytest.approx((0.6 + 0.65) / 2)


def test_confidence_and_predictions():
    p = np.array([0.0, 0.2, 0.5, 0.7, 1.0])
    np.testing.assert_allclose(confidence(p), [1.0, 0.8, 0.5, 0.7, 1.0])
    np.testing.assert_array_equal(predictions(p), [0, 0, 1, 1, 1])


def test_silent_failure_figures_on_crafted_example():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.95, 0.1, 0.3, 0.15, 0.05, 0.9, 0.6, 0.2, 0.4, 0.8])
    # errors at 1, 2, 3, 5, 6, 9 (6); confident (>= 0.8) among them: 1, 3, 5, 9 (the last exactly 0.8)
    assert silent_failure_share(y, p, tau=0.8) == pytest.approx(4 / 6)
    assert silent_failure_rate(y, p, tau=0.8) == pytest.approx(4 / 10)
    # confident samples: 0, 1, 3, 4, 5, 7, 9; correct among them: 0, 4, 7
    assert high_confidence_accuracy(y, p, tau=0.8) == pytest.approx(3 / 7)
    # a stricter threshold drops the boundary case and the 0.85 one
    assert silent_failure_share(y, p, tau=0.88) == pytest.approx(2 / 6)


def test_silent_failure_share_is_nan_without_errors():
    y = np.array([0, 1, 0, 1])
    p = np.array([0.1, 0.9, 0.3, 0.7])
    assert np.isnan(silent_failure_share(y, p))
    assert silent_failure_rate(y, p) == 0.0


@pytest.mark.parametrize("tau", [0.5, 1.0, 0.3, 1.2])
def test_tau_outside_open_interval_is_rejected(tau):
    y, P = _labels_probs(0, 10)
    with pytest.raises(ProbedriftError, match="tau"):
        silent_failure_share(y, P[0], tau)
    with pytest.raises(ProbedriftError, match="tau"):
        silent_failure_rate(y, P[0], tau)


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 2, 1], [0.1, 0.2, 0.3], "binary"),
        ([0, 1, 1], [0.1, 1.2, 0.3], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, np.nan, 0.3], r"\[0, 1\]"),
        ([0, 1, 1], [0.1, 0.2], "same length"),
    ],
)
def test_bad_inputs_raise_clear_errors(y, p, match):
    with pytest.raises(ProbedriftError, match=match):
        probe_metrics(y, p)


def test_auc_needs_both_classes():
    with pytest.raises(ProbedriftError, match="both classes"):
        roc_auc([1, 1, 1], [0.2, 0.5, 0.9])
    assert np.isnan(roc_auc_batch([1, 1, 1], np.array([[0.2, 0.5, 0.9]]))[0])


# --------------------------------------------------------------------------- scikit-learn agreement


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(4, 300), round_to=st.sampled_from([None, 1, 2]))
def test_auc_accuracy_f1_agree_with_sklearn(seed, n, round_to):
    y, P = _labels_probs(seed, n, rows=3, round_to=round_to)
    batch = roc_auc_batch(y, P)
    for row in range(P.shape[0]):
        p = P[row]
        assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        assert batch[row] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
        m = probe_metrics(y, p)
        pred = (p >= 0.5).astype(int)
        assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
        assert m["f1"] == pytest.approx(f1_score(y, pred, zero_division=0.0))


def _reference_metrics(y, p, tau: float, bins: int) -> dict[str, float]:
    """Silent failure, high-confidence accuracy and ECE by plain loops over the samples, from the
    definitions (paper §3): confidence max(p, 1 − p), prediction [p ≥ 0.5], equal-width bins on
    [0.5, 1] with edges e_k = 0.5 + k·0.5/bins, a sample in the last bin whose left edge it reaches."""
    edges = np.linspace(0.5, 1.0, bins + 1)
    n_wrong = n_silent = n_confident = n_confident_right = 0
    count, conf_sum, right_sum = [0] * bins, [0.0] * bins, [0.0] * bins
    for label, prob in zip(y.tolist(), p.tolist()):
        conf = max(prob, 1.0 - prob)
        right = int(prob >= 0.5) == label
        n_wrong += not right
        if conf >= tau:
            n_confident += 1
            n_confident_right += right
            n_silent += not right
        k = max(j for j in range(bins) if conf >= edges[j])
        count[k] += 1
        conf_sum[k] += conf
        right_sum[k] += right
    nan = float("nan")
    ece = sum(abs(right_sum[k] - conf_sum[k]) for k in range(bins) if count[k]) / len(p)
    return {
        "silent_failure_share": n_silent / n_wrong if n_wrong else nan,
        "silent_failure_rate": n_silent / len(p),
        "high_confidence_accuracy": n_confident_right / n_confident if n_confident else nan,
        "ece": ece,
    }


def test_ece_by_hand():
    y = np.array([1, 0, 1, 1, 0])
    p = np.array([0.95, 0.15, 0.55, 0.72, 0.62])
    # confidences 0.95, 0.85, 0.55, 0.72, 0.62, one per bin of width 0.1; only the 0.62 one is wrong:
    # (|1 − .55| + |0 − .62| + |1 − .72| + |1 − .85| + |1 − .95|) / 5 = 1.55 / 5
    assert expected_calibration_error(y, p) == pytest.approx(0.31, abs=1e-12)
    assert probe_metrics_batch(y, p[None])["ece"][0] == pytest.approx(0.31, abs=1e-12)
    # two bins of width 0.25: [0.5, 0.75) holds .55 (right), .62 (wrong), .72 (right); [0.75, 1] the rest
    assert expected_calibration_error(y, p, bins=2) == pytest.approx(
        (abs(2 - (0.55 + 0.62 + 0.72)) + abs(2 - (0.85 + 0.95))) / 5, abs=1e-12
    )


@SETTINGS
@given(seed=st.integers(0, 10_000), n=st.integers(4, 200), round_to=st.sampled_from([None, 1]))
def test_batch_metrics_equal_per_row_metrics(seed, n, round_to):
    y, P = _labels_probs(seed, n, rows=4, round_to=round_to)
    P[1] = np.where(y == 1, 0.97, 0.02)  # a perfect row: no errors, share undefined
    batch = probe_metrics_batch(y, P, tau=0.8, ece_bins=5)
    assert list(batch) == list(METRIC_NAMES)
    for row in range(P.shape[0]):
        single = probe_metrics(y, P[row], tau=0.8, ece_bins=5)
        for name in METRIC_NAMES:
            np.testing.assert_allclose(batch[name][row], single[name], atol=1e-12, equal_nan=True)
        # the figures that share the module's kernels are checked against plain loops
        for name, value in _reference_metrics(y, P[row], 0.8, 5).items():
            np.testing.assert_allclose(batch[name][row], value, atol=1e-12, equal_nan=True, err_msg=name)
            np.testing.assert_allclose(single[name], value, atol=1e-12, equal_nan=True, err_msg=name)


def test_batch_accepts_per_row_labels():
    y, P = _labels_probs(3, 50, rows=2)
    Y = np.stack([y, 1 - y])
    out = roc_auc_batch(Y, P)
    assert out[0] == pytest.approx(roc_auc_score(y, P[0]))
    assert out[1] == pytest.approx(roc_auc_score(1 - y, P[1]))


# --------------------------------------------------------------------------- calibration


def test_ece_near_zero_for_calibrated_and_large_for_overconfident():
    rng = np.random.default_rng(0)
    p = rng.random(100_000)
    y_calibrated = (rng.random(p.size) < p).astype(int)
    assert expected_calibration_error(y_calibrated, p) < 0.02
    # true probability is pulled halfway to 0.5, but the probe reports p: overconfident
    y_over = (rng.random(p.size) < 0.5 + 0.5 * (p - 0.5)).astype(int)
    ece_over = expected_calibration_error(y_over, p)
    assert ece_over > 0.08
    assert high_confidence_accuracy(y_over, p, 0.9) < 0.8


def test_reliability_table_matches_ece():
    y, P = _labels_probs(5, 500)
    table = reliability_table(y, P[0], bins=5)
    assert list(table.columns) == ["bin_low", "bin_high", "count", "mean_confidence", "accuracy"]
    assert table["count"].sum() == 500
    np.testing.assert_allclose(table["bin_low"], [0.5, 0.6, 0.7, 0.8, 0.9])
    filled = table[table["count"] > 0]
    ece = (filled["count"] / 500 * (filled["accuracy"] - filled["mean_confidence"]).abs()).sum()
    assert expected_calibration_error(y, P[0], bins=5) == pytest.approx(ece, abs=1e-12)
    assert filled["mean_confidence"].between(filled["bin_low"], filled["bin_high"]).all()


def test_ece_confidence_range_and_bin_errors():
    y, P = _labels_probs(6, 300)
    wide = reliability_table(y, P[0], bins=10, confidence_range=(0.0, 1.0))
    assert wide["count"].iloc[:5].sum() == 0  # max-class confidence never falls below 0.5
    with pytest.raises(ProbedriftError, match="confidence_range"):
        expected_calibration_error(y, P[0], confidence_range=(0.7, 0.6))
    with pytest.raises(ProbedriftError, match="bins"):
        expected_calibration_error(y, P[0], bins=0)


# --------------------------------------------------------------------------- intervals


def _noisy_probe(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    p = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.standard_normal(n))))
    return y, p


def test_bootstrap_ci_contains_value_and_narrows_with_n():
    widths = {}
    for n in (200, 3200):
        y, p = _noisy_probe(n, seed=1)
        for metric in ("auc", "accuracy", "ece"):
            value, lo, hi = bootstrap_ci(metric, y, p, n_boot=300, seed=0)
            assert lo <= value <= hi
            widths[metric, n] = hi - lo
    for metric in ("auc", "accuracy"):
        # width shrinks like 1/sqrt(n): a 16x larger set gives about a 4x narrower interval
        assert widths[metric, 3200] < 0.5 * widths[metric, 200]


def test_bootstrap_auc_interval_covers_the_population_auc():
    # scores N(+0.5, 1) for positives and N(−0.5, 1) for negatives: population AUC = Φ(1/√2) ≈ 0.760.
    # A 95% interval should cover it in about 95% of independent samples. The percentile bootstrap
    # under-covers slightly at n = 200, so the acceptance region is the 99.9% binomial range of
    # coverage 0.93 below and of 0.95 above; a twice-too-narrow interval (coverage ≈ 0.66) or a
    # much too wide one (≈ 1.0) falls outside it.
    truth = stats.norm.cdf(1 / np.sqrt(2))
    reps = 300
    hits = 0
    for rep in range(reps):
        rng = np.random.default_rng(1000 + rep)
        y = rng.permutation(np.arange(200) % 2)
        p = 1 / (1 + np.exp(-(0.5 * (2 * y - 1) + rng.standard_normal(200))))
        _, lo, hi = bootstrap_ci("auc", y, p, n_boot=300, seed=rep)
        hits += lo <= truth <= hi
    assert stats.binom.ppf(0.0005, reps, 0.93) <= hits <= stats.binom.ppf(0.9995, reps, 0.95)


def test_bootstrap_callable_matches_named_metric():
    y, p = _noisy_probe(300, seed=2)
    named = bootstrap_ci("accuracy", y, p, n_boot=200, seed=4)
    fn = bootstrap_ci(lambda yy, pp: accuracy_score(yy, pp >= 0.5), y, p, n_boot=200, seed=4)
    np.testing.assert_allclose(named, fn, atol=1e-12)
    assert bootstrap_ci("auc", y, p, n_boot=200, seed=4) != bootstrap_ci("auc", y, p, n_boot=200, seed=5)


def test_bootstrap_rejects_bad_arguments():
    y, p = _noisy_probe(50, seed=3)
    with pytest.raises(ProbedriftError, match="unknown metric"):
        bootstrap_ci("precision", y, p)
    with pytest.raises(ProbedriftError, match="level"):
        bootstrap_ci("auc", y, p, level=1.5)


def test_aggregate_seeds_student_t_interval():
    df = pd.DataFrame(
        {
            "drift_type": ["a"] * 3 + ["b"],
            "sigma": [0.1] * 4,
            "seed": [0, 1, 2, 0],
            "auc": [0.6, 0.7, 0.8, 0.55],
            "ece": [0.1, np.nan, 0.3, 0.2],
        }
    )
    out = aggregate_seeds(df, ["drift_type", "sigma"], ["auc", "ece"]).set_index("drift_type")
    lo, hi = stats.t.interval(0.95, 2, loc=0.7, scale=np.std([0.6, 0.7, 0.8], ddof=1) / np.sqrt(3))
    assert out.loc["a", "auc_mean"] == pytest.approx(0.7)
    assert out.loc["a", "auc_ci_low"] == pytest.approx(lo)
    assert out.loc["a", "auc_ci_high"] == pytest.approx(hi)
    assert out.loc["a", "n_seeds"] == 3
    # NaN seeds are skipped: two defined values
    lo2, hi2 = stats.t.interval(0.95, 1, loc=0.2, scale=np.std([0.1, 0.3], ddof=1) / np.sqrt(2))
    assert out.loc["a", "ece_ci_low"] == pytest.approx(lo2)
    assert out.loc["a", "ece_ci_high"] == pytest.approx(hi2)
    # one seed: the mean is the value, n_seeds says there is a single seed, and no spread is
    # invented (the bounds are undefined or sit on the value, never a made-up width)
    assert out.loc["b", "n_seeds"] == 1
    assert out.loc["b", "auc_mean"] == pytest.approx(0.55)
    lo_b, hi_b = out.loc["b", "auc_ci_low"], out.loc["b", "auc_ci_high"]
    assert (np.isnan(lo_b) and np.isnan(hi_b)) or lo_b == hi_b == pytest.approx(0.55)
    # a higher level gives a wider interval
    wide = aggregate_seeds(df, "drift_type", ["auc"], level=0.99).set_index("drift_type")
    assert wide.loc["a", "auc_ci_high"] > hi


def test_aggregate_seeds_defaults_and_errors():
    df = pd.DataFrame({"g": ["x", "x"], "seed": [0, 1], "auc": [0.5, 0.7], "label": ["p", "q"]})
    out = aggregate_seeds(df, "g")
    assert {"auc_mean", "auc_ci_low", "auc_ci_high", "n_seeds"} <= set(out.columns)
    assert not any(c.startswith(("seed_", "label_")) for c in out.columns)
    with pytest.raises(ProbedriftError, match="not in the table"):
        aggregate_seeds(df, "g", ["f1"])


def test_aggregate_seeds_counts_only_seeds_where_the_metric_is_defined():
    """A seed whose metric is NaN (e.g. no errors for the silent-failure share) is not a seed of its interval."""
    rng = np.random.default_rng(3)
    share = rng.uniform(0.4, 0.9, 8)
    share[[1, 4, 6]] = np.nan
    auc = rng.uniform(0.6, 0.9, 8)
    df = pd.DataFrame({"g": "x", "seed": range(8), "auc": auc, "silent_failure_share": share})
    df.loc[7, "auc"] = np.nan
    df.loc[7, "silent_failure_share"] = np.nan  # a seed with nothing defined
    out = aggregate_seeds(df, "g", ["auc", "silent_failure_share"]).iloc[0]
    assert out["silent_failure_share_n"] == 4 and out["auc_n"] == 7 and out["n_seeds"] == 7
    # the interval's k is the defined count: a t-interval over the 4 defined values, independently computed
    vals = df["silent_failure_share"].dropna().to_numpy()
    lo, hi = stats.t.interval(0.95, vals.size - 1, loc=vals.mean(), scale=vals.std(ddof=1) / np.sqrt(vals.size))
    assert out["silent_failure_share_ci_low"] == pytest.approx(lo)
    assert out["silent_failure_share_ci_high"] == pytest.approx(hi)


def test_mean_t_interval_matches_the_textbook_value():
    """[1, 2, 3]: mean 2, s = 1, t(0.975, 2) = 4.3027, half-width 4.3027 / √3 = 2.4841; NaNs are skipped."""
    m, lo, hi = mean_t_interval([1.0, np.nan, 2.0, 3.0])
    assert m == 2.0 and lo == pytest.approx(2 - 2.48414, abs=1e-4) and hi == pytest.approx(2 + 2.48414, abs=1e-4)
    one = mean_t_interval([5.0])
    assert one[0] == 5.0 and np.isnan(one[1]) and np.isnan(one[2])
    assert all(np.isnan(v) for v in mean_t_interval([np.nan]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_weights_equal_the_metric_on_rows_repeated_that_many_times(seed):
    """Text i with weight w_i counts as w_i copies of it: every weighted metric equals scikit-learn's (or
    the direct) value on the explicitly repeated texts, weight 0 dropping a text."""
    from probedrift.science.metrics import weighted_metrics

    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(60) % 2)
    P = 1 / (1 + np.exp(-(2 * rng.standard_normal((3, 60)) + 1.5 * y)))
    P[1] = np.round(P[1], 1)  # ties, and confidences on the bin edges
    W = rng.integers(0, 4, size=(5, 60)).astype(float)
    W[:, :2] = 1  # texts 0 and 1 (one of each class) always kept
    got = weighted_metrics(y, P, W, tau=0.8, ece_bins=5)
    for b in range(W.shape[0]):
        rep = np.repeat(np.arange(60), W[b].astype(int))
        yr = y[rep]
        for r in range(P.shape[0]):
            pr = P[r][rep]
            pred = (pr >= 0.5).astype(int)
            conf = np.maximum(pr, 1 - pr)
            ok, high = pred == yr, conf >= 0.8
            bins = np.digitize(conf, 0.5 + 0.1 * np.arange(1, 5))  # [0.5, 0.6), ..., [0.9, 1]
            ece = sum(abs(ok[bins == m].sum() - conf[bins == m].sum()) for m in range(5)) / yr.size
            expected = {
                "auc": roc_auc_score(yr, pr), "accuracy": accuracy_score(yr, pred),
                "f1": f1_score(yr, pred, zero_division=0.0), "mean_confidence": conf.mean(),
                "mean_confidence_correct": conf[ok].mean() if ok.any() else np.nan,
                "mean_confidence_wrong": conf[~ok].mean() if (~ok).any() else np.nan,
                "silent_failure_share": (high & ~ok).sum() / (~ok).sum() if (~ok).any() else np.nan,
                "silent_failure_rate": (high & ~ok).mean(), "ece": ece,
                "high_confidence_accuracy": (high & ok).sum() / high.sum() if high.any() else np.nan,
            }
            assert set(expected) == set(METRIC_NAMES)
            for name, value in expected.items():
                np.testing.assert_allclose(got[name][b, r], value, rtol=0, atol=1e-12, err_msg=name)


def test_unit_weights_give_the_unweighted_metrics():
    from probedrift.science.metrics import weighted_metrics

    y, P = _labels_probs(5, 80, rows=4, round_to=2)
    got = weighted_metrics(y, P, np.ones((1, 80)))
    ref = probe_metrics_batch(y, P)
    for name in METRIC_NAMES:
        np.testing.assert_allclose(got[name][0], ref[name], rtol=0, atol=1e-12, err_msg=name)


def test_every_metric_is_registered_once_and_the_sweep_reports_the_default_ones():
    from probedrift.science.metrics import METRICS, SWEEP_METRICS

    assert METRIC_NAMES == METRICS.names() and len(set(METRIC_NAMES)) == len(METRIC_NAMES) == 10
    assert SWEEP_METRICS == ("auc", "accuracy", "f1", "mean_confidence", "silent_failure_share",
                             "silent_failure_rate", "ece")
