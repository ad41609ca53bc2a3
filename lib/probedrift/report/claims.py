"""The paper's claims as the comparison reads them: each claim defined once (:data:`CLAIMS`: its words,
where the paper says it, the quantity, level or change, its band and unit, the σ readings it applies
to), each claim's tolerance band and how its value prints (:data:`BANDS`), the separability measures,
the verdict row every comparison writes, :func:`optional_table`, and :class:`RunTables`, the look-up
of a run's tables at a (model, drift type, convention, σ).

:mod:`probedrift.report.compare` builds the paper-against-study table from these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from probedrift.core.errors import ProbedriftError
from probedrift.core.grids import linear_sigma_grid
from probedrift.core.intervals import mean_t_interval
from probedrift.report.paper import (
    AUC_AT_SIGMA,
    CONFIDENCE_DROP,
    ECE_CLEAN,
    ECE_DRIFTED,
    SEPARABILITY_CHANGE,
    SILENT_FAILURE_RATE,
    SILENT_FAILURE_SHARE,
)
from probedrift.report.tables import aggregate_sweep, row_at_sigma
from probedrift.report.verdicts import Band, Verdict, band, judge
from probedrift.run import catalogue
from probedrift.run.params import StudyParams
from probedrift.science.metrics import TEXTS_AND_DRAWS

LEVEL = 0.95
SEED_INTERVAL = "95% t-interval over drift seeds (one split, one probe)"
PAIR_INTERVAL = ("conservative range from the base and instruct models' 95% stratified-bootstrap intervals "
                 "over texts (last layer, probe input space)")
CROSS_FAMILY = "a cross-family pair cannot isolate instruction tuning"

COLUMNS = ["claim", "model", "paper", "this study", "band", "value", "ci_low", "ci_high", "band_low", "band_high",
           "verdict", "rule", "convention", "why"]


@dataclass(frozen=True)
class ClaimBand:
    """A claim's tolerance band, the paper's figure as quoted (with its source), how values print
    (``unit``: auc, pct, deg, sigma, rel) and why the band is that wide."""

    label: str
    band: Band | tuple[float, float]
    paper: str
    unit: str
    justification: str

    @property
    def low(self) -> float:
        return self.band.low if isinstance(self.band, Band) else float(self.band[0])

    @property
    def high(self) -> float:
        return self.band.high if isinstance(self.band, Band) else float(self.band[1])

    def text(self) -> str:
        """The band as printed in the table, e.g. "[0.45, 0.55]"."""
        return f"[{fmt_value(self.low, self.unit)}, {fmt_value(self.high, self.unit)}]"


BANDS: dict[str, ClaimBand] = {
    "collapse": ClaimBand(
        "AUC at σ = 0.02", band(AUC_AT_SIGMA, 0.05), "0.50, from 0.85 (abstract; Table 1)", "auc",
        "chance ± 5 points: a probe that close to 0.50 has lost its signal as surely as one at 0.50"),
    "angle": ClaimBand(
        "σ = 0.02 is ≈ 1° of angle", (0.5, 2.0), "≈ 1° (abstract; drift protocol of paper Table 1)", "deg",
        "a factor of two either side of 1° still reads \"about a degree\"; tens of degrees do not"),
    "cliff": ClaimBand(
        "the cliff", (0.005, 0.03), "σ ≈ 0.01–0.028 (Table 1)", "sigma",
        "the paper's 0.01–0.028, widened slightly (0.005–0.03) for interpolation between grid points"),
    "confidence_drop": ClaimBand(
        "mean confidence drops only 14%", band(CONFIDENCE_DROP, 0.07), "14% drop, 0.85 → 0.73 (abstract; Fig. 3)",
        "pct",
        "half the claimed drop either side: no drop (< 7%) or a drop half again as large (> 21%) contradicts it"),
    "share": ClaimBand(
        "silent-failure share", band(SILENT_FAILURE_SHARE, 0.10), "72% of errors (abstract; Fig. 3)", "pct",
        "±10 points: a share of a few dozen errors at one threshold τ moves by several points between splits"),
    "rate": ClaimBand(
        "silent-failure rate", band(SILENT_FAILURE_RATE, 0.10), "38.4% of all texts (Fig. 3)", "pct",
        "±10 points, as for the share: the same confident errors over all texts instead of over errors"),
    "ece": ClaimBand(
        "ECE at drift", band(ECE_DRIFTED, 0.10), "1.2% → 22.6% (abstract; Fig. 3)", "pct",
        "±10 points: ECE depends on bin edges the paper does not give, so only its size is compared"),
    "invariance": ClaimBand(
        "all drift types fail alike", (0.40, 0.58), "0.46–0.52 for every type at max drift (paper Fig. 2; Table 1)",
        "auc", "the paper's 0.46–0.52 widened by 6 points each side: the claim is \"all near chance\", not a "
        "precise number"),
    "separability": ClaimBand(
        "instruct models separate ~20% worse", band(SEPARABILITY_CHANGE, 0.15),
        "≈ −20%: silhouette −19%, Fisher −26% (Table 2)", "rel",
        "−20% ± 15 points holds both of the paper's measures (−19%, −26%) and excludes no change"),
    "ece_change": ClaimBand(
        "ECE rises by ≈ 21 points", band(ECE_DRIFTED - ECE_CLEAN, 0.10), "1.2% → 22.6% (abstract; Fig. 3)", "pct",
        "±10 points around the claimed rise of 21.4 points: no rise, or a rise of a few points, contradicts it"),
    "confidence_change": ClaimBand(
        "mean confidence drops ≈ 14%", band(-CONFIDENCE_DROP, 0.07), "−14%, 0.85 → 0.73 (abstract; Fig. 3)", "pct",
        "half the claimed drop either side, as for the level row"),
    "rises": ClaimBand(
        "drift raises it", (1e-9, 1.0), "72% of errors confident under drift (abstract), i.e. more than without drift",
        "pct", "any rise agrees, a fall disagrees: the paper gives no clean figure, only that drift produces them"),
}


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, defined once: its words, where the paper says it, the quantity compared,
    whether it is a ``level`` (a value under drift) or a ``change`` (drifted − clean, judged on a paired
    interval), the key of its band in :data:`BANDS`, and the σ readings it applies to."""

    key: str
    words: str
    cite: str
    quantity: str
    kind: str
    band: str
    readings: tuple[str, ...] = ("per_dim", "relative")

    @property
    def spec(self) -> ClaimBand:
        return BANDS[self.band]


CLAIMS: dict[str, Claim] = {c.key: c for c in (
    Claim("collapse", "σ = 0.02 (≈ 1°) takes ROC-AUC from 85% to 50%", "abstract", "auc", "level", "collapse"),
    Claim("angle", "σ = 0.02 is ≈ 1° of angle", "abstract", "angle_deg_mean", "level", "angle", ("per_dim",)),
    Claim("cliff", "the fall is a cliff between σ ≈ 0.01 and 0.028", "Fig. 2 (third-party notes)", "sigma", "level",
          "cliff"),
    Claim("confidence", "mean confidence drops only 14%", "abstract", "mean_confidence", "change",
          "confidence_change", ("per_dim",)),
    Claim("share", "72% of errors are made with confidence > 0.8", "abstract", "silent_failure_share", "change",
          "rises", ("per_dim",)),
    Claim("rate", "38.4% of all texts are confident errors", "Fig. 3 (third-party notes)", "silent_failure_rate",
          "change", "rises", ("per_dim",)),
    Claim("ece", "ECE rises from 1.2% to 22.6%", "abstract; Fig. 3", "ece", "change", "ece_change", ("per_dim",)),
    Claim("invariance", "all drift types end at 46–52% AUC", "Fig. 2 (third-party notes)", "auc", "level",
          "invariance", ()),
    Claim("separability", "instruction-tuned models separate ~20% worse", "abstract; Table 2", "relative_change",
          "change", "separability", ()),
)}


def optional_table(run_dir: Path, name: str) -> pd.DataFrame | None:
    """Table ``name`` of the run in ``run_dir``, or None when the run lacks it, it is empty, or the
    catalogue does not declare it yet (a table another chapter is adding)."""
    try:
        table = catalogue.load(run_dir, name, missing_ok=True)
    except ProbedriftError:
        return None
    return None if table is None or table.empty else table


@dataclass(frozen=True)
class SeparabilityMeasure:
    """A separability measure of ``pairs.csv`` compared with the paper: the metric, the claim's name, the
    paper's figure, whether it is judged (part of the combined verdict) and what is compared."""

    metric: str
    name: str
    paper: str
    judged: bool
    compared: str


#: The paper computed its Fisher ratio with the plug-in formula (``fisher_raw``); its upward noise floor
#: ``(tr S₀/n₀ + tr S₁/n₁)/within`` is a constant for two models of the same width and sample, so it
#: shrinks their relative change toward 0, the more so the smaller n/d. The judged reading is the
#: debiased ratio (``fisher``, :func:`probedrift.science.separability.fisher_ratio`), which estimates the
#: population ratio that the paper's raw figure approaches at large n; the raw formula is shown beside it.
SEPARABILITY_MEASURES = (
    SeparabilityMeasure("silhouette", "silhouette: base → instruct", "0.245 → 0.198, −19% (Table 2)", True,
                        "silhouette (cosine)"),
    SeparabilityMeasure("fisher", "fisher: base → instruct (debiased ratio)",
                        "4.23 → 3.12, −26% (Table 2, raw formula)", True,
                        "the debiased Fisher ratio (noise floor tr S₀/n₀ + tr S₁/n₁ removed from the numerator), "
                        "against the paper's raw-formula figure"),
    SeparabilityMeasure("fisher_raw", "fisher_raw: base → instruct (paper's formula)", "4.23 → 3.12, −26% (Table 2)",
                        False,
                        "the Fisher ratio by the paper's raw (plug-in) formula"),
)


# --------------------------------------------------------------------------- formatting


def fmt_value(x: float, unit: str) -> str:
    """One number in the claim's unit; NaN is "n/a", infinities are ∞."""
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = {"auc": f"{x:.2f}", "pct": f"{x:.1%}", "deg": f"{x:.2f}°", "sigma": f"{x:.3f}", "rel": f"{x:+.0%}"}[unit]
    return text.replace("-", "−")


def interval_text(value: float, lo: float, hi: float, unit: str) -> str:
    """"0.74 [0.72, 0.76]"; the interval is left out when a bound is missing."""
    if math.isnan(float(value)):
        return "n/a"
    if math.isnan(float(lo)) or math.isnan(float(hi)):
        return f"{fmt_value(value, unit)} (no interval)"
    return f"{fmt_value(value, unit)} [{fmt_value(lo, unit)}, {fmt_value(hi, unit)}]"


def t_interval_of(values) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of the finite values; no interval (NaN) below two values."""
    return mean_t_interval(values, LEVEL)


def verdict_row(claim: str, model: str, spec: ClaimBand | None, v: Verdict, convention: str, why: str, *,
         paper: str | None = None, text: str | None = None, unit: str | None = None) -> dict:
    """One table row: the verdict's fields plus the texts a reader sees."""
    unit = unit or (spec.unit if spec else "auc")
    row = {"claim": claim, "model": model, "paper": paper if paper is not None else spec.paper,
           "this study": text if text is not None else interval_text(v.value, v.ci_low, v.ci_high, unit),
           "band": spec.text() if spec is not None and v.verdict != "context" else "—",
           **v.as_row(), "convention": convention, "why": why}
    return {c: row[c] for c in COLUMNS}


def missing_row(claim: str, model: str, spec: ClaimBand, convention: str, why: str, value: float = math.nan,
             **kw) -> dict:
    """An unresolved row for an input the run lacks: band and rule filled, no interval (and no value
    unless one was measured)."""
    return verdict_row(claim, model, spec, judge(value, math.nan, math.nan, spec.band), convention, why, **kw)


def combined_verdict(value: float, parts: list[Verdict], spec: ClaimBand, rule: str, complete: bool) -> Verdict:
    """All parts agree (and none is missing) → agrees; any part disagrees → disagrees; else unresolved.

    The interval shown is the envelope of the parts' intervals."""
    outcomes = [p.verdict for p in parts]
    if any(o == "disagrees" for o in outcomes):
        outcome = "disagrees"
    elif complete and outcomes and all(o == "agrees" for o in outcomes):
        outcome = "agrees"
    else:
        outcome = "unresolved"
    lows = [p.ci_low for p in parts if np.isfinite(p.ci_low)]
    highs = [p.ci_high for p in parts if np.isfinite(p.ci_high)]
    ok = len(lows) == len(parts) == len(highs) and parts
    return Verdict(float(value), min(lows) if ok else math.nan, max(highs) if ok else math.nan,
                   spec.low, spec.high, outcome, rule)


# --------------------------------------------------------------------------- the run's tables


@dataclass
class Estimate:
    value: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    missing: str | None = None


class RunTables:
    """A run's tables with the look-ups the rows need; every look-up says what is missing instead of failing."""

    def __init__(self, metrics_dir: Path, params: StudyParams):
        self.dir, self.params = Path(metrics_dir), params
        self.sweep = self._read("drift_sweep")
        self.baseline = self._read("probe_baseline")
        self.pairs = self._read("pairs")
        self.cliff_log = self._read("cliff_log")
        summary = self._read("drift_sweep_summary")
        if summary is not None and len(summary):
            # intervals over test texts and drift draws (synthetic_drift.drift_sweep_summary)
            self.agg, self.interval = summary, TEXTS_AND_DRAWS
        else:
            self.agg = aggregate_sweep(self.sweep) if self.sweep is not None and len(self.sweep) else None
            self.interval = SEED_INTERVAL
        self.models = (list(dict.fromkeys(self.sweep.model)) if self.sweep is not None and len(self.sweep)
                       else list(params.models))
        grid = linear_sigma_grid(params.sigma_max, params.n_sigmas)
        self.checkpoint = float(np.round(grid[1], 6))

    def _read(self, name: str) -> pd.DataFrame | None:
        return catalogue.load(self.dir.parent, name, missing_ok=True)

    def group(self, model: str, t: str, c: str) -> tuple[pd.DataFrame | None, str | None]:
        """The raw sweep rows of one model/drift type/convention, or why there are none."""
        if self.sweep is None:
            return None, f"drift_sweep.csv is missing from {self.dir}"
        g = self.sweep[(self.sweep.model == model) & (self.sweep.drift_type == t) & (self.sweep.convention == c)]
        if g.empty:
            return None, (f"this run has no {t}/{c} sweep for {model} "
                          f"(profile {self.params.profile}: conventions = {self.params.conventions})")
        return g, None

    def at(self, model: str, t: str, c: str, sigma: float, col: str) -> Estimate:
        """Seed mean of ``col`` at σ with its interval: the sweep summary's (test texts and drift draws) when
        the run has one, else the t-interval over seeds, which needs at least two seeds."""
        g, why = self.group(model, t, c)
        if why:
            return Estimate(missing=why)
        r = row_at_sigma(self.agg, sigma, model=model, drift_type=t, convention=c)
        if r is None:
            return Estimate(missing=f"σ = {sigma:g} is not on this run's σ grid for {t}/{c} "
                                     f"(add it to extra_sigmas)")
        n = int(np.isfinite(pd.to_numeric(
            g[np.isclose(g.sigma.to_numpy(dtype=float), sigma, rtol=0, atol=1e-6)][col], errors="coerce")).sum())
        value = float(r[f"{col}_mean"])
        if n == 0:
            return Estimate(missing=f"{col} is undefined at σ = {sigma:g} in every drift seed")
        seed_interval = self.interval == SEED_INTERVAL or col.startswith("angle")
        if n < 2 and seed_interval:
            return Estimate(value, missing=f"{col} is defined for {n} drift seed at σ = {sigma:g}: "
                                            "no interval over seeds (use ≥ 2 drift_seeds)")
        return Estimate(value, float(r[f"{col}_ci_low"]), float(r[f"{col}_ci_high"]))

    def seed_values(self, model: str, t: str, c: str, sigma: float, col: str) -> pd.Series | None:
        """``col`` at σ per drift seed (index: seed), or None when σ is not on the grid."""
        g, why = self.group(model, t, c)
        if why:
            return None
        g = g[np.isclose(g.sigma.to_numpy(dtype=float), sigma, rtol=0, atol=1e-6)]
        if g.empty:
            return None
        return pd.to_numeric(g.set_index("seed")[col], errors="coerce")


# --------------------------------------------------------------------------- one claim each
