"""The paper's headline numbers against this study's, computed from a run's tables.

One row per (claim, model) -- per (claim, base → instruct pair) for separability -- with the paper's
figure, this study's estimate and its interval, the claim's tolerance band (:data:`BANDS`) and a
verdict from :func:`probedrift.verdicts.judge`:

- ``agrees``: the interval lies within the band;
- ``disagrees``: the interval lies wholly outside the band;
- ``unresolved``: they overlap without containment, or an input is missing (``why`` names it);
- ``context``: the design cannot test the claim (a clean AUC on other data, an angle that is ≈1° by
  construction, a cross-family pair); the value is shown for reference.

The point value never decides a verdict. Inputs, all under ``metrics_dir``: ``drift_sweep.csv`` (one
row per drift seed), ``probe_baseline.csv``, ``pairs.csv`` and ``cliff_log.csv``. The cliff is read
from the log-spaced σ grid of ``cliff_log.csv`` (interval over test texts and drift seeds) when the run
has it, else recomputed per drift seed from the raw sweep's linear grid; ``cliffs.csv`` (a seed-mean
curve, no interval) is not read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import catalogue
from .cliff import first_crossing
from .drift import PAPER_CONVENTIONS
from .grids import linear_sigma_grid
from .intervals import mean_t_interval
from .metrics import TEXTS_AND_DRAWS
from .paper import AUC_AT_SIGMA, CLIFF_DROP, CONFIDENCE_DROP, SEPARABILITY_CHANGE, SILENT_FAILURE_SHARE
from .paper import SIGMA as HEADLINE_SIGMA
from .params import StudyParams
from .tables import aggregate_sweep, row_at_sigma
from .verdicts import Band, Verdict, band, context, judge

__all__ = ["BANDS", "COLUMNS", "ClaimBand", "SEPARABILITY_MEASURES", "SeparabilityMeasure", "paper_vs_study",
           "to_markdown"]

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
        return f"[{_fmt(self.low, self.unit)}, {_fmt(self.high, self.unit)}]"


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
        "silent-failure rate", band(0.384, 0.10), "38.4% of all texts (Fig. 3)", "pct",
        "±10 points, as for the share: the same confident errors over all texts instead of over errors"),
    "ece": ClaimBand(
        "ECE at drift", band(0.226, 0.10), "1.2% → 22.6% (abstract; Fig. 3)", "pct",
        "±10 points: ECE depends on bin edges the paper does not give, so only its size is compared"),
    "invariance": ClaimBand(
        "all drift types fail alike", (0.40, 0.58), "0.46–0.52 for every type at max drift (paper Fig. 2; Table 1)",
        "auc", "the paper's 0.46–0.52 widened by 6 points each side: the claim is \"all near chance\", not a "
        "precise number"),
    "separability": ClaimBand(
        "instruct models separate ~20% worse", band(SEPARABILITY_CHANGE, 0.15),
        "≈ −20%: silhouette −19%, Fisher −26% (Table 2)", "rel",
        "−20% ± 15 points holds both of the paper's measures (−19%, −26%) and excludes no change"),
}

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
#: debiased ratio (``fisher``, :func:`probedrift.separability.fisher_ratio`), which estimates the
#: population ratio that the paper's raw figure approaches at large n; the raw formula is shown beside it.
SEPARABILITY_MEASURES = (
    SeparabilityMeasure("silhouette", "silhouette: base → instruct", "0.245 → 0.198, −19% (Table 2)", True, "silhouette (cosine)"),
    SeparabilityMeasure("fisher", "fisher: base → instruct (debiased ratio)", "4.23 → 3.12, −26% (Table 2, raw formula)", True,
                        "the debiased Fisher ratio (noise floor tr S₀/n₀ + tr S₁/n₁ removed from the numerator), "
                        "against the paper's raw-formula figure"),
    SeparabilityMeasure("fisher_raw", "fisher_raw: base → instruct (paper's formula)", "4.23 → 3.12, −26% (Table 2)", False,
                        "the Fisher ratio by the paper's raw (plug-in) formula"),
)


# --------------------------------------------------------------------------- formatting


def _fmt(x: float, unit: str) -> str:
    """One number in the claim's unit; NaN is "n/a", infinities are ∞."""
    x = float(x)
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    text = {"auc": f"{x:.2f}", "pct": f"{x:.1%}", "deg": f"{x:.2f}°", "sigma": f"{x:.3f}", "rel": f"{x:+.0%}"}[unit]
    return text.replace("-", "−")


def _interval_text(value: float, lo: float, hi: float, unit: str) -> str:
    """"0.74 [0.72, 0.76]"; the interval is left out when a bound is missing."""
    if math.isnan(float(value)):
        return "n/a"
    if math.isnan(float(lo)) or math.isnan(float(hi)):
        return f"{_fmt(value, unit)} (no interval)"
    return f"{_fmt(value, unit)} [{_fmt(lo, unit)}, {_fmt(hi, unit)}]"


def _t_interval(values) -> tuple[float, float, float]:
    """Mean and 95% Student-t interval of the finite values; no interval (NaN) below two values."""
    return mean_t_interval(values, LEVEL)


def _row(claim: str, model: str, spec: ClaimBand | None, v: Verdict, convention: str, why: str, *,
         paper: str | None = None, text: str | None = None, unit: str | None = None) -> dict:
    """One table row: the verdict's fields plus the texts a reader sees."""
    unit = unit or (spec.unit if spec else "auc")
    row = {"claim": claim, "model": model, "paper": paper if paper is not None else spec.paper,
           "this study": text if text is not None else _interval_text(v.value, v.ci_low, v.ci_high, unit),
           "band": spec.text() if spec is not None and v.verdict != "context" else "—",
           **v.as_row(), "convention": convention, "why": why}
    return {c: row[c] for c in COLUMNS}


def _missing(claim: str, model: str, spec: ClaimBand, convention: str, why: str, value: float = math.nan,
             **kw) -> dict:
    """An unresolved row for an input the run lacks: band and rule filled, no interval (and no value
    unless one was measured)."""
    return _row(claim, model, spec, judge(value, math.nan, math.nan, spec.band), convention, why, **kw)


def _combined(value: float, parts: list[Verdict], spec: ClaimBand, rule: str, complete: bool) -> Verdict:
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
class _Estimate:
    value: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    missing: str | None = None


class _Run:
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

    def at(self, model: str, t: str, c: str, sigma: float, col: str) -> _Estimate:
        """Seed mean of ``col`` at σ with its interval: the sweep summary's (test texts and drift draws) when
        the run has one, else the t-interval over seeds, which needs at least two seeds."""
        g, why = self.group(model, t, c)
        if why:
            return _Estimate(missing=why)
        r = row_at_sigma(self.agg, sigma, model=model, drift_type=t, convention=c)
        if r is None:
            return _Estimate(missing=f"σ = {sigma:g} is not on this run's σ grid for {t}/{c} "
                                     f"(add it to extra_sigmas)")
        n = int(np.isfinite(pd.to_numeric(
            g[np.isclose(g.sigma.to_numpy(dtype=float), sigma, rtol=0, atol=1e-6)][col], errors="coerce")).sum())
        value = float(r[f"{col}_mean"])
        if n == 0:
            return _Estimate(missing=f"{col} is undefined at σ = {sigma:g} in every drift seed")
        seed_interval = self.interval == SEED_INTERVAL or col.startswith("angle")
        if n < 2 and seed_interval:
            return _Estimate(value, missing=f"{col} is defined for {n} drift seed at σ = {sigma:g}: "
                                            "no interval over seeds (use ≥ 2 drift_seeds)")
        return _Estimate(value, float(r[f"{col}_ci_low"]), float(r[f"{col}_ci_high"]))

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


def _clean_rows(run: _Run) -> list[dict]:
    """Clean AUC: context (the paper's data and models differ), with its bootstrap interval for reference."""
    reason = "different data and models (paper Table 1); only the change under drift is compared"
    rows = []
    for m in run.models:
        value, lo, hi, why = math.nan, math.nan, math.nan, reason
        if run.baseline is None:
            why = f"{reason}; probe_baseline.csv is missing"
        else:
            r = run.baseline[(run.baseline.model == m) & (run.baseline.metric == "auc")]
            if r.empty:
                why = f"{reason}; probe_baseline.csv has no auc row for {m}"
            else:
                r = r.iloc[0]
                value, lo, hi = float(r.value), float(r.ci_low), float(r.ci_high)
                why = f"{reason}; 95% bootstrap interval over test texts"
        row = _row("clean ROC-AUC", m, None, context(reason, value), "clean test split", why,
                   paper="0.85–0.90 (abstract; protocol of paper Table 1)", text=_interval_text(value, lo, hi, "auc"))
        row["ci_low"], row["ci_high"] = lo, hi
        rows.append(row)
    return rows


def _collapse_rows(run: _Run) -> list[dict]:
    """AUC at σ = 0.02 under each gaussian reading: judged against 0.50 ± 0.05 by its seed interval."""
    spec, rows = BANDS["collapse"], []
    for conv, label in (("per_dim", "the paper's formula"), ("relative", "the abstract's ≈1° reading")):
        claim, convention = f"AUC at σ = 0.02 ({label})", f"gaussian / {conv}, σ = 0.02"
        for m in run.models:
            e = run.at(m, "gaussian", conv, HEADLINE_SIGMA, "auc")
            if e.missing:
                rows.append(_missing(claim, m, spec, convention, e.missing, e.value))
                continue
            rows.append(_row(claim, m, spec, judge(e.value, e.lo, e.hi, spec.band), convention, run.interval))
    return rows


def _angle_rows(run: _Run) -> list[dict]:
    """Angle at σ = 0.02: judged against 0.5°–2° under the paper's formula; context under the relative
    reading, where ≈1° holds by construction."""
    spec, rows = BANDS["angle"], []
    claim = "σ = 0.02 is ≈ 1° of angle (the paper's formula)"
    for m in run.models:
        e = run.at(m, "gaussian", "per_dim", HEADLINE_SIGMA, "angle_deg_mean")
        convention = "gaussian / per_dim, σ = 0.02"
        if e.missing:
            rows.append(_missing(claim, m, spec, convention, e.missing, e.value))
            continue
        rows.append(_row(claim, m, spec, judge(e.value, e.lo, e.hi, spec.band), convention,
                         f"{SEED_INTERVAL}; per-dimension noise of σ on a unit vector in d dimensions has "
                         "norm ≈ σ√d, so the angle grows with the width"))
    claim = "σ = 0.02 is ≈ 1° of angle (the abstract's ≈1° reading)"
    reason = "definitional: relative noise of norm σ‖z‖ turns z by ≈ atan σ ≈ 1.1°, by construction"
    for m in run.models:
        e = run.at(m, "gaussian", "relative", HEADLINE_SIGMA, "angle_deg_mean")
        row = _row(claim, m, spec, context(reason, e.value), "gaussian / relative, σ = 0.02",
                   f"{reason}; {e.missing}" if e.missing else reason, text=_interval_text(e.value, e.lo, e.hi, "deg"))
        row["ci_low"], row["ci_high"] = e.lo, e.hi
        rows.append(row)
    return rows


def _seed_cliff(g: pd.DataFrame) -> float | None:
    """σ at which one seed's AUC first falls CLIFF_DROP below its σ = 0 value (linear interpolation);
    +∞ when it never does on the grid; None without a σ = 0 row."""
    g = g.sort_values("sigma")
    s, auc = g.sigma.to_numpy(dtype=float), g.auc.to_numpy(dtype=float)
    if not len(s) or abs(s[0]) > 1e-9 or not np.isfinite(auc[0]):
        return None
    return first_crossing(s, auc, auc[0] - CLIFF_DROP, at_start="nan", never=math.inf)


def _log_grid_cliff_row(run: _Run, claim: str, m: str, conv: str) -> dict | None:
    """The cliff row from the log-spaced σ grid (``cliff_log.csv``, criterion ``drop_20``), or None when
    the run has no such row: the crossing σ of the seed-mean AUC curve with its interval over test
    texts and drift seeds, stated in σ (:func:`probedrift.cliff.cliff_table`)."""
    table = run.cliff_log
    if table is None or "sigma_ci_low" not in table.columns:
        return None
    hit = table[(table.model == m) & (table.drift_type == "gaussian") & (table.convention == conv)
                & (table.criterion == "drop_20")]
    if hit.empty:
        return None
    r, spec = hit.iloc[0], BANDS["cliff"]
    convention = (f"gaussian / {conv}, log-spaced σ grid, σ where the seed-mean AUC falls to clean − "
                  f"{CLIFF_DROP:.2f}")
    smax = float(run.params.sigma_max)
    if not np.isfinite(float(r.target_auc)):
        return _missing(claim, m, spec, convention,
                        f"clean AUC {float(r.auc_clean):.2f}: a {CLIFF_DROP * 100:.0f}-point fall would end below "
                        "chance, so this probe has no cliff to locate")
    reached, seeds = int(r.n_seeds_reached), int(r.n_seeds)
    if not np.isfinite(float(r.sigma)):
        if reached:
            return _missing(claim, m, spec, convention,
                            f"{reached} of {seeds} drift seeds fall {CLIFF_DROP * 100:.0f} points but their mean "
                            f"curve does not, up to σ = {smax:g}: no interval")
        return _row(claim, m, spec, judge(math.nan, smax, math.inf, spec.band), convention,
                    f"no drift seed's AUC falls {CLIFF_DROP * 100:.0f} points on a log-spaced grid up to σ = {smax:g} "
                    f"({float(r.max_angle_deg):.1f}°): the cliff lies beyond the grid, [{smax:g}, ∞)",
                    text=f"> {smax:.3f} (no seed falls 20 points)")
    if reached < seeds:
        # Seeds that never fall have their cliff beyond the grid, so leaving them out can only pull the
        # interval down: a lower end already above the band still disagrees, [low, ∞); anything else
        # is unresolved.
        low = float(r.sigma_ci_low)
        missing = (f"{seeds - reached} of {seeds} drift seeds never fall {CLIFF_DROP * 100:.0f} points up to "
                   f"σ = {smax:g}")
        if np.isfinite(low) and low > spec.high:
            return _row(claim, m, spec, judge(float(r.sigma), low, math.inf, spec.band), convention,
                        f"{missing}; their cliffs lie beyond the grid, so the interval of the seeds that fall "
                        f"({r.interval}) bounds the cliff from below only: [{low:.3f}, ∞)",
                        text=f"≥ {_fmt(low, 'sigma')} ({_fmt(float(r.sigma), 'sigma')} on the seed-mean curve)")
        return _missing(claim, m, spec, convention, f"{missing}: the interval over seeds would leave them out",
                        value=float(r.sigma), text=f"{_fmt(float(r.sigma), 'sigma')} (seed-mean curve)")
    why = (f"{r.interval}; the crossing angle {float(r.angle_deg):.1f}° [{float(r.angle_deg_ci_low):.1f}, "
           f"{float(r.angle_deg_ci_high):.1f}°] read as σ on the grid's σ-to-angle curve")
    return _row(claim, m, spec, judge(float(r.sigma), float(r.sigma_ci_low), float(r.sigma_ci_high), spec.band),
                convention, why)


def _cliff_rows(run: _Run) -> list[dict]:
    """Cliff σ (20-point AUC fall) judged against [0.005, 0.03].

    From the log-spaced σ grid when the run has it (:func:`_log_grid_cliff_row`); otherwise per drift
    seed on the sweep's linear grid with a t-interval over seeds. Every seed beyond the grid: the
    interval is [σ_max, ∞) (disagrees when σ_max exceeds the band), unless a 20-point fall would end
    below chance; some seeds beyond the grid: unresolved."""
    spec, rows = BANDS["cliff"], []
    for conv, label in (("per_dim", "the paper's formula"), ("relative", "the abstract's ≈1° reading")):
        claim = f"the cliff: 85% → 50% between σ ≈ 0.01 and 0.028 ({label})"
        convention = f"gaussian / {conv}, first σ with AUC ≤ clean − {CLIFF_DROP:.2f}"
        for m in run.models:
            from_log_grid = _log_grid_cliff_row(run, claim, m, conv)
            if from_log_grid is not None:
                rows.append(from_log_grid)
                continue
            g, why = run.group(m, "gaussian", conv)
            if why:
                rows.append(_missing(claim, m, spec, convention, why))
                continue
            cliffs = {seed: _seed_cliff(gs) for seed, gs in g.groupby("seed")}
            if any(c is None for c in cliffs.values()):
                rows.append(_missing(claim, m, spec, convention, "the sweep has no σ = 0 row for some drift seed"))
                continue
            smax = float(g.sigma.max())
            clean = float(g[g.sigma.abs() < 1e-9].auc.mean())
            finite = [c for c in cliffs.values() if math.isfinite(c)]
            if not finite:
                if clean - CLIFF_DROP < 0.5:
                    rows.append(_missing(claim, m, spec, convention,
                                         f"clean AUC {clean:.2f}: a {CLIFF_DROP * 100:.0f}-point fall would end "
                                         "below chance, so this probe has no cliff to locate", text=f"> {smax:.3f}"))
                    continue
                v = judge(math.nan, smax, math.inf, spec.band)
                rows.append(_row(claim, m, spec, v, convention,
                                 f"no drift seed's AUC falls {CLIFF_DROP * 100:.0f} points up to σ = {smax:g}: "
                                 f"every seed's cliff lies beyond the grid, [{smax:g}, ∞)",
                                 text=f"> {smax:.3f} (no seed falls 20 points)"))
                continue
            if len(finite) < len(cliffs):
                rows.append(_missing(claim, m, spec, convention,
                                     f"{len(cliffs) - len(finite)} of {len(cliffs)} drift seeds never fall "
                                     f"{CLIFF_DROP * 100:.0f} points up to σ = {smax:g}: no interval",
                                     text=f"{_fmt(float(np.mean(finite)), 'sigma')} (seeds that fall)"))
                continue
            mean, lo, hi = _t_interval(finite)
            why = "95% t-interval over drift seeds of the per-seed interpolated cliff σ (one split, one probe)"
            if math.isnan(lo):
                why = "one drift seed: no interval over seeds (use ≥ 2 drift_seeds)"
            rows.append(_row(claim, m, spec, judge(mean, lo, hi, spec.band), convention, why))
    return rows


def _confidence_rows(run: _Run) -> list[dict]:
    """Relative drop of mean confidence from σ = 0 to checkpoint 1, per drift seed; its t-interval
    judged against 14% ± 7 points."""
    spec, rows = BANDS["confidence_drop"], []
    cp = run.checkpoint
    claim, convention = "mean confidence drops only 14%", f"gaussian / per_dim, σ = 0 → {cp:g} (Fig. 3 checkpoint 1)"
    for m in run.models:
        g, why = run.group(m, "gaussian", "per_dim")
        c0 = run.seed_values(m, "gaussian", "per_dim", 0.0, "mean_confidence")
        c1 = run.seed_values(m, "gaussian", "per_dim", cp, "mean_confidence")
        if why or c0 is None or c1 is None:
            rows.append(_missing(claim, m, spec, convention,
                                 why or f"σ = 0 or checkpoint 1 (σ = {cp:g}) is not on this run's σ grid"))
            continue
        both = pd.concat([c0.rename("c0"), c1.rename("c1")], axis=1, join="inner").dropna()
        drops = (both.c0 - both.c1) / both.c0
        mean, lo, hi = _t_interval(drops)
        if math.isnan(mean):
            rows.append(_missing(claim, m, spec, convention, "no drift seed has mean confidence at both σ"))
            continue
        why = "95% t-interval over drift seeds of the per-seed relative drop (one split, one probe)"
        if math.isnan(lo):
            why = "one drift seed: no interval over seeds (use ≥ 2 drift_seeds)"
        text = (f"{both.c0.mean():.2f} → {both.c1.mean():.2f}; drop {_interval_text(mean, lo, hi, 'pct')}")
        rows.append(_row(claim, m, spec, judge(mean, lo, hi, spec.band), convention, why, text=text))
    return rows


def _checkpoint_rows(run: _Run) -> list[dict]:
    """Silent-failure share and rate and ECE at checkpoint 1 (gaussian / per_dim), each judged by its
    seed interval against the paper's figure ± 10 points."""
    rows, cp, p = [], run.checkpoint, run.params
    convention = f"gaussian / per_dim at σ = {cp:g} (Fig. 3 checkpoint 1), τ = {p.tau}, {p.ece_bins} ECE bins"
    for col, key, claim, what in (
        ("silent_failure_share", "share", "72% of errors made with confidence ≥ 0.8",
         "share = confident errors / all errors"),
        ("silent_failure_rate", "rate", "38.4% of all texts wrong and confident",
         "rate = confident errors / all texts"),
        ("ece", "ece", "ECE rises from 1.2% to 22.6%",
         "equal-width confidence bins on [0.5, 1]; the paper does not give its bin edges"),
    ):
        spec = BANDS[key]
        for m in run.models:
            e = run.at(m, "gaussian", "per_dim", cp, col)
            if e.missing:
                rows.append(_missing(claim, m, spec, convention, e.missing, e.value))
                continue
            text = _interval_text(e.value, e.lo, e.hi, "pct")
            if col == "ece":
                e0 = run.at(m, "gaussian", "per_dim", 0.0, col)
                text = f"{_fmt(e0.value, 'pct')} → {text}"
            rows.append(_row(claim, m, spec, judge(e.value, e.lo, e.hi, spec.band), convention,
                             f"{run.interval}; {what}", text=text))
    return rows


def _invariance_rows(run: _Run) -> list[dict]:
    """AUC at the largest σ of every paper drift type: agrees if every type's interval lies within
    [0.40, 0.58], disagrees if any lies wholly outside, unresolved otherwise or when a type is missing."""
    spec, rows = BANDS["invariance"], []
    claim = "all drift types fail alike (AUC 46–52% at max drift)"
    readings = ", ".join(f"{t}/{c}" for t, c in PAPER_CONVENTIONS.items())
    rule = (f"agrees if every paper drift type's 95% interval at its largest σ lies within {spec.text()} "
            "(the paper's 0.46–0.52 widened), disagrees if any lies wholly outside, unresolved otherwise "
            "or when a paper drift type was not run")
    for m in run.models:
        parts, texts, missing = [], [], []
        for t, c in PAPER_CONVENTIONS.items():
            g, why = run.group(m, t, c)
            if why:
                missing.append(why if run.sweep is None else f"{t}/{c} not run")
                continue
            smax = float(g.sigma.max())
            e = run.at(m, t, c, smax, "auc")
            if e.missing:
                missing.append(f"{t}: {e.missing}")
                continue
            parts.append(judge(e.value, e.lo, e.hi, spec.band))
            texts.append(f"{t} {_interval_text(e.value, e.lo, e.hi, 'auc')} at σ = {smax:g}")
        value = float(np.mean([v.value for v in parts])) if parts else math.nan
        v = _combined(value, parts, spec, rule, complete=not missing)
        why = f"{run.interval}; value = mean over types, interval = envelope of the types' intervals"
        if missing:
            why = (f"{why}; missing: " if parts else "missing: ") + "; ".join(dict.fromkeys(missing))
        rows.append(_row(claim, m, spec, v, f"paper readings ({readings}) at the largest σ", why,
                         text="; ".join(texts) or "n/a"))
    return rows


def _pair_list(run: _Run) -> list[tuple[str, str, str]]:
    """(base, instruct, note) of the profile's pairs, then any other pair in pairs.csv."""
    out = {(p.base, p.instruct): p.note for p in run.params.pairs}
    if run.pairs is not None:
        for (b, i), g in run.pairs.groupby(["base", "instruct"], sort=False):
            out.setdefault((b, i), str(g.note.iloc[0]) if "note" in g and pd.notna(g.note.iloc[0]) else "")
    return [(b, i, n) for (b, i), n in out.items()]


def _raw_floor_text(measures: dict) -> str:
    """Why the raw-formula row is not judged, with the base model's noise floor (raw − debiased ratio)
    when both are in pairs.csv."""
    raw, deb = measures.get("fisher_raw"), measures.get("fisher")
    floor = ""
    if raw is not None and deb is not None:
        floor = f" (here {float(raw.base_value) - float(deb.base_value):.3g} of the base model's {float(raw.base_value):.3g})"
    return ("the paper's raw formula, shown beside the debiased ratio and not judged: its noise floor"
            f"{floor} is the same for two models of one width and sample and pulls their relative change "
            "toward 0, more at this run's n than at the paper's")


def _separability_rows(run: _Run) -> list[dict]:
    """Instruct vs base relative change of silhouette and the Fisher ratio (debiased and raw), per pair.

    A pair is same-family only if its note says "same family"; other pairs are context. For a
    same-family pair the relative-change intervals of silhouette and of the debiased Fisher ratio are
    judged against −20% ± 15 points, and the combined row agrees only if both agree, disagrees if
    either disagrees. The Fisher ratio by the paper's raw formula (Table 2) gets a context row beside
    them (:data:`SEPARABILITY_MEASURES` says why). Each row's ``why`` names what is compared and the
    interval that ``pairs.csv`` says it has (its ``interval`` column, else :data:`PAIR_INTERVAL`)."""
    spec, rows = BANDS["separability"], []
    claim = "instruct models separate ~20% worse"
    pairs = _pair_list(run)
    if not pairs:
        return [_missing(claim, "—", spec, "no pair", "the run has no base/instruct pair (params.pairs is empty)")]
    rule = (f"agrees if both silhouette's and the debiased Fisher ratio's 95% intervals lie within {spec.text()} "
            "(the paper's −20% ± 15 points), disagrees if either lies wholly outside, unresolved otherwise")
    for b, i, note in pairs:
        model, convention = f"{b} → {i}", f"{note or 'no note'}; last layer, probe input space"
        same_family = "same family" in note.lower()
        g = None if run.pairs is None else run.pairs[(run.pairs.base == b) & (run.pairs.instruct == i)]
        measures, missing = {}, {}
        for m in SEPARABILITY_MEASURES:
            r = None if g is None else g[g.metric == m.metric]
            if r is None or r.empty:
                missing[m.metric] = ("pairs.csv is missing" if run.pairs is None
                                     else f"pairs.csv has no {m.metric} row for {model}")
                measures[m.metric] = None
                continue
            measures[m.metric] = r.iloc[0]
        interval = PAIR_INTERVAL
        if g is not None and "interval" in g and g["interval"].notna().any():
            interval = str(g["interval"].dropna().iloc[0])
        judged = [m for m in SEPARABILITY_MEASURES if m.judged]
        if not same_family:
            reason = f"{CROSS_FAMILY} (note: {note or 'none'})"
            rels = [float(measures[m.metric].relative_change) for m in judged if measures[m.metric] is not None]
            rows.append(_row(claim, model, spec, context(reason, np.mean(rels) if rels else math.nan), convention,
                             reason, text=_fmt(np.mean(rels), "rel") + " (mean of the judged measures)" if rels
                             else "n/a"))
            for m in SEPARABILITY_MEASURES:
                r = measures[m.metric]
                val = math.nan if r is None else float(r.relative_change)
                why = f"{reason}; compared: {m.compared}; {interval}"
                row = _row(m.name, model, spec, context(reason, val), convention, why,
                           paper=m.paper, text="n/a" if r is None else _pair_text(r))
                if r is not None:
                    row["ci_low"], row["ci_high"] = float(r.relative_change_low), float(r.relative_change_high)
                rows.append(row)
            continue
        parts = []
        sub = []
        for m in SEPARABILITY_MEASURES:
            r = measures[m.metric]
            if not m.judged:
                reason = _raw_floor_text(measures)
                why = f"{reason}; compared: {m.compared}" + (f"; {missing[m.metric]}" if r is None else f"; {interval}")
                row = _row(m.name, model, spec,
                           context(reason, math.nan if r is None else float(r.relative_change)), convention, why,
                           paper=m.paper, text="n/a" if r is None else _pair_text(r))
                if r is not None:
                    row["ci_low"], row["ci_high"] = float(r.relative_change_low), float(r.relative_change_high)
                sub.append(row)
                continue
            if r is None:
                sub.append(_missing(m.name, model, spec, convention,
                                    f"{missing[m.metric]}; compared: {m.compared}", paper=m.paper))
                continue
            v = judge(float(r.relative_change), float(r.relative_change_low), float(r.relative_change_high),
                      spec.band)
            parts.append(v)
            sub.append(_row(m.name, model, spec, v, convention,
                            f"compared: {m.compared}; {interval}", paper=m.paper, text=_pair_text(r)))
        value = float(np.mean([v.value for v in parts])) if parts else math.nan
        v = _combined(value, parts, spec, rule, complete=not any(m.metric in missing for m in judged))
        why = (f"{interval}; value = mean of silhouette and the debiased Fisher ratio, interval = envelope; "
               "the raw-formula Fisher row is shown, not judged")
        judged_missing = [missing[m.metric] for m in judged if m.metric in missing]
        if judged_missing:
            why += "; " + "; ".join(judged_missing)
        rows.append(_row(claim, model, spec, v, convention, why))
        rows.extend(sub)
    return rows


def _pair_text(r: pd.Series) -> str:
    """"0.245 → 0.198 (−19% [−30%, −8%])"."""
    return (f"{float(r.base_value):.3g} → {float(r.instruct_value):.3g} "
            f"({_interval_text(r.relative_change, r.relative_change_low, r.relative_change_high, 'rel')})")


# --------------------------------------------------------------------------- public API


def paper_vs_study(metrics_dir: Path, params: StudyParams) -> pd.DataFrame:
    """The comparison table (columns :data:`COLUMNS`) for the run whose tables live in ``metrics_dir``.

    One row per (claim, model), and per (claim, pair) for separability; a missing input gives an
    unresolved row naming it, never an error."""
    run = _Run(metrics_dir, params)
    rows = [*_clean_rows(run), *_collapse_rows(run), *_angle_rows(run), *_cliff_rows(run),
            *_confidence_rows(run), *_checkpoint_rows(run), *_invariance_rows(run), *_separability_rows(run)]
    return pd.DataFrame(rows, columns=COLUMNS)


def to_markdown(df: pd.DataFrame) -> str:
    """A MyST page: the comparison table, then each band with its justification and the verdict rules."""
    def esc(s):
        return str(s).replace("|", "\\|").replace("\n", " ")

    cols = ("claim", "model", "paper", "this study", "band", "verdict", "why")
    lines = ["| claim | model | paper | this study (95% interval) | band | verdict | why |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(esc(r[c]) for c in cols) + " |" for _, r in df.iterrows()]
    counts = df.verdict.value_counts()
    summary = ", ".join(f"{n} {v}" for v, n in counts.items()) or "no rows"
    bands = [f"- **{s.label}**: band {s.text()} around the paper's {s.paper}. {s.justification[0].upper()}"
             f"{s.justification[1:]}." for s in BANDS.values()]
    return "\n".join([
        "# The paper against this study", "",
        "Every row is computed from this run's tables (`metrics/*.csv`); nothing here is typed by hand. "
        f"The paper's numbers come from {{cite}}`sahoo2026robust`. Verdicts: {summary}. Where the paper is "
        "ambiguous (what σ means in the drift protocol of paper Table 1) both readings get a row.", "",
        *lines, "",
        "## Verdict rules", "",
        "A row **agrees** when this study's 95% interval lies inside the claim's tolerance band, **disagrees** "
        "when the interval lies wholly outside the band, and is **unresolved** when the two overlap without "
        "containment or an input is missing (the row's *why* names it); **context** rows are claims this "
        "design cannot test, shown for reference. The point value never decides a verdict.", "",
        "Each row's *why* says what its interval covers. Drift-sweep intervals cover the test texts (a stratified "
        "bootstrap, paired across drift draws) and the drift draws; the measured angle's interval and the "
        f"per-seed cliff and confidence-drop intervals are t-intervals over drift seeds. None covers the choice "
        "of split and probe seed, or of data and model. Separability rows name their interval in *why* "
        "(`pairs.csv`'s `interval` column). Rows that combine parts (all drift types; silhouette and the "
        "debiased Fisher ratio) agree only when every part agrees and disagree when any part does.", "",
        *bands, "",
        "Context rows: the clean AUC (different data and models than paper Table 1); the angle under the relative "
        "reading of σ (≈ 1° by construction); the Fisher ratio by the paper's raw formula, whose noise floor "
        "pulls a same-width pair's relative change toward 0 (the debiased ratio is the one judged); every "
        f"separability row of a pair whose note does not say \"same family\" ({CROSS_FAMILY}).", "",
    ])
