"""The variance floor: the paper's probe beside the same recipe with each scaler std clamped to a
fraction of the median std, read on the same test set (table ``variance_floor.csv``).

A dimension whose scaler std s_j is nearly zero makes ‖w/s‖ enormous and the drift budget
(:mod:`probedrift.science.budget`) collapse; clamping s_j ≥ f · median_j s_j bounds ‖w/s‖. Both probes are
compared on clean AUC, their predicted budget angles and the AUC under exact-angle isotropic drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.science import metrics as metrics_mod
from probedrift.science.budget import (
    auc_rows,
    check_angles,
    check_labels,
    check_probe,
    check_seeds,
    drift_budget,
    logits64,
    orthogonal_directions,
    predicted_auc,
    scale_spectrum,
    unit_rows,
)
from probedrift.science.probe_fits import median_divisor
from probedrift.science.probes import LinearProbe, paper_probe

#: Columns of :func:`variance_floor_comparison` (table ``variance_floor.csv``), in order.
VARIANCE_FLOOR_COLUMNS = (
    "model",
    "layer",
    "pooling",
    "scaler",
    "scale_floor_fraction",
    "floor_value",
    "n_floored",
    "auc_clean",
    "auc_clean_ci_low",
    "auc_clean_ci_high",
    "std_min",
    "std_median",
    "norm_w_over_s",
    "angle_drop5_predicted_deg",
    "angle_half_predicted_deg",
    "budget_gain_half",
    "auc_1deg_predicted",
    "auc_1deg_simulated",
    "auc_1deg_ci_low",
    "auc_1deg_ci_high",
    "n_texts",
    "n_drift_draws",
    "interval",
)
#: What the intervals of :func:`variance_floor_comparison` cover.
FLOOR_INTERVAL = (
    "auc_clean: 95% percentile interval over test texts (stratified bootstrap); auc_1deg: 95% interval over "
    "test texts (stratified bootstrap, paired across drift draws) and exact-angle drift draws (between-draw "
    "variance); one split and one fitted probe per scaler; angles and norms are point values"
)
_NO_FLOOR = "none"


def floor_spec(fraction: float) -> str:
    """The ``LinearProbe(scale_floor=...)`` specification of a floor at ``fraction`` × median std:
    ``"median/K"`` with K = 1/fraction (s_j ← max(s_j, median_j s_j · fraction))."""
    check_positive("scale_floor_fraction", fraction)
    if fraction > 1:
        raise ProbedriftError(f"scale_floor_fraction must be at most 1, got {fraction!r}",
                              "pass a fraction of the median std such as 0.1")
    return f"median/{1.0 / float(fraction):.12g}"


def floored_probe(fraction: float, seed: int = 0) -> LinearProbe:
    """The paper's probe (:func:`probedrift.science.probes.paper_probe`, §1.2) with a variance floor on its scaler:
    every per-dimension std s_j clamped to at least ``fraction`` × median_j s_j of the training set."""
    base = paper_probe(seed)
    return LinearProbe(C=base.C, class_weight=base.class_weight, max_iter=base.max_iter,
                       l2_normalize=base.l2_normalize, standardize=base.standardize, seed=base.seed,
                       scale_floor=floor_spec(fraction))


def _rank_scores(logits: np.ndarray) -> np.ndarray:
    """Average ranks of each row mapped into (0, 1): a monotone stand-in for probabilities, so rank
    metrics (AUC) read exactly the float64 logits even where a sigmoid would saturate into ties."""
    L = np.atleast_2d(logits)
    return stats.rankdata(L, axis=1) / (L.shape[1] + 1.0)


def variance_floor_comparison(
    probes: Mapping[str, LinearProbe],
    X_unit: Any,
    y: Any,
    *,
    keys: Mapping[str, Any] | None = None,
    angle_deg: float = 1.0,
    seeds: Iterable[int] = range(20),
    n_boot: int = 1000,
    boot_seed: int = 0,
) -> pd.DataFrame:
    """The same test set read by probes that differ in their scaler's variance floor, one row each.

    ``probes`` maps a scaler label (``"none"`` for the paper's probe, else e.g. ``floor_spec(0.1)``) to a
    fitted :class:`LinearProbe`. Per probe: the clean AUC of its float64 logits with a stratified
    percentile bootstrap interval over the test texts (:func:`probedrift.science.metrics.bootstrap_ci`);
    ``n_floored`` = dimensions whose std the floor raised (s_j = floor); ``std_min``, ``std_median``,
    ``norm_w_over_s`` = ‖w/s‖ (:func:`scale_spectrum`); the predicted −5-point and half-excess angles of
    :func:`drift_budget`; ``budget_gain_half`` = half-excess angle / that of the ``"none"`` probe; and
    the AUC under isotropic drift of exactly ``angle_deg`` (z′ = cos θ z + sin θ u,
    :func:`exact_angle_drift`, one u per text and seed): closed form (:func:`predicted_auc`), mean over
    ``seeds`` of the simulated AUC, and its interval over test texts and drift draws
    (:func:`probedrift.science.metrics.texts_and_draws_interval`). The ``auc_1deg_*`` columns are at
    ``angle_deg`` (1° by default). Every probe gets the same drift directions (common random numbers).
    """
    if not probes:
        raise ProbedriftError("no probes given", "pass {'none': probe, floor_spec(0.1): floored probe}")
    seed_list = check_seeds(seeds)
    rows = []
    reference_half = float("nan")
    angle = float(check_angles(angle_deg)[0])
    cos, sin = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    for label, probe in probes.items():
        probe = check_probe(probe)
        Z = unit_rows(X_unit, probe)
        y_arr = check_labels(y, Z.shape[0])
        budget = drift_budget(probe, Z, y_arr)
        _, lo, hi = metrics_mod.bootstrap_ci("auc", y_arr, _rank_scores(logits64(probe, Z))[0], n_boot=n_boot,
                                             seed=boot_seed)
        drifted = np.stack([logits64(probe, cos * Z + sin * orthogonal_directions(Z, np.random.default_rng(s)))
                            for s in seed_list])
        at_angle = metrics_mod.texts_and_draws_interval(y_arr, _rank_scores(drifted), ["auc"], n_boot=n_boot,
                                                        seed=boot_seed)["auc"]
        spectrum = scale_spectrum(probe, Z)
        floor = probe.scale_floor_value_
        s = np.asarray(probe.scaler_scale_, dtype=np.float64)
        fraction = (1.0 / median_divisor(probe.scale_floor) if isinstance(probe.scale_floor, str) else float("nan"))
        row: dict[str, Any] = dict(keys or {})
        row.update({
            "scaler": label,
            "scale_floor_fraction": fraction,
            "floor_value": float("nan") if floor is None else float(floor),
            "n_floored": 0 if floor is None else int((s == floor).sum()),
            "auc_clean": budget["auc_clean"],
            "auc_clean_ci_low": lo,
            "auc_clean_ci_high": hi,
            "std_min": spectrum["std_min"],
            "std_median": spectrum["std_median"],
            "norm_w_over_s": spectrum["norm_w_over_s"],
            "angle_drop5_predicted_deg": budget["angle_drop5_predicted_deg"],
            "angle_half_predicted_deg": budget["angle_half_predicted_deg"],
            "auc_1deg_predicted": float(predicted_auc(probe, Z, y_arr, [angle])[0]),
            "auc_1deg_simulated": float(auc_rows(y_arr, drifted).mean()),
            "auc_1deg_ci_low": at_angle["ci_low"],
            "auc_1deg_ci_high": at_angle["ci_high"],
            "n_texts": int(Z.shape[0]),
            "n_drift_draws": len(seed_list),
            "interval": FLOOR_INTERVAL,
        })
        if label == _NO_FLOOR:
            reference_half = budget["angle_half_predicted_deg"]
        rows.append(row)
    out = pd.DataFrame(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["budget_gain_half"] = out["angle_half_predicted_deg"] / reference_half
    return out[[c for c in VARIANCE_FLOOR_COLUMNS if c in out.columns]]
