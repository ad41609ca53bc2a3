"""The cliff on a log-spaced σ grid: interpolation, criteria, and agreement with the closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probedrift.core import grids
from probedrift.inputs.synthetic import axes, two_class
from probedrift.science import cliff
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import sweep

from .test_budget import PLANT_NOISE, plant, reference_half_budget_deg


def test_crossing_is_exact_on_a_curve_linear_in_log_angle():
    angles = np.array([0.0, 0.1, 0.2, 0.4, 0.8, 1.6])
    aucs = np.array([0.9, 0.9 - 0.1 * 0, 0.8, 0.7, 0.6, 0.5])  # falls 0.1 per doubling from 0.1°
    angle, ratio = cliff.crossing_angle(angles, aucs, 0.65)
    assert angle == pytest.approx(0.4 * math.sqrt(2), rel=1e-12) and ratio == pytest.approx(2.0)
    assert all(math.isnan(v) for v in cliff.crossing_angle(angles, aucs, 0.3))
    assert all(math.isnan(v) for v in cliff.crossing_angle(angles, aucs, math.nan))


def test_first_crossing_on_a_hand_made_curve():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    y = np.array([0.9, 0.8, 0.6, 0.5])
    assert cliff.first_crossing(x, y, 0.7) == pytest.approx(1.5)  # halfway from 0.8 to 0.6
    assert cliff.first_crossing(x, y, 0.6) == 2.0  # exactly on a grid point
    assert cliff.first_crossing(x, y, 0.5) == 3.0
    assert math.isnan(cliff.first_crossing(x, y, 0.4))  # never that low
    assert cliff.first_crossing(x, y, 0.4, never=math.inf) == math.inf
    assert math.isnan(cliff.first_crossing(x, y, math.nan))
    # a fall already at the first point: its x, NaN, or (skip) a search from the second point on
    assert cliff.first_crossing(x, y, 0.95) == 0.0
    assert math.isnan(cliff.first_crossing(x, y, 0.95, at_start="nan"))
    assert cliff.first_crossing(x, y, 0.7, at_start="skip") == pytest.approx(1.5)
    assert cliff.first_crossing(x, np.array([0.9, 0.7, 0.7, 0.7]), 0.7) == 1.0  # flat after the fall
    with pytest.raises(ValueError):
        cliff.first_crossing(x, y, 0.7, at_start="first")


def test_first_crossing_in_log_x_and_from_zero():
    x = np.array([0.0, 0.1, 0.2, 0.4])
    y = np.array([0.9, 0.9, 0.8, 0.7])
    assert cliff.first_crossing(x, y, 0.75, log_x=True) == pytest.approx(0.2 * math.sqrt(2), rel=1e-12)
    assert cliff.first_crossing(x, y, 0.75) == pytest.approx(0.3)
    # the lower bracketing point is 0: no logarithm, linear in x
    assert cliff.first_crossing(np.array([0.0, 1.0]), np.array([0.9, 0.7]), 0.8, log_x=True) == pytest.approx(0.5)


def test_linear_sweep_grid_is_the_linspace_with_the_extra_sigmas():
    grid = grids.sweep_sigma_grid(0.15, 8, [0.02, 0.15, 0.0])
    assert grid[0] == 0 and grid[-1] == 0.15 and np.all(np.diff(grid) > 0)
    assert 0.02 in grid and len(grid) == 9  # 0.15 and 0 are on the linspace already
    np.testing.assert_allclose(grids.linear_sigma_grid(0.15, 8), np.arange(8) * 0.15 / 7, rtol=0, atol=1e-15)


def test_criteria_are_defined_only_where_they_can_be_reached():
    assert cliff.target_auc(0.84, "half_excess") == pytest.approx(0.67)
    assert cliff.target_auc(0.84, "drop_20") == pytest.approx(0.64)
    assert math.isnan(cliff.target_auc(0.65, "drop_20"))  # a 20-point fall would end below chance
    assert math.isnan(cliff.target_auc(0.5, "half_excess"))
    with pytest.raises(ValueError):
        cliff.target_auc(0.8, "cliff")


def test_log_grid_keeps_consecutive_angles_within_a_factor_of_two():
    sig = grids.log_sigma_grid(1e-4, 0.15, 24)
    assert sig[0] == 0 and sig[1] == pytest.approx(1e-4) and sig[-1] == pytest.approx(0.15)
    ratios = sig[2:] / sig[1:-1]
    assert np.allclose(ratios, ratios[0]) and ratios[0] < 2
    # the per-dimension angle atan(σ√d) grows more slowly than σ, so its ratios are smaller still
    d = 640
    ang = np.degrees(np.arctan(sig[1:] * math.sqrt(d)))
    assert (ang[1:] / ang[:-1]).max() <= ratios[0] + 1e-12


def test_half_excess_angle_of_relative_drift_matches_the_closed_form():
    """Planted near-constant dimensions put the cliff near a degree; the log grid finds it where the
    closed-form drift budget (computed independently by root finding) says it is."""
    ax = axes(64)
    (Xtr, ytr), (Xte, yte) = two_class(1200, 64, 0, class_axes=ax), two_class(400, 64, 1, class_axes=ax)
    Xtr, Xte = plant(Xtr, PLANT_NOISE, 5).astype(np.float32), plant(Xte, PLANT_NOISE, 6).astype(np.float32)
    probe = paper_probe(0).fit(Xtr, ytr)
    expected = reference_half_budget_deg(probe, Xte.astype(np.float64), yte)
    sigmas = grids.log_sigma_grid(1e-5, 0.15, 30)
    _, preds = sweep(Xte, yte, probe.predict_proba, drift_types=["gaussian"], conventions={"gaussian": ["relative"]},
                     sigmas=sigmas, seeds=range(6), progress=False, return_predictions=True)
    key = ("gaussian", "relative")
    table = cliff.cliff_table(yte, preds.probabilities[key], preds.angles_deg[key], preds.sigmas, model="toy",
                              drift_type="gaussian", convention="relative", n_boot=100, seed=0)
    row = table.set_index("criterion").loc["half_excess"]
    assert 0 < expected < 5
    assert row.angle_deg == pytest.approx(expected, rel=0.25)
    assert row.n_seeds_reached == 6 and row.bracket_ratio < 2
    assert row.angle_se_texts > 0 and row.angle_se_draws >= 0
    assert table.set_index("criterion").loc["drop_20"].target_auc == pytest.approx(row.auc_clean - 0.2)
    # the same interval stated in σ: under the relative reading the noise has norm ≈ σ‖z‖ and is
    # nearly orthogonal to z in 64 dimensions, so tan θ ≈ σ and the σ bounds are the angle bounds' tangents
    lo, hi = row.sigma_ci_low, row.sigma_ci_high
    assert lo < row.sigma < hi
    for bound, angle in ((lo, row.angle_deg_ci_low), (hi, row.angle_deg_ci_high)):
        assert bound == pytest.approx(math.tan(math.radians(angle)), rel=0.02)


def _falling_stack(rates, n=300, S=12, seed=0):
    """(k, S, n) probabilities whose AUC falls with the angle at a seed-specific rate: logit = class signal
    + N(0, (rate·angle)²) noise per text, on angles geometric from 0.1° to 10° (σ = 0 first)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    signal = rng.standard_normal(n) + 1.5 * (2 * y - 1)
    grid = np.r_[0.0, np.geomspace(0.1, 10.0, S - 1)]
    P = np.empty((len(rates), S, n))
    for s, rate in enumerate(rates):
        noise = rng.standard_normal((S, n))
        P[s] = 1 / (1 + np.exp(-(signal[None] + rate * grid[:, None] * noise)))
    A = np.broadcast_to(grid[None, :, None], P.shape).astype(float)
    return y, P, A, grid


def test_seeds_that_never_fall_keep_the_interval_open_beyond_the_grid():
    """Half the seeds lose their AUC fast, half barely move on the grid: the criterion's upper end must be
    'beyond the grid' (∞ in angle and σ), and its lower end no higher than the point estimate."""
    y, P, A, grid = _falling_stack([3.0] * 4 + [0.01] * 4)
    t = cliff.cliff_table(y, P, A, grid / 100, model="toy", drift_type="gaussian", convention="relative",
                          n_boot=300, seed=0).set_index("criterion").loc["half_excess"]
    assert t.n_seeds_reached == 4 and t.n_seeds == 8
    assert t.angle_deg_ci_high == math.inf and t.sigma_ci_high == math.inf
    assert np.isfinite(t.angle_deg_ci_low) and (math.isnan(t.angle_deg) or t.angle_deg_ci_low <= t.angle_deg)


def test_without_censoring_the_percentile_interval_matches_the_normal_spread():
    """Every seed falls inside the grid: the interval is finite, holds the estimate, and its width is that
    of a normal interval from the two separate spreads, 2·1.96·√(se_texts² + se_draws²), within a factor 1.6."""
    y, P, A, grid = _falling_stack(list(np.linspace(2.0, 4.0, 8)), seed=1)
    t = cliff.cliff_table(y, P, A, grid / 100, model="toy", drift_type="gaussian", convention="relative",
                          n_boot=400, seed=0).set_index("criterion").loc["half_excess"]
    assert t.n_seeds_reached == 8 and np.isfinite(t.angle_deg_ci_high)
    assert t.angle_deg_ci_low < t.angle_deg < t.angle_deg_ci_high
    normal = 2 * 1.959964 * math.hypot(t.angle_se_texts, t.angle_se_draws)
    assert 1 / 1.6 < (t.angle_deg_ci_high - t.angle_deg_ci_low) / normal < 1.6


def test_censored_crossing_is_infinite_only_for_a_reachable_target():
    angles, aucs = np.array([0.0, 1.0, 2.0]), np.array([0.9, 0.85, 0.8])
    assert cliff.censored_crossing(angles, aucs, 0.6) == math.inf
    assert math.isnan(cliff.censored_crossing(angles, aucs, math.nan))
    assert cliff.censored_crossing(angles, aucs, 0.85) == pytest.approx(1.0)
