"""Outcome words chosen from intervals: every word of the book that states an outcome comes from here.

A sentence of the book that says which way something went — a probe *collapses* or *holds*, a quantity
*rises* or *falls*, a monitor alarms *before* or *after* the AUC loss — takes that word from one of
these functions, given the interval of the quantity it is about. The point value never chooses a word:
an interval that straddles the criterion gives the "unresolved" word. The functions are pure (numbers
in, words out), so each is tested on intervals whose answer is known.

Also here: short model names for prose (:func:`probedrift.report.wording.short_name`), and the angle
that the paper's per-dimension σ implies at a
width, arctan(σ√d) (Discussion §1).
"""

from __future__ import annotations

import math

import numpy as np

from probedrift.core.errors import ProbedriftError
from probedrift.report.wording import direction, short_name

__all__ = ["UNRESOLVED", "alarm_order", "band_position", "change_word", "collapse_word", "interp_at",
           "per_dim_angle_deg", "short_name"]

#: The word of an interval that straddles the criterion, or of a missing interval.
UNRESOLVED = "unresolved"


def per_dim_angle_deg(sigma: float, width: int) -> float:
    """Angle (degrees) by which per-dimension noise ε ~ N(0, σ² I_d) turns a unit vector in d dimensions:
    ‖ε‖ ≈ σ√d, nearly orthogonal to z, so θ ≈ arctan(σ√d) (Discussion §1; paper §2.2's Gaussian formula)."""
    if not (np.isfinite(sigma) and sigma >= 0) or int(width) < 1:
        raise ProbedriftError(f"per_dim_angle_deg needs σ ≥ 0 and a width ≥ 1, got σ={sigma!r}, d={width!r}",
                              "pass the drift's σ and the embedding width d")
    return math.degrees(math.atan(float(sigma) * math.sqrt(int(width))))


def _finite(*xs: float) -> bool:
    return all(x is not None and np.isfinite(float(x)) for x in xs)


def change_word(lo: float, hi: float, up: str = "rises", down: str = "falls",
                none: str = "does not change measurably") -> str:
    """Direction of a change from its interval [lo, hi]: ``up`` when lo > 0, ``down`` when hi < 0,
    ``none`` when the interval holds 0, :data:`UNRESOLVED` without an interval."""
    if not _finite(lo, hi):
        return UNRESOLVED
    return direction(lo, hi, (up, down, none))


def collapse_word(drop_lo: float, drop_hi: float, auc_clean: float) -> str:
    """Does a probe collapse? The half-excess criterion (the drift budget's, chapter 3) on the paired
    interval of the AUC drop: "collapses" when drop_lo ≥ (AUC_clean − ½)/2 (half its AUC above chance is
    lost, whatever the interval's draw), "holds" when drop_hi < (AUC_clean − ½)/2, else :data:`UNRESOLVED`.
    A clean AUC at or below chance has nothing to lose: :data:`UNRESOLVED`."""
    if not _finite(drop_lo, drop_hi, auc_clean) or float(auc_clean) <= 0.5:
        return UNRESOLVED
    half = (float(auc_clean) - 0.5) / 2
    if float(drop_lo) >= half:
        return "collapses"
    if float(drop_hi) < half:
        return "holds"
    return UNRESOLVED


def band_position(lo: float, hi: float, band_lo: float, band_hi: float) -> str:
    """Where an interval lies against a band: "within" (contained), "below" / "above" (wholly outside on
    that side), else :data:`UNRESOLVED` — the three-way verdict of :mod:`probedrift.report.verdicts` with
    the side of a disagreement. An upper bound of +∞ (beyond the grid) is allowed."""
    if lo is None or hi is None or math.isnan(float(lo)) or math.isnan(float(hi)):
        return UNRESOLVED
    lo, hi = float(lo), float(hi)
    if band_lo <= lo and hi <= band_hi:
        return "within"
    if hi < band_lo:
        return "below"
    if lo > band_hi:
        return "above"
    return UNRESOLVED


def alarm_order(first_alarm_max: float, quiet_before: float, loss_angle: float) -> str:
    """Does a monitor alarm before the AUC loss? On a σ grid a monitor is tested only at the grid's
    angles. ``first_alarm_max``: the largest over drift seeds of the first alarm angle (NaN: some seed
    never alarmed); ``quiet_before``: the largest grid angle at which no seed had alarmed yet (0 when
    the first grid point alarmed); ``loss_angle``: the angle of the AUC loss.

    "before" when every seed alarmed at or before the loss angle; "after" when no seed had alarmed at a
    grid angle at or beyond it (also when no seed ever alarmed on a grid that reaches the loss);
    :data:`UNRESOLVED` when the loss falls between grid points around the alarm, or the loss angle is
    unknown."""
    if not _finite(loss_angle):
        return UNRESOLVED
    if _finite(first_alarm_max) and float(first_alarm_max) <= float(loss_angle):
        return "before"
    if _finite(quiet_before) and float(quiet_before) >= float(loss_angle):
        return "after"
    return UNRESOLVED


def interp_at(x, y, target: float) -> float:
    """y at x = ``target`` by linear interpolation on the sorted finite points; NaN outside their range."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if not len(x) or target < x.min() or target > x.max():
        return math.nan
    order = np.argsort(x, kind="stable")
    return float(np.interp(target, x[order], y[order]))
