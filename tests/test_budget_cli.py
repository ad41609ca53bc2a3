"""`probedrift budget` and its Python function on a scikit-learn probe fitted here: agreement with the
study's own closed form for the same probe built as a LinearProbe, with simulation where the study has
no formula (raw, unnormalised inputs), with measured AUC and accuracy after simulated updates, and
clear errors for every kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.stats
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler
from sklearn.svm import SVC

from probedrift.core.errors import ProbedriftError
from probedrift.inputs.synthetic import axes, two_class
from probedrift.run.cli import main
from probedrift.science import budget as B
from probedrift.science import user_budget as UB
from probedrift.science import user_probe as UP
from probedrift.science.probes import LinearProbe

D = 48
N_TRAIN, N_TEST = 2000, 600
ANGLES = (2.0, 10.0, 30.0, 60.0)


def norms(n: int, seed: int) -> np.ndarray:
    """Row norms spread over about a factor of ten, so a probe that ignores them would be wrong."""
    return np.exp(np.random.default_rng(seed).normal(0.0, 0.6, n))[:, None]


@pytest.fixture(scope="module")
def data():
    ax = axes(D)
    (Xtr, ytr), (Xte, yte) = two_class(N_TRAIN, D, 0, class_axes=ax), two_class(N_TEST, D, 1, class_axes=ax)
    return Xtr.astype(np.float64) * norms(N_TRAIN, 2), ytr, Xte.astype(np.float64) * norms(N_TEST, 3), yte


@pytest.fixture(scope="module")
def l2_pipe(data):
    """The paper's recipe written in scikit-learn by a user: Normalizer → StandardScaler → LR."""
    Xtr, ytr, _, _ = data
    return make_pipeline(Normalizer(), StandardScaler(),
                         LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)).fit(Xtr, ytr)


@pytest.fixture(scope="module")
def raw_pipe(data):
    """A plain StandardScaler → LR pipeline on raw (unnormalised) embeddings."""
    Xtr, ytr, _, _ = data
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)


def as_linear_probe(pipe: Pipeline) -> LinearProbe:
    """The same probe as the study's LinearProbe, its fitted attributes set directly from the pipeline."""
    scaler, clf = pipe[-2], pipe[-1]
    probe = LinearProbe()
    probe.scaler_mean_, probe.scaler_scale_ = scaler.mean_.copy(), scaler.scale_.copy()
    probe.coef_, probe.intercept_ = clf.coef_[0].copy(), float(clf.intercept_[0])
    probe.n_features_, probe.class_counts_ = D, [1, 1]
    probe._prepare()
    return probe


def turn(X: np.ndarray, angle_deg: float, rng: np.random.Generator) -> np.ndarray:
    """Each row turned by exactly ``angle_deg`` toward its own random direction, its norm kept: the
    direction orthogonal to the row by explicit Gram–Schmidt (not the library's code)."""
    r = np.linalg.norm(X, axis=1, keepdims=True)
    Z = X / r
    G = rng.standard_normal(X.shape)
    U = G - np.sum(G * Z, axis=1, keepdims=True) * Z
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    t = np.radians(angle_deg)
    return r * (np.cos(t) * Z + np.sin(t) * U)


# ------------------------------------------------------------------------ the probe as read


def test_logits_are_the_pipelines_decision_function(data, l2_pipe, raw_pipe):
    _, _, Xte, _ = data
    for pipe in (l2_pipe, raw_pipe):
        np.testing.assert_allclose(UP.probe_from_pipeline(pipe).logits(Xte), pipe.decision_function(Xte),
                                   rtol=1e-9, atol=1e-9)


def test_npz_round_trip_keeps_the_probe(tmp_path, data, l2_pipe):
    _, _, Xte, _ = data
    path = UP.save_probe_npz(l2_pipe, tmp_path / "probe")
    assert path.suffix == ".npz"
    loaded = UP.load_probe_npz(path)
    assert loaded.l2_normalize is True
    np.testing.assert_allclose(loaded.logits(Xte), l2_pipe.decision_function(Xte), rtol=1e-12, atol=1e-12)


def test_saved_linear_probe_directory_reads_like_its_arrays(tmp_path, data):
    Xtr, ytr, Xte, _ = data
    probe = LinearProbe(seed=0).fit(Xtr, ytr)
    probe.save(tmp_path / "lp")
    np.testing.assert_allclose(UP.as_user_probe(tmp_path / "lp").logits(Xte), probe.decision_function(Xte),
                               rtol=1e-5, atol=1e-5)  # the LinearProbe scores in float32


# ------------------------------------------------------------------------ against the study's closed form


def test_budget_agrees_with_the_studys_drift_budget(data, l2_pipe):
    """Same probe, two paths: the user's Pipeline through user_budget, and the study's drift_budget on
    the LinearProbe with those coefficients (its own pair code, its own bisection)."""
    _, _, Xte, yte = data
    report = UB.user_budget(l2_pipe, Xte, yte, angles_deg=ANGLES)
    study = B.drift_budget(as_linear_probe(l2_pipe), Xte, yte)
    assert report.budget["auc_clean"] == pytest.approx(study["auc_clean"], abs=1e-12)
    assert report.budget["angle_drop_deg"] == pytest.approx(study["angle_drop5_predicted_deg"], rel=1e-3)
    assert report.budget["angle_half_deg"] == pytest.approx(study["angle_half_predicted_deg"], rel=1e-3)
    np.testing.assert_allclose(list(report.curve.values()),
                               B.predicted_auc(as_linear_probe(l2_pipe), Xte, yte, ANGLES), atol=1e-9)
    spectrum = B.scale_spectrum(as_linear_probe(l2_pipe), Xte)
    for key in ("std_min", "std_median", "norm_w_over_s", "mean_cosine"):
        assert report.spectrum[key] == pytest.approx(spectrum[key], rel=1e-9), key


def test_an_l2_probe_ignores_the_norms_of_its_inputs(data, l2_pipe):
    _, _, Xte, yte = data
    a = UB.user_budget(l2_pipe, Xte, yte).budget
    b = UB.user_budget(l2_pipe, Xte / np.linalg.norm(Xte, axis=1, keepdims=True), yte).budget
    assert a["angle_drop_deg"] == pytest.approx(b["angle_drop_deg"], rel=1e-9)


def test_raw_probe_curve_matches_simulated_norm_keeping_rotation(data, raw_pipe):
    """Without L2 normalisation the closed form weighs each text's spread by its norm; checked against
    the pipeline's own AUC on rotated copies (norms kept), 20 draws per angle."""
    _, _, Xte, yte = data
    predicted = UB.predicted_curve(raw_pipe, Xte, yte, ANGLES)
    rng = np.random.default_rng(11)
    simulated = [np.mean([roc_auc_score(yte, raw_pipe.decision_function(turn(Xte, a, rng))) for _ in range(20)])
                 for a in ANGLES]
    np.testing.assert_allclose(predicted, simulated, atol=0.006)
    # the same closed form with every norm taken as 1 misses the simulation: the test sees the norms
    scaler, clf = raw_pipe
    v = clf.coef_[0] / scaler.scale_
    Z = Xte / np.linalg.norm(Xte, axis=1, keepdims=True)
    spread2 = (v @ v - (Z @ v) ** 2) / (D - 1)
    logits = raw_pipe.decision_function(Xte)
    pos, neg = yte == 1, yte == 0
    c = (logits[pos][:, None] - logits[neg][None, :]) / np.sqrt(spread2[pos][:, None] + spread2[neg][None, :])
    norm_blind = [scipy.stats.norm.cdf(c / np.tan(np.radians(a))).mean() for a in ANGLES]
    assert np.max(np.abs(np.asarray(norm_blind) - simulated)) > 0.02


def _arrays(pipe: Pipeline) -> tuple:
    """mean, scale, weights, intercept of a StandardScaler → LR pipeline."""
    return pipe[0].mean_, pipe[0].scale_, pipe[-1].coef_[0], float(pipe[-1].intercept_[0])


def test_near_constant_dimensions_are_reported(data):
    Xtr, ytr, Xte, yte = data
    Xtr, Xte = Xtr.copy(), Xte.copy()
    Xtr[:, 5] = 1e-7 * np.random.default_rng(0).standard_normal(N_TRAIN)
    Xte[:, 5] = 1e-7 * np.random.default_rng(1).standard_normal(N_TEST)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(Xtr, ytr)
    spectrum = UB.user_budget(pipe, Xte, yte).spectrum
    assert spectrum["smallest"][0]["dim"] == 5 and spectrum["n_near_constant"] == 1
    assert spectrum["std_min_ratio"] == pytest.approx(pipe[0].scale_[5] / np.median(pipe[0].scale_), rel=1e-9)


# ------------------------------------------------------------------------ updates


def test_isotropic_update_predictions_match_measurement(data, l2_pipe):
    """Exact-angle drift of every text: the scatter-only budget at the measured angle, and both
    decompositions, predict the measured AUC and accuracy."""
    _, _, Xte, yte = data
    Xu = turn(Xte, 20.0, np.random.default_rng(5))
    u = UB.user_budget(l2_pipe, Xte, yte, Xu).update
    measured = u["measured"]
    assert measured["auc"] == pytest.approx(roc_auc_score(yte, l2_pipe.decision_function(Xu)), abs=1e-12)
    assert measured["accuracy"] == pytest.approx(np.mean(l2_pipe.predict(Xu) == yte), abs=1e-12)
    assert u["angle_deg_mean"] == pytest.approx(20.0, abs=1e-6)
    assert u["auc_budget"] == pytest.approx(measured["auc"], abs=0.03)
    for fit in ("labelled", "label_free"):
        assert u[fit]["auc"] == pytest.approx(measured["auc"], abs=0.03), fit
        assert u[fit]["accuracy"] == pytest.approx(measured["accuracy"], abs=0.04), fit
    assert u["labelled"]["a"] == pytest.approx(np.cos(np.radians(20.0)), abs=0.05)


def test_shared_shift_keeps_auc_and_moves_accuracy(data, raw_pipe):
    """Every text moved by one vector along the probe's weights: the ranking holds, the threshold breaks;
    the decomposition sees a shift μ and no scatter, and predicts both."""
    _, _, Xte, yte = data
    v = raw_pipe[-1].coef_[0] / raw_pipe[0].scale_
    Xu = Xte + 1.5 * v / (v @ v)  # every logit moves by exactly +1.5
    u = UB.user_budget(raw_pipe, Xte, yte, Xu).update
    assert u["labelled"]["mu"] == pytest.approx(1.5, abs=1e-6) and u["labelled"]["tau"] < 1e-6
    assert u["measured"]["auc"] == pytest.approx(u["clean"]["auc"], abs=1e-12)
    assert u["measured"]["accuracy"] < u["clean"]["accuracy"] - 0.05
    assert u["label_free"]["accuracy"] == pytest.approx(u["measured"]["accuracy"], abs=1e-9)
    assert u["label_free"]["auc"] == pytest.approx(u["measured"]["auc"], abs=1e-9)


# ------------------------------------------------------------------------ the command line


@pytest.fixture(scope="module")
def files(tmp_path_factory, data, l2_pipe):
    _, _, Xte, yte = data
    root = tmp_path_factory.mktemp("budget")
    probe = UP.save_probe_npz(l2_pipe, root / "probe.npz")
    np.savez(root / "heldout.npz", X=Xte, y=yte)
    np.save(root / "updated.npy", turn(Xte, 20.0, np.random.default_rng(5)))
    return root, probe


def test_cli_json_matches_the_function(files, data, l2_pipe, capsys):
    root, probe = files
    _, _, Xte, yte = data
    out = root / "report.json"
    assert main(["budget", "--probe", str(probe), "--embeddings", str(root / "heldout.npz"), "--updated",
                 str(root / "updated.npy"), "--angles", *map(str, ANGLES), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    got = json.loads(out.read_text())
    study = B.drift_budget(as_linear_probe(l2_pipe), Xte, yte)
    assert got["budget"]["angle_drop_deg"] == pytest.approx(study["angle_drop5_predicted_deg"], rel=1e-3)
    assert f"{got['budget']['angle_drop_deg']:.3g}°" in text and "half its excess" in text
    expected = UB.user_budget(l2_pipe, Xte, yte, np.load(root / "updated.npy"), angles_deg=ANGLES)
    assert got["update"]["measured"]["auc"] == pytest.approx(expected.update["measured"]["auc"], abs=1e-12)
    assert got["update"]["labelled"]["tau"] == pytest.approx(expected.update["labelled"]["tau"], rel=1e-9)
    assert [c["angle_deg"] for c in got["curve"]] == list(ANGLES)


def test_cli_separate_labels_and_write_probe(tmp_path, files, data, raw_pipe, capsys):
    root, _ = files
    _, _, Xte, yte = data
    arrays = dict(zip(("mean", "scale", "weights", "intercept"), _arrays(raw_pipe)))
    np.savez(tmp_path / "bare.npz", **arrays)  # no l2_normalize flag: the CLI must be told
    np.save(tmp_path / "X.npy", Xte)
    np.save(tmp_path / "y.npy", yte)
    assert main(["budget", "--probe", str(tmp_path / "bare.npz"), "--embeddings", str(tmp_path / "X.npy")]) == 2
    assert "l2-normalize" in capsys.readouterr().err
    assert main(["budget", "--probe", str(tmp_path / "bare.npz"), "--no-l2-normalize",
                 "--write-probe", str(tmp_path / "full.npz")]) == 0
    assert main(["budget", "--probe", str(tmp_path / "full.npz"), "--embeddings", str(tmp_path / "X.npy"),
                 "--labels", str(tmp_path / "y.npy"), "--json", str(tmp_path / "r.json"), "--bootstrap", "5"]) == 0
    got = json.loads((tmp_path / "r.json").read_text())
    assert got["l2_normalize"] is False
    assert "over held-out texts" in got["intervals"]["interval"] and len(got["intervals"]["angle_drop_deg"]) == 2
    assert got["budget"]["auc_clean"] == pytest.approx(roc_auc_score(yte, raw_pipe.decision_function(Xte)), abs=1e-12)


def test_cli_runs_as_a_program(files):
    root, probe = files
    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", "budget", "--probe", str(probe),
                          "--embeddings", str(root / "heldout.npz")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "drift budget" in res.stdout and "scale spectrum" in res.stdout


# ------------------------------------------------------------------------ bad input


def test_bad_arrays_are_refused(data, l2_pipe):
    _, _, Xte, yte = data
    cases = {
        "2-D array": (Xte[0], yte),
        "one label per row": (Xte, yte[:-1]),
        "d=48": (np.hstack([Xte, Xte[:, :1]]), yte),
        "only class": (Xte, np.ones_like(yte)),
        "NaN": (np.where(np.arange(D) == 3, np.nan, Xte), yte),
        "all-zero rows": (np.vstack([np.zeros((1, D)), Xte[1:]]), yte),
        "0/1 labels": (Xte, yte * 2),
    }
    for needle, (X, y) in cases.items():
        with pytest.raises(ProbedriftError, match=needle) as err:
            UB.user_budget(l2_pipe, X, y)
        assert err.value.fix, needle
    with pytest.raises(ProbedriftError, match="same held-out texts"):
        UB.user_budget(l2_pipe, Xte, yte, Xte[:-1])


def test_pipelines_of_another_kind_are_refused(data):
    Xtr, ytr, _, _ = data
    y3 = np.arange(N_TRAIN) % 3
    cases = {
        "PCA": make_pipeline(StandardScaler(), PCA(5), LogisticRegression()).fit(Xtr, ytr),
        "3 classes": make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(Xtr, y3),
        "SVC": make_pipeline(StandardScaler(), SVC()).fit(Xtr[:300], ytr[:300]),
        "not fitted": make_pipeline(StandardScaler(), LogisticRegression()),
        "Pipeline": LogisticRegression().fit(Xtr, ytr),
        "norm='l1'": make_pipeline(Normalizer("l1"), StandardScaler(), LogisticRegression()).fit(Xtr, ytr),
    }
    for needle, pipe in cases.items():
        with pytest.raises(ProbedriftError, match=needle):
            UP.as_user_probe(pipe)
    with pytest.raises(ProbedriftError, match="l2_normalize=False"):
        UP.as_user_probe(make_pipeline(Normalizer(), StandardScaler(), LogisticRegression()).fit(Xtr, ytr),
                         l2_normalize=False)


def test_bad_files_are_refused(tmp_path, raw_pipe, capsys):
    arrays = dict(zip(("mean", "scale", "weights", "intercept"), _arrays(raw_pipe)))
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in arrays.items() if k != "weights"})
    np.savez(tmp_path / "objects.npz", **arrays, extra=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "badscale.npz", **{**arrays, "scale": -arrays["scale"]}, l2_normalize=False)
    (tmp_path / "probe.pkl").write_bytes(b"not read")
    for name, needle in (("missing.npz", "lack weights"), ("objects.npz", "Python objects"),
                         ("badscale.npz", "entries ≤ 0"), ("probe.pkl", "not .npz or .npy"),
                         ("absent.npz", "does not exist")):
        with pytest.raises(ProbedriftError, match=needle):
            UP.load_probe_npz(tmp_path / name, l2_normalize=False) if name != "probe.pkl" else \
                UP.load_arrays(tmp_path / name, "probe")
    assert main(["budget", "--probe", str(tmp_path / "objects.npz"), "--no-l2-normalize"]) == 2
    err = capsys.readouterr().err
    assert "never unpickled" in err and "fix:" in err


def test_bootstrap_intervals_cover_the_population_budget(data, l2_pipe):
    """Intervals over held-out texts: on 8 independent held-out sets of 200 texts, the 90% interval of
    the budget angle and of the clean AUC contains the value of a 20,000-text held-out set in at least
    5 (7.2 expected; fewer than 5 has probability under 0.04 for a correct 90% interval)."""
    ax = axes(D)
    Xpop, ypop = two_class(20_000, D, 100, class_axes=ax)
    population = UB.user_budget(l2_pipe, Xpop, ypop, max_pairs=200_000).budget
    covered = {"angle_drop_deg": 0, "auc_clean": 0}
    widths = []
    for k in range(8):
        X, y = two_class(200, D, 200 + k, class_axes=ax)
        iv = UB.bootstrap_intervals(l2_pipe, X, y, resamples=30, level=0.9, seed=k)
        for key in covered:
            covered[key] += iv[key][0] <= population[key] <= iv[key][1]
        widths.append(iv["angle_drop_deg"][1] - iv["angle_drop_deg"][0])
    assert min(covered.values()) >= 5, covered
    assert np.median(widths) < 0.5 * population["angle_drop_deg"]  # informative, not the whole range
