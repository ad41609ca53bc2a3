"""Pure summaries of a run's tables: seed aggregation, cliffs, first alarms, pair comparisons.

Everything here takes and returns DataFrames (no Study, no model), so it is unit-tested on small
fixture tables. :func:`row_at_sigma` is the one way any chapter or the paper comparison picks "the
row at σ".
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from probedrift.core.errors import ProbedriftError
from probedrift.core.intervals import aggregate_seeds
from probedrift.report.paper import CLIFF_DROP
from probedrift.science import drift as drift_mod
from probedrift.science import sweep as sweep_mod
from probedrift.science.cliff import first_crossing
from probedrift.science.detectors import threshold_monitors

SWEEP_COLUMNS = list(sweep_mod.SWEEP_COLUMNS)
PAIR_COLUMNS = ["base", "instruct", "note", "metric", "base_value", "base_ci_low", "base_ci_high", "instruct_value",
                "instruct_ci_low", "instruct_ci_high", "relative_change", "relative_change_low", "relative_change_high",
                "interval"]
#: What the relative change's interval covers when it is built from the two models' separate intervals.
UNPAIRED_PAIR_INTERVAL = ("conservative range from the base and instruct models' separate 95% intervals, "
                          "[(i_low − b_high)/|b|, (i_high − b_low)/|b|] (not paired)")
SIGMA_TOLERANCE = 1e-6


def rows_at_sigma(table: pd.DataFrame, sigma: float, **where) -> pd.DataFrame:
    """The rows of ``table`` at ``sigma`` (within :data:`SIGMA_TOLERANCE`) whose columns equal ``where``."""
    mask = np.isclose(table["sigma"].to_numpy(dtype=float), float(sigma), rtol=0, atol=SIGMA_TOLERANCE)
    for col, value in where.items():
        mask &= (table[col] == value).to_numpy()
    return table[mask]


def row_at_sigma(table: pd.DataFrame, sigma: float, *, required: bool = False, **where) -> pd.Series | None:
    """The single row of ``table`` at ``sigma`` (within :data:`SIGMA_TOLERANCE`) matching ``where``.

    ``where`` filters columns by equality (e.g. ``model=..., drift_type=..., convention=...``). The σ
    must be on the run's grid: no nearest-neighbour substitution, so a profile that drops σ = 0.02
    gets ``None`` (or, with ``required``, an error naming the grid) instead of another σ's numbers.
    """
    rows = rows_at_sigma(table, sigma, **where)
    if len(rows) > 1:
        raise ProbedriftError(f"{len(rows)} rows at σ = {sigma} for {where}", "aggregate over seeds first")
    if rows.empty:
        if required:
            grid = ", ".join(f"{s:g}" for s in sorted(table["sigma"].unique()))
            raise ProbedriftError(f"no row at σ = {sigma} for {where} (grid: {grid})",
                                  f"add {sigma} to extra_sigmas in the profile")
        return None
    return rows.iloc[0]


def aggregate_sweep(sweep: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval across drift seeds for every metric of a sweep, per model/type/convention/σ."""
    metric_cols = [c for c in SWEEP_COLUMNS if c not in ("model", "drift_type", "convention", "sigma", "seed")]
    agg = aggregate_seeds(sweep, by=["model", "drift_type", "convention", "sigma"], metrics=metric_cols, level=level)
    # With few seeds a t-interval can leave [0, 1]; the metrics cannot.
    for m in metric_cols:
        if not m.startswith("angle"):
            agg[f"{m}_ci_low"] = agg[f"{m}_ci_low"].clip(lower=0.0)
            agg[f"{m}_ci_high"] = agg[f"{m}_ci_high"].clip(upper=1.0)
    return agg


def cliff_points(sweep: pd.DataFrame, drops=(0.05, CLIFF_DROP)) -> pd.DataFrame:
    """σ and mean angle at which the seed-mean AUC first falls ``drop`` (absolute) below σ = 0.

    Linear interpolation between grid points (:func:`probedrift.science.cliff.first_crossing`, a fall already at
    σ = 0 read as σ = 0); NaN when the AUC never falls that far on the grid.
    """
    agg = aggregate_sweep(sweep)
    rows = []
    for (model, t, c), g in agg.groupby(["model", "drift_type", "convention"], sort=False):
        g = g.sort_values("sigma")
        s, a, auc = g["sigma"].to_numpy(), g["angle_deg_mean_mean"].to_numpy(), g["auc_mean"].to_numpy()
        base = auc[0]
        row = {"model": model, "drift_type": t, "convention": c, "auc_clean": base, "auc_at_max_sigma": auc[-1]}
        for drop in drops:
            tag = f"{round(drop * 100)}pt"
            row[f"sigma_{tag}"] = first_crossing(s, auc, base - drop)
            row[f"angle_deg_{tag}"] = first_crossing(a, auc, base - drop)
        rows.append(row)
    return pd.DataFrame(rows)


CORRECTIONS = ("bonferroni", "holm", "none")


def grid_alarms(detectors: pd.DataFrame, alpha: float = 0.05, correction: str = "bonferroni",
                threshold_detectors=None) -> pd.DataFrame:
    """``detectors`` with ``alarm_fw``: the alarm after correcting each test over its σ grid.

    A family is one model/type/convention/detector/seed over its K σ points (σ = 0 included, so a
    false alarm there counts). ``bonferroni``: alarm when ``p < α/K``; ``holm``: Holm's step-down
    over the family's K p-values (sorted ascending, reject while ``p_(i) < α/(K − i + 1)``);
    ``none``: ``p < α``. Either correction keeps the family-wise probability of any alarm ≤ α when
    nothing drifted. Threshold rules (``threshold_detectors``; by default the registry's,
    :func:`probedrift.science.detectors.threshold_monitors`: the confidence monitor) have no level
    to correct: their ``alarm`` is kept and their family-wise rate is not controlled.
    """
    if correction not in CORRECTIONS:
        raise ProbedriftError(f"unknown correction {correction!r}", f"use one of: {', '.join(CORRECTIONS)}")
    out = detectors.copy()
    keys = ["model", "drift_type", "convention", "detector", "seed"]
    k = out.groupby(keys, sort=False)["sigma"].transform("size").to_numpy()
    pv = out["p_value"].to_numpy(dtype=float)
    if correction == "holm":
        rank = out.groupby(keys, sort=False)["p_value"].rank(method="first").to_numpy()
        ok = np.where(np.isnan(pv), False, pv < alpha / (k - rank + 1))
        tmp = out[keys].assign(_ok=ok, _rank=rank)
        # step-down: a family rejects its r smallest p-values, r = the first rank that fails, minus one
        first_fail = tmp.assign(_f=np.where(ok, np.inf, rank)).groupby(keys, sort=False)["_f"].transform("min")
        fw = rank < first_fail.to_numpy()
    else:
        level = alpha / k if correction == "bonferroni" else np.full(len(out), alpha)
        fw = np.where(np.isnan(pv), False, pv < level)
    threshold = out["detector"].isin(list(threshold_detectors or threshold_monitors())).to_numpy()
    out["alarm_fw"] = np.where(threshold, out["alarm"].to_numpy(dtype=bool), fw)
    out["n_sigmas"] = k
    return out


def first_alarms(detectors: pd.DataFrame, cliffs: pd.DataFrame, alpha: float = 0.05,
                 correction: str = "bonferroni", threshold_detectors=None) -> pd.DataFrame:
    """Per model/type/convention/detector: the first σ (and angle) that alarms in each drift seed, summarised
    over seeds, next to the 5-point cliff.

    Rule: within one seed the K tests over the σ grid (σ = 0 included) are corrected together
    (:func:`grid_alarms`; Bonferroni ``p < α/K`` by default), so with no drift the chance of any alarm
    on the grid is ≤ α. A seed's first alarm is the smallest σ > 0 whose corrected test alarms; an
    alarm at σ = 0 is a false alarm (``false_alarm_share_at_zero``: the share of seeds with one).
    Over seeds: ``share_seeds_alarmed`` (a first alarm at some σ > 0), ``share_seeds_any_alarm``
    (any alarm on the grid, σ = 0 included: the family-wise alarm rate), and the median, min and
    max of the first-alarm σ and angle. A seed that never alarms counts as beyond the grid for the
    median (NaN when that is more than half the seeds) and is left out of min and max.
    ``first_alarm_sigma``/``first_alarm_angle_deg`` are the medians.
    """
    keys = ["model", "drift_type", "convention", "detector", "seed"]
    threshold_detectors = threshold_detectors or threshold_monitors()
    fw = grid_alarms(detectors, alpha, correction, threshold_detectors).sort_values(keys[:-1] + ["seed", "sigma"])
    per_seed = fw.groupby(keys, sort=False).agg(n_sigmas=("n_sigmas", "first"))
    per_seed["zero"] = fw[fw["sigma"] == 0].groupby(keys, sort=False)["alarm_fw"].any()
    first = fw[(fw["sigma"] > 0) & fw["alarm_fw"]].groupby(keys, sort=False)[["sigma", "angle_deg_mean"]].first()
    per_seed = per_seed.join(first.rename(columns={"angle_deg_mean": "angle"}))
    per_seed = per_seed.fillna({"zero": False, "sigma": np.inf, "angle": np.inf}).reset_index()
    per_seed["zero"] = per_seed["zero"].astype(bool)
    rows = []
    for (model, t, c, det), g in per_seed.groupby(["model", "drift_type", "convention", "detector"], sort=False):
        hit = np.isfinite(g["sigma"].to_numpy())
        row = {"model": model, "drift_type": t, "convention": c, "detector": det, "n_seeds": len(g),
               "n_sigmas": int(g["n_sigmas"].max()), "alpha": float(alpha), "correction": correction,
               "alpha_per_test": (np.nan if det in threshold_detectors else
                                  alpha / g["n_sigmas"].max() if correction == "bonferroni" else alpha),
               "alarm_at_zero": bool(g["zero"].any()), "false_alarm_share_at_zero": float(g["zero"].mean()),
               "share_seeds_alarmed": float(hit.mean()), "share_seeds_any_alarm": float((hit | g["zero"]).mean())}
        for col, name in (("sigma", "first_alarm_sigma"), ("angle", "first_alarm_angle_deg")):
            v = g[col].to_numpy(dtype=float)
            med = float(np.median(v))
            row[name] = med if np.isfinite(med) else np.nan
            row[f"{name}_min"] = float(v[hit].min()) if hit.any() else np.nan
            row[f"{name}_max"] = float(v[hit].max()) if hit.any() else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if len(out) and len(cliffs):
        out = out.merge(cliffs[["model", "drift_type", "convention", "sigma_5pt", "angle_deg_5pt"]],
                        on=["model", "drift_type", "convention"], how="left")
    return out


def alarm_share_by_sigma(detectors: pd.DataFrame, alpha: float = 0.05, correction: str = "bonferroni",
                         threshold_detectors=None) -> pd.DataFrame:
    """Share of drift seeds whose grid-corrected test (:func:`grid_alarms`) alarms at each σ, with the
    seed-mean angle: columns ``model, drift_type, convention, detector, sigma, angle_deg_mean, n_seeds,
    share_alarmed``."""
    fw = grid_alarms(detectors, alpha, correction, threshold_detectors)
    keys = ["model", "drift_type", "convention", "detector", "sigma"]
    out = fw.assign(sigma=fw["sigma"].round(9)).groupby(keys, sort=False).agg(
        angle_deg_mean=("angle_deg_mean", "mean"), n_seeds=("seed", "nunique"), share_alarmed=("alarm_fw", "mean"))
    return out.reset_index()


def fmt_ci(value: float, lo: float, hi: float, digits: int = 2) -> str:
    """``0.85 [0.82, 0.88]``; the interval is dropped when it is undefined."""
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def pair_comparison(sep: pd.DataFrame, pairs: list[dict], layer_fraction: float = 1.0,
                    num_layers: dict[str, int] | None = None, paired: pd.DataFrame | None = None) -> pd.DataFrame:
    """Instruct vs base: each separability measure at the last probed layer and its relative change
    ``(instruct − base)/|base|``.

    The paper (Table 2) reports silhouette −19% and Fisher −26% for instruct vs base. Without
    ``paired`` the relative change's interval is a conservative range from the two models' separate
    intervals (:data:`UNPAIRED_PAIR_INTERVAL`). ``paired`` (columns base, instruct, metric,
    relative_change, relative_change_low, relative_change_high, interval; e.g.
    :func:`probedrift.experiments.separation.paired_separability`, from
    :func:`probedrift.science.separability.paired_relative_change` at the same last layers) replaces it, for the
    rows it has, by the interval paired over the texts both models embedded. ``interval`` says which.
    """
    lookup = {}
    if paired is not None:
        for r in paired.itertuples(index=False):
            lookup[(r.base, r.instruct, r.metric)] = r
    rows = []
    for pair in pairs:
        pair = pair if isinstance(pair, dict) else dataclasses.asdict(pair)
        base, inst = pair["base"], pair["instruct"]
        for metric in dict.fromkeys(sep["metric"]):
            b = sep[(sep.model == base) & (sep.metric == metric)].sort_values("layer").tail(1)
            i = sep[(sep.model == inst) & (sep.metric == metric)].sort_values("layer").tail(1)
            if b.empty or i.empty:
                continue
            b, i = b.iloc[0], i.iloc[0]
            rel = (i.value - b.value) / abs(b.value) if b.value else np.nan
            lo = (i.ci_low - b.ci_high) / abs(b.value) if b.value else np.nan
            hi = (i.ci_high - b.ci_low) / abs(b.value) if b.value else np.nan
            interval = UNPAIRED_PAIR_INTERVAL
            if (base, inst, metric) in lookup:
                r = lookup[(base, inst, metric)]
                rel, lo, hi = r.relative_change, r.relative_change_low, r.relative_change_high
                interval = r.interval
            rows.append({"base": base, "instruct": inst, "note": pair.get("note", ""), "metric": metric,
                         "base_value": b.value, "base_ci_low": b.ci_low, "base_ci_high": b.ci_high,
                         "instruct_value": i.value, "instruct_ci_low": i.ci_low, "instruct_ci_high": i.ci_high,
                         "relative_change": rel, "relative_change_low": lo, "relative_change_high": hi,
                         "interval": interval})
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def robustness_table(agg: pd.DataFrame) -> pd.DataFrame:
    """Per model and drift type (paper convention): AUC at the smallest and largest σ, the AUC lost
    between them, and the silent-failure share at the largest σ."""
    paper = agg[[c == drift_mod.paper_conventions().get(t) for t, c in zip(agg.drift_type, agg.convention)]]
    lo, hi = paper.sigma.min(), paper.sigma.max()
    at_lo = paper[paper.sigma == lo].set_index(["model", "drift_type"])[["auc_mean"]]
    at_hi = paper[paper.sigma == hi].set_index(["model", "drift_type"])[["auc_mean", "silent_failure_share_mean"]]
    out = at_lo.join(at_hi, rsuffix="_max_sigma")
    out["auc_drop"] = out.auc_mean - out.auc_mean_max_sigma
    return out


#: Columns that measure wall time, not the study: :func:`diff_run_tables` leaves them out by default.
TIMING_COLUMNS = ("seconds",)


def diff_run_tables(run_a, run_b, *, rtol: float = 1e-6, atol: float = 1e-9,
                    ignore_columns=TIMING_COLUMNS) -> pd.DataFrame:
    """Compare every ``metrics/*.csv`` of two runs: one row per table with its shape in each run, the
    largest absolute difference of its numeric columns, and whether the two agree within
    ``|a − b| ≤ atol + rtol·|b|`` (same columns, same rows, equal non-numeric cells, NaN where NaN).
    Columns named in ``ignore_columns`` (by default the timing columns) are not compared; ``why``
    names those a table had."""
    a_dir, b_dir = Path(run_a) / "metrics", Path(run_b) / "metrics"
    for run, folder in ((run_a, a_dir), (run_b, b_dir)):
        if not folder.is_dir():
            raise ProbedriftError(f"{run} has no metrics/ folder, so it is not a run directory",
                                  "pass a run's own folder, e.g. results/default (not results/)")
    names = sorted({p.stem for p in a_dir.glob("*.csv")} | {p.stem for p in b_dir.glob("*.csv")})
    rows = []
    for name in names:
        pa, pb = a_dir / f"{name}.csv", b_dir / f"{name}.csv"
        if not (pa.is_file() and pb.is_file()):
            rows.append({"table": name, "shape_a": None, "shape_b": None, "max_abs_diff": np.nan, "equal": False,
                         "why": f"only in {'a' if pa.is_file() else 'b'}"})
            continue
        a, b = pd.read_csv(pa), pd.read_csv(pb)
        skipped = [c for c in ignore_columns if c in a.columns or c in b.columns]
        a, b = a.drop(columns=skipped, errors="ignore"), b.drop(columns=skipped, errors="ignore")
        row = {"table": name, "shape_a": a.shape, "shape_b": b.shape, "max_abs_diff": np.nan, "equal": False, "why": ""}
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            row["why"] = "columns or row count differ"
            rows.append(row)
            continue
        numeric = [c for c in a.columns if pd.api.types.is_numeric_dtype(a[c]) and pd.api.types.is_numeric_dtype(b[c])]
        other = [c for c in a.columns if c not in numeric]
        same_text = a[other].astype(str).equals(b[other].astype(str))
        x, y = a[numeric].to_numpy(dtype=float), b[numeric].to_numpy(dtype=float)
        same = (np.isnan(x) & np.isnan(y)) | (x == y)  # x == y: equal infinities too (inf − inf is NaN)
        with np.errstate(invalid="ignore"):
            diff = np.where(same, 0.0, np.abs(x - y))
        close = same | (np.isfinite(diff) & (diff <= atol + rtol * np.abs(y)))  # −inf vs inf is no closeness
        row["max_abs_diff"] = float(np.nanmax(diff)) if diff.size else 0.0
        row["equal"] = bool(same_text and close.all())
        row["why"] = "" if row["equal"] else ("text cells differ" if not same_text else
                                              f"{int((~close).sum())} numeric cells beyond tolerance")
        if skipped:
            row["why"] = "; ".join(filter(None, [row["why"], f"not compared: {', '.join(skipped)} (timing)"]))
        rows.append(row)
    return pd.DataFrame(rows)


# Column names as a reader sees them in the book's tables (:func:`readable`).
READABLE = {
    "model": "model", "drift_type": "drift type", "convention": "convention", "sigma": "σ", "seed": "seed",
    "n_seeds": "drift seeds", "angle_deg_mean": "mean angle (°)", "angle_deg_median": "median angle (°)",
    "auc": "ROC-AUC", "accuracy": "accuracy", "f1": "F1", "mean_confidence": "mean confidence",
    "silent_failure_share": "silent-failure share", "silent_failure_rate": "silent-failure rate", "ece": "ECE",
    "auc_clean": "clean AUC", "auc_at_max_sigma": "AUC at the largest σ", "sigma_5pt": "σ at −5 AUC points",
    "angle_deg_5pt": "angle at −5 AUC points (°)", "sigma_20pt": "σ at −20 AUC points",
    "angle_deg_20pt": "angle at −20 AUC points (°)", "detector": "monitor", "alarm_at_zero": "alarm at σ = 0",
    "first_alarm_sigma": "first alarm σ", "first_alarm_angle_deg": "first alarm angle (°)", "layer": "layer",
    "pooling": "pooling", "angle_drop5_predicted_deg": "−5 points, predicted (°)",
    "angle_half_predicted_deg": "half excess, predicted (°)", "angle_drop5_simulated_deg": "−5 points, simulated (°)",
    "angle_half_simulated_deg": "half excess, simulated (°)", "ratio_drop5": "simulated / predicted (−5 points)",
    "ratio_half": "simulated / predicted (half excess)", "auc_1deg_predicted": "AUC at 1°, predicted",
    "auc_1deg_simulated": "AUC at 1°, simulated", "collapse_at_1deg": "1° costs ≥ 5 points",
    "max_curve_gap": "largest curve gap", "std_min": "smallest std", "std_p1": "1st-percentile std",
    "std_median": "median std", "norm_w_over_s": "‖w/s‖", "mean_cosine": "mean cosine", "metric": "measure",
    "value": "value", "ci_low": "95% CI low", "ci_high": "95% CI high", "n_test": "test texts",
    "base": "base", "instruct": "instruct", "note": "note", "base_value": "base value",
    "instruct_value": "instruct value", "relative_change": "relative change",
    "relative_change_low": "relative change, low",
    "relative_change_high": "relative change, high", "source": "change", "method": "method", "k": "anchors k",
    "model_before": "model before", "model_after": "model after", "auc_real": "AUC (real change)",
    "auc_isotropic": "AUC (isotropic noise, same angle)", "learning_rate": "learning rate", "step": "step",
    "train_loss": "training loss", "retrain_auc": "retrained AUC", "recalibrated_ece": "recalibrated ECE",
    "checkpoint": "checkpoint", "estimate": "estimate", "relative_depth": "relative depth", "alarm": "alarm",
    "interval": "interval", "auc_drop": "AUC lost", "auc_mean_max_sigma": "AUC at the largest σ",
    "silent_failure_share_mean_max_sigma": "silent-failure share at the largest σ",
}
_SUFFIXES = (("_mean", ""), ("_ci_low", ", 95% CI low"), ("_ci_high", ", 95% CI high"),
             ("_se_texts", ", SE over texts"), ("_se_draws", ", SE over drift draws"))


def readable_name(column) -> str:
    """``angle_deg_mean_mean`` → "mean angle (°)", ``auc_ci_low`` → "ROC-AUC, 95% CI low", ``alarm_mmd`` →
    "alarm: mmd"; a name it does not know keeps its words with spaces for underscores."""
    if not isinstance(column, str):
        return column
    if column in READABLE:
        return READABLE[column]
    for suffix, label in _SUFFIXES:
        if column.endswith(suffix) and column[: -len(suffix)] in READABLE:
            return READABLE[column[: -len(suffix)]] + label
    if column.startswith("alarm_"):
        return "alarm: " + column.removeprefix("alarm_").replace("_", " ")
    if column.startswith("align_auc_k"):
        return f"aligned AUC (k = {column.removeprefix('align_auc_k')})"
    return column.replace("_", " ")


def readable(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` for display: columns (and the index and column-axis names) renamed by
    :func:`readable_name`; the values are untouched."""
    out = df.rename(columns=readable_name)
    out.columns.name = readable_name(df.columns.name) if df.columns.name else None
    if isinstance(out.index, pd.MultiIndex):
        out.index = out.index.set_names([readable_name(n) for n in out.index.names])
    elif out.index.name:
        out.index.name = readable_name(out.index.name)
    return out


# Display: what a reader sees of a table (no index column, no NaN, numbers at a readable precision).
#: Shown in place of a missing value.
MISSING = "—"
#: Column-name fragments of bounded scores (AUC, accuracy, confidence, …): shown with DISPLAY_DECIMALS.
SCORE_WORDS = ("auc", "accuracy", "f1", "confidence", "ece", "share", "rate", "silhouette", "overlap", "cosine")
DISPLAY_DECIMALS = 3
#: A non-zero number smaller than this in magnitude is shown in compact scientific form (2e-4).
SMALL = 1e-3


def format_number(value, column: str = "", decimals: int = DISPLAY_DECIMALS) -> str:
    """One cell as a reader sees it: missing → :data:`MISSING`; booleans → yes/no; integers as they are;
    a non-zero float below :data:`SMALL` in magnitude in compact scientific form (``2e-4``, ``-1.5e-5``);
    a float in a score column (:data:`SCORE_WORDS` in its name) with ``decimals`` decimals; any other
    float with ``decimals`` significant digits (thousands grouped above 10⁴). Strings are kept."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)) or value is pd.NA:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if not isinstance(value, float | np.floating):
        return str(value)
    x = float(value)
    if np.isinf(x):
        return "∞" if x > 0 else "−∞"
    if x != 0 and abs(x) < SMALL:
        mantissa, exponent = f"{x:.{max(decimals - 2, 0)}e}".split("e")
        mantissa = mantissa.rstrip("0").rstrip(".") if "." in mantissa else mantissa
        return f"{mantissa}e{int(exponent)}"
    if any(word in str(column).lower() for word in SCORE_WORDS):
        return f"{x:.{decimals}f}"
    if abs(x) >= 10_000:
        return f"{x:,.0f}"
    return f"{x:.{decimals}g}"


def display_frame(df: pd.DataFrame, decimals: int = DISPLAY_DECIMALS) -> pd.DataFrame:
    """``df`` as strings for display: a meaningful index becomes columns (a default 0…n−1 index is
    dropped), every cell goes through :func:`format_number` and the columns get :func:`readable_name`."""
    if df.index.names != [None] or not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index() if any(n is not None for n in df.index.names) else df.reset_index(drop=True)
    out = pd.DataFrame({col: [format_number(v, str(col), decimals) for v in df[col].tolist()]
                        for col in df.columns})
    out.columns = [readable_name(c) for c in df.columns]
    return out


class DisplayTable:
    """A compact table for notebooks and pages: no index column, no NaN, scrolls instead of overflowing.

    Jupyter shows it through ``_repr_html_``; :meth:`to_markdown` gives the same cells as a Markdown table.
    """

    def __init__(self, df: pd.DataFrame, decimals: int = DISPLAY_DECIMALS):
        self.frame = display_frame(df, decimals)

    def _repr_html_(self) -> str:
        html = self.frame.to_html(index=False, border=0, classes="probedrift-table", escape=True)
        return f'<div class="probedrift-table-wrap" style="overflow-x:auto;font-size:0.85em">{html}</div>'

    def to_markdown(self) -> str:
        """The table as GitHub-flavoured Markdown (``|`` in cells escaped)."""
        def cell(text) -> str:
            return str(text).replace("|", "\\|").replace("\n", " ")

        head = "| " + " | ".join(cell(c) for c in self.frame.columns) + " |"
        sep = "|" + " --- |" * len(self.frame.columns)
        body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in self.frame.itertuples(index=False)]
        return "\n".join([head, sep, *body]) + "\n"

    def __repr__(self) -> str:
        return self.frame.to_string(index=False)


def display_table(df: pd.DataFrame, decimals: int = DISPLAY_DECIMALS) -> DisplayTable:
    """The one way a chapter shows a table: ``display(tables.display_table(df))`` (see :class:`DisplayTable`)."""
    if not isinstance(df, pd.DataFrame):
        raise ProbedriftError(f"display_table needs a DataFrame, got {type(df).__name__}",
                              "pass the table itself (a Series becomes one with .to_frame())")
    return DisplayTable(df, decimals)
