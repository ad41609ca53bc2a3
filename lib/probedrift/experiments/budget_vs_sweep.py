"""The closed-form drift budget against the measured drift sweep (chapter 3).

:mod:`probedrift.science.budget` predicts the frozen probe's ROC-AUC under isotropic drift of exact angle θ from
the clean test logits alone. The sweep measures it: isotropic Gaussian noise under both readings of σ
(:data:`GAUSSIAN_CONVENTIONS`), whose measured mean angle places each sweep point on the budget's angle axis.
Here every such point (σ > 0) meets the prediction at its measured mean angle: the probe layer's points come
from ``drift_sweep_summary``, the other layers' from ``layer_sweep`` (same probe recipe, same σ grid and draws).
Per (model, layer) the half-excess angle, where the AUC has lost half its excess over 0.5, is read from the
measured curve (both readings merged into one AUC-against-angle curve, interpolated linearly,
:func:`probedrift.science.cliff.first_crossing`) and from the budget (:func:`probedrift.science.budget.drift_budget`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.experiments.synthetic_drift import layer_probe
from probedrift.inputs.embed import normalize_layer
from probedrift.science.budget import drift_budget, predicted_auc
from probedrift.science.cliff import first_crossing

__all__ = ["BUDGET_VS_SWEEP_COLUMNS", "GAUSSIAN_CONVENTIONS", "budget_against_points", "budget_vs_sweep",
           "half_excess_angle", "sweep_points"]

BUDGET_VS_SWEEP_COLUMNS = (
    "model layer pooling drift_type convention sigma angle_deg_mean auc_clean auc auc_ci_low auc_ci_high "
    "auc_predicted auc_difference predicted_in_ci angle_half_measured_deg angle_half_predicted_deg source "
    "interval").split()
#: The isotropic drifts the budget describes: Gaussian noise, both readings of σ.
GAUSSIAN_CONVENTIONS = ("per_dim", "relative")


def sweep_points(summary: pd.DataFrame, layers: pd.DataFrame, probe_layers: dict[str, int],
                 pooling: str) -> pd.DataFrame:
    """The isotropic Gaussian sweep points, one row per (model, layer, convention, σ), σ = 0 included (the clean
    AUC): the probe layer's from the summary (columns renamed to the layer sweep's), every other layer's from the
    layer sweep. Columns: model, layer, pooling, drift_type, convention, sigma, angle_deg_mean, auc, auc_ci_low,
    auc_ci_high, source, interval."""
    keep = ["model", "layer", "pooling", "drift_type", "convention", "sigma", "angle_deg_mean", "auc", "auc_ci_low",
            "auc_ci_high", "source", "interval"]
    top = summary[(summary.drift_type == "gaussian") & summary.convention.isin(GAUSSIAN_CONVENTIONS)]
    top = top.rename(columns={"angle_deg_mean_mean": "angle_deg_mean", "auc_mean": "auc"}).assign(
        layer=top.model.map(probe_layers), pooling=pooling, source="drift_sweep_summary")
    frames = [top[keep]]
    if layers is not None and len(layers):
        rest = layers[(layers.drift_type == "gaussian") & layers.convention.isin(GAUSSIAN_CONVENTIONS)
                      & (layers.layer != layers.model.map(probe_layers))]
        frames.append(rest.rename(columns={"auc_mean": "auc"}).assign(source="layer_sweep")[keep])
    return pd.concat(frames, ignore_index=True)


def half_excess_angle(points: pd.DataFrame) -> float:
    """First angle where the measured AUC falls to 0.5 + (AUC₀ − 0.5)/2, AUC₀ the clean (σ = 0) AUC: both readings'
    points merged into one curve of AUC against mean angle, interpolated linearly between the bracketing points;
    NaN when the curve never falls that far or AUC₀ ≤ 0.5."""
    clean = float(points.loc[points.sigma == 0, "auc"].mean())
    if not clean > 0.5:
        return float("nan")
    curve = points[points.sigma > 0].sort_values("angle_deg_mean")
    x = np.concatenate([[0.0], curve.angle_deg_mean.to_numpy(float)])
    y = np.concatenate([[clean], curve.auc.to_numpy(float)])
    return first_crossing(x, y, 0.5 + (clean - 0.5) / 2.0)


def budget_against_points(points: pd.DataFrame, probe, X_test: np.ndarray, y_test: np.ndarray) -> pd.DataFrame:
    """The rows of one (model, layer): every σ > 0 point beside :func:`probedrift.science.budget.predicted_auc` at its
    measured mean angle (``auc_difference`` = predicted − measured; ``predicted_in_ci``: inside the measured
    interval), the clean AUC, and the half-excess angles measured (:func:`half_excess_angle`) and predicted."""
    out = points[points.sigma > 0].copy()
    out["auc_clean"] = float(points.loc[points.sigma == 0, "auc"].mean())
    out["auc_predicted"] = predicted_auc(probe, X_test, y_test, out.angle_deg_mean.to_numpy(float))
    out["auc_difference"] = out.auc_predicted - out.auc
    out["predicted_in_ci"] = (out.auc_ci_low <= out.auc_predicted) & (out.auc_predicted <= out.auc_ci_high)
    out["angle_half_measured_deg"] = half_excess_angle(points)
    out["angle_half_predicted_deg"] = drift_budget(probe, X_test, y_test, simulate=False)["angle_half_predicted_deg"]
    return out[BUDGET_VS_SWEEP_COLUMNS]


@timed("drift")
def budget_vs_sweep(S: RunContext) -> pd.DataFrame:
    """Table ``budget_vs_sweep``: every isotropic Gaussian sweep point (σ > 0) of every model, at the probe layer and
    at each layer of the layer sweep, against the drift budget's prediction at the point's measured mean angle
    (module docstring). ``interval`` is the sweep's own: what its ``auc_ci_low``/``auc_ci_high`` cover."""
    summary = S.table("drift_sweep_summary")
    layers = S.table("layer_sweep")
    probe_layers = {m: normalize_layer(S.params.layer, S.num_layers(m)) for m in S.models}
    points = sweep_points(summary, layers, probe_layers, S.params.pooling)
    frames = []
    for (model, layer), group in points.groupby(["model", "layer"], sort=False):
        X_test, y_test = S.unit(model, int(layer))["test"]
        frames.append(budget_against_points(group, layer_probe(S, model, int(layer)), X_test, y_test))
    if not frames:
        return pd.DataFrame(columns=BUDGET_VS_SWEEP_COLUMNS)
    return pd.concat(frames, ignore_index=True)
