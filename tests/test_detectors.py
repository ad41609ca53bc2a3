"""Drift detectors: level under no drift, power under a clear shift, MMD against torchdrift, rotations."""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score
from torchdrift.detectors.mmd import GaussianKernel, kernel_mmd

from probedrift.core.errors import ProbedriftError
from probedrift.inputs.synthetic import two_class
from probedrift.science.detectors import (
    DETECTORS,
    ConfidenceMonitor,
    DetectorResult,
    DomainClassifierDetector,
    KSDetector,
    MeanCosineDetector,
    MMDDetector,
    make_detector,
)
from probedrift.science.probes import LinearProbe
from probedrift.science.two_sample import mmd_permutation_test


def linear_proba(d: int, scale: float = 3.0, seed: int = 99):
    """A fixed logistic scorer along a random unit direction w, p(y=1|x) = sigmoid(scale · w·x)."""
    w = np.random.default_rng(seed).standard_normal(d)
    w /= np.linalg.norm(w)
    return w, lambda X: 1.0 / (1.0 + np.exp(-scale * (np.asarray(X, np.float64) @ w)))


def build(name: str, d: int, scale: float = 3.0, **kw):
    if name == "confidence":
        return make_detector(name, predict_proba=linear_proba(d, scale)[1], **kw)
    return make_detector(name, **kw)


ALPHA = 0.05
NULL_RUNS = 400


def accepts(name: str, parameter: str) -> bool:
    return parameter in inspect.signature(DETECTORS.get(name).cls).parameters


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_no_drift_alarm_rate_stays_near_alpha(name):
    """Reference and sample from one distribution in each of NULL_RUNS independent runs: a detector at
    level α alarms in a Binomial(NULL_RUNS, α) number of them (or fewer, if conservative). Fail when
    the count exceeds that law's upper 99.9% quantile: 35 of 400 (0.0875), so a detector whose true
    false-alarm rate were 0.1 fails about three times in four."""
    d, n = 8, 40
    alarms = 0
    for seed in range(NULL_RUNS):
        rng = np.random.default_rng(seed)
        ref = rng.standard_normal((n, d)).astype(np.float32) + 1.0
        sample = rng.standard_normal((n, d)).astype(np.float32) + 1.0
        kw = {key: value for key, value in (("seed", seed), ("alpha", ALPHA)) if accepts(name, key)}
        alarms += build(name, d, **kw).fit(ref).test(sample).alarm
    bound = scipy.stats.binom.ppf(0.999, NULL_RUNS, ALPHA)
    assert alarms <= bound, f"{name}: {alarms} false alarms in {NULL_RUNS} runs, bound {bound:.0f} at alpha {ALPHA}"


@pytest.fixture(scope="module")
def big_shift():
    """500 vs 500 embeddings of width 1024; the sample is shifted along a random unit direction."""
    d = 1024
    rng = np.random.default_rng(0)
    ref = rng.standard_normal((500, d)).astype(np.float32) / np.sqrt(d) + 0.05
    sample = rng.standard_normal((500, d)).astype(np.float32) / np.sqrt(d) + 0.05
    v = rng.standard_normal(d)
    v /= np.linalg.norm(v)
    w, _ = linear_proba(d)
    # the shift moves every point by 0.3 along v; for the confidence monitor it also pulls the
    # scorer's logit towards zero (points slide onto its decision boundary)
    shifted = sample + 0.3 * v.astype(np.float32)
    shifted = shifted - 0.9 * np.outer(shifted @ w, w).astype(np.float32)
    return ref, sample, shifted


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_clear_shift_alarms_and_no_shift_does_not(name, big_shift, record_property):
    ref, same, shifted = big_shift
    # the scorer's logits have sd 3 on the reference (coordinates have sd 1/√d)
    det = build(name, ref.shape[1], scale=3.0 * np.sqrt(ref.shape[1])).fit(ref)
    start = time.perf_counter()
    drifted = det.test(shifted)
    record_property("seconds_500x500x1024", round(time.perf_counter() - start, 3))
    assert isinstance(drifted, DetectorResult)
    assert drifted.alarm, drifted
    assert not det.test(same).alarm
    if name != "confidence":
        assert drifted.p_value < 0.01


def test_results_are_deterministic(big_shift):
    ref, same, _ = big_shift
    for name in DETECTORS:
        det = build(name, ref.shape[1]).fit(ref)
        a, b = det.test(same), det.test(same)
        assert a.statistic == b.statistic
        assert a.p_value == b.p_value or (np.isnan(a.p_value) and np.isnan(b.p_value))


def test_mmd_agrees_with_torchdrift():
    rng = np.random.default_rng(1)
    n, m, d = 120, 100, 16
    x = rng.standard_normal((n, d))
    y = rng.standard_normal((m, d)) + 0.05  # a shift giving a mid-range p-value
    ours, p_ours, bw = mmd_permutation_test(x, y, 2000, np.random.default_rng(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # torchdrift re-indexes a small matrix per permutation: threads only add overhead
    try:
        torch.manual_seed(0)
        td, p_td = kernel_mmd(
            torch.from_numpy(x), torch.from_numpy(y), n_perm=1000, kernel=GaussianKernel(lengthscale=bw)
        )
    finally:
        torch.set_num_threads(threads)
    # torchdrift keeps the kernel diagonal (k = 1) in its within-sample sums: + 1/(n−1) + 1/(m−1)
    assert float(td) - 1 / (n - 1) - 1 / (m - 1) == pytest.approx(ours, rel=1e-6, abs=1e-9)
    assert 0.01 < p_ours < 0.9
    assert abs(p_ours - float(p_td)) < 0.05  # two Monte-Carlo estimates: sd of the difference ≈ 0.013
    # the bandwidth is the median pairwise distance of the pooled sample
    z = np.concatenate([x, y])
    dist = np.sqrt(((z[:, None, :] - z[None, :, :]) ** 2).sum(-1))
    assert bw == pytest.approx(np.median(dist[np.triu_indices(n + m, 1)]), rel=1e-9)


def test_mmd_detector_subsamples_to_max_samples():
    rng = np.random.default_rng(2)
    ref = rng.standard_normal((900, 8)).astype(np.float32)
    det = MMDDetector(max_samples=200, n_permutations=50).fit(ref)
    res = det.test(rng.standard_normal((700, 8)).astype(np.float32) + 1.0)
    assert res.alarm and det.bandwidth_ > 0


@pytest.mark.parametrize("n_ref, n_sample", [(60, 40), (300, 40), (60, 260)])
def test_mmd_detector_gives_the_p_value_of_permutations_drawn_afresh_from_its_seed(n_ref, n_sample):
    """The detector reuses one copy of its permutations across tests where no sample is subsampled; each
    test must still equal the test run from scratch: subsampling and permutations drawn from a fresh
    default_rng(seed), as the docstring states (max_samples = 250, so some cases subsample first)."""
    rng = np.random.default_rng(8)
    ref = rng.standard_normal((n_ref, 5)).astype(np.float32)  # embeddings are float32, tested in float64
    det = MMDDetector(n_permutations=300, max_samples=250, seed=4).fit(ref)
    for shift in (0.0, 0.12, 0.3):
        sample = (rng.standard_normal((n_sample, 5)) + shift).astype(np.float32)
        fresh = np.random.default_rng(4)
        x = ref if n_ref <= 250 else ref[np.sort(fresh.choice(n_ref, 250, replace=False))]
        y = sample if n_sample <= 250 else sample[np.sort(fresh.choice(n_sample, 250, replace=False))]
        stat, p, _ = mmd_permutation_test(x.astype(np.float64), y.astype(np.float64), 300, fresh)
        res = det.test(sample)
        assert (res.statistic, res.p_value) == (stat, p)
        assert 1 / 301 <= p <= 1


@settings(deadline=None, max_examples=10, derandomize=True)
@given(seed=st.integers(0, 10_000), shift=st.floats(0.0, 0.5))
def test_fdr_is_never_more_conservative_than_bonferroni(seed, shift):
    rng = np.random.default_rng(seed)
    ref = rng.standard_normal((60, 20)).astype(np.float32)
    sample = rng.standard_normal((60, 20)).astype(np.float32)
    sample[:, :3] += shift
    bonf = KSDetector("bonferroni").fit(ref).test(sample)
    fdr = KSDetector("fdr").fit(ref).test(sample)
    assert fdr.p_value <= bonf.p_value + 1e-12
    assert fdr.statistic == bonf.statistic


def test_mean_cosine_statistic_is_the_cosine_distance_of_the_means():
    rng = np.random.default_rng(4)
    ref = rng.standard_normal((50, 6)).astype(np.float32) + 1.0
    sample = rng.standard_normal((40, 6)).astype(np.float32) + 1.2
    a, b = ref.astype(np.float64).mean(0), sample.astype(np.float64).mean(0)
    expected = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
    assert MeanCosineDetector().fit(ref).test(sample).statistic == pytest.approx(expected, rel=1e-9)


def test_mean_cosine_is_blind_to_moves_along_the_mean_direction():
    # scaling every embedding keeps the mean direction: the cosine detector cannot see it, MMD can
    rng = np.random.default_rng(5)
    ref = rng.standard_normal((300, 16)).astype(np.float32) + 1.0
    sample = (rng.standard_normal((300, 16)).astype(np.float32) + 1.0) * 1.5
    assert not MeanCosineDetector().fit(ref).test(sample).alarm
    assert MMDDetector().fit(ref).test(sample).alarm


def test_ridge_domain_classifier_equals_the_primal_ridge_fit():
    """The dual closed form of the ridge C2ST against sklearn's primal ridge on the same folds and
    pooled standardisation, then the same per-fold Mann–Whitney and Bonferroni: an independent path
    to the statistic and the p-value."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(5)
    ref = rng.standard_normal((60, 90)).astype(np.float32)
    sample = (rng.standard_normal((45, 90)) + 0.25 * rng.standard_normal(90)).astype(np.float32)
    result = DomainClassifierDetector(seed=3, ridge=0.7).fit(ref).test(sample)
    X = np.concatenate([ref, sample]).astype(np.float64)
    y = np.r_[np.zeros(60), np.ones(45)]
    Z = (X - X.mean(0)) / X.std(0)
    aucs, pvals = [], []
    for train, held in StratifiedKFold(5, shuffle=True, random_state=3).split(Z, y):
        lam = 0.7 * np.sum(Z[train] ** 2) / len(train)
        scores = Ridge(alpha=lam, fit_intercept=False).fit(Z[train], y[train] - y[train].mean()).predict(Z[held])
        aucs.append(roc_auc_score(y[held], scores))
        pvals.append(scipy.stats.mannwhitneyu(scores[y[held] == 1], scores[y[held] == 0], alternative="greater").pvalue)
    assert result.statistic == pytest.approx(np.mean(aucs), abs=1e-12)
    assert result.p_value == pytest.approx(min(1.0, 5 * min(pvals)), rel=1e-9)
    assert result.alarm


def test_logistic_domain_classifier_is_kept_and_agrees_on_a_clear_shift(big_shift):
    ref, same, shifted = big_shift
    for classifier in DomainClassifierDetector.CLASSIFIERS:
        det = DomainClassifierDetector(classifier=classifier).fit(ref[:200])
        assert det.test(shifted[:200]).alarm and not det.test(same[:200]).alarm, classifier
        assert det.test(shifted[:200]).statistic > 0.9
    with pytest.raises(ProbedriftError, match="ridge, logistic"):
        DomainClassifierDetector(classifier="svm")


def test_confidence_monitor_statistic_and_alarm():
    _, proba = linear_proba(4)
    rng = np.random.default_rng(6)
    ref = rng.standard_normal((200, 4)) * 3
    mon = ConfidenceMonitor(proba, max_relative_drop=0.1).fit(ref)
    conf_ref = np.maximum(proba(ref), 1 - proba(ref)).mean()
    res = mon.test(ref * 0.05)  # everything near the boundary: confidence ≈ 0.5
    conf = np.maximum(proba(ref * 0.05), 1 - proba(ref * 0.05)).mean()
    assert res.statistic == pytest.approx((conf_ref - conf) / conf_ref)
    assert res.alarm and res.p_value < 1e-6
    # class-probability matrices work too
    mon2 = ConfidenceMonitor(lambda X: np.c_[1 - proba(X), proba(X)]).fit(ref)
    assert mon2.test(ref * 0.05).statistic == pytest.approx(res.statistic)


def test_errors():
    with pytest.raises(ProbedriftError, match="confidence, mmd, ks, domain_classifier, mean_cosine"):
        make_detector("wasserstein")
    for name in ("mmd", "ks", "domain_classifier", "mean_cosine"):
        for alpha in (0.0, 1.0, -0.1, 1.5):
            with pytest.raises(ProbedriftError, match="alpha"):
                make_detector(name, alpha=alpha)
    with pytest.raises(ProbedriftError, match="bonferroni, fdr"):
        KSDetector(correction="holm")
    with pytest.raises(ProbedriftError, match="not fitted"):
        MMDDetector().test(np.ones((3, 2)))
    det = MeanCosineDetector().fit(np.random.default_rng(0).standard_normal((10, 4)))
    with pytest.raises(ProbedriftError, match="d=5 but the reference has d=4"):
        det.test(np.ones((10, 5)))
    with pytest.raises(ProbedriftError, match="non-finite"):
        det.test(np.full((10, 4), np.nan))
    with pytest.raises(ProbedriftError, match="needs predict_proba"):
        make_detector("confidence")
    with pytest.raises(ProbedriftError, match=r"no argument n_perm\n.*n_permutations"):
        make_detector("mmd", n_perm=10)


# --------------------------------------------------------------------------------------------------
# rotations: which monitors notice a drift that keeps every norm?


D_ROT = 1024


def _embeddings(rng, n, mu, u, delta=0.08):
    """Unit embeddings sharing a mean direction ``mu`` (as LLM embeddings do), classes at ±``delta``
    along ``u`` before normalisation: the shared generator with separation 2·delta·√d."""
    return two_class(n, D_ROT, rng, separation=2 * delta * np.sqrt(D_ROT), class_axes=(u, mu))


def _rotate_planes(X, A, B, theta):
    """Rotate by ``theta`` in each plane (A[:, k], B[:, k]) of orthonormal columns; norms are kept."""
    pa, pb = X @ A, X @ B
    c, s = np.cos(theta), np.sin(theta)
    return (X + (pa * (c - 1) - pb * s) @ A.T + (pa * s + pb * (c - 1)) @ B.T).astype(np.float32)


def _rotation_world(seed):
    rng = np.random.default_rng(seed)
    mu, u, w = np.linalg.qr(rng.standard_normal((D_ROT, 3)))[0].T
    X_train, y_train = _embeddings(rng, 1000, mu, u)
    probe = LinearProbe().fit(X_train, y_train)
    ref, _ = _embeddings(rng, 500, mu, u)
    sample, y = _embeddings(rng, 500, mu, u)
    # an orthonormal basis from a randomised Hadamard matrix (signs, column order): as spread out
    # as a Haar-random basis for this purpose, without a 1024 × 1024 QR
    R = (rng.choice([-1.0, 1.0], D_ROT)[:, None] * scipy.linalg.hadamard(D_ROT))[:, rng.permutation(D_ROT)]
    R /= np.sqrt(D_ROT)
    dets = {
        n: (make_detector(n, predict_proba=probe.predict_proba) if n == "confidence" else make_detector(n)).fit(ref)
        for n in DETECTORS
    }
    return probe, sample, y, u, w, R, dets


@pytest.fixture(scope="module")
def rotation_worlds():
    return [_rotation_world(seed) for seed in range(3)]


def test_a_rotation_that_swaps_the_classes_is_invisible_to_every_monitor(rotation_worlds):
    """A 180° rotation in the plane of the class axis u and an orthogonal w maps the unlabelled
    embedding distribution onto itself (balanced classes ±δu, isotropic noise, mean direction
    fixed) but swaps the classes: the probe's AUC goes from ≈1 to ≈0 while no label-free monitor
    can see anything, because there is nothing to see: every alarm is a false alarm, so the
    alarms stay at the α level (about 0.6 expected over 4 tests × 3 worlds at α = 0.05)."""
    alarms = dict.fromkeys(DETECTORS, 0)
    for probe, sample, y, u, w, _, dets in rotation_worlds:
        assert roc_auc_score(y, probe.decision_function(sample)) > 0.99
        rotated = _rotate_planes(sample, u[:, None], w[:, None], np.pi)
        np.testing.assert_allclose(np.linalg.norm(rotated, axis=1), np.linalg.norm(sample, axis=1), rtol=1e-5)
        assert roc_auc_score(y, probe.decision_function(rotated)) < 0.01
        for name, det in dets.items():
            alarms[name] += det.test(rotated).alarm
    assert sum(alarms.values()) <= 2 and alarms["confidence"] == 0, alarms


def test_a_small_rigid_rotation_is_seen_by_mean_direction_monitors_only(rotation_worlds):
    """Every embedding turned by the same 2° (rotation in 512 random planes). The shared mean
    direction turns with it, so MMD, the domain classifier and the mean-cosine test alarm every
    time; per-dimension KS with Bonferroni seldom sees it, because the move is spread thinly over
    1,024 coordinates (over seeds 0–9 of this set-up: 0 alarms at 2°, 2 at 3°, against 10 for the
    other three); the confidence monitor never does (this probe keeps its AUC)."""
    theta = np.deg2rad(2.0)
    alarms = dict.fromkeys(DETECTORS, 0)
    for probe, sample, y, _, _, R, dets in rotation_worlds:
        auc_before = roc_auc_score(y, probe.decision_function(sample))
        rotated = _rotate_planes(sample, R[:, 0::2], R[:, 1::2], theta)
        cosines = np.sum(rotated * sample, axis=1) / (
            np.linalg.norm(rotated, axis=1) * np.linalg.norm(sample, axis=1)
        )
        np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cosines, -1, 1))), 2.0, atol=0.01)
        assert roc_auc_score(y, probe.decision_function(rotated)) > auc_before - 0.01
        for name, det in dets.items():
            alarms[name] += det.test(rotated).alarm
    n = len(rotation_worlds)
    assert alarms["mmd"] == alarms["domain_classifier"] == alarms["mean_cosine"] == n, alarms
    assert alarms["ks"] < n, alarms
    assert alarms["confidence"] == 0, alarms


def test_mmd_with_mostly_duplicate_embeddings_uses_the_distinct_pairs():
    """Many texts mapped to one vector (a tiny vocabulary, duplicate texts) must not stop a run."""
    rng = np.random.default_rng(3)
    same = np.zeros((30, 4))
    x = np.vstack([same, rng.standard_normal((5, 4))])
    y = np.vstack([same, rng.standard_normal((5, 4)) + 3.0])
    stat, p, bandwidth = mmd_permutation_test(x, y, 200, np.random.default_rng(0))
    z = np.vstack([x, y])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)[np.triu_indices(len(z), k=1)]
    assert bandwidth == pytest.approx(np.sqrt(np.median(d2[d2 > 0])))
    assert np.isfinite(stat) and 0 < p <= 1
    _, _, all_same = mmd_permutation_test(same, same, 50, np.random.default_rng(0))
    assert all_same == 1.0


def test_a_saturated_probe_gives_the_welch_p_value_without_a_precision_warning():
    """Confidences at 1 − 1e-16: scipy warns of precision loss in their variance; the monitor does not,
    and its p-value is still the one-sided Welch t-test computed from the formula."""
    import warnings

    ref = 1.0 - np.r_[np.zeros(47), 1e-16, 2e-16, 3e-16]
    new = 1.0 - np.r_[np.zeros(46), 2e-16, 2e-16, 4e-16, 4e-16]
    table = np.r_[ref, new]  # the "embedding" of a text is its row in this table of probabilities
    monitor = ConfidenceMonitor(predict_proba=lambda x: table[x[:, 0].astype(int)])
    monitor.fit(np.arange(ref.size, dtype=np.float32)[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = monitor.test(np.arange(ref.size, table.size, dtype=np.float32)[:, None])
    va, vb = ref.var(ddof=1) / ref.size, new.var(ddof=1) / new.size
    t = (ref.mean() - new.mean()) / np.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (ref.size - 1) + vb ** 2 / (new.size - 1))
    assert result.p_value == pytest.approx(scipy.stats.t.sf(t, dof), abs=1e-6)
    assert not result.alarm


def test_configured_monitors_give_each_monitor_its_parameters_in_the_profile_order():
    from probedrift.run.params import load_params
    from probedrift.science.detectors import configured_monitors, threshold_monitors

    p = load_params("smoke", {"detectors": ["ks", "confidence", "mean_cosine", "mmd", "domain_classifier"],
                              "alpha": 0.01, "seed": 7, "detector_permutations": 30, "confidence_drop": 0.2})

    def proba(x):
        return x

    expected = {
        "ks": {"alpha": 0.01},
        "confidence": {"predict_proba": proba, "max_relative_drop": 0.2},
        "mean_cosine": {"n_permutations": 30, "alpha": 0.01, "seed": 7},
        "mmd": {"n_permutations": 30, "alpha": 0.01, "seed": 7},
        "domain_classifier": {"alpha": 0.01, "seed": 7},
    }
    got = configured_monitors(p, proba)
    assert list(got) == list(expected) and got == expected
    assert configured_monitors(p, proba, n_permutations=99)["mmd"]["n_permutations"] == 99
    assert all(make_detector(name, **kw) for name, kw in got.items())
    assert threshold_monitors() == ("confidence",)
    assert {n: DETECTORS.get(n).reference for n in DETECTORS} == {
        "confidence": "val", "mmd": "train", "ks": "train", "domain_classifier": "train", "mean_cosine": "train"}
