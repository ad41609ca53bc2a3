"""Tests for probedrift.science.sweep: the sweep's table against a loop over drifted sets scored one σ at a
time, its arguments and errors, and the probe interface it reads (a probe's affine form)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import normalize
from probedrift.inputs.synthetic import two_class
from probedrift.science.drift import (
    DRIFT_TYPES,
    convention_names,
    paper_conventions,
    register_drift,
    resolve_conventions,
    unregister_drift,
)
from probedrift.science.drift_forms import DriftInputs
from probedrift.science.metrics import probe_metrics, roc_auc
from probedrift.science.probes import MLPProbe, affine_form_of, paper_probe
from probedrift.science.sweep import SWEEP_COLUMNS, drift, sweep

ALL_PAIRS = [(t, c) for t in DRIFT_TYPES for c in convention_names(t)]
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def labelled():
    """Two Gaussian classes with a shared offset, separation d' = 1.7, class axes of seed 99."""
    x_ref, y_ref = two_class(1500, 48, seed=1)
    x, y = two_class(600, 48, seed=2)
    return x_ref, y_ref, x, y


@pytest.fixture
def toy_drift():
    """A non-linear drift (registered with linear=False and seeded=False) for one test."""

    @register_drift("toy", "cubed", linear=False, seeded=False, formula="Normalize(z + σ z³)", doc="cubes")
    def cubed(inputs: DriftInputs) -> np.ndarray:
        return inputs.z[None] + inputs.sigmas[:, None, None] * inputs.z[None] ** 3

    try:
        yield
    finally:
        unregister_drift("toy", "cubed")


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
    assert sorted(zip(paper["drift_type"], paper["convention"], strict=True)) == sorted(paper_conventions().items())
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


def _loop_sweep(z, y, predict, drift_type, convention, sigmas, seed, reference, reference_labels):
    """One configuration scored σ by σ from :func:`drift`'s materialised vectors and measured angles,
    with the scalar :func:`probe_metrics`."""
    ds = drift(z, drift_type, convention, sigmas, seed, reference=reference, reference_labels=reference_labels)
    rows = [probe_metrics(y, predict(ds.embeddings[k])) for k in range(len(sigmas))]
    out = {m: np.array([r[m] for r in rows]) for m in SWEEP_COLUMNS[7:]}
    out["angle_deg_mean"] = ds.angles_deg.mean(axis=1, dtype=np.float64)
    out["angle_deg_median"] = np.median(ds.angles_deg, axis=1)
    return out


@pytest.mark.parametrize(("d", "probe"), [(48, "sklearn"), (17, "sklearn"), (48, "paper"), (17, "paper")])
def test_vectorised_sweep_equals_a_loop_over_configurations(labelled, toy_drift, d, probe):
    """Every registered (type, convention), odd width included (the true rotation's fixed axis). With the
    paper's probe the sweep scores from z·w and the drift terms' projections without writing a drifted
    vector; the loop scores the vectors :func:`drift` writes."""
    x_ref, y_ref, x, y = labelled if d == 48 else (*two_class(300, d, seed=1), *two_class(200, d, seed=2))
    if probe == "paper":
        predict = paper_probe(0).fit(x_ref, y_ref).predict_proba
        assert affine_form_of(predict) is not None and affine_form_of(lambda m: predict(m)) is None
    else:
        clf = LogisticRegression(max_iter=2000).fit(x_ref, y_ref)

        def predict(m):
            return clf.predict_proba(m)[:, 1]

    sigmas = np.array([0.0, 0.02, 0.07, 0.15])
    pairs = resolve_conventions(DRIFT_TYPES, "all")
    assert len(pairs) == len(ALL_PAIRS) + 1
    df = sweep(x, y, predict, drift_types=DRIFT_TYPES, sigmas=sigmas, seeds=[3, 4], reference=x_ref,
               reference_labels=y_ref, progress=False)
    for t, c in pairs:
        for seed in (3, 4):
            loop = _loop_sweep(x, y, predict, t, c, sigmas, seed, x_ref, y_ref)
            rows = df[(df.drift_type == t) & (df.convention == c) & (df.seed == seed)]
            for col, values in loop.items():
                np.testing.assert_allclose(rows[col].to_numpy(dtype=float), values, rtol=0,
                                           atol=2e-4 if "angle" in col else 1e-6, err_msg=f"{t}/{c} {col}")


def test_the_sweep_reads_the_probes_affine_form_and_scores_it_like_the_written_vectors(labelled):
    """Passing the probe, or its own predict_proba, takes the closed-form path (no drifted vector
    written); a lambda around predict_proba takes the path that writes and scores each vector. The
    two agree within float32 rounding; the two closed-form calls agree bit for bit."""
    x_ref, y_ref, x, y = labelled
    probe = paper_probe(0).fit(x_ref, y_ref)
    options = {"drift_types": ["gaussian", "rotation"], "sigmas": [0.0, 0.05, 0.15], "seeds": [0, 1],
               "progress": False}
    by_probe = sweep(x, y, probe, **options)
    by_method = sweep(x, y, probe.predict_proba, **options)
    by_vectors = sweep(x, y, lambda m: probe.predict_proba(m), **options)
    assert by_probe.equals(by_method)
    metrics = ["auc", "accuracy", "mean_confidence", "angle_deg_mean"]
    np.testing.assert_allclose(by_probe[metrics].to_numpy(), by_vectors[metrics].to_numpy(), rtol=0, atol=2e-4)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_probe_without_an_affine_form_is_scored_through_predict_proba(labelled):
    x_ref, y_ref, x, y = labelled
    mlp = MLPProbe(hidden=16, max_iter=50, seed=0).fit(x_ref, y_ref)
    assert mlp.affine_form() is None and affine_form_of(mlp) is None
    options = {"drift_types": "gaussian", "conventions": "paper", "sigmas": [0.0, 0.1], "seeds": 0, "progress": False}
    table = sweep(x, y, mlp, **options)
    drifted = drift(x, "gaussian", "per_dim", [0.1], seed=0).embeddings[0]
    assert table.auc.iloc[1] == pytest.approx(roc_auc(y, mlp.predict_proba(drifted)), abs=1e-9)
    assert table.auc.iloc[0] == pytest.approx(roc_auc(y, mlp.predict_proba(normalize(x))), abs=1e-9)
