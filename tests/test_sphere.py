"""Tests for probedrift.core.sphere: normalisation, angles, Haar-random orthogonal matrices, the complex
structure and the rotation matrices, each against a known answer or an independent computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import (
    angle_deg,
    apply_complex_structure,
    check_seed,
    check_width,
    complex_structure,
    haar_orthogonal,
    normalize,
    orthogonality_error,
    paper_literal_matrix,
    rotation_matrix,
)

SETTINGS = settings(deadline=None, max_examples=15, derandomize=True)


def _sphere(n: int, d: int, seed: int) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


def test_normalize_is_safe_for_zero_rows_and_keeps_dtype():
    z = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    out = normalize(z)
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])
    assert out.dtype == np.float32
    assert normalize(np.array([[1, 1]])).dtype == np.float32


def test_angle_deg_known_values_and_small_angles():
    a = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    b = np.array([[0.0, 3.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 0.0]])
    out = angle_deg(a, b)
    np.testing.assert_allclose(out[:3], [90.0, 0.0, 180.0], atol=1e-10)
    assert np.isnan(out[3])
    # 0.01 degree in float32: the arccos form would return 0 or a value off by ~100%
    t = np.radians(0.01)
    small = angle_deg(np.float32([[1, 0, 0]]), np.float32([[np.cos(t), np.sin(t), 0]]))
    assert small[0] == pytest.approx(0.01, rel=1e-3)


@SETTINGS
@given(d=st.integers(1, 40).map(lambda k: 2 * k), theta=st.floats(0.0, np.pi), seed=st.integers(0, 1000))
def test_rotation_matrix_is_orthogonal_and_moves_every_vector_by_theta(d, theta, seed):
    R = rotation_matrix(d, theta, seed)
    np.testing.assert_allclose(R.T @ R, np.eye(d), atol=1e-5)
    z = _sphere(20, d, seed).astype(np.float64)
    np.testing.assert_allclose(angle_deg(z, z @ R.T), np.degrees(theta), atol=1e-5)


def test_rotation_matrix_odd_dimension_fixes_one_axis():
    d, theta = 9, 0.4
    R = rotation_matrix(d, theta, seed=5)
    np.testing.assert_allclose(R.T @ R, np.eye(d), atol=1e-10)
    w, v = np.linalg.eig(R)
    fixed = np.real(v[:, np.argmin(np.abs(w - 1))])
    np.testing.assert_allclose(R @ fixed, fixed, atol=1e-10)
    ang = angle_deg(_sphere(200, d, 1).astype(np.float64), _sphere(200, d, 1) @ R.T)
    assert ang.max() <= np.degrees(theta) + 1e-4 and ang.min() < np.degrees(theta) - 0.1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_haar_matrix_is_the_positive_diagonal_qr_factor_of_the_seeds_gaussian(seed):
    d = 128
    G = np.random.default_rng(seed).standard_normal((d, d))
    Q, R = np.linalg.qr(G)
    np.testing.assert_allclose(haar_orthogonal.__wrapped__(d, seed), Q * np.sign(np.diag(R)), atol=1e-9)


def test_orthogonality_check_certifies_or_measures():
    Q = np.array(haar_orthogonal(64, 0))
    assert orthogonality_error(Q) < 1e-8
    bent = Q.copy()
    bent[:, 0] *= 1 + 1e-5
    measured = orthogonality_error(bent)
    assert measured == pytest.approx(np.abs(bent.T @ bent - np.eye(64)).max(), rel=1e-6)
    assert measured > 1e-6


@pytest.mark.parametrize("d", [16, 17])
def test_complex_structure_is_q_j0_qt_formed_once(d):
    Q = haar_orthogonal(d, 4)
    J0 = np.zeros((d, d))
    J0[: d - d % 2, : d - d % 2] = np.kron(np.eye(d // 2), [[0.0, -1.0], [1.0, 0.0]])
    J = complex_structure(Q)
    np.testing.assert_allclose(J, Q @ J0 @ Q.T, atol=1e-12)
    assert np.array_equal(J, -J.T)
    z = _sphere(30, d, 1)
    np.testing.assert_allclose(z @ J.T, apply_complex_structure(z.astype(np.float64), Q), atol=1e-12)


def test_paper_literal_matrix_is_cos_i_plus_sin_q_with_the_seeds_haar_matrix():
    theta, d = 0.3, 12
    Q = haar_orthogonal(d, 5)
    np.testing.assert_allclose(paper_literal_matrix(d, theta, 5), np.cos(theta) * np.eye(d) + np.sin(theta) * Q,
                               atol=1e-15)
    np.testing.assert_allclose(Q.T @ Q, np.eye(d), atol=1e-10)
    assert not Q.flags.writeable  # shared through the cache


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_seed_and_width_checks(bad):
    with pytest.raises(ProbedriftError, match="seed"):
        check_seed(bad)
    with pytest.raises(ProbedriftError, match="d must be an integer"):
        check_width(bad)
    with pytest.raises(ProbedriftError, match="d must be an integer"):
        rotation_matrix(1, 0.1, 0)
    assert check_seed(np.int64(3)) == 3 and check_width(np.int32(2)) == 2
