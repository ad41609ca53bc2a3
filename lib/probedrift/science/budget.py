"""Drift budget of the paper's linear probe: how far isotropic drift may turn the test embeddings
before ROC-AUC falls, predicted in closed form from the clean logits and checked by simulation.

The probe (:class:`probedrift.science.probes.LinearProbe`) scores a unit vector z as

    ℓ(z) = w·(z − m)/s + b = v·z + b′,   v = w/s,   b′ = b − v·m.

Isotropic drift of exact angle θ moves z to z′ = cos θ · z + sin θ · u, with u uniform on the unit
sphere of the hyperplane orthogonal to z (:func:`exact_angle_drift`). The logit moves by

    Δ = (cos θ − 1) · v·z + sin θ · v·u.

v·u has mean 0 and variance σ̃² = ‖v − (v·z) z‖² / (d − 1) = (‖v‖² − (v·z)²) / (d − 1) (the part of
v orthogonal to z, spread over the d − 1 directions u can take), and is close to Gaussian for large d.
Drawn independently for every text, ℓ_i(θ) ≈ N(cos θ · v·z_i + b′, sin²θ · σ̃_i²), so for a positive p
and a negative n

    P(ℓ_p(θ) > ℓ_n(θ)) = Φ( cos θ (ℓ_p − ℓ_n) / (sin θ √(σ̃_p² + σ̃_n²)) ) = Φ(c_pn · cot θ),

and the expected AUC is the mean of Φ(c_pn cot θ) over all positive×negative pairs
(:func:`predicted_auc`). The curve depends on θ only through cot θ: at θ = 0 it is the clean
Mann-Whitney AUC, at 90° it is 0.5. A dimension whose scaler std s_j is nearly zero makes ‖v‖
enormous while the clean logit gaps ℓ_p − ℓ_n stay ordinary, so every c_pn is tiny and the AUC
falls at angles of order atan(c): the drift budget (:func:`drift_budget`) collapses. The remedy is
a floor on s (``LinearProbe(scale_floor=...)``).

Logits are computed here in float64 from the probe's stored coefficients in the centred form
w·(x̃ − m)/s + b (the probe's own affine map; the temperature is left out because it never changes
a ranking), which keeps the gaps between texts exact even when v·m is huge.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.special
from scipy import stats

from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.science.probes import LinearProbe

__all__ = [
    "AUC_DROP",
    "BUDGET_COLUMNS",
    "DEFAULT_GRID_DEG",
    "MAX_ANGLE_DEG",
    "MAX_PAIRS",
    "MIN_ANGLE_DEG",
    "budget_and_curves",
    "budget_table",
    "drift_budget",
    "exact_angle_drift",
    "predicted_auc",
    "scale_spectrum",
    "simulated_auc",
    "auc_rows",
    "check_angles",
    "check_labels",
    "check_probe",
    "check_seeds",
    "logits64",
    "orthogonal_directions",
    "unit_rows",
]

#: Search range of the budget angles, in degrees.
MIN_ANGLE_DEG = 1e-3
MAX_ANGLE_DEG = 90.0
#: Log-spaced angles (degrees) on which the budget search brackets its roots before bisecting.
DEFAULT_GRID_DEG = np.geomspace(MIN_ANGLE_DEG, MAX_ANGLE_DEG, 61)
#: The "loses 5 points" budget: AUC(θ) = AUC₀ − AUC_DROP.
AUC_DROP = 0.05
#: Above this many positive×negative pairs, :func:`predicted_auc` uses a fixed random sample of pairs.
MAX_PAIRS = 4_000_000
#: Angles (degrees) at which :func:`budget_table` compares the predicted and the simulated curve.
CURVE_GRID_DEG = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 45.0, 90.0)
#: Columns of :func:`budget_table`, in order.
BUDGET_COLUMNS = (
    "model",
    "layer",
    "pooling",
    "auc_clean",
    "angle_drop5_predicted_deg",
    "angle_half_predicted_deg",
    "angle_drop5_simulated_deg",
    "angle_half_simulated_deg",
    "ratio_drop5",
    "ratio_half",
    "auc_1deg_predicted",
    "auc_1deg_simulated",
    "collapse_at_1deg",
    "max_curve_gap",
    "std_min",
    "std_p1",
    "std_median",
    "norm_w_over_s",
    "mean_cosine",
)

_BISECTION_REL_TOL = 1e-4  # stop when the bracket [lo, hi] has hi/lo < 1 + tol


# --------------------------------------------------------------------------- inputs


def check_probe(probe: Any) -> LinearProbe:
    """``probe`` itself when it is a fitted LinearProbe, else an error saying how to make one."""
    if not isinstance(probe, LinearProbe):
        raise ProbedriftError(
            f"the drift budget is derived for the linear probe, got {type(probe).__name__}",
            "pass a fitted probedrift.science.probes.LinearProbe (e.g. paper_probe(seed).fit(X, y))",
        )
    probe._check_fitted()
    return probe


def unit_rows(X: Any, probe: LinearProbe) -> np.ndarray:
    """Rows as float64 unit vectors of the probe's width (the probe normalises the same way)."""
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0 or not np.issubdtype(arr.dtype, np.number):
        raise ProbedriftError(
            f"X_unit must be a non-empty 2-D numeric array (n, d), got shape {arr.shape}",
            "pass the test embeddings, one per row",
        )
    if arr.shape[1] != probe.n_features_:
        raise ProbedriftError(
            f"probe expects d={probe.n_features_}, got d={arr.shape[1]}",
            "pass embeddings of the model and layer the probe was trained on",
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ProbedriftError("X_unit holds NaN or inf", "drop or re-embed those rows")
    norms = np.linalg.norm(arr, axis=1)
    if (norms == 0).any():
        raise ProbedriftError("X_unit holds all-zero rows, which have no direction", "drop those rows")
    return arr / norms[:, None]


def check_labels(y: Any, n: int) -> np.ndarray:
    """``y`` as n binary labels with both classes present, else an error naming the problem."""
    arr = np.asarray(y)
    if arr.shape != (n,) or not np.isin(arr, (0, 1)).all():
        raise ProbedriftError(
            f"y must hold one 0/1 label per row of X_unit ({n}), got shape {arr.shape}",
            "pass the test labels (1 = unsafe)",
        )
    arr = arr.astype(np.int64)
    if arr.min() == arr.max():
        raise ProbedriftError("y holds only one class; ROC-AUC needs both", "use a test set with both classes")
    return arr


def check_angles(angles_deg: Any) -> np.ndarray:
    """``angles_deg`` as a non-empty 1-D float64 grid of angles in [0°, 180°]."""
    arr = np.atleast_1d(np.asarray(angles_deg, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.isfinite(arr).all() or (arr < 0).any() or (arr > 180).any():
        raise ProbedriftError(
            "angles_deg must be a non-empty 1-D grid of angles in [0, 180] degrees",
            "pass e.g. np.geomspace(1e-3, 90, 61)",
        )
    return arr


def check_seeds(seeds: Any) -> list[int]:
    """``seeds`` (one int or an iterable) as a non-empty list of non-negative ints."""
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    if not seed_list or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in seed_list):
        raise ProbedriftError(f"seeds must be non-negative integers, got {seeds!r}", "pass e.g. seeds=range(10)")
    return [int(s) for s in seed_list]


# --------------------------------------------------------------------------- probe geometry


def _weights_over_scale(probe: LinearProbe) -> np.ndarray:
    """v = w/s in float64 (:meth:`probedrift.science.probes.LinearProbe.affine_form`)."""
    return probe.affine_form()[0]


def logits64(probe: LinearProbe, Z: np.ndarray) -> np.ndarray:
    """ℓ = w·(x̃ − m)/s + b for the unit rows Z (the centred float64 form of the probe's logit)."""
    Zs = (Z - np.asarray(probe.scaler_mean_, dtype=np.float64)) / np.asarray(probe.scaler_scale_, dtype=np.float64)
    return Zs @ np.asarray(probe.coef_, dtype=np.float64) + float(probe.intercept_)


def auc_rows(y: np.ndarray, S: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC of every row of S (rows, n) against y, ties counted one half."""
    ranks = stats.rankdata(np.atleast_2d(S), axis=1)
    n1 = int(y.sum())
    n0 = y.size - n1
    return ((ranks[:, y == 1]).sum(axis=1) - n1 * (n1 + 1) / 2.0) / (n1 * n0)


def _pair_coefficients(probe: LinearProbe, Z: np.ndarray, y: np.ndarray, max_pairs: int) -> np.ndarray:
    """c_pn = (ℓ_p − ℓ_n) / √(σ̃_p² + σ̃_n²) with σ̃_i² = (‖v‖² − (v·z_i)²)/(d − 1), one per pair.

    All positive×negative pairs, or ``max_pairs`` of them drawn with a fixed seed when there are more.
    A pair with zero spread gets c = ±inf (or 0 when the logits tie).
    """
    v = _weights_over_scale(probe)
    d = Z.shape[1]
    logits = logits64(probe, Z)
    spread2 = np.maximum(v @ v - (Z @ v) ** 2, 0.0) / (d - 1)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if pos.size * neg.size <= max_pairs:
        gap = logits[pos][:, None] - logits[neg][None, :]
        spread = np.sqrt(spread2[pos][:, None] + spread2[neg][None, :])
        gap, spread = gap.ravel(), spread.ravel()
    else:
        rng = np.random.default_rng(0)
        p = pos[rng.integers(0, pos.size, size=max_pairs)]
        n = neg[rng.integers(0, neg.size, size=max_pairs)]
        gap = logits[p] - logits[n]
        spread = np.sqrt(spread2[p] + spread2[n])
    with np.errstate(divide="ignore", invalid="ignore"):
        c = gap / spread
    return np.where(spread > 0, c, np.sign(gap) * np.inf)


def _auc_from_pairs(c: np.ndarray, angle_deg: float) -> float:
    """Mean over pairs of Φ(c · cot θ); 0·∞ (a tie) counts one half."""
    theta = np.radians(angle_deg)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        cot = np.cos(theta) / np.sin(theta)
        arg = c * cot
    arg = np.where(np.isnan(arg), 0.0, arg)
    return float(scipy.special.ndtr(arg).mean())


# --------------------------------------------------------------------------- curves


def predicted_auc(
    probe: LinearProbe, X_unit: Any, y: Any, angles_deg: Any, *, max_pairs: int = MAX_PAIRS
) -> np.ndarray:
    """Closed-form expected ROC-AUC under isotropic drift of exact angle θ, one value per angle.

    AUC(θ) = mean over positive×negative pairs of Φ( cos θ (ℓ_p − ℓ_n) / (sin θ √(σ̃_p² + σ̃_n²)) ),
    σ̃_i² = (‖v‖² − (v·z_i)²)/(d − 1), v = w/s (module docstring). Rows of ``X_unit`` are
    L2-normalised first. Beyond ``max_pairs`` pairs a fixed-seed random sample of pairs is used.
    """
    probe = check_probe(probe)
    Z = unit_rows(X_unit, probe)
    y_arr = check_labels(y, Z.shape[0])
    angles = check_angles(angles_deg)
    check_positive("max_pairs", max_pairs)
    c = _pair_coefficients(probe, Z, y_arr, int(max_pairs))
    return np.array([_auc_from_pairs(c, a) for a in angles])


def exact_angle_drift(X_unit: Any, angle_deg: float, seed: int) -> np.ndarray:
    """Isotropic drift by exactly ``angle_deg``: z′ = cos θ · z + sin θ · u (float64, unit rows).

    u = Normalize(g − (g·z) z), g ~ N(0, I_d), drawn independently for every row: uniform on the
    unit sphere orthogonal to z. The library's gaussian/"relative" drift, Normalize(z + σ g/‖g‖),
    is the same up to the O(1/√d) component of g/‖g‖ along z (its angle is atan σ on average, not
    exactly); the rotation/"true" drift moves by exactly θ but turns every row with one shared J,
    so its u_i are correlated across texts.
    """
    Z = np.asarray(X_unit, dtype=np.float64)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    U = orthogonal_directions(Z, np.random.default_rng(check_seeds(seed)[0]))
    theta = np.radians(float(angle_deg))
    return np.cos(theta) * Z + np.sin(theta) * U


def orthogonal_directions(Z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniform unit vector orthogonal to each unit row of Z."""
    G = rng.standard_normal(Z.shape)
    G -= np.einsum("ij,ij->i", G, Z)[:, None] * Z
    return G / np.linalg.norm(G, axis=1, keepdims=True)


def _simulated_curves(
    probe: LinearProbe, Z: np.ndarray, y: np.ndarray, angles: np.ndarray, seeds: list[int]
) -> np.ndarray:
    """AUC of the probe on exact-angle drifted copies of Z: (len(seeds), len(angles)).

    One u per text and seed, shared by every angle (common random numbers). The logit is affine,
    ℓ(x) = x·v − m·v + b with v = w/s, so ℓ(cos θ z + sin θ u) = cos θ (z·v) + sin θ (u·v) − m·v + b:
    two products per seed serve every angle.
    """
    out = np.empty((len(seeds), angles.size))
    cos, sin = np.cos(np.radians(angles)), np.sin(np.radians(angles))
    v, offset, _ = probe.affine_form()  # the temperature cannot change an AUC
    zv = Z @ v
    for i, seed in enumerate(seeds):
        uv = orthogonal_directions(Z, np.random.default_rng(seed)) @ v
        out[i] = auc_rows(y, cos[:, None] * zv[None, :] + sin[:, None] * uv[None, :] + offset)
    return out


def simulated_auc(
    probe: LinearProbe, X_unit: Any, y: Any, angles_deg: Any, seeds: Iterable[int] = range(10)
) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC of the probe on drifted test sets, z′ = cos θ z + sin θ u (:func:`exact_angle_drift`).

    Returns (mean over seeds, per-seed array of shape (len(seeds), len(angles_deg))). Each seed
    draws one u per text and uses it at every angle, so a seed's curve is smooth in θ.
    """
    probe = check_probe(probe)
    Z = unit_rows(X_unit, probe)
    y_arr = check_labels(y, Z.shape[0])
    per_seed = _simulated_curves(probe, Z, y_arr, check_angles(angles_deg), check_seeds(seeds))
    return per_seed.mean(axis=0), per_seed


# --------------------------------------------------------------------------- budget


def scale_spectrum(probe: LinearProbe, X_unit: Any) -> dict[str, float]:
    """Scaler stds and geometry behind the budget.

    std_min, std_p1, std_median: smallest, 1st-percentile and median of the scaler's per-dimension
    std s; norm_w_over_s = ‖w/s‖; mean_cosine = mean over i ≠ j of x̃_i·x̃_j = (‖Σ x̃_i‖² − n)/(n(n − 1)).
    """
    probe = check_probe(probe)
    Z = unit_rows(X_unit, probe)
    s = np.asarray(probe.scaler_scale_, dtype=np.float64)
    n = Z.shape[0]
    total = Z.sum(axis=0)
    mean_cos = float((total @ total - n) / (n * (n - 1))) if n > 1 else float("nan")
    return {
        "std_min": float(s.min()),
        "std_p1": float(np.percentile(s, 1)),
        "std_median": float(np.median(s)),
        "norm_w_over_s": float(np.linalg.norm(_weights_over_scale(probe))),
        "mean_cosine": mean_cos,
    }


def _first_crossing(
    curve: Callable[[np.ndarray], np.ndarray], target: float, grid: np.ndarray, values: np.ndarray
) -> float:
    """First angle where ``curve`` falls to ``target``: bracketed on ``grid`` (``values`` = curve(grid)),
    then refined by bisection on log θ inside the first grid interval whose right end is at or below
    target. 0.0 if the curve is already at or below target at grid[0]; NaN if it never gets there.
    """
    if not np.isfinite(target):
        return float("nan")
    below = np.flatnonzero(values <= target)
    if below.size == 0:
        return float("nan")
    k = int(below[0])
    if k == 0:
        return 0.0
    lo, hi = float(grid[k - 1]), float(grid[k])
    while hi / lo > 1.0 + _BISECTION_REL_TOL:
        mid = float(np.sqrt(lo * hi))
        if curve(np.array([mid]))[0] <= target:
            hi = mid
        else:
            lo = mid
    return float(np.sqrt(lo * hi))


def drift_budget(
    probe: LinearProbe,
    X_unit: Any,
    y: Any,
    *,
    grid_deg: Any = None,
    simulate: bool = False,
    seeds: Iterable[int] = range(10),
    drop: float = AUC_DROP,
    max_pairs: int = MAX_PAIRS,
) -> dict[str, float]:
    """Angles (degrees) of isotropic drift at which the probe's AUC falls to two targets.

    targets: AUC₀ − ``drop`` (default 5 points) and the half-excess level 0.5 + (AUC₀ − 0.5)/2,
    AUC₀ the clean AUC of (X_unit, y). Each angle is the first crossing of the curve, bracketed on
    ``grid_deg`` (default 61 log-spaced angles from 1e-3° to 90°) and refined by bisection on log θ
    to a relative precision of 1e-4. Keys: auc_clean, target_drop5, target_half,
    angle_drop5_predicted_deg, angle_half_predicted_deg (from :func:`predicted_auc`) and, with
    ``simulate=True``, angle_drop5_simulated_deg and angle_half_simulated_deg (from the mean of
    :func:`simulated_auc` over ``seeds``, common random numbers, so the mean curve is a fixed function).

    An angle is NaN when the curve does not reach its target within the grid (up to 90°): the
    predicted curve ends at 0.5, so the half-excess level is always reached when AUC₀ > 0.5, but
    AUC₀ − 0.05 is not when AUC₀ < 0.55; both are NaN when AUC₀ ≤ 0.5. An angle is 0.0 when the
    curve is already at or below the target at the first grid angle (a budget under 1e-3°).
    """
    probe = check_probe(probe)
    Z = unit_rows(X_unit, probe)
    y_arr = check_labels(y, Z.shape[0])
    grid = np.sort(check_angles(DEFAULT_GRID_DEG if grid_deg is None else grid_deg))
    if grid[0] <= 0:
        raise ProbedriftError("grid_deg must hold angles > 0 (the search runs on log θ)", "drop the 0")
    check_positive("drop", drop)
    check_positive("max_pairs", max_pairs)
    auc0 = float(auc_rows(y_arr, logits64(probe, Z)[None])[0])
    targets = {
        "drop5": auc0 - float(drop),
        "half": 0.5 + (auc0 - 0.5) / 2.0 if auc0 > 0.5 else float("nan"),
    }
    out = {"auc_clean": auc0, "target_drop5": targets["drop5"], "target_half": targets["half"]}

    c = _pair_coefficients(probe, Z, y_arr, int(max_pairs))

    def predicted(angles: np.ndarray) -> np.ndarray:
        return np.array([_auc_from_pairs(c, a) for a in angles])

    on_grid = predicted(grid)
    for name, target in targets.items():
        out[f"angle_{name}_predicted_deg"] = _first_crossing(predicted, target, grid, on_grid)
    if simulate:
        seed_list = check_seeds(seeds)

        def simulated(angles: np.ndarray) -> np.ndarray:
            return _simulated_curves(probe, Z, y_arr, angles, seed_list).mean(axis=0)

        on_grid = simulated(grid)
        for name, target in targets.items():
            out[f"angle_{name}_simulated_deg"] = _first_crossing(simulated, target, grid, on_grid)
    return out


def budget_table(
    entries: Mapping[tuple[str, Any, str], tuple[LinearProbe, Any, Any]],
    *,
    simulate: bool = True,
    seeds: Iterable[int] = range(5),
    grid_deg: Any = None,
    drop: float = AUC_DROP,
) -> pd.DataFrame:
    """:func:`budget_and_curves` without the curves."""
    return budget_and_curves(entries, simulate=simulate, seeds=seeds, grid_deg=grid_deg, drop=drop)[0]


def budget_and_curves(
    entries: Mapping[tuple[str, Any, str], tuple[LinearProbe, Any, Any]],
    *,
    simulate: bool = True,
    seeds: Iterable[int] = range(5),
    grid_deg: Any = None,
    drop: float = AUC_DROP,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per (model, layer, pooling) → (probe, X_unit_test, y_test): budgets and scale spectrum;
    and, with ``simulate``, the predicted and simulated AUC curves over :data:`CURVE_GRID_DEG` behind
    ``max_curve_gap`` (long format: model, layer, pooling, angle_deg, predicted, simulated).

    Columns BUDGET_COLUMNS: the clean AUC, the predicted and simulated angles of :func:`drift_budget`
    (simulated ones NaN with ``simulate=False``), ratio_* = predicted / simulated angle; the predicted
    and simulated AUC at 1°, whether the simulated AUC has lost ``drop`` there (``collapse_at_1deg``),
    and the largest |predicted − simulated| AUC over :data:`CURVE_GRID_DEG` (``max_curve_gap``); and
    the :func:`scale_spectrum` figures.
    """
    seed_list = check_seeds(seeds)
    rows, curves = [], []
    for key, value in entries.items():
        if not isinstance(key, tuple) or len(key) != 3:
            raise ProbedriftError(
                f"entry keys must be (model, layer, pooling) tuples, got {key!r}",
                "key each entry as (model, layer, pooling)",
            )
        probe, X, y = value
        budget = drift_budget(probe, X, y, grid_deg=grid_deg, simulate=simulate, seeds=seed_list, drop=drop)
        row: dict[str, Any] = dict(zip(("model", "layer", "pooling"), key))
        row["auc_clean"] = budget["auc_clean"]
        for name in ("drop5", "half"):
            pred = budget[f"angle_{name}_predicted_deg"]
            sim = budget.get(f"angle_{name}_simulated_deg", float("nan"))
            row[f"angle_{name}_predicted_deg"] = pred
            row[f"angle_{name}_simulated_deg"] = sim
            with np.errstate(divide="ignore", invalid="ignore"):
                row[f"ratio_{name}"] = float(np.divide(pred, sim))
        if simulate:
            grid = np.asarray(CURVE_GRID_DEG)
            predicted = predicted_auc(probe, X, y, grid)
            simulated, _ = simulated_auc(probe, X, y, grid, seeds=seed_list)
            one = int(np.flatnonzero(grid == 1.0)[0])
            row["auc_1deg_predicted"], row["auc_1deg_simulated"] = float(predicted[one]), float(simulated[one])
            row["collapse_at_1deg"] = bool(budget["auc_clean"] - simulated[one] >= drop)
            row["max_curve_gap"] = float(np.max(np.abs(predicted - simulated)))
            curves.append(pd.DataFrame({"model": key[0], "layer": key[1], "pooling": key[2], "angle_deg": grid,
                                        "predicted": predicted, "simulated": simulated}))
        row.update(scale_spectrum(probe, X))
        rows.append(row)
    curve_frame = (pd.concat(curves, ignore_index=True) if curves else
                   pd.DataFrame(columns=["model", "layer", "pooling", "angle_deg", "predicted", "simulated"]))
    return pd.DataFrame(rows, columns=list(BUDGET_COLUMNS)), curve_frame
