"""Three-way verdicts: every rule, every edge, the bands and the rule text."""

from __future__ import annotations

import math

import numpy as np
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.report.claims import BANDS, CLAIMS
from probedrift.report.verdicts import VERDICTS, Band, Verdict, band, context, judge, verdict

LO, HI = 0.45, 0.55  # the band of the paper's 0.50 ± 0.05


@pytest.mark.parametrize(
    ("ci_low", "ci_high", "expected"),
    [
        # inside
        (0.47, 0.52, "agrees"),
        (LO, HI, "agrees"),  # interval equal to the band
        (LO, 0.50, "agrees"),  # touching the lower edge from inside
        (0.50, HI, "agrees"),  # touching the upper edge from inside
        (0.50, 0.50, "agrees"),  # zero width, inside
        (LO, LO, "agrees"),  # zero width, on the edge
        # outside
        (0.30, 0.40, "disagrees"),
        (0.60, 0.70, "disagrees"),
        (0.60, 0.60, "disagrees"),  # zero width, outside
        (0.30, 0.449999, "disagrees"),  # just short of the edge
        (-math.inf, 0.40, "disagrees"),  # one-sided interval below the band
        # overlapping, not contained
        (0.40, 0.50, "unresolved"),
        (0.50, 0.60, "unresolved"),
        (0.40, 0.60, "unresolved"),  # wider than the band, around it
        (0.40, LO, "unresolved"),  # touching the lower edge from outside: one shared point
        (HI, 0.60, "unresolved"),  # touching the upper edge from outside
        (-math.inf, math.inf, "unresolved"),
        # missing
        (math.nan, 0.50, "unresolved"),
        (0.47, math.nan, "unresolved"),
        (None, None, "unresolved"),
        (math.nan, math.nan, "unresolved"),
    ],
)
def test_verdict_cases(ci_low, ci_high, expected):
    assert verdict(0.5, ci_low, ci_high, LO, HI) == expected


def test_the_value_never_decides():
    # the same interval gives the same verdict whatever the point value, even a missing one
    for value in (0.0, 0.5, 1.0, math.nan, None):
        assert verdict(value, 0.47, 0.52, LO, HI) == "agrees"
        assert verdict(value, 0.60, 0.70, LO, HI) == "disagrees"


def test_zero_width_band():
    assert verdict(0.5, 0.5, 0.5, 0.5, 0.5) == "agrees"
    assert verdict(0.5, 0.4, 0.6, 0.5, 0.5) == "unresolved"
    assert verdict(0.5, 0.51, 0.6, 0.5, 0.5) == "disagrees"


def test_inverted_interval_or_band_is_a_clear_error():
    with pytest.raises(ProbedriftError, match=r"interval is inverted: ci_low 0.6 > ci_high 0.4"):
        verdict(0.5, 0.6, 0.4, LO, HI)
    with pytest.raises(ProbedriftError, match="band is inverted"):
        verdict(0.5, 0.47, 0.52, HI, LO)
    with pytest.raises(ProbedriftError, match="missing bound"):
        verdict(0.5, 0.47, 0.52, math.nan, HI)
    with pytest.raises(ProbedriftError, match="expected a number"):
        verdict(0.5, "low", 0.52, LO, HI)


def test_numpy_scalars_are_accepted():
    assert verdict(np.float32(0.5), np.float64(0.47), np.float32(0.52), LO, HI) == "agrees"
    assert verdict(0.5, np.nan, np.float64(0.52), LO, HI) == "unresolved"


# --------------------------------------------------------------------------- bands


def test_absolute_and_relative_bands():
    b = band(0.5, 0.05)
    assert isinstance(b, Band)
    assert (b.low, b.high) == (0.45, 0.55)  # exactly, so an interval quoted as 0.45 touches it
    r = band(0.72, 0.1, kind="relative")
    assert (r.low, r.high) == (0.648, 0.792)
    neg = band(-2.0, 0.25, kind="relative")
    assert (neg.low, neg.high) == (-2.5, -1.5)
    zero = band(0.3, 0.0)
    assert zero.low == zero.high == 0.3


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.5, -0.1), "tolerance"),
        ((0.5, math.nan), "tolerance"),
        ((math.nan, 0.1), "paper_value"),
        ((0.5, 0.1, "percent"), "band kind"),
    ],
)
def test_bad_bands_are_refused(args, match):
    with pytest.raises(ProbedriftError, match=match):
        band(*args)


# --------------------------------------------------------------------------- rows and rules


def test_judge_row_and_rule_from_the_numbers():
    row = judge(0.49, 0.47, 0.52, band(0.5, 0.05))
    assert isinstance(row, Verdict) and row.verdict == "agrees"
    assert row.rule == (
        "agrees if the 95% interval lies within [0.45, 0.55] (the paper's 0.50 ± 0.05), "
        "disagrees if it lies wholly outside, unresolved otherwise"
    )
    assert row.as_row() == {
        "value": 0.49,
        "ci_low": 0.47,
        "ci_high": 0.52,
        "band_low": 0.45,
        "band_high": 0.55,
        "verdict": "agrees",
        "rule": row.rule,
    }


def test_rule_text_for_relative_bands_levels_and_plain_pairs():
    rel = judge(0.3, 0.25, 0.35, band(0.72, 0.1, kind="relative"), level=0.9)
    assert rel.verdict == "disagrees"
    assert rel.rule.startswith("agrees if the 90% interval lies within [0.648, 0.792] (the paper's 0.720 ± 10%)")
    plain = judge(38.0, 36.1, 40.2, (33.4, 43.4))
    assert plain.verdict == "agrees"
    assert plain.rule.startswith("agrees if the 95% interval lies within [33.4, 43.4],")
    wide = judge(38.0, 30.0, 40.0, band(38.4, 5))
    assert wide.verdict == "unresolved"
    assert "[33.4, 43.4] (the paper's 38.4 ± 5.0)" in wide.rule
    assert "[0.4500, 0.5500]" in judge(0.5, 0.47, 0.52, band(0.5, 0.05), decimals=4).rule


def test_judge_agrees_with_verdict_on_every_case():
    rng = np.random.default_rng(0)
    b = band(0.5, 0.05)
    for lo, width in zip(rng.uniform(0.3, 0.7, 200), rng.exponential(0.05, 200)):
        lo, hi = round(float(lo), 2), round(float(lo + width), 2)
        assert judge(0.5, lo, hi, b).verdict == verdict(0.5, lo, hi, b.low, b.high)


def test_judge_refuses_bad_bands_and_levels():
    with pytest.raises(ProbedriftError, match="Band or a"):
        judge(0.5, 0.4, 0.6, 0.5)
    with pytest.raises(ProbedriftError, match="level"):
        judge(0.5, 0.4, 0.6, band(0.5, 0.1), level=95)
    with pytest.raises(ProbedriftError, match="inverted"):
        judge(0.5, 0.6, 0.4, band(0.5, 0.1))


def test_missing_interval_is_unresolved_not_an_error():
    row = judge(0.61, None, math.nan, band(0.5, 0.05))
    assert row.verdict == "unresolved"
    assert math.isnan(row.ci_low) and math.isnan(row.ci_high)


def test_context_rows():
    row = context("  the design has no paraphrase control  ", value=0.7)
    assert row.verdict == "context" and row.verdict in VERDICTS
    assert row.rule == "the design has no paraphrase control"
    assert row.value == 0.7
    assert all(math.isnan(x) for x in (row.ci_low, row.ci_high, row.band_low, row.band_high))
    assert math.isnan(context("untestable").value)
    with pytest.raises(ProbedriftError, match="reason"):
        context("  ")


def test_a_claim_of_a_rise_is_judged_on_the_paired_interval_of_the_change():
    """The claims layer's "drift raises it" band, (0, 1]: a change interval wholly above 0 agrees, one wholly
    below disagrees, one that holds 0 is unresolved, whatever its point value."""
    spec = BANDS["rises"]
    assert CLAIMS["share"].kind == "change" and CLAIMS["share"].spec is spec
    assert judge(0.10, 0.02, 0.18, spec.band).verdict == "agrees"
    assert judge(-0.10, -0.18, -0.02, spec.band).verdict == "disagrees"
    assert judge(0.10, -0.01, 0.21, spec.band).verdict == "unresolved"  # the point alone would agree
