"""Alignment maps: exact recovery of known maps, the identity-closest completion, the probe's AUC after a fix."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.stats import ortho_group
from sklearn.metrics import roc_auc_score

from probedrift.core.errors import ProbedriftError
from probedrift.science.align import (
    ALPHA_GRID,
    Aligner,
    _procrustes_closest_to_identity,
    fit_aligner,
    fit_linear_map,
    fit_procrustes,
)
from probedrift.science.probes import LinearProbe


def haar(d: int, seed: int) -> np.ndarray:
    return ortho_group.rvs(d, random_state=seed)


def test_procrustes_recovers_a_known_rotation_and_translation():
    rng = np.random.default_rng(0)
    d = 16
    A = rng.standard_normal((200, d))
    R, shift = haar(d, 1), rng.standard_normal(d)
    B = A @ R + shift
    al = fit_procrustes(A, B)
    assert al.method == "procrustes" and al.n_anchors == 200
    assert np.abs(al.weight - R).max() < 1e-6
    assert np.abs(al.bias - shift).max() < 1e-6
    assert np.abs(al.transform(A) - B).max() < 1e-6


def test_procrustes_without_centering_has_no_bias():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((50, 8))
    R = haar(8, 2)
    al = fit_procrustes(A, A @ R, center=False)
    assert np.abs(al.weight - R).max() < 1e-6
    assert np.all(al.bias == 0)


def test_few_anchors_leave_unconstrained_directions_in_place():
    # R rotates the plane of q0, q1 by 20 degrees (q = a random orthonormal basis); the anchors live in
    # span(q0, q1, q2). The anchors determine R there; every direction they do not touch should stay.
    d, theta = 24, np.radians(20)
    Q = haar(d, 3)
    plane = np.eye(d)
    plane[:2, :2] = [[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]
    R = Q @ plane @ Q.T
    A = np.random.default_rng(3).standard_normal((5, 3)) @ Q[:, :3].T
    al = fit_procrustes(A, A @ R, center=False)
    assert np.abs(al.weight - R).max() < 1e-9
    # The library's own minimiser fits the anchors just as well but turns the untouched directions.
    plain, _ = scipy.linalg.orthogonal_procrustes(A, A @ R)
    untouched = Q[:, 3:]
    assert np.abs(A @ plain - A @ R).max() < 1e-9
    assert np.abs(untouched.T @ al.weight @ untouched - np.eye(d - 3)).max() < 1e-9
    assert np.abs(untouched.T @ plain @ untouched - np.eye(d - 3)).max() > 0.1


@pytest.mark.parametrize("k", [3, 8, 20])
def test_low_rank_shortcut_matches_the_dense_solution(k):
    rng = np.random.default_rng(k)
    d = 60
    A = rng.standard_normal((k, d))
    B = 0.7 * A @ haar(d, k) + 0.3 * rng.standard_normal((k, d))
    al = fit_procrustes(A, B)
    Ac, Bc = A - A.mean(0), B - B.mean(0)
    dense = _procrustes_closest_to_identity(Ac, Bc)
    assert np.abs(al.weight - dense).max() < 1e-9
    assert np.abs(al.weight.T @ al.weight - np.eye(d)).max() < 1e-9
    # Same residual as the library's minimiser: the completion only picks among equal fits.
    plain, _ = scipy.linalg.orthogonal_procrustes(Ac, Bc)
    assert np.linalg.norm(Ac @ al.weight - Bc) == pytest.approx(np.linalg.norm(Ac @ plain - Bc), rel=1e-9)
    assert np.trace(al.weight) >= np.trace(plain) - 1e-9


def test_linear_map_recovers_a_known_linear_map():
    rng = np.random.default_rng(4)
    A = rng.standard_normal((300, 24))
    W, b = rng.standard_normal((24, 10)), rng.standard_normal(10)
    B = A @ W + b
    al = fit_linear_map(A, B, alpha=0)
    assert al.method == "linear" and (al.d_new, al.d_old) == (24, 10)
    assert np.abs(al.weight - W).max() < 1e-6
    assert np.abs(al.bias - b).max() < 1e-6
    ridge = fit_linear_map(A, B, alpha=1.0)
    assert 1e-6 < np.abs(ridge.weight - W).max() < 0.05  # shrunk a little, not much
    cv = fit_linear_map(A, B + 0.01 * rng.standard_normal(B.shape), alpha="cv")
    assert cv.alpha in ALPHA_GRID
    assert np.abs(cv.weight - W).max() < 0.05


def test_auto_picks_by_width():
    rng = np.random.default_rng(5)
    A = rng.standard_normal((30, 6))
    assert fit_aligner(A, A @ haar(6, 0)).method == "procrustes"
    assert fit_aligner(A, A[:, :4]).method == "linear"
    assert fit_aligner(A, A, method="linear").method == "linear"


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda A: fit_procrustes(A, A[:, :3]), "equal widths"),
        (lambda A: fit_aligner(A, A, method="cca"), "procrustes"),
        (lambda A: fit_linear_map(A, A[:-1]), "rows"),
        (lambda A: fit_linear_map(A, A, alpha=-1), "alpha"),
        (lambda A: fit_linear_map(A, A, alpha="gcv"), "cv"),
        (lambda A: fit_procrustes(A[:1], A[:1]), "at least 2"),
        (lambda A: fit_procrustes(np.where(A > 1, np.nan, A), A), "NaN"),
        (lambda A: fit_procrustes(A, A).transform(A[:, :3]), "d=5"),
    ],
)
def test_bad_input_is_a_clear_error(call, match):
    A = np.random.default_rng(6).standard_normal((10, 5))
    with pytest.raises(ProbedriftError, match=match):
        call(A)


def two_classes(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    direction = np.random.default_rng(99).standard_normal(d)
    direction /= np.linalg.norm(direction)
    y = np.arange(n) % 2
    X = rng.standard_normal((n, d)) + 1.5 * (y[:, None] - 0.5) * direction + 3.0
    return X, y


def test_aligning_a_rotated_set_restores_the_frozen_probes_auc():
    d = 32
    X_tr, y_tr = two_classes(400, d, 7)
    X_te, y_te = two_classes(300, d, 8)
    probe = LinearProbe(seed=0).fit(X_tr, y_tr)
    clean = roc_auc_score(y_te, probe.decision_function(X_te))
    R = haar(d, 9)
    frozen = roc_auc_score(y_te, probe.decision_function(X_te @ R))
    assert frozen < clean - 0.1
    anchors = np.random.default_rng(10).choice(len(X_tr), size=64, replace=False)
    al = fit_aligner(X_tr[anchors] @ R, X_tr[anchors])
    fixed = roc_auc_score(y_te, probe.decision_function(al.transform(X_te @ R)))
    assert fixed == pytest.approx(clean, abs=1e-3)


def test_a_linear_adapter_lets_the_frozen_probe_read_a_wider_model():
    d = 32
    X_tr, y_tr = two_classes(400, d, 11)
    X_te, y_te = two_classes(300, d, 12)
    probe = LinearProbe(seed=0).fit(X_tr, y_tr)
    clean = roc_auc_score(y_te, probe.decision_function(X_te))
    M = np.random.default_rng(13).standard_normal((d, 48))  # the "new model": wider, same information
    anchors = np.random.default_rng(14).choice(len(X_tr), size=120, replace=False)
    al = fit_aligner(X_tr[anchors] @ M, X_tr[anchors])
    assert isinstance(al, Aligner) and al.method == "linear"
    fixed = roc_auc_score(y_te, probe.decision_function(al.transform(X_te @ M)))
    assert fixed == pytest.approx(clean, abs=0.01)
