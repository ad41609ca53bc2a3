"""Paired changes of a probe's metrics under drift: clean level, drifted level and drifted − clean, each
with an interval, the change's interval paired over everything the two share.

The paper states its second claim as changes: ECE rises from 1.2% to 22.6% and mean confidence "only drops
14%" (abstract, Fig. 3). Two separate intervals, one for the clean and one for the drifted level, say little
about the change: both move with the same test texts (and, cross-fitted, the same split), so the change
varies much less than either level. Here, with predictions P_clean and P_drift of shape (R split seeds,
k drift draws, n texts) on the same texts:

- per cell, m⁰_rk = m(y, P_clean,rk), m¹_rk = m(y, P_drift,rk) and Δ_rk = m¹_rk − m⁰_rk;
- the text part of each standard error is the standard deviation over B stratified bootstrap resamples of
  the texts of the *cell mean* (Δ̄ for the change): the same resample for the clean and the drifted
  predictions and for every split and draw (:func:`probedrift.core.intervals.bootstrap_weights`), so what
  the two share cancels in Δ;
- the split and draw parts come from the two-way ANOVA of the R × k table
  (:func:`probedrift.core.intervals.variance_components`): the standard error of the mean over draws
  (s/√k with one split), not the between-draw standard deviation;
- interval m̄ ± z_{(1+level)/2} √(se_texts² + se_splits² + se_draws²)
  (:func:`probedrift.core.intervals.combined_interval`); levels clipped to [0, 1], the change not.

This is the convention of the drift sweep's summary (:func:`probedrift.science.metrics.texts_and_draws_interval`)
and of the cross-fitted sweep (:mod:`probedrift.science.crossfit`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from probedrift.core.errors import ProbedriftError
from probedrift.core.intervals import bootstrap_weights, check_level, combined_interval
from probedrift.science import metrics as metrics_mod

__all__ = ["CHANGE_PARTS", "paired_changes"]

#: Keys of each metric's entry in :func:`paired_changes`.
CHANGE_PARTS = ("clean", "clean_ci_low", "clean_ci_high", "drifted", "drifted_ci_low", "drifted_ci_high",
                "change", "change_ci_low", "change_ci_high", "change_se_texts", "change_se_splits",
                "change_se_draws")


def _stack(P: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(P, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != n:
        raise ProbedriftError(f"{name} must be (splits, draws, {n}) or (draws, {n}), got shape {arr.shape}",
                              "stack the probe's p(y=1) on the same texts per split seed and drift draw")
    return arr


def paired_changes(y: object, P_clean: object, P_drift: object, metrics: Sequence[str] | None = None, *,
                   n_boot: int = 200, seed: int = 0, W: np.ndarray | None = None, level: float = 0.95,
                   tau: float = 0.8, ece_bins: int = 5) -> dict[str, dict[str, float]]:
    """Clean level, drifted level and the change drifted − clean of each metric, with intervals (module docstring).

    ``P_clean`` and ``P_drift``: (R, k, n) or (k, n) p(y=1) on the same n texts; ``P_clean`` may be the same
    for every draw (it usually is: σ = 0). ``W``: bootstrap weights (B, n) shared with other calls (drawn
    from ``n_boot`` and ``seed`` otherwise). Returns ``{metric: {part: value}}`` with the parts of
    :data:`CHANGE_PARTS`; NaN where a metric is undefined (e.g. the silent-failure share without errors).
    """
    y_arr = np.asarray(y).astype(np.int64)
    n = y_arr.size
    P0, P1 = _stack(P_clean, n, "P_clean"), _stack(P_drift, n, "P_drift")
    try:
        P0 = np.broadcast_to(P0, P1.shape)  # one clean row per split serves every draw
    except ValueError:
        raise ProbedriftError(f"P_clean {P0.shape} and P_drift {P1.shape} differ",
                              "pass clean and drifted predictions of the same splits, draws and texts") from None
    check_level(level)
    names = list(metrics_mod.SWEEP_METRICS if metrics is None else metrics)
    R, k, _ = P1.shape
    W = bootstrap_weights(y_arr, n_boot, seed) if W is None else np.asarray(W, dtype=np.float64)
    flat0, flat1 = P0.reshape(R * k, n), P1.reshape(R * k, n)
    per0 = metrics_mod.probe_metrics_batch(y_arr, flat0, tau, ece_bins, names)
    per1 = metrics_mod.probe_metrics_batch(y_arr, flat1, tau, ece_bins, names)
    boot0 = metrics_mod.weighted_metrics(y_arr, flat0, W, names, tau=tau, ece_bins=ece_bins)
    boot1 = metrics_mod.weighted_metrics(y_arr, flat1, W, names, tau=tau, ece_bins=ece_bins)
    out = {}
    for m in names:
        clean = combined_interval(per0[m].reshape(R, k), boot0[m], level)
        drifted = combined_interval(per1[m].reshape(R, k), boot1[m], level)
        change = combined_interval((per1[m] - per0[m]).reshape(R, k), boot1[m] - boot0[m], level, clip=False)
        out[m] = {"clean": clean["mean"], "clean_ci_low": clean["ci_low"], "clean_ci_high": clean["ci_high"],
                  "drifted": drifted["mean"], "drifted_ci_low": drifted["ci_low"],
                  "drifted_ci_high": drifted["ci_high"], "change": change["mean"],
                  "change_ci_low": change["ci_low"], "change_ci_high": change["ci_high"],
                  "change_se_texts": change["se_texts"], "change_se_splits": change["se_splits"],
                  "change_se_draws": change["se_draws"]}
    return out
