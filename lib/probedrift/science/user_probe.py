"""A practitioner's own linear probe, read without unpickling: a fitted scikit-learn ``Pipeline``
(``[Normalizer(norm="l2")] → StandardScaler → LogisticRegression``, binary), the study's
:class:`~probedrift.science.probes.LinearProbe`, four arrays, or a ``.npz`` file holding them.

Every form becomes one :class:`UserProbe`, the logit

    ℓ(x) = w·(x̃ − m)/s + b,   x̃ = x/‖x‖ when ``l2_normalize`` else x,

computed in float64 in this centred form (as :func:`probedrift.science.budget.logits64` does), so the
gaps between texts stay exact even when the folded bias b − m·w/s is huge.

``l2_normalize`` is a named convention, never guessed from the data: True when the probe divides each
embedding by its Euclidean norm before the scaler (the paper's probe; a pipeline that starts with
``Normalizer(norm="l2")``; or a serving path that normalises before calling a plain pipeline), False
when the scaler sees the raw embedding (a plain ``StandardScaler`` pipeline fed raw vectors).

The ``.npz`` format (:func:`save_probe_npz`, :func:`load_probe_npz`) holds float arrays ``mean``,
``scale``, ``weights`` (each of shape (d,)), ``intercept`` (a scalar or shape (1,)) and, optionally,
the boolean ``l2_normalize``. It is read with ``allow_pickle=False``: a file holding Python objects is
refused, never executed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from probedrift.core.errors import ProbedriftError
from probedrift.science.probes import LinearProbe, load_probe

__all__ = [
    "NPZ_KEYS",
    "UserProbe",
    "as_user_probe",
    "check_xy",
    "load_arrays",
    "load_probe_npz",
    "probe_from_pipeline",
    "read_embeddings",
    "save_probe_npz",
]

#: The arrays a probe ``.npz`` must hold (``l2_normalize`` is optional and then given by the caller).
NPZ_KEYS = ("mean", "scale", "weights", "intercept")
_PIPELINE_SHAPE = ('Pipeline([("scaler", StandardScaler()), ("clf", LogisticRegression())]), '
                   "optionally Normalizer() first")


def _vector(name: str, value: Any, d: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ProbedriftError(f"the probe's {name} must hold real numbers, got dtype {arr.dtype}",
                              f"store {name} as a float array")
    arr = arr.astype(np.float64).reshape(-1) if arr.ndim == 2 and 1 in arr.shape else arr.astype(np.float64)
    if arr.ndim != 1 or arr.size < 2 or (d is not None and arr.size != d):
        want = f"shape ({d},), like the probe's mean" if d is not None else "a 1-D array of length d ≥ 2"
        raise ProbedriftError(f"the probe's {name} has shape {np.shape(value)}, expected {want}",
                              "pass one value per embedding dimension")
    if not np.isfinite(arr).all():
        raise ProbedriftError(f"the probe's {name} holds NaN or inf", "refit or re-export the probe")
    return arr


@dataclass(frozen=True, eq=False)
class UserProbe:
    """A binary linear probe ℓ(x) = w·(x̃ − m)/s + b (module docstring), validated on construction.

    ``mean`` m, ``scale`` s (> 0), ``weights`` w: float64 arrays of shape (d,); ``intercept`` b;
    ``l2_normalize``: whether x̃ = x/‖x‖ (True) or x̃ = x (False). Label 1 is the positive class
    (unsafe); the decision rule is ℓ ≥ 0 (probability 0.5).
    """

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    intercept: float
    l2_normalize: bool

    def __post_init__(self) -> None:
        mean = _vector("mean", self.mean)
        d = mean.size
        scale, weights = _vector("scale", self.scale, d), _vector("weights", self.weights, d)
        if (scale <= 0).any():
            raise ProbedriftError(f"the probe's scale has {int((scale <= 0).sum())} entries ≤ 0",
                                  "store the scaler's std (StandardScaler.scale_), which is positive")
        b = np.asarray(self.intercept)
        if b.dtype == object or b.size != 1 or not np.issubdtype(b.dtype, np.number) or not np.isfinite(b).all():
            raise ProbedriftError(f"the probe's intercept must be one finite number, got {self.intercept!r}",
                                  "store the logistic regression's intercept_[0]")
        if not isinstance(self.l2_normalize, (bool, np.bool_)):
            raise ProbedriftError(f"l2_normalize must be True or False, got {self.l2_normalize!r}",
                                  "say whether the probe divides each embedding by its norm before the scaler")
        for name, value in (("mean", mean), ("scale", scale), ("weights", weights),
                            ("intercept", float(b.reshape(-1)[0])), ("l2_normalize", bool(self.l2_normalize))):
            object.__setattr__(self, name, value)

    @property
    def n_features(self) -> int:
        """The embedding width d the probe reads."""
        return int(self.mean.size)

    def prepared(self, X: Any, name: str = "X") -> np.ndarray:
        """x̃: the rows of ``X`` (checked by :func:`check_xy`) as float64, divided by their norms when
        ``l2_normalize``."""
        arr = check_xy(X, None, width=self.n_features, name=name)[0]
        return arr / np.linalg.norm(arr, axis=1, keepdims=True) if self.l2_normalize else arr

    def logits(self, X: Any, name: str = "X") -> np.ndarray:
        """ℓ = ((x̃ − m)/s)·w + b in float64, one per row of ``X``."""
        return ((self.prepared(X, name) - self.mean) / self.scale) @ self.weights + self.intercept


def check_xy(X: Any, y: Any = None, *, width: int | None = None, name: str = "X") -> tuple[np.ndarray, Any]:
    """``X`` as a finite float64 (n, d) array without all-zero rows, and ``y`` (if given) as n 0/1 labels
    with both classes; a :class:`ProbedriftError` naming the problem otherwise."""
    arr = np.asarray(X)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ProbedriftError(f"{name} must hold real numbers, got dtype {arr.dtype}", "pass a float array")
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ProbedriftError(f"{name} must be a 2-D array (n ≥ 2 texts, d), got shape {arr.shape}",
                              "stack the embeddings into one array, one text per row")
    if width is not None and arr.shape[1] != width:
        raise ProbedriftError(f"the probe reads d={width} dimensions but {name} has d={arr.shape[1]}",
                              "pass embeddings of the model and layer the probe was trained on (an update that "
                              "changes the width cannot be scored by the old probe: retrain or align it)")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=1).sum())
        raise ProbedriftError(f"{name} holds NaN or inf in {bad} rows", "drop or re-embed those texts")
    if (np.linalg.norm(arr, axis=1) == 0).any():
        raise ProbedriftError(f"{name} holds all-zero rows, which have no direction", "drop those texts")
    if y is None:
        return arr, None
    lab = np.asarray(y)
    if lab.shape != (arr.shape[0],):
        raise ProbedriftError(f"y must hold one label per row of {name} ({arr.shape[0]}), got shape {lab.shape}",
                              "pass the held-out labels, 1 = positive (unsafe)")
    if lab.dtype == object or not np.issubdtype(lab.dtype, np.number) or not np.isin(lab, (0, 1)).all():
        raise ProbedriftError("y must hold 0/1 labels (1 = the probe's positive class)",
                              "encode the labels as 0 and 1, 1 for the class the probe flags")
    lab = lab.astype(np.int64)
    if lab.min() == lab.max():
        raise ProbedriftError(f"y holds only class {int(lab[0])}; AUC and the budget need both classes",
                              "use held-out texts of both classes")
    return arr, lab


def probe_from_pipeline(pipeline: Any, *, l2_normalize: bool | None = None) -> UserProbe:
    """The :class:`UserProbe` of a fitted binary ``[Normalizer] → StandardScaler → LogisticRegression``.

    m = scaler.mean_ (0 with ``with_mean=False``), s = scaler.scale_ (1 with ``with_std=False``;
    scikit-learn already sets s = 1 for constant features), w = coef_[0], b = intercept_[0]; the logit is
    the pipeline's ``decision_function``. ``l2_normalize`` defaults to whether the pipeline starts with
    ``Normalizer(norm="l2")``; pass True for a plain pipeline whose inputs your system normalises first.
    """
    if not isinstance(pipeline, Pipeline):
        raise ProbedriftError(f"expected a scikit-learn Pipeline, got {type(pipeline).__name__}",
                              f"build the probe as {_PIPELINE_SHAPE}, or pass its arrays")
    steps = [step for _, step in pipeline.steps if step not in (None, "passthrough")]
    has_norm = bool(steps) and isinstance(steps[0], Normalizer)
    if has_norm:
        if steps[0].norm != "l2":
            raise ProbedriftError(f"the pipeline's Normalizer uses norm={steps[0].norm!r}; the budget is about "
                                  "directions of L2-normalised vectors", 'use Normalizer(norm="l2")')
        steps = steps[1:]
    kinds = [type(s).__name__ for s in steps]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler) or not isinstance(steps[1], LogisticRegression):
        raise ProbedriftError(f"the pipeline's steps are {kinds}; the drift budget is derived for a linear "
                              "probe StandardScaler → LogisticRegression (a PCA, a kernel or an SVC changes it)",
                              f"pass {_PIPELINE_SHAPE}")
    scaler, clf = steps
    if not hasattr(clf, "coef_") or not hasattr(scaler, "n_features_in_"):
        raise ProbedriftError("the pipeline is not fitted", "call pipeline.fit(X_train, y_train) first")
    classes = np.asarray(clf.classes_)
    if classes.size != 2 or clf.coef_.shape[0] != 1:
        raise ProbedriftError(f"the logistic regression has {classes.size} classes {classes.tolist()}; the budget "
                              "is for a binary probe", "fit it on 0/1 labels (1 = unsafe)")
    if not np.issubdtype(classes.dtype, np.number) or classes.tolist() != [0, 1]:
        raise ProbedriftError(f"the probe's classes are {classes.tolist()}, not [0, 1]",
                              "refit on labels encoded 0/1, 1 for the class the probe flags")
    if l2_normalize is None:
        l2_normalize = has_norm
    elif has_norm and not l2_normalize:
        raise ProbedriftError("l2_normalize=False, but the pipeline starts with Normalizer(norm='l2')",
                              "drop l2_normalize (it follows the pipeline) or pass True")
    d = int(scaler.n_features_in_)
    mean = scaler.mean_ if scaler.with_mean else np.zeros(d)
    scale = scaler.scale_ if scaler.with_std else np.ones(d)
    return UserProbe(mean, scale, clf.coef_[0], float(clf.intercept_[0]), bool(l2_normalize))


def as_user_probe(probe: Any, *, l2_normalize: bool | None = None) -> UserProbe:
    """Any accepted form as a :class:`UserProbe`: a UserProbe, a fitted Pipeline
    (:func:`probe_from_pipeline`), a fitted :class:`LinearProbe` (its own ``l2_normalize``), a dict of the
    :data:`NPZ_KEYS` arrays, a path to a ``.npz`` file (:func:`load_probe_npz`), or the directory a
    LinearProbe was saved to (``probe.save(path)``: JSON and safetensors)."""
    if isinstance(probe, UserProbe):
        if l2_normalize is not None and bool(l2_normalize) != probe.l2_normalize:
            raise ProbedriftError(f"l2_normalize={l2_normalize} contradicts the probe's own {probe.l2_normalize}",
                                  "drop l2_normalize")
        return probe
    if isinstance(probe, Pipeline):
        return probe_from_pipeline(probe, l2_normalize=l2_normalize)
    if isinstance(probe, LinearProbe):
        probe._check_fitted()
        return as_user_probe(UserProbe(probe.scaler_mean_, probe.scaler_scale_, probe.coef_, probe.intercept_,
                                       bool(probe.l2_normalize)), l2_normalize=l2_normalize)
    if isinstance(probe, (str, Path)) and Path(probe).is_dir():
        saved = load_probe(probe)  # the study's own format: JSON + safetensors, nothing unpickled
        if not isinstance(saved, LinearProbe):
            raise ProbedriftError(f"{probe} holds a {type(saved).__name__}; the budget is for a linear probe",
                                  "pass a saved LinearProbe (kind 'logistic')")
        return as_user_probe(saved, l2_normalize=l2_normalize)
    if isinstance(probe, (str, Path)):
        return load_probe_npz(probe, l2_normalize=l2_normalize)
    if isinstance(probe, dict):
        return _from_mapping(probe, l2_normalize, "the arrays")
    raise ProbedriftError(f"cannot read a probe from a {type(probe).__name__}",
                          f"pass a fitted {_PIPELINE_SHAPE}, a dict of {', '.join(NPZ_KEYS)}, or a .npz path")


def _from_mapping(arrays: Any, l2_normalize: bool | None, where: str) -> UserProbe:
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise ProbedriftError(f"{where} lack {', '.join(missing)} (a probe needs {', '.join(NPZ_KEYS)})",
                              "write the file with probedrift.science.user_probe.save_probe_npz or "
                              "`probedrift budget --from-arrays`")
    stored = bool(np.asarray(arrays["l2_normalize"]).reshape(-1)[0]) if "l2_normalize" in arrays else None
    if stored is not None and l2_normalize is not None and stored != bool(l2_normalize):
        raise ProbedriftError(f"{where} say l2_normalize={stored}, but {bool(l2_normalize)} was asked for",
                              "drop the option, or re-export the probe with the right setting")
    chosen = stored if stored is not None else l2_normalize
    if chosen is None:
        raise ProbedriftError(f"{where} do not say whether the probe L2-normalises its inputs",
                              "pass l2_normalize=True/False (CLI: --l2-normalize or --no-l2-normalize)")
    return UserProbe(arrays["mean"], arrays["scale"], arrays["weights"], arrays["intercept"], chosen)


def load_arrays(path: str | Path, what: str) -> dict[str, np.ndarray]:
    """The arrays of a ``.npz`` (by key) or ``.npy`` (key ``"X"``) file, read with ``allow_pickle=False``."""
    path = Path(path)
    if not path.is_file():
        raise ProbedriftError(f"{what} file {path} does not exist", "check the path")
    if path.suffix not in (".npz", ".npy"):
        raise ProbedriftError(f"{what} file {path} is not .npz or .npy", "save it with numpy.savez or numpy.save "
                              "(pickled formats are never read)")
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):  # a .npy file holds one array
            return {"X": data}
        with data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        raise ProbedriftError(f"{what} file {path} holds Python objects, which are never unpickled ({exc})",
                              "save plain numeric arrays (numpy.savez with float/int arrays)") from None
    except (OSError, EOFError) as exc:
        raise ProbedriftError(f"{what} file {path} cannot be read as numpy data ({exc})",
                              "save it with numpy.savez / numpy.save") from None


def load_probe_npz(path: str | Path, *, l2_normalize: bool | None = None) -> UserProbe:
    """A :class:`UserProbe` from a ``.npz`` holding :data:`NPZ_KEYS` (and optionally ``l2_normalize``);
    ``allow_pickle=False``."""
    if Path(path).suffix != ".npz":
        raise ProbedriftError(f"a probe file must be .npz, got {path}", "write it with save_probe_npz")
    return _from_mapping(load_arrays(path, "probe"), l2_normalize, f"probe file {path}")


def save_probe_npz(probe: Any, path: str | Path, *, l2_normalize: bool | None = None) -> Path:
    """Write any accepted probe (:func:`as_user_probe`) as a ``.npz`` of :data:`NPZ_KEYS` plus
    ``l2_normalize``, plain numeric arrays only; returns the path (``.npz`` appended if missing)."""
    p = as_user_probe(probe, l2_normalize=l2_normalize)
    path = Path(path)
    path = path if path.suffix == ".npz" else path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mean=p.mean, scale=p.scale, weights=p.weights, intercept=np.array([p.intercept]),
             l2_normalize=np.array(p.l2_normalize))
    return path


def read_embeddings(path: str | Path, *, labels: str | Path | None = None, x_key: str = "X", y_key: str = "y",
                    need_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """(X, y) from a ``.npz`` holding ``x_key`` (and ``y_key``) or a ``.npy`` of X; ``labels`` (a ``.npy``,
    or a ``.npz`` holding ``y_key``) overrides the labels in the file. Never unpickles."""
    arrays = load_arrays(path, "embeddings")
    if x_key not in arrays:
        raise ProbedriftError(f"embeddings file {path} has no array {x_key!r} (it holds {sorted(arrays)})",
                              f"save it as numpy.savez(path, {x_key}=X, {y_key}=y) or name the key")
    y = None
    if labels is not None:
        lab = load_arrays(labels, "labels")
        y = lab.get(y_key, lab.get("X")) if len(lab) != 1 else next(iter(lab.values()))
        if y is None:
            raise ProbedriftError(f"labels file {labels} has no array {y_key!r}",
                                  "save the labels alone with numpy.save")
    elif y_key in arrays:
        y = arrays[y_key]
    if need_labels and y is None:
        raise ProbedriftError(f"embeddings file {path} holds no labels {y_key!r}",
                              f"store them in the file ({y_key}=y) or pass a separate labels file")
    return arrays[x_key], y
