"""The closed-form drift budget against an independent measurement.

Each unit test vector z is turned by exactly θ toward a uniform direction orthogonal to it, built by a different
code path from :mod:`probedrift.science.budget`: a direction u₀ uniform on the sphere orthogonal to e₁, carried to
z's tangent space by the Householder reflection H = I − 2wwᵀ, w = (z − e₁)/‖z − e₁‖ (H e₁ = z, so H u₀ ⟂ z). The
probe scores the turned vectors through its own ``decision_function`` and scikit-learn measures the AUC; the mean
over draws is compared with :func:`probedrift.science.budget.predicted_auc`.

Design: the prediction's sensitivity to the per-text spread σ̃ grows with the angle (AUC(θ) depends on
cot θ/σ̃). At 30°–60° on this problem a 15% error in σ̃ moves the predicted AUC by 0.015–0.03, while the
Monte-Carlo standard error of the mean over 400 draws is below 0.002 and the closed form's Gaussian
approximation error is below 0.001 at d = 96: the tolerance of 0.008 passes the closed form and fails it with
σ̃ scaled by 0.85 or 1.15 (checked by planting that error in budget.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from probedrift.experiments.budget_vs_sweep import half_excess_angle
from probedrift.inputs.synthetic import axes, two_class
from probedrift.science.budget import predicted_auc
from probedrift.science.probes import paper_probe

WIDTH, N_TRAIN, N_TEST, SEPARATION = 96, 600, 200, 2.0
ANGLES_DEG = (30.0, 45.0, 60.0)
DRAWS = 400
TOLERANCE = 0.008


def householder_turn(Z: np.ndarray, theta: float, rng: np.random.Generator) -> np.ndarray:
    """cos θ · z + sin θ · u per row, u uniform on the unit sphere orthogonal to z (via a Householder reflection)."""
    n, d = Z.shape
    e1 = np.zeros(d)
    e1[0] = 1.0
    u0 = rng.standard_normal((n, d))
    u0[:, 0] = 0.0
    u0 /= np.linalg.norm(u0, axis=1, keepdims=True)
    w = Z - e1
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    U = u0 - 2.0 * w * np.einsum("ij,ij->i", w, u0)[:, None]
    return np.cos(theta) * Z + np.sin(theta) * U


@pytest.fixture(scope="module")
def problem():
    class_axes = axes(WIDTH, seed=11)
    X_train, y_train = two_class(N_TRAIN, WIDTH, 1, class_axes=class_axes, separation=SEPARATION)
    X_test, y_test = two_class(N_TEST, WIDTH, 2, class_axes=class_axes, separation=SEPARATION)
    Z = X_test.astype(np.float64)
    return paper_probe(0).fit(X_train, y_train), Z / np.linalg.norm(Z, axis=1, keepdims=True), y_test


def test_the_householder_turn_moves_every_vector_by_exactly_theta(problem):
    _, Z, _ = problem
    turned = householder_turn(Z, np.radians(40.0), np.random.default_rng(0))
    assert np.allclose(np.linalg.norm(turned, axis=1), 1.0)
    assert np.allclose(np.degrees(np.arccos(np.einsum("ij,ij->i", Z, turned))), 40.0)


def test_the_closed_form_matches_the_measured_auc_of_turned_vectors(problem):
    probe, Z, y = problem
    clean = roc_auc_score(y, probe.decision_function(Z))
    predicted = predicted_auc(probe, Z, y, ANGLES_DEG)
    rng = np.random.default_rng(2024)
    for angle, expected in zip(ANGLES_DEG, predicted):
        aucs = np.array([roc_auc_score(y, probe.decision_function(householder_turn(Z, np.radians(angle), rng)))
                         for _ in range(DRAWS)])
        se = aucs.std(ddof=1) / np.sqrt(DRAWS)
        assert se < TOLERANCE / 4, f"{angle}°: too few draws for the tolerance (se {se:.4f})"
        assert expected == pytest.approx(aucs.mean(), abs=TOLERANCE), f"{angle}°"
        assert clean - aucs.mean() > 2 * TOLERANCE, f"{angle}°: the drift must cost more AUC than the tolerance"


def test_half_excess_angle_interpolates_the_merged_curve():
    # clean 0.9: the half-excess level is 0.7, reached between 20° (0.75) and 40° (0.65), at 30°
    points = pd.DataFrame({"sigma": [0.0, 0.0, 0.1, 0.2, 0.01, 0.02],
                           "angle_deg_mean": [0.0, 0.0, 20.0, 40.0, 1.0, 2.0],
                           "auc": [0.9, 0.9, 0.75, 0.65, 0.9, 0.89]})
    assert half_excess_angle(points) == pytest.approx(30.0)
    assert np.isnan(half_excess_angle(points.assign(auc=[0.9, 0.9, 0.85, 0.8, 0.9, 0.9])))
    assert np.isnan(half_excess_angle(points.assign(auc=0.5)))
