"""Maps from a new model version's embedding space back into the space a frozen probe was trained on.

A model update moves every embedding. If a few texts ("anchors") are embedded by both versions, a map
fitted on those pairs carries new embeddings into the old space, where the frozen probe can score
them again. Two maps, both fitted new → old on anchor rows that belong to the same texts:

- :func:`fit_procrustes` (same width only): an orthogonal map plus a translation,
  ``x ↦ (x − μ_new) R + μ_old`` with ``R = argmin_{RᵀR = I} ‖(A − μ_A) R − (B − μ_B)‖_F``
  (``scipy.linalg.orthogonal_procrustes``). It preserves angles, so it cannot distort the geometry the
  probe relies on; with fewer anchors than dimensions, directions no anchor constrains stay in place.
- :func:`fit_linear_map` (any widths): least squares or ridge regression ``x ↦ x W + b``
  (scikit-learn ``LinearRegression`` / ``Ridge`` / ``RidgeCV``), the only choice when the widths differ.

:func:`fit_aligner` picks by width (``method="auto"``). Every map is an :class:`Aligner` with
``transform(new)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import ProbedriftError, check_choice, check_positive

ALIGN_METHODS = ("auto", "procrustes", "linear")

#: Ridge penalties tried by ``fit_linear_map(..., alpha="cv")`` (anchors are unit vectors).
ALPHA_GRID = tuple(np.logspace(-3, 2, 11))

__all__ = ["ALIGN_METHODS", "ALPHA_GRID", "Aligner", "fit_aligner", "fit_linear_map", "fit_procrustes"]


@dataclass(frozen=True)
class Aligner:
    """An affine map new → old, ``transform(X) = X W + b``; ``method`` names how it was fitted."""

    method: str
    weight: np.ndarray  # (d_new, d_old)
    bias: np.ndarray  # (d_old,)
    n_anchors: int
    alpha: float = float("nan")  # ridge penalty of a linear map (NaN for Procrustes)

    @property
    def d_new(self) -> int:
        """Width of the new version's embeddings (the input)."""
        return int(self.weight.shape[0])

    @property
    def d_old(self) -> int:
        """Width of the old version's embeddings (the output, the probe's input)."""
        return int(self.weight.shape[1])

    def transform(self, new: object) -> np.ndarray:
        """Map new-version embeddings (n, d_new) into the old space: ``X W + b``, shape (n, d_old), float64."""
        X = _as_matrix(new, "new")
        if X.shape[1] != self.d_new:
            raise ProbedriftError(
                f"this aligner maps d={self.d_new} embeddings, got d={X.shape[1]}",
                "pass embeddings of the same model, layer and pooling as the new-version anchors",
            )
        with one_blas_thread():
            return X @ self.weight + self.bias

    def __repr__(self) -> str:
        return f"Aligner({self.method}, {self.d_new} → {self.d_old}, {self.n_anchors} anchors)"


def _as_matrix(X: object, name: str) -> np.ndarray:
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ProbedriftError(f"{name} must be a non-empty 2-D array (n, d), got shape {arr.shape}",
                              "stack one embedding per row")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ProbedriftError(f"{name} must hold real numbers, got dtype {arr.dtype}", "pass a float array")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        raise ProbedriftError(f"{name} holds NaN or inf", "drop or re-embed the non-finite rows")
    return arr


def _check_anchors(new: object, old: object, min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    A, B = _as_matrix(new, "new_anchors"), _as_matrix(old, "old_anchors")
    if A.shape[0] != B.shape[0]:
        raise ProbedriftError(
            f"new_anchors has {A.shape[0]} rows but old_anchors has {B.shape[0]}",
            "pass the embeddings of the same anchor texts, in the same order, from both versions",
        )
    if A.shape[0] < min_rows:
        raise ProbedriftError(f"a map needs at least {min_rows} anchors, got {A.shape[0]}",
                              "embed more anchor texts with both versions")
    return A, B


def _procrustes_closest_to_identity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``argmin_{RᵀR = I} ‖a R − b‖_F``; among several minimisers, the one with the largest ``tr R``."""
    dim = a.shape[1]
    U, s, Vt = scipy.linalg.svd(a.T @ b)
    tol = s[0] * dim * np.finfo(np.float64).eps if s.size and s[0] > 0 else 0.0
    rank = int((s > tol).sum())
    if rank == dim:
        return scipy.linalg.orthogonal_procrustes(a, b)[0]
    U_perp, V_perp = U[:, rank:], Vt[rank:].T
    Q, _ = scipy.linalg.orthogonal_procrustes(U_perp, V_perp)  # Q maximises tr(U_⊥ Q V_⊥ᵀ)
    return U[:, :rank] @ Vt[:rank] + U_perp @ Q @ V_perp.T


def fit_procrustes(new_anchors: object, old_anchors: object, *, center: bool = True) -> Aligner:
    """Orthogonal Procrustes new → old: ``R = argmin_{RᵀR = I} ‖A_c R − B_c‖_F``, bias ``μ_B − μ_A R``.

    ``A_c``, ``B_c`` are the anchors centred on their means (``center=False``: not centred, no bias).
    With full-rank anchors this is ``scipy.linalg.orthogonal_procrustes``: ``R = U Vᵀ`` from the SVD
    ``A_cᵀ B_c = U Σ Vᵀ``. With fewer anchors than dimensions the minimiser is not unique: any
    orthogonal map of the directions the anchors leave unconstrained fits equally well, and the
    library returns an arbitrary one, which scrambles every direction the anchors do not cover. Here
    those directions get the orthogonal map closest to the identity (largest ``tr R``), so they stay
    where they were. Computed in the span ``P`` of both anchor sets (at most 2k dimensions):
    ``R = I + P (R_P − I) Pᵀ``, which keeps the cost at O(d k²) instead of an SVD in d dimensions.
    """
    A, B = _check_anchors(new_anchors, old_anchors)
    if A.shape[1] != B.shape[1]:
        raise ProbedriftError(
            f"Procrustes needs equal widths, got d_new={A.shape[1]} and d_old={B.shape[1]}",
            "use fit_linear_map (or fit_aligner(..., method='auto')) for models of different widths",
        )
    d = A.shape[1]
    mu_a = A.mean(axis=0) if center else np.zeros(d)
    mu_b = B.mean(axis=0) if center else np.zeros(d)
    Ac, Bc = A - mu_a, B - mu_b
    with one_blas_thread():
        if 2 * A.shape[0] >= d:
            R = _procrustes_closest_to_identity(Ac, Bc)
        else:
            P, _ = scipy.linalg.qr(np.vstack([Ac, Bc]).T, mode="economic")
            R_p = _procrustes_closest_to_identity(Ac @ P, Bc @ P)
            R = np.eye(d) + P @ (R_p - np.eye(P.shape[1])) @ P.T
        bias = mu_b - mu_a @ R
    return Aligner("procrustes", R, bias, A.shape[0])


def fit_linear_map(new_anchors: object, old_anchors: object, alpha: float | str = "cv", *,
                   fit_intercept: bool = True) -> Aligner:
    """Linear map new → old by least squares, ``min_{W,b} ‖A W + 1bᵀ − B‖²_F + α‖W‖²_F``.

    ``alpha = 0`` is ordinary least squares (scikit-learn ``LinearRegression``; the minimum-norm
    solution when there are fewer anchors than dimensions), ``alpha > 0`` ridge regression
    (``Ridge``), and ``alpha = "cv"`` picks α from :data:`ALPHA_GRID` by efficient leave-one-out
    error over the anchors (``RidgeCV``). Any widths; with fewer anchors than dimensions the map only
    reproduces the anchors' span, so the probe sees the part of a new embedding the anchors explain.
    """

    if isinstance(alpha, str) and alpha != "cv":
        raise ProbedriftError(f"alpha must be a number >= 0 or 'cv', got {alpha!r}", "pass e.g. alpha=1.0 or 'cv'")
    A, B = _check_anchors(new_anchors, old_anchors, min_rows=3 if alpha == "cv" else 2)
    if alpha == "cv":
        model = RidgeCV(alphas=ALPHA_GRID, fit_intercept=fit_intercept)
    else:
        check_positive("alpha", alpha, allow_zero=True)
        model = LinearRegression(fit_intercept=fit_intercept) if alpha == 0 else Ridge(alpha=alpha,
                                                                                      fit_intercept=fit_intercept)
    with one_blas_thread():
        reg = model.fit(A, B)
    chosen = float(reg.alpha_) if alpha == "cv" else float(alpha)
    W = np.asarray(reg.coef_, dtype=np.float64).T.reshape(A.shape[1], B.shape[1])
    b = np.broadcast_to(np.asarray(reg.intercept_, dtype=np.float64), (B.shape[1],)).copy()
    return Aligner("linear", W, b, A.shape[0], chosen)


def fit_aligner(new_anchors: object, old_anchors: object, method: str = "auto", *,
                alpha: float | str = "cv") -> Aligner:
    """Fit a map new → old: ``procrustes`` when the widths match (``auto``), else the ``linear`` map.

    ``alpha`` is the ridge penalty of the linear map (unused by Procrustes).
    """
    check_choice("alignment method", method, ALIGN_METHODS)
    d_new, d_old = np.shape(new_anchors)[-1], np.shape(old_anchors)[-1]
    if method == "auto":
        method = "procrustes" if d_new == d_old else "linear"
    if method == "procrustes":
        return fit_procrustes(new_anchors, old_anchors)
    return fit_linear_map(new_anchors, old_anchors, alpha=alpha)
