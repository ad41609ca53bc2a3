"""Probes: fit quality, the numpy fast path, persistence, input checks, temperature, C selection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from probedrift.core.errors import ProbedriftError
from probedrift.science.probe_fits import binary_nll
from probedrift.science.probes import (
    C_GRID,
    PROBE_KINDS,
    AffineForm,
    LinearProbe,
    MLPProbe,
    affine_form_of,
    load_probe,
    train_probe,
)

D = 32


def toy(n: int, seed: int, *, d: int = D, sep: float = 3.0, label_noise: float = 0.0):
    """Two Gaussian classes ``sep`` apart along a random direction, plus a shared offset."""
    rng = np.random.default_rng(seed)
    direction = np.random.default_rng(123).standard_normal(d)
    direction /= np.linalg.norm(direction)
    y = np.r_[np.zeros(n // 2), np.ones(n - n // 2)].astype(int)
    X = rng.standard_normal((n, d)) + sep * (y[:, None] - 0.5) * direction + 2.0
    if label_noise:
        flip = rng.random(n) < label_noise
        y = np.where(flip, 1 - y, y)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def data():
    return toy(600, 0), toy(300, 1)


@pytest.fixture(scope="module")
def linear(data):
    (X, y), _ = data
    return LinearProbe().fit(X, y)


def test_separable_toy_gives_auc_near_one(linear, data):
    _, (Xt, yt) = data
    assert roc_auc_score(yt, linear.predict_proba(Xt)) > 0.97
    assert np.mean(linear.predict(Xt) == yt) > 0.9


def test_numpy_path_matches_the_sklearn_pipeline(linear, data):
    (X, y), (Xt, _) = data
    ref = make_pipeline(
        Normalizer(),
        StandardScaler(),
        LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=0),
    ).fit(X, y)
    np.testing.assert_allclose(linear.predict_proba(Xt), ref.predict_proba(Xt)[:, 1], atol=2e-5)
    assert linear.predict_proba(Xt).shape == (Xt.shape[0],)
    assert linear.predict_proba(Xt).dtype == np.float64


def test_float64_input_gives_the_same_probabilities(linear, data):
    _, (Xt, _) = data
    np.testing.assert_allclose(linear.predict_proba(Xt.astype(np.float64)), linear.predict_proba(Xt), atol=1e-5)


def test_zero_rows_do_not_produce_nan(linear):
    assert np.all(np.isfinite(linear.predict_proba(np.zeros((3, D), np.float32))))


@pytest.mark.parametrize("kind", PROBE_KINDS)
def test_save_load_round_trip_is_exact(tmp_path, data, kind):
    (X, y), (Xt, _) = data
    probe = train_probe(kind, X, y, X_val=Xt, y_val=(Xt[:, 0] > 0).astype(int), calibrate=True)
    out = probe.save(tmp_path / "p")
    assert sorted(f.name for f in out.iterdir()) == ["probe.json", "probe.safetensors"]
    meta = json.loads((out / "probe.json").read_text())
    assert meta["kind"] == kind and meta["n_features"] == D
    assert meta["class_counts"] == [300, 300] and meta["positive_fraction"] == 0.5
    assert meta["temperature"] == probe.temperature != 1.0
    again = load_probe(out)
    assert type(again) is type(probe)
    np.testing.assert_array_equal(again.predict_proba(Xt), probe.predict_proba(Xt))
    np.testing.assert_array_equal(again.decision_function(Xt), probe.decision_function(Xt))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_load_refuses_other_kinds_and_missing_dirs(tmp_path, data):
    (X, y), _ = data
    MLPProbe(max_iter=20).fit(X, y).save(tmp_path / "mlp")
    with pytest.raises(ProbedriftError, match="load_probe"):
        LinearProbe.load(tmp_path / "mlp")
    with pytest.raises(ProbedriftError, match="does not hold a saved probe"):
        LinearProbe.load(tmp_path / "nothing")


def test_wrong_width_names_the_alignment_adapter(linear):
    with pytest.raises(ProbedriftError, match=r"probe expects d=32, got d=16") as err:
        linear.predict_proba(np.ones((4, 16), np.float32))
    assert "probedrift.science.align" in str(err.value) and "retrain" in str(err.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_input_is_refused(linear, data, bad):
    _, (Xt, _) = data
    X = Xt[:10].copy()
    X[3, 5] = bad
    with pytest.raises(ProbedriftError, match=r"non-finite values.*first rows \[3\]"):
        linear.predict_proba(X)
    with pytest.raises(ProbedriftError, match="non-finite"):
        LinearProbe().fit(X, np.r_[np.zeros(5), np.ones(5)])


def test_shape_and_label_errors(linear, data):
    (X, y), _ = data
    with pytest.raises(ProbedriftError, match="2-D"):
        linear.predict_proba(X[0])
    with pytest.raises(ProbedriftError, match="only class"):
        LinearProbe().fit(X, np.zeros(len(y)))
    with pytest.raises(ProbedriftError, match="binary 0/1"):
        LinearProbe().fit(X, y * 2)
    with pytest.raises(ProbedriftError, match="one per embedding"):
        LinearProbe().fit(X, y[:-1])
    with pytest.raises(ProbedriftError, match="not fitted"):
        LinearProbe().predict(X)
    with pytest.raises(ProbedriftError, match="C must be > 0"):
        LinearProbe(C=0)


@settings(deadline=None, max_examples=15, derandomize=True)
@given(t=st.floats(min_value=0.02, max_value=50.0))
def test_temperature_never_changes_ranking_or_labels(linear, data, t):
    _, (Xt, yt) = data
    base_auc = roc_auc_score(yt, linear.decision_function(Xt))
    base_labels = linear.predict(Xt)
    saved = linear.temperature
    try:
        linear.temperature = t
        assert roc_auc_score(yt, linear.decision_function(Xt)) == pytest.approx(base_auc, abs=1e-12)
        np.testing.assert_array_equal(linear.predict(Xt), base_labels)
    finally:
        linear.temperature = saved


def test_temperature_scaling_lowers_nll_on_an_overconfident_probe():
    # Few points, many dimensions, weak regularisation and 20% label noise: the fit memorises the
    # training set, so held-out logits are far too large.
    X, y = toy(120, 2, d=200, sep=1.5, label_noise=0.2)
    Xv, yv = toy(400, 3, d=200, sep=1.5, label_noise=0.2)
    probe = LinearProbe(C=100.0).fit(X, y)
    auc_before = roc_auc_score(yv, probe.predict_proba(Xv))
    nll_before = binary_nll(probe.decision_function(Xv).astype(np.float64), yv)
    probe.fit_temperature(Xv, yv)
    nll_after = binary_nll(probe.decision_function(Xv).astype(np.float64), yv)
    assert probe.temperature > 2.0
    assert nll_after < 0.8 * nll_before
    assert roc_auc_score(yv, probe.predict_proba(Xv)) == pytest.approx(auc_before, abs=1e-9)
    # the optimum: nearby temperatures do no better
    for f in (0.9, 1.1):
        z = probe._logits(Xv).astype(np.float64) / (probe.temperature * f)
        assert binary_nll(z, yv) >= nll_after - 1e-9


def test_select_c_picks_the_best_grid_value():
    X, y = toy(200, 4, d=64, sep=1.0, label_noise=0.1)
    Xv, yv = toy(300, 5, d=64, sep=1.0, label_noise=0.1)
    probe = LinearProbe.select_C(X, y, Xv, yv)
    assert probe.C in C_GRID
    assert set(probe.selection_) == set(C_GRID)
    assert probe.selection_[probe.C] == max(probe.selection_.values())
    assert roc_auc_score(yv, probe.decision_function(Xv)) == pytest.approx(probe.selection_[probe.C])
    # on this small, noisy, 64-dimensional set the strongest regularisation must not lose to the weakest
    assert probe.selection_[0.01] >= probe.selection_[100.0]
    with pytest.raises(ProbedriftError, match="grid is empty"):
        LinearProbe.select_C(X, y, Xv, yv, grid=())


def test_train_probe_factory(data):
    (X, y), (Xt, yt) = data
    p = train_probe("logistic", X, y, X_val=Xt, y_val=yt, select_c=True, grid=(0.1, 1.0))
    assert isinstance(p, LinearProbe) and p.C in (0.1, 1.0)
    with pytest.raises(ProbedriftError, match="logistic, mlp"):
        train_probe("svm", X, y)
    with pytest.raises(ProbedriftError, match="validation set"):
        train_probe("logistic", X, y, calibrate=True)
    with pytest.raises(ProbedriftError, match="only used to select C"):
        train_probe("logistic", X, y, grid=(1.0,))
    with pytest.raises(ProbedriftError, match="logistic probe"):
        train_probe("mlp", X, y, X_val=Xt, y_val=yt, select_c=True)


def test_mlp_probe_fits_and_matches_sklearn_forward_pass(data):
    (X, y), (Xt, yt) = data
    probe = MLPProbe(seed=3).fit(X, y)
    assert roc_auc_score(yt, probe.predict_proba(Xt)) > 0.95
    # the same fit in sklearn, on the same pre-processed inputs
    scaler = StandardScaler().fit(Normalizer().fit_transform(X.astype(np.float64)))
    clf = MLPClassifier(hidden_layer_sizes=(256,), early_stopping=True, random_state=3)
    clf.fit(
        scaler.transform(Normalizer().fit_transform(X.astype(np.float64))),
        y,
        sample_weight=compute_sample_weight("balanced", y),
    )
    expected = clf.predict_proba(scaler.transform(Normalizer().fit_transform(Xt.astype(np.float64))))[:, 1]
    np.testing.assert_allclose(probe.predict_proba(Xt), expected, atol=1e-4)


# --------------------------------------------------------------------------------------------------
# variance floor


def near_constant(X: np.ndarray, k: int = 3, spread: float = 1e-7, seed: int = 0) -> np.ndarray:
    """X with its first k coordinates replaced by spread·N(0, 1): after normalisation their std is ~1e-8."""
    X = X.astype(np.float64).copy()
    X[:, :k] = spread * np.random.default_rng(seed).standard_normal((X.shape[0], k))
    return X


def test_no_floor_is_the_paper_probe_exactly(linear, data):
    (X, y), (Xt, _) = data
    explicit = LinearProbe(scale_floor=None).fit(X, y)
    # a floor below every std changes nothing either
    below = LinearProbe(scale_floor=1e-12).fit(X, y)
    for probe in (explicit, below):
        np.testing.assert_array_equal(probe.scaler_scale_, linear.scaler_scale_)
        np.testing.assert_array_equal(probe.decision_function(Xt), linear.decision_function(Xt))
    assert linear.scale_floor is None and linear.scale_floor_value_ is None
    assert "scale_floor" not in linear._meta()["hyper_parameters"]


def test_floor_clamps_the_scaler_std(data):
    (X, y), _ = data
    Xc = near_constant(X)
    # float32 rounding in the probe's normalisation moves the stds by ~1e-8 relative
    stds = np.std(Xc / np.linalg.norm(Xc, axis=1, keepdims=True), axis=0)
    plain = LinearProbe().fit(Xc, y)
    assert plain.scaler_scale_[:3].max() < 1e-6  # the paper's probe divides by ~1e-8
    floored = LinearProbe(scale_floor="median/10").fit(Xc, y)
    floor = np.median(stds) / 10
    assert floored.scale_floor_value_ == pytest.approx(floor, rel=1e-6)
    np.testing.assert_array_equal(floored.scaler_scale_[:3], floored.scale_floor_value_)
    np.testing.assert_allclose(floored.scaler_scale_[3:], np.maximum(stds[3:], floor), rtol=1e-6)
    absolute = LinearProbe(scale_floor=0.05).fit(Xc, y)
    np.testing.assert_allclose(absolute.scaler_scale_, np.maximum(stds, 0.05), rtol=1e-6)
    assert (absolute.scaler_scale_ == 0.05).sum() >= 3
    # the floor tames w/s on the near-constant coordinates
    w_over_s = {k: np.abs(p.coef_ / p.scaler_scale_).max() for k, p in (("plain", plain), ("floored", floored))}
    assert w_over_s["floored"] < 1e-3 * w_over_s["plain"]


def test_floor_round_trips_through_save_and_load(tmp_path, data):
    (X, y), (Xt, _) = data
    probe = LinearProbe(scale_floor="median/4").fit(near_constant(X), y)
    out = probe.save(tmp_path / "floored")
    meta = json.loads((out / "probe.json").read_text())
    assert meta["hyper_parameters"]["scale_floor"] == "median/4"
    again = load_probe(out)
    assert again.scale_floor == "median/4"
    assert again.scale_floor_value_ == probe.scale_floor_value_
    np.testing.assert_array_equal(again.scaler_scale_, probe.scaler_scale_)
    np.testing.assert_array_equal(again.decision_function(Xt), probe.decision_function(Xt))
    # refitting the loaded probe applies the same floor
    refit = again.fit(near_constant(X), y)
    np.testing.assert_array_equal(refit.scaler_scale_, probe.scaler_scale_)
    plain = LinearProbe().fit(X, y).save(tmp_path / "plain")
    assert load_probe(plain).scale_floor is None


@pytest.mark.parametrize(
    "bad", ["median/0", "median/-2", "mean/10", "median", "median/x", 0.0, -1e-3, np.nan, True, [1]]
)
def test_bad_scale_floor_is_refused(bad):
    with pytest.raises(ProbedriftError, match="scale_floor"):
        LinearProbe(scale_floor=bad)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_affine_form_is_the_probe_on_the_unit_sphere(data, temperature):
    """sigmoid((x̃·w + b)/T), x̃ = x/‖x‖, equals predict_proba on random inputs, and the sklearn pipeline
    (Normalizer → StandardScaler → LogisticRegression) at T = 1."""
    (X, y), _ = data
    probe = LinearProbe(temperature=temperature).fit(X, y)
    form = probe.affine_form()
    assert isinstance(form, AffineForm) and form.weights.shape == (D,) and form.weights.dtype == np.float64
    w, b, t = form  # unpacks as (weights, intercept, temperature)
    assert t == temperature
    x = np.random.default_rng(7).standard_normal((500, D)) * 3 + 1
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    expected = 1 / (1 + np.exp(-(unit @ w + b) / temperature))
    np.testing.assert_allclose(probe.predict_proba(x.astype(np.float32)), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(probe.predict_proba(unit), expected, rtol=0, atol=1e-6)
    if temperature == 1.0:
        pipe = make_pipeline(Normalizer(), StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
        np.testing.assert_allclose(pipe.fit(X, y).predict_proba(x)[:, 1], expected, rtol=0, atol=1e-6)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_only_the_linear_probe_and_its_own_predict_proba_have_an_affine_form(linear, data):
    (X, y), _ = data
    mlp = MLPProbe(hidden=8, max_iter=30).fit(X, y)
    assert mlp.affine_form() is None and affine_form_of(mlp) is None and affine_form_of(mlp.predict_proba) is None
    np.testing.assert_array_equal(affine_form_of(linear).weights, linear.affine_form().weights)
    assert affine_form_of(linear.predict_proba) is not None
    assert affine_form_of(linear.decision_function) is None  # logits, not probabilities
    assert affine_form_of(lambda m: linear.predict_proba(m)) is None
    assert affine_form_of(LogisticRegression().fit(X, y)) is None
    with pytest.raises(ProbedriftError, match="not fitted"):
        LinearProbe().affine_form()
