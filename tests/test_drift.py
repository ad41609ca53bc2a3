"""Tests for probedrift.drift: geometry of every drift convention, seeding, the sweep and its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from probedrift.drift import (
    CONVENTIONS,
    DRIFT_TYPES,
    PAPER_CONVENTIONS,
    SWEEP_COLUMNS,
    DriftedSet,
    angle_deg,
    drift,
    drift_direction,
    normalize,
    paper_literal_matrix,
    rotation_matrix,
    sweep,
)
from probedrift.errors import ProbedriftError
from probedrift.metrics import roc_auc

SETTINGS = settings(deadline=None, max_examples=15, derandomize=True)
ALL_PAIRS = [(t, c) for t in DRIFT_TYPES for c in CONVENTIONS[t]]
SEEDED_PAIRS = [p for p in ALL_PAIRS if p[1] not in ("class_mean_difference", "top_pc")]
ROOT = Path(__file__).resolve().parents[1]


def _sphere(n: int, d: int, seed: int) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


def _two_class(n: int, d: int, seed: int, axes_seed: int = 99):
    """Unit embeddings of two Gaussian classes with a shared offset (as in the benchmark)."""
    ax = np.random.default_rng(axes_seed)
    u, offset = normalize(ax.standard_normal(d)), normalize(ax.standard_normal(d))
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % 2)
    x = offset + (y[:, None] - 0.5) * (1.7 / np.sqrt(d)) * u + rng.standard_normal((n, d)) / np.sqrt(d)
    return normalize(x.astype(np.float32)), y


@pytest.fixture(scope="module")
def labelled():
    x_ref, y_ref = _two_class(1500, 48, seed=1)
    x, y = _two_class(600, 48, seed=2)
    return x_ref, y_ref, x, y


# --------------------------------------------------------------------------- helpers


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


# --------------------------------------------------------------------------- geometry of every convention


@pytest.mark.parametrize(("drift_type", "convention"), ALL_PAIRS)
def test_every_drift_keeps_unit_norm_and_zero_sigma_is_identity(labelled, drift_type, convention):
    x_ref, y_ref, x, _ = labelled
    ds = drift(
        x, drift_type, convention, [0.0, 0.02, 0.15, 0.5], seed=3, reference=x_ref, reference_labels=y_ref
    )
    assert isinstance(ds, DriftedSet)
    assert ds.embeddings.shape == (4, *x.shape) and ds.embeddings.dtype == np.float32
    assert ds.angles_deg.shape == (4, x.shape[0]) and ds.angles_deg.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ds.embeddings, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(ds.embeddings[0], x)
    assert (ds.angles_deg[0] == 0).all()
    # the angle grows with σ, and the reported angle is the measured one
    means = ds.angles_deg.mean(axis=1)
    assert np.all(np.diff(means) > 0)
    np.testing.assert_allclose(ds.angles_deg[2], angle_deg(x, ds.embeddings[2]), atol=1e-3)


@SETTINGS
@given(
    n=st.integers(1, 30),
    d=st.integers(2, 40),
    seed=st.integers(0, 2**31),
    sigma=st.floats(0.0, 3.0),
    pair=st.sampled_from(SEEDED_PAIRS),
)
def test_unit_norm_for_any_shape(n, d, seed, sigma, pair):
    z = _sphere(n, d, seed % 1000)
    ds = drift(z, *pair, [sigma], seed)
    np.testing.assert_allclose(np.linalg.norm(ds.embeddings[0], axis=-1), 1.0, atol=1e-5)
    assert np.isfinite(ds.angles_deg).all()


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


@pytest.mark.parametrize("d", [16, 17])
def test_true_rotation_drift_applies_rotation_matrix(d):
    z = _sphere(50, d, 0)
    sigma = 0.15
    ds = drift(z, "rotation", "true", [sigma], seed=8)
    R = rotation_matrix(d, sigma * np.pi / 2, seed=8)
    np.testing.assert_allclose(ds.embeddings[0], z @ R.T, atol=1e-5)
    if d % 2 == 0:
        np.testing.assert_allclose(ds.angles_deg[0], np.degrees(sigma * np.pi / 2), atol=2e-3)


def test_theta_per_sigma_scales_the_rotation_angle():
    z = _sphere(30, 32, 0)
    ds = drift(z, "rotation", "true", [0.1], seed=1, theta_per_sigma=np.pi)
    np.testing.assert_allclose(ds.angles_deg[0], 18.0, atol=2e-3)


def test_paper_literal_is_not_a_rotation():
    d = 256
    z = _sphere(40, d, 0)
    for sigma in (0.02, 0.15):
        theta = sigma * np.pi / 2
        M = paper_literal_matrix(d, theta, seed=2)
        gap = np.linalg.norm(M.T @ M - np.eye(d), 2)
        assert gap > 0.5 * np.sin(2 * theta)  # ≈ sin 2θ in high dimension
        ds = drift(z, "rotation", "paper_literal", [sigma], seed=2)
        np.testing.assert_allclose(ds.embeddings[0], normalize(z @ M.T.astype(np.float32)), atol=1e-5)
        # after Normalize it still moves vectors by roughly θ (open question 3)
        assert ds.angles_deg[0].mean() == pytest.approx(np.degrees(theta), rel=0.05)
    assert np.linalg.norm(paper_literal_matrix(d, 0.0, 2) - np.eye(d)) == 0


@pytest.mark.parametrize("sigma", [0.02, 0.15])
def test_relative_gaussian_angle_is_atan_sigma(sigma):
    ds = drift(_sphere(400, 512, 0), "gaussian", "relative", [sigma], seed=1)
    expected = np.degrees(np.arctan(sigma))
    assert ds.angles_deg[0].mean() == pytest.approx(expected, rel=0.02)
    assert ds.angles_deg[0].std() < 0.1 * expected


@pytest.mark.parametrize(("d", "sigma"), [(640, 0.02), (128, 0.05)])
def test_per_dim_gaussian_angle_is_atan_sigma_sqrt_d(d, sigma):
    ds = drift(_sphere(300, d, 0), "gaussian", "per_dim", [sigma], seed=1)
    expected = np.degrees(np.arctan(sigma * np.sqrt(d)))
    assert ds.angles_deg[0].mean() == pytest.approx(expected, rel=0.03)
    if d == 640:
        assert 25 < ds.angles_deg[0].mean() < 29  # the "≈ 27° at σ = 0.02" of the paper's formula


@pytest.mark.parametrize(("drift_type", "convention"), SEEDED_PAIRS)
def test_same_seed_same_output_different_seed_different(drift_type, convention):
    z = _sphere(40, 24, 0)
    a = drift(z, drift_type, convention, [0.05, 0.1], seed=4)
    b = drift(z, drift_type, convention, [0.05, 0.1], seed=4)
    c = drift(z, drift_type, convention, [0.05, 0.1], seed=5)
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert np.abs(a.embeddings - c.embeddings).max() > 1e-3


def test_common_random_numbers_across_sigma():
    # one noise draw per seed, scaled by σ: the drifted point moves along one ray away from z
    z = _sphere(20, 64, 0)
    ds = drift(z, "gaussian", "per_dim", [0.01, 0.02], seed=0)
    step1 = normalize(ds.embeddings[0] - z)
    step2 = normalize(ds.embeddings[1] - z)
    assert (np.einsum("ij,ij->i", step1, step2) > 0.99).all()


# --------------------------------------------------------------------------- directions


def test_drift_directions(labelled):
    x_ref, y_ref, _, _ = labelled
    v = drift_direction("class_mean_difference", x_ref, y_ref)
    mu_diff = x_ref[y_ref == 0].mean(0) - x_ref[y_ref == 1].mean(0)
    assert v @ mu_diff > 0.999 * np.linalg.norm(mu_diff)  # points from class 1 to class 0
    pc = drift_direction("top_pc", x_ref)
    eigval, eigvec = np.linalg.eigh(np.cov(x_ref.astype(np.float64), rowvar=False))
    assert abs(pc @ eigvec[:, -1]) > 0.999
    r = drift_direction("random", d=48, seed=3)
    assert np.linalg.norm(r) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(r, drift_direction("random", x_ref, seed=3))
    assert not np.array_equal(r, drift_direction("random", d=48, seed=4))


def test_class_mean_shift_moves_linear_logits_uniformly(labelled):
    x_ref, y_ref, x, y = labelled
    clf = LogisticRegression(C=10.0, max_iter=2000).fit(x_ref, y_ref)
    w, b = clf.coef_[0], clf.intercept_[0]
    ds = drift(
        x, "directional", "class_mean_difference", [0.15], seed=0, reference=x_ref, reference_labels=y_ref
    )
    shift = (ds.embeddings[0] - x) @ w
    assert shift.mean() < 0  # towards class 0
    assert shift.std() < 0.1 * abs(shift.mean())
    auc_clean = roc_auc(y, 1 / (1 + np.exp(-(x @ w + b))))
    auc_drift = roc_auc(y, 1 / (1 + np.exp(-(ds.embeddings[0] @ w + b))))
    acc_clean = ((x @ w + b > 0) == y).mean()
    acc_drift = ((ds.embeddings[0] @ w + b > 0) == y).mean()
    assert abs(auc_drift - auc_clean) < 0.005  # the ranking survives ...
    assert acc_clean - acc_drift > 0.1  # ... while the threshold decisions do not
    # isotropic noise of the same angle is the opposite: tiny mean, large spread
    noise = (drift(x, "gaussian", "relative", [0.15], seed=0).embeddings[0] - x) @ w
    assert noise.std() > abs(noise.mean())


# --------------------------------------------------------------------------- errors


def test_drift_rejects_bad_input(labelled):
    x_ref, y_ref, x, _ = labelled
    with pytest.raises(ProbedriftError, match="sigmas"):
        drift(x, "gaussian", "per_dim", [0.1, -0.01], seed=0)
    with pytest.raises(ProbedriftError, match="gaussian, directional, rotation"):
        drift(x, "shear", "per_dim", [0.1], seed=0)
    with pytest.raises(ProbedriftError, match="true, paper_literal"):
        drift(x, "rotation", "per_dim", [0.1], seed=0)
    with pytest.raises(ProbedriftError, match="reference"):
        drift(x, "directional", "top_pc", [0.1], seed=0)
    with pytest.raises(ProbedriftError, match="reference_labels"):
        drift(x, "directional", "class_mean_difference", [0.1], seed=0, reference=x_ref)
    with pytest.raises(ProbedriftError, match="unit-normalised"):
        drift(3 * x, "gaussian", "per_dim", [0.1], seed=0)
    with pytest.raises(ProbedriftError, match="seed"):
        drift(x, "gaussian", "per_dim", [0.1], seed=-1)
    with pytest.raises(ProbedriftError, match="width"):
        drift_direction("top_pc", x_ref[:, :10], d=48)


def test_paper_conventions_are_valid_and_documented():
    assert PAPER_CONVENTIONS == {"gaussian": "per_dim", "directional": "random", "rotation": "paper_literal"}
    assert all(PAPER_CONVENTIONS[t] in CONVENTIONS[t] for t in DRIFT_TYPES)


# --------------------------------------------------------------------------- sweep and benchmark


def test_sweep_table(labelled):
    x_ref, y_ref, x, y = labelled
    clf = LogisticRegression(max_iter=2000).fit(x_ref, y_ref)
    sigmas = np.array([0.0, 0.02, 0.15])
    df = sweep(
        x,
        y,
        lambda m: clf.predict_proba(m)[:, 1],
        drift_types=DRIFT_TYPES,
        sigmas=sigmas,
        seeds=[0, 1],
        reference=x_ref,
        reference_labels=y_ref,
        model="toy",
        progress=False,
    )
    assert tuple(df.columns) == SWEEP_COLUMNS
    assert len(df) == len(ALL_PAIRS) * len(sigmas) * 2
    assert not df.duplicated(["drift_type", "convention", "sigma", "seed"]).any()
    assert (df["model"] == "toy").all()
    clean_auc = roc_auc(y, clf.predict_proba(x)[:, 1])
    at_zero = df[df["sigma"] == 0]
    np.testing.assert_allclose(at_zero["auc"], clean_auc)
    assert (at_zero["angle_deg_mean"] == 0).all()
    big = df[df["sigma"] == 0.15]
    assert (big["angle_deg_mean"] > 5).all()
    assert df[["auc", "accuracy", "f1", "mean_confidence", "ece"]].notna().all().all()


def test_sweep_conventions_argument_and_probe_output(labelled):
    x_ref, y_ref, x, y = labelled
    clf = LogisticRegression(max_iter=2000).fit(x_ref, y_ref)
    def run(**kwargs):
        options = {"drift_types": DRIFT_TYPES, "sigmas": [0.1], "seeds": 0, "progress": False}
        return sweep(x, y, kwargs.pop("probe", clf.predict_proba), **{**options, **kwargs})

    paper = run(conventions="paper")
    assert sorted(zip(paper["drift_type"], paper["convention"])) == sorted(PAPER_CONVENTIONS.items())
    one = run(drift_types="rotation", conventions={"rotation": "true"}, seeds=[3])
    assert len(one) == 1 and one["convention"].iloc[0] == "true"
    with pytest.raises(ProbedriftError, match="predict_proba returned shape"):
        run(drift_types="gaussian", probe=lambda m: np.zeros((len(m), 3)))
    with pytest.raises(ProbedriftError, match="reference"):
        run(drift_types="directional")
    with pytest.raises(ProbedriftError, match="unknown conventions"):
        run(drift_types="gaussian", conventions="literal")


def test_benchmark_table_runs_at_tiny_size(capsys):
    spec = importlib.util.spec_from_file_location("drift_table", ROOT / "benchmarks" / "drift_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table = module.main(n_train=400, n_test=200, d=32, seeds=2)
    assert table.shape == (len(ALL_PAIRS), 3 * 3)
    assert list(table.columns.get_level_values(0).unique()) == ["auc", "accuracy", "angle_deg"]
    assert (table[("angle_deg", 0.0)] == 0).all()
    assert "clean test AUC" in capsys.readouterr().out
