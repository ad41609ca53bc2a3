"""Drift budget: the closed-form AUC curve against simulation, hand cases, planted near-constant
dimensions and the variance floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import scipy.stats
from sklearn.metrics import roc_auc_score

from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import angle_deg
from probedrift.inputs.synthetic import axes, two_class
from probedrift.science import budget as B
from probedrift.science import variance_floor as VF
from probedrift.science.probes import LinearProbe, MLPProbe, paper_probe
from probedrift.science.sweep import drift

D = 64
PLANTED = 3  # near-constant coordinates
PLANT_NOISE = 1e-5  # their spread before normalising
SEEDS = range(10)


def plant(X: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """The first PLANTED coordinates replaced by noise·N(0, 1), then rows re-normalised."""
    X = np.asarray(X, dtype=np.float64).copy()
    X[:, :PLANTED] = noise * np.random.default_rng(seed).standard_normal((X.shape[0], PLANTED))
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def problem():
    ax = axes(D)
    (Xtr, ytr), (Xte, yte) = two_class(2000, D, 0, class_axes=ax), two_class(800, D, 1, class_axes=ax)
    return Xtr, ytr, Xte, yte


@pytest.fixture(scope="module")
def clean(problem):
    Xtr, ytr, Xte, yte = problem
    return paper_probe(0).fit(Xtr, ytr), Xte, yte


@pytest.fixture(scope="module")
def planted(problem):
    Xtr, ytr, Xte, yte = problem
    Xtr_p, Xte_p = plant(Xtr, PLANT_NOISE, 5), plant(Xte, PLANT_NOISE, 6)
    return paper_probe(0).fit(Xtr_p, ytr), Xte_p, yte, Xtr_p, ytr


def hand_probe(w, s, m, b) -> LinearProbe:
    """A LinearProbe with given coefficients, scaler std s and mean m, and intercept b."""
    probe = LinearProbe()
    probe.coef_ = np.asarray(w, dtype=np.float64)
    probe.scaler_scale_ = np.asarray(s, dtype=np.float64)
    probe.scaler_mean_ = np.asarray(m, dtype=np.float64)
    probe.intercept_ = float(b)
    probe.n_features_ = len(w)
    probe.class_counts_ = [1, 1]
    probe._prepare()
    return probe


def reference_auc(probe: LinearProbe, X: np.ndarray, y: np.ndarray, theta: float) -> float:
    """The closed form written out independently: Φ(cos θ Δℓ / (sin θ √(σ̃p² + σ̃n²))) over all pairs,
    σ̃² = ‖v − (v·z)z‖²/(d − 1) from the explicit projection, θ in radians."""
    v = probe.coef_ / probe.scaler_scale_
    Z = X / np.linalg.norm(X, axis=1, keepdims=True)
    proj = v[None, :] - (Z @ v)[:, None] * Z
    var = (proj**2).sum(axis=1) / (Z.shape[1] - 1)
    logit = Z @ v
    pos, neg = y == 1, y == 0
    gap = logit[pos][:, None] - logit[neg][None, :]
    spread = np.sqrt(var[pos][:, None] + var[neg][None, :])
    return float(scipy.stats.norm.cdf(np.cos(theta) * gap / (np.sin(theta) * spread)).mean())


def reference_half_budget_deg(probe, X, y) -> float:
    """The half-excess angle of the closed form, by Brent's method on θ (no log grid, no bisection)."""
    auc0 = roc_auc_score(y, probe.decision_function(X))
    target = 0.5 + (auc0 - 0.5) / 2
    root = scipy.optimize.brentq(lambda t: reference_auc(probe, X, y, t) - target, 1e-9, np.pi / 2 - 1e-9, xtol=1e-12)
    return float(np.degrees(root))


# --------------------------------------------------------------------------- hand cases


def test_hand_computed_pairs():
    # v = w/s = 3 e1 in d = 10; positives e1 and (e1+e2)/√2, negative e2.
    # pair (e1, e2): gap 3, σ̃² = (9 − 9)/9 + (9 − 0)/9 = 1 → Φ(3 cot θ)
    # pair ((e1+e2)/√2, e2): gap 3/√2, σ̃² = (9 − 4.5)/9 + 1 = 1.5 → Φ(√3 cot θ)
    d = 10
    w, s = np.zeros(d), np.ones(d)
    w[0], s[0] = 0.3, 0.1
    probe = hand_probe(w, s, np.random.default_rng(0).normal(size=d), 0.7)
    e = np.eye(d)
    X = np.stack([e[0], (e[0] + e[1]) / np.sqrt(2), e[1]])
    y = np.array([1, 1, 0])
    angles = np.array([0.0, 10.0, 45.0, 70.0, 85.0, 90.0])
    cot = np.array([np.inf] + [1 / np.tan(np.radians(a)) for a in angles[1:]])
    expected = (scipy.stats.norm.cdf(3 * cot) + scipy.stats.norm.cdf(np.sqrt(3) * cot)) / 2
    np.testing.assert_allclose(B.predicted_auc(probe, X, y, angles), expected, atol=1e-9)
    assert B.predicted_auc(probe, X, y, [90.0])[0] == pytest.approx(0.5, abs=1e-12)


def test_hand_computed_budget_angles():
    # one pair with AUC(θ) = Φ(3 cot θ): AUC₀ = 1, so the targets 0.95 and 0.75 are reached at
    # cot θ = Φ⁻¹(0.95)/3 and Φ⁻¹(0.75)/3
    d = 10
    w = np.zeros(d)
    w[0] = 3.0
    probe = hand_probe(w, np.ones(d), np.zeros(d), 0.0)
    X, y = np.eye(d)[:2], np.array([1, 0])
    budget = B.drift_budget(probe, X, y)
    assert budget["auc_clean"] == 1.0
    for key, target in (("drop5", 0.95), ("half", 0.75)):
        expected = np.degrees(np.arctan(3 / scipy.stats.norm.ppf(target)))
        assert budget[f"angle_{key}_predicted_deg"] == pytest.approx(expected, rel=2e-4)
    # already below the half-excess target at the first grid angle: 0.0, not NaN
    late = B.drift_budget(probe, X, y, grid_deg=[85.0, 88.0, 90.0])
    assert late["angle_half_predicted_deg"] == 0.0


def test_simulation_follows_the_exact_distribution_in_three_dimensions():
    # d = 3, v = 3 e1: the positive e1 keeps logit 3 cos θ (u ⟂ e1 carries no weight); a negative e2
    # gets 3 sin θ u₁ with u = (cos φ, 0, sin φ), φ uniform. Exact AUC = P(cos φ < cot θ)
    # = 1 − arccos(cot θ)/π for θ ≥ 45°. (The Gaussian closed form is not meant for d = 3.)
    probe = hand_probe([3.0, 0.0, 0.0], np.ones(3), np.zeros(3), 0.0)
    X = np.vstack([[1.0, 0.0, 0.0], np.tile([0.0, 1.0, 0.0], (4000, 1))])
    y = np.r_[1, np.zeros(4000, dtype=int)]
    angles = np.array([50.0, 60.0, 75.0, 89.0])
    mean, per_seed = B.simulated_auc(probe, X, y, angles, seeds=range(5))
    exact = 1 - np.arccos(1 / np.tan(np.radians(angles))) / np.pi
    assert per_seed.shape == (5, 4)
    np.testing.assert_allclose(mean, exact, atol=0.015)


def test_simulated_auc_equals_the_probe_on_the_drifted_embeddings(clean):
    """The simulation's two-products-per-seed shortcut against the probe itself scoring each drifted
    copy (z' = cos θ z + sin θ u from :func:`exact_angle_drift`, same seed)."""
    probe, Xte, yte = clean
    angles = np.array([0.5, 5.0, 30.0, 80.0])
    _, per_seed = B.simulated_auc(probe, Xte, yte, angles, seeds=[3, 11])
    for i, seed in enumerate([3, 11]):
        direct = [roc_auc_score(yte, probe.decision_function(B.exact_angle_drift(Xte, a, seed))) for a in angles]
        np.testing.assert_allclose(per_seed[i], direct, atol=2e-4)


def test_exact_angle_drift_moves_every_row_by_the_angle(problem):
    _, _, Xte, _ = problem
    for theta in (1e-3, 0.5, 30.0, 90.0):
        moved = B.exact_angle_drift(Xte, theta, seed=3)
        np.testing.assert_allclose(np.linalg.norm(moved, axis=1), 1.0, atol=1e-12)
        np.testing.assert_allclose(angle_deg(Xte.astype(np.float64), moved), theta, rtol=1e-5)
    np.testing.assert_array_equal(B.exact_angle_drift(Xte, 2.0, 7), B.exact_angle_drift(Xte, 2.0, 7))
    assert not np.array_equal(B.exact_angle_drift(Xte, 2.0, 7), B.exact_angle_drift(Xte, 2.0, 8))


# --------------------------------------------------------------------------- prediction vs simulation


@pytest.mark.parametrize(
    ("which", "angles"),
    [
        ("clean", [0.0, 1.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 75.0, 90.0]),
        ("planted", [0.0, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]),
    ],
)
def test_predicted_curve_matches_the_simulated_mean(request, which, angles):
    probe, X, y = request.getfixturevalue(which)[:3]
    predicted = B.predicted_auc(probe, X, y, angles)
    mean, per_seed = B.simulated_auc(probe, X, y, angles, SEEDS)
    assert per_seed.shape == (len(SEEDS), len(angles))
    # the grid spans no effect to collapse
    assert predicted[0] == pytest.approx(roc_auc_score(y, probe.decision_function(X)), abs=1e-12)
    assert predicted[0] > 0.8 and predicted[-1] < 0.6
    assert np.abs(predicted - mean).max() < 0.03


def test_closed_form_also_describes_the_relative_gaussian_drift(planted):
    # drift.py's gaussian/"relative" drift, Normalize(z + σ g/‖g‖), moves rows by ≈ atan σ in random
    # directions: at its measured mean angle the closed form predicts its AUC as well
    probe, X, y = planted[:3]
    angles = np.array([0.01, 0.05, 0.2, 1.0])
    aucs, measured = [], []
    for seed in range(5):
        ds = drift(X.astype(np.float32), "gaussian", "relative", np.tan(np.radians(angles)), seed)
        aucs.append([roc_auc_score(y, probe.decision_function(e.astype(np.float64))) for e in ds.embeddings])
        measured.append(ds.angles_deg.mean(axis=1, dtype=np.float64))
    predicted = B.predicted_auc(probe, X, y, np.mean(measured, axis=0))
    assert np.abs(predicted - np.mean(aucs, axis=0)).max() < 0.03


# --------------------------------------------------------------------------- budgets


def test_planted_near_constant_dimensions_collapse_the_budget(clean, planted):
    budgets = {}
    for name, (probe, X, y) in (("clean", clean), ("planted", planted[:3])):
        budgets[name] = B.drift_budget(probe, X, y, simulate=True, seeds=SEEDS)
        # the bisection finds the closed form's own root
        assert budgets[name]["angle_half_predicted_deg"] == pytest.approx(
            reference_half_budget_deg(probe, X, y), rel=1e-3
        )
        for key in ("drop5", "half"):
            ratio = budgets[name][f"angle_{key}_predicted_deg"] / budgets[name][f"angle_{key}_simulated_deg"]
            assert 1 / 1.25 < ratio < 1.25, (name, key, ratio)
    assert budgets["clean"]["angle_half_predicted_deg"] > 10.0
    assert budgets["planted"]["angle_half_predicted_deg"] < 1.0
    assert budgets["planted"]["angle_half_simulated_deg"] < 1.0
    # the clean AUC is the same: the planted coordinates carry no signal, only fragility
    assert abs(budgets["clean"]["auc_clean"] - budgets["planted"]["auc_clean"]) < 0.01


def test_budget_scales_with_the_planted_spread(problem):
    # the z-scored planted coordinates are the same at every spread, so v = w/s grows as 1/spread and
    # the closed form's c_pn (hence tan θ at a fixed AUC) shrinks in proportion
    Xtr, ytr, Xte, yte = problem
    tangents = []
    for noise in (1e-5, 1e-4):
        probe = paper_probe(0).fit(plant(Xtr, noise, 5), ytr)
        b = B.drift_budget(probe, plant(Xte, noise, 6), yte)
        tangents.append(np.tan(np.radians(b["angle_half_predicted_deg"])))
    assert tangents[1] / tangents[0] == pytest.approx(10.0, rel=0.05)


def test_variance_floor_restores_the_budget(clean, planted):
    probe, X, y, Xtr_p, ytr = planted
    floored = LinearProbe(scale_floor="median/10").fit(Xtr_p, ytr)
    spectrum = B.scale_spectrum(floored, X)
    assert spectrum["std_min"] == pytest.approx(floored.scale_floor_value_)
    assert spectrum["std_min"] == pytest.approx(np.median(np.std(Xtr_p, axis=0)) / 10, rel=1e-6)
    raw = B.drift_budget(probe, X, y, simulate=True, seeds=SEEDS)
    fixed = B.drift_budget(floored, X, y, simulate=True, seeds=SEEDS)
    reference = B.drift_budget(clean[0], clean[1], clean[2])
    for source in ("predicted", "simulated"):
        assert fixed[f"angle_half_{source}_deg"] > 100 * raw[f"angle_half_{source}_deg"]
        assert fixed[f"angle_drop5_{source}_deg"] > 100 * raw[f"angle_drop5_{source}_deg"]
    # back to the budget of the probe that never saw the planted coordinates
    assert fixed["angle_half_predicted_deg"] == pytest.approx(reference["angle_half_predicted_deg"], rel=0.1)
    assert abs(fixed["auc_clean"] - raw["auc_clean"]) < 0.01


def test_budget_is_nan_when_the_target_is_never_reached():
    # logits 3c with c_i = 0.9(2x_i − 1): positives x = i/100 + 0.001, negatives x = j/100, i, j < 100,
    # so a positive wins when i ≥ j: AUC₀ = (100·101/2)/100² = 0.505 and AUC₀ − 0.05 < 0.5
    d = 10
    w = np.zeros(d)
    w[0] = 3.0
    probe = hand_probe(w, np.ones(d), np.zeros(d), 0.0)
    x = np.r_[np.arange(100) / 100 + 0.001, np.arange(100) / 100]
    c = 0.9 * (2 * x - 1)
    X = np.zeros((200, d))
    X[:, 0], X[:, 1] = c, np.sqrt(1 - c**2)
    y = np.r_[np.ones(100, dtype=int), np.zeros(100, dtype=int)]
    b = B.drift_budget(probe, X, y)
    assert b["auc_clean"] == pytest.approx(0.505, abs=1e-12)
    assert np.isnan(b["angle_drop5_predicted_deg"])  # the curve ends at 0.5 > AUC₀ − 0.05
    assert 0 < b["angle_half_predicted_deg"] < 90
    assert "angle_half_simulated_deg" not in b


def test_scale_spectrum_by_hand(planted):
    probe, X, _, Xtr_p, _ = planted
    s = np.std(Xtr_p, axis=0)
    spectrum = B.scale_spectrum(probe, X)
    assert spectrum["std_min"] == pytest.approx(s.min(), rel=1e-5)
    assert spectrum["std_p1"] == pytest.approx(np.percentile(s, 1), rel=1e-5)
    assert spectrum["std_median"] == pytest.approx(np.median(s), rel=1e-5)
    assert spectrum["norm_w_over_s"] == pytest.approx(np.linalg.norm(probe.coef_ / s), rel=1e-4)
    G = X @ X.T
    n = X.shape[0]
    assert spectrum["mean_cosine"] == pytest.approx((G.sum() - np.trace(G)) / (n * (n - 1)), rel=1e-9)


def test_budget_table(clean, planted):
    entries = {("toy", 5, "mean"): clean, ("toy", 5, "planted"): planted[:3]}
    table = B.budget_table(entries, seeds=range(3))
    assert list(table.columns) == list(B.BUDGET_COLUMNS)
    assert list(table["pooling"]) == ["mean", "planted"]
    ratio = table["angle_half_predicted_deg"] / table["angle_half_simulated_deg"]
    np.testing.assert_allclose(table["ratio_half"], ratio)
    assert table.loc[1, "norm_w_over_s"] > 100 * table.loc[0, "norm_w_over_s"]
    assert table.loc[1, "angle_half_predicted_deg"] < table.loc[0, "angle_half_predicted_deg"] / 100
    quick = B.budget_table(entries, simulate=False)
    assert quick["angle_half_simulated_deg"].isna().all() and quick["ratio_half"].isna().all()
    pd.testing.assert_series_equal(quick["angle_half_predicted_deg"], table["angle_half_predicted_deg"])
    with pytest.raises(ProbedriftError, match="model, layer, pooling"):
        B.budget_table({"toy": clean})


def test_pair_sample_beyond_the_cap_is_close_and_deterministic(clean):
    probe, X, y = clean
    angles = [0.0, 20.0, 60.0]
    full = B.predicted_auc(probe, X, y, angles)
    sampled = B.predicted_auc(probe, X, y, angles, max_pairs=20_000)
    np.testing.assert_allclose(sampled, full, atol=0.01)
    np.testing.assert_array_equal(sampled, B.predicted_auc(probe, X, y, angles, max_pairs=20_000))


def test_bad_inputs(clean):
    probe, X, y = clean
    with pytest.raises(ProbedriftError, match="linear probe"):
        B.predicted_auc(MLPProbe(max_iter=5), X, y, [1.0])
    with pytest.raises(ProbedriftError, match="not fitted"):
        B.predicted_auc(LinearProbe(), X, y, [1.0])
    with pytest.raises(ProbedriftError, match="probe expects d=64"):
        B.predicted_auc(probe, X[:, :10], y, [1.0])
    with pytest.raises(ProbedriftError, match="one class"):
        B.predicted_auc(probe, X, np.zeros_like(y), [1.0])
    with pytest.raises(ProbedriftError, match=r"\[0, 180\]"):
        B.predicted_auc(probe, X, y, [-1.0])
    with pytest.raises(ProbedriftError, match="seeds"):
        B.simulated_auc(probe, X, y, [1.0], seeds=[])
    with pytest.raises(ProbedriftError, match="angles > 0"):
        B.drift_budget(probe, X, y, grid_deg=[0.0, 1.0])


# --------------------------------------------------------------------------- variance-floor table


def hanley_mcneil_se(auc: float, n1: int, n0: int) -> float:
    """Standard error of a Mann-Whitney AUC (Hanley & McNeil 1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    return float(np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0)))


def test_floor_spec():
    assert VF.floor_spec(0.1) == "median/10"
    assert VF.floor_spec(0.25) == "median/4"
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ProbedriftError):
            VF.floor_spec(bad)
    probe = VF.floored_probe(0.1, seed=3)
    reference = paper_probe(3)
    assert (probe.C, probe.class_weight, probe.max_iter, probe.seed) == (
        reference.C, reference.class_weight, reference.max_iter, reference.seed)
    assert probe.scale_floor == "median/10"


def test_variance_floor_comparison_rescues_planted_dimensions(planted):
    probe, X, y, Xtr_p, ytr = planted
    floored = VF.floored_probe(0.1, 0).fit(Xtr_p, ytr)
    df = VF.variance_floor_comparison({"none": probe, VF.floor_spec(0.1): floored}, X, y,
                                     keys={"model": "m", "layer": 3, "pooling": "last_token"},
                                     seeds=SEEDS, n_boot=400, boot_seed=1)
    assert list(df.columns) == list(VF.VARIANCE_FLOOR_COLUMNS)
    none, fl = df.iloc[0], df.iloc[1]
    assert (none.model, none.layer, none.scaler, fl.scaler) == ("m", 3, "none", "median/10")
    # the floor is a tenth of the median training std (ddof 0, as the scaler), and only the planted
    # coordinates sit below it
    assert fl.floor_value == pytest.approx(np.median(np.std(Xtr_p, axis=0)) / 10, rel=1e-6)
    assert fl.scale_floor_fraction == pytest.approx(0.1)
    assert (none.n_floored, fl.n_floored) == (0, PLANTED)
    assert fl.std_min == pytest.approx(fl.floor_value)
    assert none.std_min == pytest.approx(np.std(Xtr_p, axis=0).min(), rel=1e-6)
    assert none.norm_w_over_s == pytest.approx(np.linalg.norm(probe.coef_ / probe.scaler_scale_), rel=1e-9)
    # clean AUC from independently written float64 logits
    logits = ((X - probe.scaler_mean_) / probe.scaler_scale_) @ probe.coef_
    assert none.auc_clean == pytest.approx(roc_auc_score(y, logits), abs=1e-12)
    # the floor raises the budget by orders of magnitude and leaves the clean AUC alone
    assert fl.budget_gain_half > 100
    assert fl.budget_gain_half == pytest.approx(fl.angle_half_predicted_deg / none.angle_half_predicted_deg)
    assert none.budget_gain_half == 1.0
    assert fl.angle_drop5_predicted_deg > 100 * none.angle_drop5_predicted_deg
    assert abs(fl.auc_clean - none.auc_clean) < 0.01
    # at 1°: the paper's probe is near chance, the floored one keeps (almost) its clean AUC
    assert none.auc_1deg_simulated < 0.6
    assert fl.auc_1deg_simulated > fl.auc_clean - 0.02
    for row, pr in ((none, probe), (fl, floored)):
        # the same exact-angle draws as simulated_auc (one u per text and seed)
        assert row.auc_1deg_simulated == pytest.approx(B.simulated_auc(pr, X, y, [1.0], seeds=SEEDS)[0][0],
                                                       abs=1e-12)
        assert abs(row.auc_1deg_predicted - row.auc_1deg_simulated) < 0.03
    # interval widths against independent standard errors: Hanley-McNeil for the texts, the spread of
    # the per-draw AUCs for the draws
    n1, n0 = int(y.sum()), int((1 - y).sum())
    for row in (none, fl):
        half = (row.auc_clean_ci_high - row.auc_clean_ci_low) / 2
        assert 0.75 < half / (1.96 * hanley_mcneil_se(row.auc_clean, n1, n0)) < 1.3
    # at 1° the texts' part is the spread of the draw-mean AUC over stratified resamples of the texts
    # (every draw resampled alike), computed here with sklearn on exact_angle_drift's draws
    L = np.stack([((B.exact_angle_drift(X, 1.0, s) - probe.scaler_mean_) / probe.scaler_scale_) @ probe.coef_
                  for s in SEEDS])
    per_seed = np.array([roc_auc_score(y, row) for row in L])
    assert per_seed.mean() == pytest.approx(none.auc_1deg_simulated, abs=1e-9)
    rng = np.random.default_rng(7)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    means = []
    for _ in range(150):
        idx = np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)]
        means.append(np.mean([roc_auc_score(y[idx], row[idx]) for row in L]))
    se_texts = np.std(means, ddof=1)
    se_draws = per_seed.std(ddof=1) / np.sqrt(len(SEEDS))
    half = (none.auc_1deg_ci_high - none.auc_1deg_ci_low) / 2
    assert 0.75 < half / (1.96 * np.hypot(se_texts, se_draws)) < 1.3
    assert set(df.interval) == {VF.FLOOR_INTERVAL}


def test_variance_floor_changes_nothing_without_near_constant_dimensions(problem, clean):
    Xtr, ytr, Xte, yte = problem
    probe = clean[0]
    floored = VF.floored_probe(0.1, 0).fit(Xtr, ytr)
    df = VF.variance_floor_comparison({"none": probe, "median/10": floored}, Xte, yte, seeds=range(4), n_boot=100)
    none, fl = df.iloc[0], df.iloc[1]
    assert fl.n_floored == 0
    np.testing.assert_allclose(floored.coef_, probe.coef_, rtol=1e-9, atol=1e-12)
    for col in ("auc_clean", "norm_w_over_s", "angle_drop5_predicted_deg", "angle_half_predicted_deg",
                "auc_1deg_simulated", "auc_1deg_predicted", "std_min"):
        assert fl[col] == pytest.approx(none[col], rel=1e-9), col
    assert fl.budget_gain_half == pytest.approx(1.0, rel=1e-9)
    assert none.angle_half_predicted_deg > 10.0
