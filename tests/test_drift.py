"""Tests for probedrift.science.drift: the angle of every drift convention against an independent computation,
seeding, directions, and the registry of drift types."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import angle_deg, haar_orthogonal, normalize, paper_literal_matrix, rotation_matrix
from probedrift.inputs.synthetic import two_class
from probedrift.science.drift import (
    DRIFT_TYPES,
    convention_names,
    conventions_table,
    drift_direction,
    paper_conventions,
    register_drift,
    resolve_conventions,
    unregister_drift,
)
from probedrift.science.drift_forms import DriftForm, DriftInputs
from probedrift.science.metrics import roc_auc
from probedrift.science.sweep import DriftedSet, drift, sweep

SETTINGS = settings(deadline=None, max_examples=15, derandomize=True)
ALL_PAIRS = [(t, c) for t in DRIFT_TYPES for c in convention_names(t)]
SEEDED_PAIRS = [p for p in ALL_PAIRS if p[1] not in ("class_mean_difference", "top_pc")]


def _sphere(n: int, d: int, seed: int) -> np.ndarray:
    return normalize(np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32))


@pytest.fixture(scope="module")
def labelled():
    """Two Gaussian classes with a shared offset, separation d' = 1.7, class axes of seed 99."""
    x_ref, y_ref = two_class(1500, 48, seed=1)
    x, y = two_class(600, 48, seed=2)
    return x_ref, y_ref, x, y


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


def _explicit_true_rotation(d: int, theta: float, seed: int) -> np.ndarray:
    """cos θ I + sin θ Q J₀ Qᵀ with J₀ written out (even d)."""
    Q = haar_orthogonal(d, seed)
    J0 = np.kron(np.eye(d // 2), [[0.0, -1.0], [1.0, 0.0]])
    return np.cos(theta) * np.eye(d) + np.sin(theta) * (Q @ J0 @ Q.T)


def _independent_tangent(z: np.ndarray, sigma: float, v: np.ndarray) -> np.ndarray:
    """Angle (degrees) between z and z + σ v, per row, from the parts of v along and across z."""
    along = np.einsum("ij,ij->i", z, v) if v.ndim == 2 else z @ v
    across = np.sqrt(np.maximum(np.einsum("ij,ij->i", v, v) if v.ndim == 2 else v @ v, 0) - along**2)
    return np.degrees(np.arctan2(sigma * across, 1.0 + sigma * along))


@pytest.fixture(scope="module")
def wide_reference(labelled):
    """A labelled reference set of width 640 with one dominant direction of variance, and that
    direction from an eigendecomposition of its covariance (scikit-learn's sign: largest loading > 0)."""
    x_ref, y_ref = labelled[0][:400], labelled[1][:400]
    rng = np.random.default_rng(1)
    spread = np.outer(rng.standard_normal(400), rng.standard_normal(640))
    ref = normalize(x_ref @ rng.standard_normal((48, 640)) + spread)
    top = np.linalg.eigh(np.cov(ref.astype(np.float64), rowvar=False))[1][:, -1]
    return ref, y_ref, top * np.sign(top[np.argmax(np.abs(top))])


@pytest.mark.parametrize("sigma", [0.02, 0.15])
@pytest.mark.parametrize(("drift_type", "convention"), ALL_PAIRS)
def test_every_convention_moves_embeddings_by_its_documented_angle(wide_reference, drift_type, convention, sigma):
    """Each convention's measured angle against the angle of its formula, recomputed here from the
    seed's raw draws (numpy RNG, eigendecomposition, the rotation matrices), and against the closed
    form of its expected size quoted in the module docstring."""
    ref, y_ref, top_pc = wide_reference
    d, seed = ref.shape[1], 7
    z64 = _sphere(300, d, 0).astype(np.float64)
    ds = drift(z64.astype(np.float32), drift_type, convention, [sigma], seed, reference=ref, reference_labels=y_ref)
    measured = ds.angles_deg[0].astype(np.float64)
    theta = sigma * np.pi / 2
    if drift_type == "gaussian":
        g = np.random.default_rng(seed).standard_normal((300, d), dtype=np.float32).astype(np.float64)
        noise = g if convention == "per_dim" else g / np.linalg.norm(g, axis=1, keepdims=True)
        expected = _independent_tangent(z64, sigma, noise)
        law = np.arctan(sigma * np.sqrt(d) if convention == "per_dim" else sigma)
    elif drift_type == "directional":
        if convention == "random":
            v = np.random.default_rng(seed).standard_normal(d)
        elif convention == "class_mean_difference":
            v = ref[y_ref == 0].mean(0) - ref[y_ref == 1].mean(0)
        else:
            v = top_pc
        v = v / np.linalg.norm(v)
        expected = _independent_tangent(z64, sigma, v)
        # atan σ holds for a direction nearly orthogonal to z (a random one), not for data-derived ones
        law = np.arctan(sigma) if convention == "random" else None
    elif convention == "true":
        expected = angle_deg(z64, z64 @ _explicit_true_rotation(d, theta, seed).T)
        law = theta
        np.testing.assert_allclose(measured, np.degrees(theta), atol=2e-3)  # exactly θ for every vector
    else:
        expected = angle_deg(z64, z64 @ paper_literal_matrix(d, theta, seed).T)
        law = theta
    np.testing.assert_allclose(measured, expected, atol=2e-3, rtol=1e-4)
    if law is not None:
        assert measured.mean() == pytest.approx(np.degrees(law), rel=0.05)


# --------------------------------------------------------------------------- registry


def test_registry_constants_and_table_describe_the_built_in_drifts():
    assert DRIFT_TYPES.names() == DRIFT_TYPES.names(default_only=True) == ("gaussian", "directional", "rotation")
    assert {t: convention_names(t) for t in DRIFT_TYPES} == {
        "gaussian": ("per_dim", "relative"),
        "directional": ("random", "class_mean_difference", "top_pc"),
        "rotation": ("true", "paper_literal"),
    }
    table = conventions_table()
    assert list(table.columns) == ["drift_type", "convention", "paper", "formula", "doc"]
    assert list(zip(table.drift_type, table.convention, strict=True)) == ALL_PAIRS
    assert table.paper.dtype == bool
    assert dict(zip(table.drift_type[table.paper], table.convention[table.paper], strict=True)) == paper_conventions()
    assert table.formula.str.len().min() > 10 and table.doc.str.len().min() > 10
    assert "σ√d" in table.set_index("convention").loc["per_dim", "doc"]


def test_resolve_conventions():
    assert resolve_conventions(DRIFT_TYPES, None) == ALL_PAIRS
    assert resolve_conventions(list(DRIFT_TYPES), "all") == ALL_PAIRS
    assert resolve_conventions(DRIFT_TYPES, "paper") == list(paper_conventions().items())
    assert paper_conventions() == {"gaussian": "per_dim", "directional": "random", "rotation": "paper_literal"}
    assert resolve_conventions("rotation", {"rotation": "true", "gaussian": ["relative"]}) == [("rotation", "true")]
    assert resolve_conventions(["gaussian", "rotation"], {"gaussian": ["relative", "relative"]}) == [
        ("gaussian", "relative"),
        ("rotation", "true"),
        ("rotation", "paper_literal"),
    ]
    with pytest.raises(ProbedriftError, match="unknown drift type 'shear'"):
        resolve_conventions(["gaussian", "shear"], None)
    with pytest.raises(ProbedriftError, match="(?s)unknown rotation convention 'per_dim'.*true, paper_literal"):
        resolve_conventions("rotation", {"rotation": ["per_dim"]})
    with pytest.raises(ProbedriftError, match="unknown drift type in conventions 'rotations'"):
        resolve_conventions("rotation", {"rotations": ["true"]})
    with pytest.raises(ProbedriftError, match="unknown conventions 'literal'"):
        resolve_conventions("rotation", "literal")
    with pytest.raises(ProbedriftError, match="a mapping: list"):
        resolve_conventions("rotation", ["true"])


@pytest.fixture
def toy_drifts():
    """Two drift conventions registered for one test: a linear shift along the first axis, and a
    non-linear one (registered with linear=False); both are unregistered afterwards."""

    @register_drift("toy", "first_axis", paper=True, formula="Normalize(z + σ e₁)")
    def first_axis(inputs: DriftInputs) -> DriftForm:
        """A shift along the first coordinate axis."""
        return inputs.shift(np.eye(inputs.d, dtype=np.float32)[0])

    @register_drift("toy", "cubed", linear=False, seeded=False, formula="Normalize(z + σ z³)", doc="cubes")
    def cubed(inputs: DriftInputs) -> np.ndarray:
        return inputs.z[None] + inputs.sigmas[:, None, None] * inputs.z[None] ** 3

    try:
        yield
    finally:
        unregister_drift("toy", "first_axis")
        unregister_drift("toy", "cubed")


def test_a_registered_drift_type_runs_everywhere(labelled, toy_drifts):
    x_ref, y_ref, x, y = labelled
    assert DRIFT_TYPES.names()[-1] == "toy" and convention_names("toy") == ("first_axis", "cubed")
    assert paper_conventions()["toy"] == "first_axis"
    row = conventions_table().set_index(["drift_type", "convention"]).loc[("toy", "first_axis")]
    assert row.paper and row.formula == "Normalize(z + σ e₁)" and row.doc == "A shift along the first coordinate axis."
    ds = drift(x, "toy", "first_axis", [0.0, 0.1], seed=0)
    shifted = x.astype(np.float64) + 0.1 * np.eye(48)[0]
    np.testing.assert_allclose(ds.embeddings[1], normalize(shifted), atol=1e-6)
    clf = LogisticRegression(max_iter=2000).fit(x_ref, y_ref)
    df = sweep(x, y, lambda m: clf.predict_proba(m)[:, 1], drift_types="toy", sigmas=[0.0, 0.1, 0.3], seeds=[0, 1],
               progress=False)
    assert len(df) == 2 * 3 * 2 and set(df.convention) == {"first_axis", "cubed"}
    cubed = df[df.convention == "cubed"]
    np.testing.assert_array_equal(cubed[cubed.seed == 0].auc, cubed[cubed.seed == 1].auc)  # seeded=False
    assert resolve_conventions(DRIFT_TYPES, "paper")[-1] == ("toy", "first_axis")


def test_registration_errors(toy_drifts):
    with pytest.raises(ProbedriftError, match="already registered"):
        register_drift("toy", "first_axis", formula="f")(lambda inputs: None)
    with pytest.raises(ProbedriftError, match="already has the paper convention 'first_axis'"):
        register_drift("toy", "other", paper=True, formula="f")(lambda inputs: None)
    with pytest.raises(ProbedriftError, match="drift_type must be a name"):
        register_drift("a toy", "x", formula="f")
    register_drift("toy", "broken", formula="f")(lambda inputs: inputs.z)
    try:
        with pytest.raises(ProbedriftError, match="not a DriftForm"):
            drift(_sphere(5, 4, 0), "toy", "broken", [0.1], seed=0)
    finally:
        unregister_drift("toy", "broken")
    with pytest.raises(ProbedriftError, match="unknown toy convention 'broken'"):
        unregister_drift("toy", "broken")


def test_an_unknown_drift_type_names_the_registered_ones():
    for call in (lambda: DRIFT_TYPES.get("shear"), lambda: resolve_conventions(["shear"], None),
                 lambda: convention_names("shear"), lambda: drift(_sphere(4, 8, 0), "shear", "x", [0.1], seed=0)):
        with pytest.raises(ProbedriftError, match="unknown drift type 'shear'") as err:
            call()
        assert "use one of: gaussian, directional, rotation" in str(err.value)


def test_a_throwaway_drift_type_touches_nothing_else_and_leaves_no_trace():
    """Registering a type adds exactly its own entries (registry, resolve_conventions, the table);
    default=False keeps it out of a run's default types; removing its last convention removes the type."""
    before = (DRIFT_TYPES.names(), resolve_conventions(DRIFT_TYPES, "all"), conventions_table(), paper_conventions())

    @register_drift("throwaway", "half", formula="Normalize(z + σ z/2)", default=False)
    def half(inputs: DriftInputs) -> DriftForm:
        """Moves nothing: a shift along z itself."""
        return inputs.shift(inputs.z * 0.5)

    try:
        assert DRIFT_TYPES.names() == (*before[0], "throwaway")
        assert DRIFT_TYPES.names(default_only=True) == before[0]
        assert resolve_conventions(DRIFT_TYPES, "all") == [*before[1], ("throwaway", "half")]
        assert resolve_conventions("throwaway", None) == [("throwaway", "half")]
        assert conventions_table().iloc[:-1].equals(before[2]) and paper_conventions() == before[3]
        with pytest.raises(ProbedriftError, match="drift type 'throwaway' has no paper convention"):
            resolve_conventions(DRIFT_TYPES, "paper")
        z = _sphere(10, 6, 0)
        moved = drift(z, "throwaway", "half", [0.3], seed=0)
        np.testing.assert_allclose(moved.embeddings[0], z, atol=1e-6)
        np.testing.assert_allclose(moved.angles_deg, 0, atol=1e-4)
    finally:
        assert unregister_drift("throwaway", "half").build is half
    assert DRIFT_TYPES.names() == before[0] and "throwaway" not in DRIFT_TYPES
    assert resolve_conventions(DRIFT_TYPES, "all") == before[1] and conventions_table().equals(before[2])
