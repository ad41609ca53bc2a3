"""Checks and fitting helpers shared by the probes of :mod:`probedrift.science.probes`: input validation,
L2 normalisation, the binary cross-entropy, temperature scaling, and the scaler's std floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize

from probedrift.core.errors import ProbedriftError

__all__ = [
    "binary_nll",
    "check_embeddings",
    "check_finite",
    "check_labels",
    "check_scale_floor",
    "floored_scale",
    "l2_normalize",
    "median_divisor",
    "nonzero_row_norms",
    "temperature_by_nll",
]


# --------------------------------------------------------------------------------------------------
# input checks


def check_embeddings(X: Any, name: str = "X", *, width: int | None = None) -> np.ndarray:
    """Return ``X`` as a 2-D float32 array of finite values, or raise a :class:`ProbedriftError`.

    ``width`` (if given) is the feature width the caller expects; a mismatch names the alignment
    adapter (:mod:`probedrift.science.align`) and retraining as the two fixes.
    """
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ProbedriftError(
            f"{name} must be a 2-D array (n_samples, d), got shape {arr.shape}",
            "stack the embeddings into one (n, d) array; for one embedding use x.reshape(1, -1)",
        )
    if arr.shape[0] == 0:
        raise ProbedriftError(f"{name} has no rows", "pass at least one embedding")
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ProbedriftError(f"{name} must hold real numbers, got dtype {arr.dtype}", "pass a float array")
    if width is not None and arr.shape[1] != width:
        raise ProbedriftError(
            f"probe expects d={width}, got d={arr.shape[1]}",
            "these embeddings come from another model or layer: map them into the probe's space with "
            "probedrift.science.align (fit a map from the new embeddings to the old ones), or retrain the probe "
            "on the new embeddings",
        )
    arr = arr.astype(np.float32, copy=False)
    check_finite(arr, name)
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    """Raise a ProbedriftError naming the first rows of the 2-D ``arr`` that hold NaN or inf."""
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise ProbedriftError(
            f"{name} holds {int(bad.sum())} non-finite values (NaN or inf) in {rows.size} rows, "
            f"first rows {rows[:5].tolist()}",
            "drop or re-embed those rows; NaN/inf usually come from float16 overflow during "
            "extraction (embed in float32 or bfloat16)",
        )


def check_labels(y: Any, n: int, name: str = "y") -> np.ndarray:
    """Return ``y`` as an int array of 0/1 of length ``n`` holding both classes, or raise."""
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ProbedriftError(
            f"{name} must be a 1-D array of {n} labels (one per embedding), got shape {arr.shape}",
            "pass one 0/1 label per row of X",
        )
    values = set(np.unique(arr).tolist())
    if not values <= {0, 1}:
        raise ProbedriftError(
            f"{name} must be binary 0/1 (1 = unsafe), got values {sorted(values)[:5]}",
            "binarise the labels, e.g. y = (toxicity >= 0.5).astype(int)",
        )
    if len(values) < 2:
        raise ProbedriftError(
            f"{name} holds only class {values.pop()}", "pass a sample that holds both classes"
        )
    return arr.astype(np.int64)


# --------------------------------------------------------------------------------------------------
# normalisation, loss and temperature


def nonzero_row_norms(X: np.ndarray) -> np.ndarray:
    """‖x_i‖₂ per row, with 1 for zero rows (so that x/‖x‖ leaves them at zero, as sklearn's Normalizer)."""
    norms = np.sqrt(np.einsum("ij,ij->i", X, X))
    norms[norms == 0] = 1.0
    return norms


def check_xy(X: Any, y: Any, min_per_class: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Checked embeddings and 0/1 labels (:func:`check_embeddings`, :func:`check_labels`), with at least
    ``min_per_class`` samples in each class; a clear error otherwise."""
    X = check_embeddings(X)
    y = check_labels(y, X.shape[0])
    smallest = int(np.bincount(y, minlength=2).min())
    if smallest < min_per_class:
        raise ProbedriftError(
            f"the smaller class has {smallest} samples; this measure needs at least {min_per_class}",
            "pass more samples of each class",
        )
    return X, y


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm, ``x / ‖x‖₂`` (zero rows are left at zero)."""
    return X / nonzero_row_norms(X)[:, None]


def binary_nll(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy of ``sigmoid(logits)`` against 0/1 labels, computed stably."""
    signed = np.where(y == 1, logits, -logits)
    return float(np.mean(np.logaddexp(0.0, -signed)))


def temperature_by_nll(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature scaling (Guo et al. 2017): ``T* = argmin_T NLL(y, sigmoid(z/T))`` over ``log T`` in
    [−5, 5] (bounded scalar search), so T stays positive."""
    res = scipy.optimize.minimize_scalar(
        lambda log_t: binary_nll(logits / np.exp(log_t), y), bounds=(-5.0, 5.0), method="bounded"
    )
    return float(np.exp(res.x))


# --------------------------------------------------------------------------------------------------
# the scaler's std floor


def median_divisor(spec: str) -> float:
    """K of a relative floor ``"median/K"``, or raise."""
    head, _, tail = spec.partition("/")
    try:
        k = float(tail) if head.strip() == "median" else float("nan")
    except ValueError:
        k = float("nan")
    if not np.isfinite(k) or k <= 0:
        raise ProbedriftError(
            f"scale_floor {spec!r} is not of the form 'median/K' with K > 0",
            "pass e.g. scale_floor='median/10' (a tenth of the median std) or an absolute std such as 1e-4",
        )
    return k


def check_scale_floor(spec: Any) -> float | str | None:
    """A valid ``scale_floor``: None, a finite float > 0, or ``"median/K"`` with K > 0."""
    if spec is None:
        return None
    if isinstance(spec, str):
        median_divisor(spec)
        return spec
    if isinstance(spec, bool) or not isinstance(spec, (int, float, np.integer, np.floating)):
        raise ProbedriftError(
            f"scale_floor must be None, a number or 'median/K', got {spec!r}",
            "pass e.g. scale_floor='median/10' or scale_floor=1e-4",
        )
    if not np.isfinite(spec) or spec <= 0:
        raise ProbedriftError(
            f"scale_floor must be a finite std > 0, got {spec!r}", "pass e.g. scale_floor=1e-4 or 'median/10'"
        )
    return float(spec)


def floored_scale(scale: np.ndarray, spec: float | str | None) -> tuple[np.ndarray, float | None]:
    """``s_j ← max(s_j, floor)`` with floor = ``spec`` or median_j s_j / K for ``"median/K"``; returns the
    floored scale and the absolute floor (``scale`` unchanged and None without a floor)."""
    if spec is None:
        return scale, None
    floor = float(np.median(scale)) / median_divisor(spec) if isinstance(spec, str) else float(spec)
    return np.maximum(scale, floor), floor
