"""Three-way verdicts for comparing a measured figure with the paper's.

A claim of the paper becomes a tolerance band [band_low, band_high] around its value (:func:`band`);
the study's estimate comes with an interval [ci_low, ci_high]. Both are closed intervals. Then

- ``agrees``: the whole interval lies within the band, band_low ≤ ci_low and ci_high ≤ band_high;
- ``disagrees``: the interval and the band share no point, ci_high < band_low or ci_low > band_high;
- ``unresolved``: anything else -- they overlap but the interval is not contained (the data cannot
  tell), or the interval is missing (None or NaN bound).

The point value is carried along but never decides. Rows the design cannot test get the verdict
``context`` (:func:`context`), with the reason as their rule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from probedrift.core.errors import ProbedriftError, check_choice

__all__ = ["BAND_KINDS", "VERDICTS", "Band", "Verdict", "band", "context", "judge", "verdict"]

VERDICTS = ("agrees", "disagrees", "unresolved", "context")
BAND_KINDS = ("absolute", "relative")


@dataclass(frozen=True)
class Band:
    """A tolerance band [low, high] around the paper's value; ``kind`` says how ``tolerance`` reads.

    absolute: [p − t, p + t]; relative: [p − t·|p|, p + t·|p|] (t a fraction, 0.1 = ±10%).
    """

    low: float
    high: float
    paper_value: float
    tolerance: float
    kind: str = "absolute"

    def decimals(self) -> int:
        """Fewest decimal places (at most 6) that write the paper's value and both bounds exactly."""
        half = self.high - self.paper_value
        return _decimals(self.paper_value, self.low, self.high, half)

    def describe(self, decimals: int | None = None) -> str:
        """The band in words, e.g. "the paper's 0.50 ± 0.05" or "the paper's 0.72 ± 10%"."""
        places = self.decimals() if decimals is None else decimals
        if self.kind == "relative":
            return f"the paper's {self.paper_value:.{places}f} ± {_percent(self.tolerance)}"
        return f"the paper's {self.paper_value:.{places}f} ± {self.tolerance:.{places}f}"


@dataclass(frozen=True)
class Verdict:
    """One comparison row: the estimate, its interval, the band, the verdict and its rule in words."""

    value: float
    ci_low: float
    ci_high: float
    band_low: float
    band_high: float
    verdict: str
    rule: str

    def as_row(self) -> dict[str, Any]:
        """The fields as a plain dict (one table row)."""
        return asdict(self)


# --------------------------------------------------------------------------- helpers


def _number(x: Any) -> float:
    """x as a float; None becomes NaN."""
    if x is None:
        return math.nan
    try:
        return float(x)
    except (TypeError, ValueError) as err:
        raise ProbedriftError(f"expected a number, got {x!r}", "pass a float (or None/NaN when missing)") from err


def _decimals(*numbers: float) -> int:
    """Fewest decimal places (0 to 6) that write every one of ``numbers`` exactly (to 1e-9)."""
    finite = [x for x in numbers if math.isfinite(x)]
    for places in range(7):
        if all(abs(round(x, places) - x) <= 1e-9 * max(1.0, abs(x)) for x in finite):
            return places
    return 6


def _round12(x: float) -> float:
    """x rounded to 12 significant digits (drops the float noise of p ± t)."""
    return float(f"{x:.12g}")


def _percent(fraction: float) -> str:
    return f"{100.0 * fraction:.3g}%"


def _check_band(band_low: Any, band_high: Any) -> tuple[float, float]:
    lo, hi = _number(band_low), _number(band_high)
    if math.isnan(lo) or math.isnan(hi):
        raise ProbedriftError(
            f"the tolerance band [{band_low}, {band_high}] has a missing bound",
            "build it with probedrift.report.verdicts.band(paper_value, tolerance)",
        )
    if lo > hi:
        raise ProbedriftError(
            f"the tolerance band is inverted: band_low {lo} > band_high {hi}",
            "pass the lower bound first, or build the band with probedrift.report.verdicts.band(...)",
        )
    return lo, hi


# --------------------------------------------------------------------------- public API


def band(paper_value: float, tolerance: float, kind: str = "absolute") -> Band:
    """Tolerance band around the paper's value p.

    absolute: [p − t, p + t]; relative: [p − t·|p|, p + t·|p|] with t a fraction (0.1 = ±10%).
    The bounds are rounded to 12 significant digits, so 0.5 ± 0.05 is exactly [0.45, 0.55] and an
    interval quoted to the same digits can touch an edge.
    """
    check_choice("band kind", kind, BAND_KINDS)
    p, t = _number(paper_value), _number(tolerance)
    if not math.isfinite(p):
        raise ProbedriftError(f"paper_value must be a finite number, got {paper_value!r}", "pass the paper's figure")
    if not math.isfinite(t) or t < 0:
        raise ProbedriftError(
            f"tolerance must be a finite number >= 0, got {tolerance!r}", "pass e.g. tolerance=0.05"
        )
    half = t if kind == "absolute" else t * abs(p)
    return Band(_round12(p - half), _round12(p + half), p, t, kind)


def verdict(value: Any, ci_low: Any, ci_high: Any, band_low: Any, band_high: Any) -> str:
    """"agrees" if band_low ≤ ci_low and ci_high ≤ band_high; "disagrees" if ci_high < band_low or
    ci_low > band_high; "unresolved" otherwise or when a bound of the interval is None/NaN.

    Intervals and bands are closed: touching an edge from outside overlaps (unresolved), touching it
    from inside is contained (agrees). ``value`` does not enter the rule. An inverted interval or band
    (low > high) raises :class:`ProbedriftError`.
    """
    _number(value)
    b_lo, b_hi = _check_band(band_low, band_high)
    lo, hi = _number(ci_low), _number(ci_high)
    if math.isnan(lo) or math.isnan(hi):
        return "unresolved"
    if lo > hi:
        raise ProbedriftError(
            f"the interval is inverted: ci_low {lo} > ci_high {hi}",
            "pass the lower bound first; an interval from a bootstrap or t-test is never inverted",
        )
    if b_lo <= lo and hi <= b_hi:
        return "agrees"
    if hi < b_lo or lo > b_hi:
        return "disagrees"
    return "unresolved"


def judge(
    value: Any,
    ci_low: Any,
    ci_high: Any,
    tolerance_band: Band | tuple[float, float],
    *,
    level: float = 0.95,
    decimals: int | None = None,
) -> Verdict:
    """:func:`verdict` of an estimate against a band, as a :class:`Verdict` whose rule states the numbers.

    rule: "agrees if the 95% interval lies within [0.45, 0.55] (the paper's 0.50 ± 0.05), disagrees
    if it lies wholly outside, unresolved otherwise". ``tolerance_band`` is a :class:`Band` from
    :func:`band` or a plain (low, high) pair; ``decimals`` fixes the places shown (default: the
    fewest, up to 6, that write the band's numbers exactly).
    """
    if isinstance(tolerance_band, Band):
        b_lo, b_hi = tolerance_band.low, tolerance_band.high
    else:
        try:
            b_lo, b_hi = tolerance_band
        except (TypeError, ValueError) as err:
            raise ProbedriftError(
                f"tolerance_band must be a Band or a (low, high) pair, got {tolerance_band!r}",
                "build it with probedrift.report.verdicts.band(paper_value, tolerance)",
            ) from err
    b_lo, b_hi = _check_band(b_lo, b_hi)
    if not 0 < level < 1:
        raise ProbedriftError(f"level must lie in (0, 1), got {level!r}", "pass e.g. level=0.95")
    outcome = verdict(value, ci_low, ci_high, b_lo, b_hi)
    if decimals is not None:
        places = int(decimals)
    elif isinstance(tolerance_band, Band):
        places = tolerance_band.decimals()
    else:
        places = _decimals(b_lo, b_hi)
    where = f"[{b_lo:.{places}f}, {b_hi:.{places}f}]"
    if isinstance(tolerance_band, Band):
        where += f" ({tolerance_band.describe(places)})"
    rule = (
        f"agrees if the {_percent(level)} interval lies within {where}, "
        "disagrees if it lies wholly outside, unresolved otherwise"
    )
    return Verdict(_number(value), _number(ci_low), _number(ci_high), b_lo, b_hi, outcome, rule)


def context(reason: str, value: Any = None) -> Verdict:
    """A row the design cannot test: verdict "context", the reason as its rule, no interval or band."""
    if not isinstance(reason, str) or not reason.strip():
        raise ProbedriftError("a context row needs a reason", "say why the design cannot test this claim")
    nan = math.nan
    return Verdict(_number(value), nan, nan, nan, nan, "context", reason.strip())
