"""The numbers a class should expect from the classroom profile, read from a run's tables.

:func:`classroom_numbers` reads ``<run>/metrics/*.csv`` and returns one row per number the teaching
page quotes (chapter, quantity, value with its 95% interval, what the interval covers). A table the
run did not write, or a row it does not hold, gives "not in this run" instead of a number, so the
page builds from any complete run. ``probedrift book`` writes :func:`classroom_numbers_markdown` of
the committed classroom run (``results/classroom``) into the teaching page.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from probedrift.report.tables import display_table, fmt_ci, row_at_sigma

__all__ = ["NOT_IN_RUN", "PAPER_SIGMA", "classroom_numbers", "classroom_numbers_markdown"]

#: What the page shows where the run has no such table or row.
NOT_IN_RUN = "not in this run"
#: The σ the paper's headline quotes (its ≈1° claim); the classroom grid includes it.
PAPER_SIGMA = 0.02
_COLUMNS = ["chapter", "quantity", "classroom run", "interval over"]
_SWEEP_INTERVAL = "test texts and drift seeds"


def _read(metrics: Path, name: str) -> pd.DataFrame | None:
    path = metrics / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() else None


def _first_model(df: pd.DataFrame, column: str = "model") -> str:
    return str(df[column].iloc[0])


def _baseline(metrics: Path) -> list[tuple]:
    df = _read(metrics, "probe_baseline")
    if df is None:
        return [("2", "clean ROC-AUC of the frozen probe", None, "")]
    rows = []
    for model, g in df.groupby("model", sort=False):
        auc = g[g.metric == "auc"]
        share = g[g.metric == "silent_failure_share"]
        n = f" ({int(auc.n_test.iloc[0])} test texts)" if len(auc) and "n_test" in auc else ""
        rows.append(("2", f"clean ROC-AUC, {model}{n}",
                     fmt_ci(*auc[["value", "ci_low", "ci_high"]].iloc[0]) if len(auc) else None,
                     "test texts (bootstrap)"))
        rows.append(("2", f"clean silent-failure share, {model}",
                     fmt_ci(*share[["value", "ci_low", "ci_high"]].iloc[0]) if len(share) else None,
                     "test texts (bootstrap)"))
    return rows


def _sweep(metrics: Path) -> list[tuple]:
    df = _read(metrics, "drift_sweep_summary")
    if df is None:
        return [("3", f"ROC-AUC at σ = {PAPER_SIGMA:g}", None, "")]
    model = _first_model(df)
    rows = []
    for convention in ("per_dim", "relative"):
        r = row_at_sigma(df, PAPER_SIGMA, model=model, drift_type="gaussian", convention=convention)
        angle = None if r is None else fmt_ci(r.angle_deg_mean_mean, r.angle_deg_mean_ci_low,
                                              r.angle_deg_mean_ci_high, 1)
        auc = None if r is None else fmt_ci(r.auc_mean, r.auc_ci_low, r.auc_ci_high)
        rows.append(("3", f"measured angle (°) at σ = {PAPER_SIGMA:g}, Gaussian `{convention}`, {model}", angle,
                     "drift seeds"))
        rows.append(("3", f"ROC-AUC at σ = {PAPER_SIGMA:g}, Gaussian `{convention}`, {model}", auc, _SWEEP_INTERVAL))
    top = df[(df.model == model) & (df.drift_type == "gaussian") & (df.convention == "per_dim")]
    if len(top):
        r = top.sort_values("sigma").iloc[-1]
        rows.append(("4", f"silent-failure share at σ = {r.sigma:g}, Gaussian `per_dim`, {model}",
                     fmt_ci(r.silent_failure_share_mean, r.silent_failure_share_ci_low, r.silent_failure_share_ci_high),
                     _SWEEP_INTERVAL))
    return rows


def _cliffs_and_budget(metrics: Path) -> list[tuple]:
    rows = []
    cliffs = _read(metrics, "cliffs")
    if cliffs is None:
        rows.append(("3", "angle at which ROC-AUC has lost 5 points", None, ""))
    else:
        for model, g in cliffs[(cliffs.drift_type == "gaussian") & (cliffs.convention == "per_dim")].groupby(
                "model", sort=False):
            angle = g.angle_deg_5pt.iloc[0]
            rows.append(("3", f"angle at −5 AUC points, Gaussian `per_dim`, {model}",
                         f"{angle:.1f}°" if np.isfinite(angle) else "not reached on the grid", "point estimate"))
    budget = _read(metrics, "drift_budget")
    if budget is None:
        rows.append(("3", "drift budget of the last layer (−5 points, predicted)", None, ""))
    else:
        for model, g in budget.groupby("model", sort=False):
            r = g.sort_values("layer").iloc[-1]
            rows.append(("3", f"drift budget at layer {int(r.layer)} (−5 points, predicted), {model}",
                         f"{r.angle_drop5_predicted_deg:.2f}°", "closed form (no interval)"))
    return rows


def _monitors(metrics: Path) -> list[tuple]:
    df = _read(metrics, "false_alarms")
    if df is None:
        return [("4", "false-alarm rate of each monitor", None, "")]
    model = _first_model(df)
    df = df[df.model == model]
    designs = df["design"].nunique() if "design" in df else 1
    return [("4", f"false-alarm rate, `{r.detector}`" + (f" ({r.design})" if designs > 1 else "") + f", {model}",
             fmt_ci(r.rate, r.ci_low, r.ci_high), "no-drift redraws (Clopper–Pearson)") for r in df.itertuples()]


def _pairs(metrics: Path) -> list[tuple]:
    df = _read(metrics, "pairs")
    if df is None:
        return [("5", "relative change of the silhouette, base → instruct", None, "")]
    names = {"silhouette": "silhouette", "fisher": "Fisher ratio"}
    return [("5", f"relative change of the {names[r.metric]}, {r.base} → {r.instruct}",
             fmt_ci(r.relative_change, r.relative_change_low, r.relative_change_high), "shared texts (paired)")
            for r in df[df.metric.isin(["silhouette", "fisher"])].itertuples()]


def _real(metrics: Path) -> list[tuple]:
    df = _read(metrics, "real_drift")
    if df is None:
        return [("6", "angle and ROC-AUC of each real change", None, "")]
    return [("6", f"`{r.source}` ({r.model_before}): mean angle, ROC-AUC",
             f"{r.angle_deg_mean:.1f}°, {r.auc:.2f}" if np.isfinite(r.auc) else f"{r.angle_deg_mean:.1f}°, —",
             "point estimates") for r in df.itertuples()]


def _finetune(metrics: Path) -> list[tuple]:
    df = _read(metrics, "finetune_drift")
    if df is None:
        return [("7", "ROC-AUC of the frozen probe at the last fine-tuning checkpoint", None, "")]
    rows = []
    for lr, g in df.groupby("learning_rate", sort=True):
        r = g.sort_values("step").iloc[-1]
        rows.append(("7", f"last checkpoint (lr = {lr:g}, step {int(r.step)}), {r.model}: mean angle",
                     f"{r.angle_deg_mean:.1f}°", "point estimate"))
        rows.append(("7", f"last checkpoint (lr = {lr:g}, step {int(r.step)}), {r.model}: ROC-AUC",
                     fmt_ci(r.auc, r.auc_ci_low, r.auc_ci_high), "test texts (bootstrap)"))
    return rows


_SECTIONS: tuple[Callable[[Path], list[tuple]], ...] = (_baseline, _sweep, _cliffs_and_budget, _monitors, _pairs,
                                                        _real, _finetune)


def classroom_numbers(run_dir: Path | str) -> pd.DataFrame:
    """One row per number of the teaching page, columns ``chapter, quantity, classroom run, interval over``.

    Values are ``estimate [95% low, high]`` (:func:`probedrift.report.tables.fmt_ci`); a table or row
    missing from ``run_dir/metrics`` gives :data:`NOT_IN_RUN`.
    """
    metrics = Path(run_dir) / "metrics"
    rows = []
    for section in _SECTIONS:
        for chapter, quantity, value, interval in section(metrics):
            missing = value is None
            rows.append((chapter, quantity, NOT_IN_RUN if missing else value, "" if missing else interval))
    table = pd.DataFrame(rows, columns=_COLUMNS)
    return table.sort_values("chapter", kind="stable").reset_index(drop=True)


def classroom_numbers_markdown(run_dir: Path | str | None) -> str:
    """The teaching page's include: :func:`classroom_numbers` of ``run_dir`` as a compact Markdown table
    with a line naming the run, or a note that there is no classroom run to read."""
    run = Path(run_dir) if run_dir is not None else None
    if run is None or not (run / "metrics").is_dir():
        return ("*No classroom run was found (`results/classroom/`), so its numbers are not in this build: "
                "run `make classroom` and rebuild.*\n")
    table = display_table(classroom_numbers(run)).to_markdown()
    return (f"Numbers of the classroom run in `{run.name}/` (95% intervals; the last column says what each covers). "
            "A class on another machine should land inside the intervals, not on the digits.\n\n" + table)
