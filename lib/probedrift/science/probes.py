"""Probes: the paper's logistic-regression safety classifier and an MLP variant.

The paper's classifier (§1.2) is ``L2-normalise → StandardScaler (fitted on train) →
LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)``. :class:`LinearProbe` fits
exactly that with scikit-learn, then keeps only its coefficients: prediction is one matrix product in
numpy, because the drift study scores stacks such as (8·2000, 1024) thousands of times.

The pre-processing folds into the weights. With ``x̃ = x/‖x‖``, scaler mean ``m`` and scale ``s``:

    logit(x) = w·((x̃ − m)/s) + b = (x·w') / ‖x‖ + b',   w' = w/s,   b' = b − m·w'

so scoring needs one matmul and one row norm. Probes save to a directory holding ``probe.json``
(hyper-parameters, temperature, feature width, versions, class balance) and ``probe.safetensors``
(the arrays); nothing is pickled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import scipy.special
import sklearn
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_sample_weight

from probedrift import __version__
from probedrift.core.errors import ProbedriftError, check_choice, check_positive
from probedrift.science.probe_fits import (
    check_embeddings,
    check_finite,
    check_labels,
    check_scale_floor,
    floored_scale,
    l2_normalize,
    nonzero_row_norms,
    temperature_by_nll,
)

PROBE_KINDS = ("logistic", "mlp")
C_GRID = (0.01, 0.1, 1.0, 10.0, 100.0)
_JSON_NAME = "probe.json"
_ARRAYS_NAME = "probe.safetensors"


class AffineForm(NamedTuple):
    """An affine probe in the unit-embedding space: ``p(y=1|x) = sigmoid((x·weights + intercept)/temperature)``
    for unit x (float64 weights, shape (d,))."""

    weights: np.ndarray
    intercept: float
    temperature: float


def affine_form_of(predictor: object) -> AffineForm | None:
    """The :class:`AffineForm` of a probe, or of a probe's own ``predict_proba`` method; None for any
    other callable (a lambda, another bound method) or a probe whose decision function is not affine."""
    owner = getattr(predictor, "__self__", predictor)
    if owner is not predictor and getattr(owner, "predict_proba", None) != predictor:
        return None
    affine_form = getattr(owner, "affine_form", None)
    return affine_form() if callable(affine_form) else None


class _Probe:
    """Shared pre-processing, temperature, checks and persistence of the probes."""

    kind = ""

    def __init__(self, *, l2_normalize: bool, standardize: bool, temperature: float, seed: int):
        check_positive("temperature", temperature)
        self.l2_normalize = bool(l2_normalize)
        self.standardize = bool(standardize)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.n_features_: int | None = None
        self.class_counts_: list[int] | None = None
        self.scaler_mean_: np.ndarray | None = None
        self.scaler_scale_: np.ndarray | None = None

    # subclasses fill these in
    def _hyper(self) -> dict[str, Any]:
        raise NotImplementedError

    def _fit_model(self, Xs: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def _model_arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _set_model_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _raw_logits(self, X: np.ndarray, norms: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> _Probe:
        """Fit on training embeddings ``X`` (n, d) and 0/1 labels ``y``; returns ``self``."""
        X = check_embeddings(X)
        y = check_labels(y, X.shape[0])
        Xp = l2_normalize(X) if self.l2_normalize else X
        Xp = Xp.astype(np.float64)
        d = X.shape[1]
        if self.standardize:
            scaler = StandardScaler().fit(Xp)
            scaler.scale_ = self._floor_scale(scaler.scale_)
            self.scaler_mean_ = scaler.mean_.astype(np.float64)
            self.scaler_scale_ = scaler.scale_.astype(np.float64)
            Xp = scaler.transform(Xp)
        else:
            self.scaler_mean_ = np.zeros(d)
            self.scaler_scale_ = np.ones(d)
        self.n_features_ = d
        self.class_counts_ = np.bincount(y, minlength=2).tolist()
        self._fit_model(Xp, y)
        self._prepare()
        return self

    def _floor_scale(self, scale: np.ndarray) -> np.ndarray:
        """The scaler's per-dimension std as used for z-scoring; the base probes use it unchanged."""
        return scale

    def affine_form(self) -> AffineForm | None:
        """(w, b, T) with ``p(y=1|x) = sigmoid((x̃·w + b)/T)`` for unit x̃ when the decision function is
        affine in the unit embedding, else None (the base probes: not affine). A subclass that changes
        :meth:`predict_proba` must change this too: the drift sweep scores from it."""
        return None

    def _check_fitted(self) -> None:
        if self.n_features_ is None:
            raise ProbedriftError(f"this {type(self).__name__} is not fitted", "call .fit(X, y) first")

    def _prepare(self) -> None:
        """Fold normalisation and scaling into the first layer's weights (see the module docstring)."""
        raise NotImplementedError

    def _logits(self, X: Any) -> np.ndarray:
        self._check_fitted()
        arr = np.asarray(X)
        if arr.ndim != 2 or arr.shape[1] != self.n_features_ or arr.dtype not in (np.float32, np.float64):
            arr = check_embeddings(arr, width=self.n_features_)
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            norms = nonzero_row_norms(arr) if self.l2_normalize else np.ones(arr.shape[0], dtype=arr.dtype)
            z = self._raw_logits(arr, norms)
        # NaN/inf in the input always reach the logits (inf·0 and inf/inf are NaN), so checking the
        # n outputs instead of the n·d inputs keeps the hot path at one matmul.
        if not np.all(np.isfinite(z)):
            check_finite(arr, "X")
            raise ProbedriftError(
                "the probe produced non-finite logits from finite input (values too large for float32)",
                "rescale the embeddings or pass them as float64",
            )
        return z

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits divided by the temperature, ``(w·x̃_std + b) / T``, shape (n,), float64."""
        return self._logits(X).astype(np.float64) / self.temperature

    def predict_proba(self, X: Any) -> np.ndarray:
        """``p(y=1 | x) = sigmoid(logit / T)``, shape (n,), float64.

        float64 because a float32 sigmoid rounds to exactly 1 for logits above ≈ 17, which ties
        confident predictions and shifts their AUC; ranking-only uses should prefer
        :meth:`decision_function`, which never saturates.
        """
        return scipy.special.expit(self.decision_function(X))

    def predict(self, X: Any) -> np.ndarray:
        """Hard labels, ``1[p(y=1|x) ≥ 0.5]`` (the temperature never changes them)."""
        return (self._logits(X) >= 0).astype(np.int64)

    def fit_temperature(self, X_val: Any, y_val: Any) -> _Probe:
        """Temperature scaling (Guo et al. 2017): ``T* = argmin_T NLL(y_val, sigmoid(z/T))``.

        Minimised over ``log T`` in [−5, 5] (bounded scalar search), so T stays positive. Dividing
        every logit by one positive T changes confidence but never the ranking (AUC) or the labels.
        Returns ``self`` with :attr:`temperature` set.
        """
        self._check_fitted()
        z = self._logits(X_val).astype(np.float64)
        self.temperature = temperature_by_nll(z, check_labels(y_val, z.shape[0], "y_val"))
        return self

    # ----------------------------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        counts = self.class_counts_ or [0, 0]
        return {
            "kind": self.kind,
            "hyper_parameters": self._hyper(),
            "l2_normalize": self.l2_normalize,
            "standardize": self.standardize,
            "temperature": self.temperature,
            "seed": self.seed,
            "n_features": self.n_features_,
            "class_counts": counts,
            "positive_fraction": counts[1] / max(1, sum(counts)),
            "probedrift_version": __version__,
            "sklearn_version": sklearn.__version__,
        }

    def save(self, path: str | Path) -> Path:
        """Write ``probe.json`` and ``probe.safetensors`` into directory ``path``; returns it."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        arrays = {"scaler_mean": self.scaler_mean_, "scaler_scale": self.scaler_scale_}
        arrays.update(self._model_arrays())
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path / _ARRAYS_NAME))
        (path / _JSON_NAME).write_text(json.dumps(self._meta(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> _Probe:
        """Read a probe written by :meth:`save` (any kind when called on the base class)."""
        path = Path(path)
        meta_file, arrays_file = path / _JSON_NAME, path / _ARRAYS_NAME
        if not meta_file.is_file() or not arrays_file.is_file():
            raise ProbedriftError(
                f"{path} does not hold a saved probe ({_JSON_NAME} + {_ARRAYS_NAME})",
                "pass the directory that probe.save(path) wrote",
            )
        meta = json.loads(meta_file.read_text())
        kind = meta.get("kind")
        target = _PROBE_CLASSES.get(kind)
        if target is None or (cls is not _Probe and target is not cls):
            raise ProbedriftError(
                f"{path} holds a probe of kind {kind!r}, not a {cls.__name__}",
                "load it with probedrift.science.probes.load_probe(path)",
            )
        probe = target(
            **meta["hyper_parameters"],
            l2_normalize=meta["l2_normalize"],
            standardize=meta["standardize"],
            temperature=meta["temperature"],
            seed=meta["seed"],
        )
        arrays = load_file(str(arrays_file))
        probe.scaler_mean_ = arrays.pop("scaler_mean")
        probe.scaler_scale_ = arrays.pop("scaler_scale")
        probe.n_features_ = int(meta["n_features"])
        probe.class_counts_ = list(meta["class_counts"])
        probe._set_model_arrays(arrays)
        probe._prepare()
        return probe

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._hyper().items())
        return f"{type(self).__name__}({args}, temperature={self.temperature:.4g})"


class LinearProbe(_Probe):
    """The paper's probe (§1.2): ``L2-normalise → StandardScaler → LogisticRegression``.

    ``p(y=1|x) = sigmoid((w·(x̃ − m)/s + b) / T)`` with ``x̃ = x/‖x‖₂``; sklearn minimises
    ``½‖w‖² + C Σ_i c_{y_i} BCE(y_i, w·x_i + b)`` with balanced class weights ``c_k = n/(2 n_k)``.
    Prediction runs in numpy from the stored coefficients (one matmul).

    ``scale_floor`` (default None: the paper's probe, unchanged) clamps the scaler's per-dimension
    std from below, ``s_j ← max(s_j, floor)``, before the logistic regression is fitted. A dimension
    that is nearly constant on the training set (std ~1e-9) otherwise enters the logit as
    ``w_j/s_j`` with an enormous ``1/s_j``, so any drift in it moves the logit without bound (see
    :mod:`probedrift.science.budget`). The floor is either an absolute std (a float > 0) or relative to the
    median std of the training set, written ``"median/K"`` (floor = median_j s_j / K, K > 0, e.g.
    ``"median/10"``). The specification and the absolute floor it gave at fit time
    (:attr:`scale_floor_value_`, None without a floor) are saved with the probe. Without
    standardisation (``standardize=False``) there is no scaler and the floor does nothing.
    """

    kind = "logistic"

    def __init__(self, C: float = 1.0, class_weight: str | None = "balanced", max_iter: int = 2000,
                 l2_normalize: bool = True, standardize: bool = True, temperature: float = 1.0, seed: int = 0,
                 scale_floor: float | str | None = None):
        super().__init__(l2_normalize=l2_normalize, standardize=standardize, temperature=temperature, seed=seed)
        check_positive("C", C)
        check_positive("max_iter", max_iter)
        if class_weight is not None:
            check_choice("class_weight", class_weight, ["balanced"])
        self.C = float(C)
        self.class_weight = class_weight
        self.max_iter = int(max_iter)
        self.scale_floor = check_scale_floor(scale_floor)
        self.scale_floor_value_: float | None = None
        self.coef_: np.ndarray | None = None
        self.intercept_: float | None = None
        self.selection_: dict[float, float] | None = None

    def _hyper(self) -> dict[str, Any]:
        hyper: dict[str, Any] = {"C": self.C, "class_weight": self.class_weight, "max_iter": self.max_iter}
        if self.scale_floor is not None:
            hyper["scale_floor"] = self.scale_floor
        return hyper

    def _floor_scale(self, scale: np.ndarray) -> np.ndarray:
        """``s_j ← max(s_j, floor)`` with floor = ``scale_floor`` or median_j s_j / K for ``"median/K"``."""
        floored, self.scale_floor_value_ = floored_scale(scale, self.scale_floor)
        return floored

    def _fit_model(self, Xs: np.ndarray, y: np.ndarray) -> None:
        clf = LogisticRegression(
            C=self.C, class_weight=self.class_weight, max_iter=self.max_iter, random_state=self.seed
        ).fit(Xs, y)
        self.coef_ = clf.coef_[0].astype(np.float64)
        self.intercept_ = float(clf.intercept_[0])

    def _model_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"coef": self.coef_, "intercept": np.array([self.intercept_])}
        if self.scale_floor_value_ is not None:
            arrays["scale_floor_value"] = np.array([self.scale_floor_value_])
        return arrays

    def _set_model_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.coef_ = arrays["coef"]
        self.intercept_ = float(arrays["intercept"][0])
        floor = arrays.get("scale_floor_value")
        self.scale_floor_value_ = None if floor is None else float(floor[0])

    def _prepare(self) -> None:
        w = self.coef_ / self.scaler_scale_
        self._w = w.astype(np.float32)
        self._b = float(self.intercept_ - self.scaler_mean_ @ w)

    def _raw_logits(self, X: np.ndarray, norms: np.ndarray) -> np.ndarray:
        w = self._w if X.dtype == np.float32 else self._w.astype(X.dtype)
        return (X @ w) / norms + self._b

    def affine_form(self) -> AffineForm:
        """(w, b, T) in float64 with ``p(y=1|x) = sigmoid((x̃·w + b)/T)``, x̃ = x/‖x‖₂ (x itself without
        ``l2_normalize``): the scaler folded in, w = coef/s and b = intercept − m·w (module docstring)."""
        self._check_fitted()
        w = np.asarray(self.coef_, dtype=np.float64) / np.asarray(self.scaler_scale_, dtype=np.float64)
        b = float(self.intercept_) - float(np.asarray(self.scaler_mean_, dtype=np.float64) @ w)
        return AffineForm(w, b, float(self.temperature))

    @classmethod
    def select_C(cls, X_train: Any, y_train: Any, X_val: Any, y_val: Any, grid: tuple[float, ...] = C_GRID,
                 **kw: Any) -> LinearProbe:
        """Fit one probe per ``C`` in ``grid``; return the one with the highest validation ROC-AUC.

        Ties go to the first ``C`` in ``grid``. The returned probe's ``selection_`` maps each C to
        its validation AUC. ``kw`` are the other :class:`LinearProbe` arguments.
        """
        grid = tuple(grid)
        if not grid:
            raise ProbedriftError("the C grid is empty", f"pass e.g. grid={C_GRID}")
        for c in grid:
            check_positive("C", c)
        X_val = check_embeddings(X_val, "X_val")
        y_val = check_labels(y_val, X_val.shape[0], "y_val")
        best, scores = None, {}
        for c in grid:
            probe = cls(C=c, **kw).fit(X_train, y_train)
            scores[float(c)] = float(roc_auc_score(y_val, probe.decision_function(X_val)))
            if best is None or scores[float(c)] > scores[best.C]:
                best = probe
        best.selection_ = scores
        return best


class MLPProbe(_Probe):
    """One-hidden-layer MLP probe on the same pre-processing as :class:`LinearProbe`.

    ``p(y=1|x) = sigmoid((W₂ᵀ relu(W₁ᵀ x̃_std + b₁) + b₂) / T)``, hidden width 256, fitted by
    sklearn's ``MLPClassifier`` (Adam, L2 penalty ``alpha``, early stopping on a stratified 10%
    split, seeded). ``class_weight="balanced"`` is applied as per-sample weights ``n/(2 n_k)``.
    Prediction runs in numpy from the stored weights.
    """

    kind = "mlp"

    def __init__(self, hidden: int = 256, alpha: float = 1e-4, class_weight: str | None = "balanced",
                 max_iter: int = 200, early_stopping: bool = True, l2_normalize: bool = True,
                 standardize: bool = True, temperature: float = 1.0, seed: int = 0):
        super().__init__(l2_normalize=l2_normalize, standardize=standardize, temperature=temperature, seed=seed)
        check_positive("hidden", hidden)
        check_positive("alpha", alpha, allow_zero=True)
        check_positive("max_iter", max_iter)
        if class_weight is not None:
            check_choice("class_weight", class_weight, ["balanced"])
        self.hidden = int(hidden)
        self.alpha = float(alpha)
        self.class_weight = class_weight
        self.max_iter = int(max_iter)
        self.early_stopping = bool(early_stopping)
        self.weights_: list[np.ndarray] | None = None
        self.biases_: list[np.ndarray] | None = None

    def _hyper(self) -> dict[str, Any]:
        return {
            "hidden": self.hidden,
            "alpha": self.alpha,
            "class_weight": self.class_weight,
            "max_iter": self.max_iter,
            "early_stopping": self.early_stopping,
        }

    def _fit_model(self, Xs: np.ndarray, y: np.ndarray) -> None:
        clf = MLPClassifier(
            hidden_layer_sizes=(self.hidden,),
            activation="relu",
            alpha=self.alpha,
            max_iter=self.max_iter,
            early_stopping=self.early_stopping,
            random_state=self.seed,
        )
        weights = compute_sample_weight("balanced", y) if self.class_weight else None
        clf.fit(Xs, y, sample_weight=weights)
        self.weights_ = [w.astype(np.float64) for w in clf.coefs_]
        self.biases_ = [b.astype(np.float64) for b in clf.intercepts_]

    def _model_arrays(self) -> dict[str, np.ndarray]:
        out = {f"W{i}": w for i, w in enumerate(self.weights_)}
        out.update({f"b{i}": b for i, b in enumerate(self.biases_)})
        return out

    def _set_model_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        n = len([k for k in arrays if k.startswith("W")])
        self.weights_ = [arrays[f"W{i}"] for i in range(n)]
        self.biases_ = [arrays[f"b{i}"] for i in range(n)]

    def _prepare(self) -> None:
        W1 = self.weights_[0] / self.scaler_scale_[:, None]
        self._W1 = W1.astype(np.float32)
        self._b1 = (self.biases_[0] - self.scaler_mean_ @ W1).astype(np.float32)
        self._W2 = self.weights_[1][:, 0].astype(np.float32)
        self._b2 = float(self.biases_[1][0])

    def _raw_logits(self, X: np.ndarray, norms: np.ndarray) -> np.ndarray:
        h = (X @ self._W1.astype(X.dtype, copy=False)) / norms[:, None] + self._b1
        np.maximum(h, 0, out=h)
        return h @ self._W2.astype(h.dtype, copy=False) + self._b2


_PROBE_CLASSES: dict[str, type[_Probe]] = {"logistic": LinearProbe, "mlp": MLPProbe}


def load_probe(path: str | Path) -> _Probe:
    """Load a probe of any kind from a directory written by ``probe.save(path)``."""
    return _Probe.load(path)


def train_probe(
    kind: str,
    X_train: Any,
    y_train: Any,
    *,
    X_val: Any = None,
    y_val: Any = None,
    select_c: bool = False,
    calibrate: bool = False,
    **kw: Any,
) -> _Probe:
    """Fit a probe of ``kind`` (one of :data:`PROBE_KINDS`).

    ``select_c`` (logistic only) picks C from ``kw.get("grid", C_GRID)`` by validation AUC;
    ``calibrate`` then fits a temperature on the same validation set. Both need ``X_val``/``y_val``.
    Other keywords go to the probe's constructor.
    """
    check_choice("probe kind", kind, PROBE_KINDS)
    grid = kw.pop("grid", None)
    if grid is not None and not select_c:
        raise ProbedriftError("grid is only used to select C", "pass select_c=True with grid=, or drop grid")
    if (select_c or calibrate) and (X_val is None or y_val is None):
        raise ProbedriftError(
            "select_c and calibrate need a validation set", "pass X_val= and y_val= (the 10% split)"
        )
    if select_c:
        if kind != "logistic":
            raise ProbedriftError(
                f"select_c applies to the logistic probe, not {kind!r}", "drop select_c or use kind='logistic'"
            )
        kw.pop("C", None)
        probe: _Probe = LinearProbe.select_C(X_train, y_train, X_val, y_val, grid=grid or C_GRID, **kw)
    else:
        probe = _PROBE_CLASSES[kind](**kw).fit(X_train, y_train)
    if calibrate:
        probe.fit_temperature(X_val, y_val)
    return probe


def paper_probe(seed: int = 0) -> LinearProbe:
    """An unfitted probe with the paper's recipe (§1.2): L2-normalise → StandardScaler → logistic
    regression with C = 1, balanced class weights, at most 2,000 iterations. Every part of the study
    that trains "the paper's probe" builds it here."""
    return LinearProbe(C=1.0, class_weight="balanced", max_iter=2000, seed=int(seed))
