"""First alarms over drift seeds with family-wise control over the σ grid, and the no-drift false-alarm table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from probedrift.core.intervals import clopper_pearson
from probedrift.report import tables
from probedrift.science.detectors import KSDetector, MeanCosineDetector
from probedrift.science.false_alarms import FALSE_ALARM_COLUMNS, NullDesign, false_alarm_table
from probedrift.science.two_sample import ks_columns

SIGMAS = np.r_[0.0, np.linspace(0.01, 0.15, 9)]  # K = 10 points, σ = 0 included


def detector_frame(p: np.ndarray, detector: str = "mmd", alarm: np.ndarray | None = None) -> pd.DataFrame:
    """A detector table of one model/type/convention: p[seed, σ index] over :data:`SIGMAS`."""
    seeds, k = p.shape
    return pd.DataFrame({
        "model": "m", "drift_type": "gaussian", "convention": "per_dim",
        "sigma": np.tile(SIGMAS[:k], seeds), "seed": np.repeat(np.arange(seeds), k),
        "angle_deg_mean": np.tile(10 * SIGMAS[:k], seeds), "detector": detector, "statistic": 0.0,
        "p_value": p.ravel(), "alarm": (p.ravel() < 0.05) if alarm is None else alarm.ravel()})


@pytest.mark.parametrize("correction", ["bonferroni", "holm"])
def test_family_wise_false_alarms_over_the_grid_stay_below_alpha(correction):
    # a detector that alarms by chance at rate α per test: uniform p-values, nothing drifted
    n, alpha = 4000, 0.05
    p = np.random.default_rng(1).random((n, len(SIGMAS)))
    out = tables.first_alarms(detector_frame(p), pd.DataFrame(), alpha=alpha, correction=correction).iloc[0]
    assert out["n_seeds"] == n and out["n_sigmas"] == len(SIGMAS)
    # independent tests: FWER = 1 − (1 − α/K)^K ≈ 0.049; allow binomial noise above α only
    bound = scipy.stats.binom.ppf(0.999, n, alpha) / n
    assert out["share_seeds_any_alarm"] <= bound
    assert out["share_seeds_any_alarm"] > 0.03  # and not so conservative that it never alarms
    plain = tables.first_alarms(detector_frame(p), pd.DataFrame(), alpha=alpha, correction="none").iloc[0]
    assert plain["share_seeds_any_alarm"] == pytest.approx(1 - (1 - alpha) ** len(SIGMAS), abs=0.03)


def test_bonferroni_level_is_alpha_over_the_grid_size():
    k = len(SIGMAS)
    p = np.full((2, k), 0.5)
    p[0, 3] = 0.9 * 0.05 / k   # below α/K: an alarm
    p[1, 3] = 1.1 * 0.05 / k   # above α/K but below α: no alarm once corrected
    out = tables.grid_alarms(detector_frame(p), alpha=0.05)
    assert out["alarm_fw"].sum() == 1 and out.loc[3, "alarm_fw"]
    assert (out["n_sigmas"] == k).all()


def test_first_alarm_per_seed_median_and_range_match_the_planted_answer():
    rng = np.random.default_rng(4)
    seeds, k = 9, len(SIGMAS)
    first = rng.integers(1, k, size=seeds)
    first[:2] = k  # two seeds never alarm
    p = np.where(np.arange(k)[None, :] >= first[:, None], 1e-9, 0.9)
    cliffs = pd.DataFrame({"model": ["m"], "drift_type": ["gaussian"], "convention": ["per_dim"],
                           "sigma_5pt": [0.05], "angle_deg_5pt": [0.5]})
    out = tables.first_alarms(detector_frame(p), cliffs).iloc[0]
    expected = np.where(first < k, SIGMAS[np.minimum(first, k - 1)], np.inf)
    assert out["first_alarm_sigma"] == pytest.approx(np.median(expected))
    assert out["first_alarm_sigma_min"] == pytest.approx(expected[2:].min())
    assert out["first_alarm_sigma_max"] == pytest.approx(expected[2:].max())
    assert out["first_alarm_angle_deg"] == pytest.approx(10 * np.median(expected))
    assert out["share_seeds_alarmed"] == pytest.approx(7 / 9)
    assert out["false_alarm_share_at_zero"] == 0 and out["sigma_5pt"] == 0.05
    share = tables.alarm_share_by_sigma(detector_frame(p))
    assert share["share_alarmed"].tolist() == pytest.approx([(first <= i).mean() for i in range(k)])


def test_threshold_monitor_keeps_its_own_alarm_and_most_seeds_silent_give_nan():
    k = len(SIGMAS)
    p = np.full((3, k), 1e-9)  # its p-value is for information only
    alarm = np.zeros((3, k), dtype=bool)
    alarm[0, 5:] = True
    out = tables.first_alarms(detector_frame(p, "confidence", alarm), pd.DataFrame()).iloc[0]
    assert np.isnan(out["alpha_per_test"])
    assert np.isnan(out["first_alarm_sigma"])  # 2 of 3 seeds never alarm: the median is beyond the grid
    assert (out["first_alarm_sigma_min"] == pytest.approx(SIGMAS[5])
            and out["share_seeds_alarmed"] == pytest.approx(1 / 3))


# ----------------------------------------------------------------------------- false alarms


def test_ks_columns_equal_scipy_with_and_without_ties():
    rng = np.random.default_rng(0)
    for trial in range(8):
        n, m, d = rng.integers(5, 120, size=3)
        x = rng.standard_normal((n, d))
        y = rng.standard_normal((m, d)) + 0.2 * rng.standard_normal(d)
        if trial % 2:
            x, y = np.round(x, 1), np.round(y, 1)
        ref = scipy.stats.ks_2samp(x, y, axis=0)
        stat, p = ks_columns(x, y)
        np.testing.assert_allclose(stat, ref.statistic, rtol=0, atol=1e-12)
        np.testing.assert_allclose(p, ref.pvalue, rtol=1e-12, atol=0)
        # a second call reads the remembered p-values; float32 columns sort to the same answer
        stat32, p32 = ks_columns(x.astype(np.float32), y.astype(np.float32))
        ref32 = scipy.stats.ks_2samp(x.astype(np.float32), y.astype(np.float32), axis=0)
        np.testing.assert_allclose(stat32, ref32.statistic, rtol=0, atol=1e-12)
        np.testing.assert_allclose(p32, ref32.pvalue, rtol=1e-12, atol=0)


def test_false_alarm_table_rates_and_clopper_pearson_intervals():
    rng = np.random.default_rng(7)
    pool = rng.standard_normal((300, 8))
    shifted = pool + 1.0  # a drifted "held-out" pool: the rate must be power, not α
    factories = {"mean_cosine": lambda: MeanCosineDetector(n_permutations=99, seed=1),
                 "ks": lambda: KSDetector(alpha=0.05)}
    designs = {"mean_cosine": NullDesign(pool, pool, 40, 40), "ks": NullDesign(pool, pool, 40, 40)}
    out = false_alarm_table(factories, designs, n_runs=200, seed=3, model="toy", design="pooled")
    assert (out["design"] == "pooled").all()
    assert list(out.columns) == FALSE_ALARM_COLUMNS
    for r in out.itertuples():
        # exchangeable draws: a valid level-α test alarms at most α up to binomial noise
        assert r.n_alarms <= scipy.stats.binom.ppf(0.999, r.n_runs, 0.05)
        assert (r.ci_low, r.ci_high) == pytest.approx(
            tuple(scipy.stats.beta.ppf([0.025, 0.975], [r.n_alarms, r.n_alarms + 1],
                                       [r.n_runs - r.n_alarms + 1, r.n_runs - r.n_alarms]).clip(0, 1)), abs=1e-9)
    assert out.set_index("detector").loc["mean_cosine", "n_permutations"] == 99
    drifted = false_alarm_table({"ks": factories["ks"]}, {"ks": NullDesign(pool, shifted, 40, 40)}, n_runs=20)
    assert drifted["rate"].iloc[0] > 0.9
    assert clopper_pearson(0, 200)[0] == 0.0 and clopper_pearson(200, 200)[1] == 1.0


def test_clustered_rate_interval_without_between_cluster_spread_is_clopper_pearson_at_the_t_corrected_size():
    """Every cluster alarms at exactly the overall rate: no design effect, and the interval is the beta-quantile
    (Clopper–Pearson) interval of x* = p̂n* in n* = n·(t_{n−1}/t_{G−1})² trials (Korn–Graubard)."""
    from probedrift.core.intervals import clustered_rate_interval

    k, n_g = np.full(10, 2), np.full(10, 40)
    out = clustered_rate_interval(k, n_g)
    n_star = 400 * (scipy.stats.t.ppf(0.975, 399) / scipy.stats.t.ppf(0.975, 9)) ** 2
    x = 0.05 * n_star
    assert out["design_effect"] == 1.0 and out["n_effective"] == pytest.approx(n_star)
    assert out["ci_low"] == pytest.approx(scipy.stats.beta.ppf(0.025, x, n_star - x + 1))
    assert out["ci_high"] == pytest.approx(scipy.stats.beta.ppf(0.975, x + 1, n_star - x))
    assert clustered_rate_interval([0, 0, 0], [50, 50, 50])["ci_low"] == 0.0


def test_clustered_interval_covers_the_mean_rate_when_pools_differ_and_runs_counted_independent_do_not():
    """Pools with their own no-drift rate p_g ~ Beta(1, 19) (mean 0.05): 20 pools × 20 runs. Over 400 studies
    the clustered interval covers 0.05 at about its nominal rate (≥ 90%); Clopper–Pearson over the 400
    runs, as if independent, covers it markedly less often."""
    from probedrift.core.intervals import clustered_rate_interval

    rng = np.random.default_rng(11)
    hit_clustered = hit_naive = 0
    for _ in range(400):
        k = rng.binomial(20, rng.beta(1, 19, size=20))
        ci = clustered_rate_interval(k, np.full(20, 20))
        hit_clustered += ci["ci_low"] <= 0.05 <= ci["ci_high"]
        lo, hi = clopper_pearson(int(k.sum()), 400)
        hit_naive += lo <= 0.05 <= hi
    assert hit_clustered / 400 >= 0.90, hit_clustered
    assert hit_naive < hit_clustered - 20, (hit_naive, hit_clustered)


def test_false_alarm_table_spreads_runs_over_pools_and_widens_the_interval_by_their_spread():
    """Four pool pairs, two of them with a shifted sample part: the KS monitor alarms in those two only, so
    runs differ by pool, the design effect exceeds 1 and the interval is wider than Clopper–Pearson's."""
    rng = np.random.default_rng(12)
    X = rng.standard_normal((400, 4))
    X[300:] += 0.8  # rows 300..399 are shifted
    clean = np.arange(0, 100), np.arange(100, 200)
    shifted = np.arange(0, 100), np.arange(300, 400)
    clusters = (clean, shifted, (np.arange(100, 200), np.arange(200, 300)), shifted)
    design = NullDesign(X, X, 40, 40, clusters=clusters)
    out = false_alarm_table({"ks": lambda: KSDetector(alpha=0.05)}, {"ks": design}, n_runs=80, seed=1,
                            design="split").iloc[0]
    assert out.n_pools == 4 and out.design_effect > 1
    assert 0.3 < out.rate < 0.7  # half the runs drew a shifted sample
    lo, hi = clopper_pearson(int(out.n_alarms), 80)
    assert out.ci_high - out.ci_low > hi - lo
    assert "pool" in out.interval
    with pytest.raises(Exception, match="two pool pairs"):
        false_alarm_table({"ks": lambda: KSDetector()}, {"ks": NullDesign(X, X, 40, 40, clusters=(clean,))},
                          n_runs=10)


def test_log_grid_columns_count_the_seeds_whose_first_alarm_precedes_the_5_point_cliff():
    """Planted first alarms at σ indices 2, 3, 5, 7 (angles 10σ) against a 5-point cliff at 0.6°: the first two
    seeds alarm before it (0.256°, 0.411°), the others after (0.722°, 1.033°); the linear table's own columns
    are kept and the log ones added beside them."""
    from probedrift.experiments.monitors import LOG_GRID_COLUMNS, _with_log_grid

    first = [2, 3, 5, 7]
    p = np.full((4, len(SIGMAS)), 0.5)
    for s, j in enumerate(first):
        p[s, j:] = 1e-4
    log = detector_frame(p)
    cliffs = pd.DataFrame({"model": ["m"], "drift_type": ["gaussian"], "convention": ["per_dim"], "sigma_5pt": [0.06],
                           "angle_deg_5pt": [0.6], "sigma_20pt": [np.nan], "angle_deg_20pt": [np.nan]})
    linear = tables.first_alarms(detector_frame(np.full((4, len(SIGMAS)), 0.5)), pd.DataFrame())
    out = _with_log_grid(linear, log, cliffs, alpha=0.05).iloc[0]
    assert set(LOG_GRID_COLUMNS) <= set(out.index) and out.share_seeds_alarmed == 0.0
    assert out.log_share_seeds_alarm_before_5pt == pytest.approx(0.5)
    assert out.log_first_alarm_angle_deg_min == pytest.approx(10 * SIGMAS[2])
    assert out.log_first_alarm_angle_deg_max == pytest.approx(10 * SIGMAS[7])
    assert out.log_angle_deg_5pt == 0.6 and out.log_n_sigmas == len(SIGMAS)
    empty = _with_log_grid(linear, log.iloc[0:0], cliffs, alpha=0.05).iloc[0]
    assert np.isnan(empty.log_share_seeds_alarm_before_5pt)
