"""The table catalogue: one declaration per table a run writes to ``metrics/``, and where it comes from.

Each :class:`TableSpec` names a table, the function of the run (:class:`probedrift.run.study.Study`) that
produces it, the tables that function reads, the columns it writes and what it shows. Notebooks and
library code ask the run for a table (``S.table(name)``): it is loaded when this run already wrote it
with the current parameters, and otherwise computed from the cached embeddings and saved. Readers
that have only a results folder (the book, :mod:`probedrift.report.findings`, :mod:`probedrift.report.compare`)
use :func:`load`.

Staleness: a saved table carries the fingerprint of *all* the run's parameters
(:attr:`Study.params_fingerprint`, in ``metrics/.params/<name>``), not of the parameters each table
reads. Most tables depend on nearly every parameter through the dataset, the embeddings and the
probe (``models``, ``n_per_class``, ``seed``, ``layer``, ``pooling``, ``max_length``, ``dtype``, ...),
so a per-table list would save little recomputation and one missed dependency would silently reuse
a wrong table; the whole-parameter stamp cannot.

Files are written atomically as CSV with ``float_format="%.6g"``, the format every committed run uses.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from probedrift.core.errors import ProbedriftError
from probedrift.core.registry import Registry
from probedrift.experiments import baseline, finetune_drift, monitors, realdrift, separation, synthetic_drift
from probedrift.experiments.budget_vs_sweep import budget_vs_sweep
from probedrift.experiments.claim_changes import CLAIM_CHANGE_COLUMNS, claim_changes_table
from probedrift.experiments.context import RunContext
from probedrift.experiments.failure_modes import failure_modes
from probedrift.science.metrics import SWEEP_METRICS

__all__ = ["TABLES", "TableSpec", "column_problems", "is_current", "load", "names", "save", "spec", "table_path"]

FLOAT_FORMAT = "%.6g"


@dataclass(frozen=True)
class TableSpec:
    """One table of a run: ``produce(S)`` returns it; ``reads`` are the tables ``produce`` asks the run for;
    ``columns`` are the columns every run writes and ``variable_columns`` (a regular expression) matches
    those named after a profile's own values (one per monitor, anchor size or checkpoint)."""

    name: str
    produce: Callable[[RunContext], pd.DataFrame]
    columns: tuple[str, ...]
    doc: str
    chapter: int
    reads: tuple[str, ...] = ()
    variable_columns: str | None = None
    default: bool = True


TABLES: Registry[TableSpec] = Registry("table")


def _declare(name, produce, chapter, doc, columns, reads=(), variable_columns=None) -> None:
    TABLES.add(TableSpec(name=name, produce=produce, columns=tuple(columns.split()), doc=doc, chapter=chapter,
                         reads=tuple(reads), variable_columns=variable_columns))


def _metric_columns(metrics: str, parts: str) -> str:
    return " ".join(f"{m}_{p}" for m in metrics.split() for p in parts.split())


_SWEEP_METRICS = " ".join(SWEEP_METRICS)  # the metric table decides the sweep tables' metric columns

# ---------------------------------------------------------------- chapter 2: the probe

_declare("probe_baseline", baseline.probe_baseline, 2,
         "clean test-set metrics of the frozen probe with stratified bootstrap intervals",
         "model metric value ci_low ci_high n_test seed")

# ---------------------------------------------------------------- chapter 3: synthetic drift

_declare("drift_sweep", synthetic_drift.drift_sweep_table, 3,
         "every drift type and convention over the σ grid, one row per drift seed (paper §2.1)",
         "model drift_type convention sigma seed angle_deg_mean angle_deg_median " + _SWEEP_METRICS)
_declare("drift_sweep_summary", synthetic_drift.drift_sweep_summary_table, 3,
         "the sweep over drift seeds, with intervals over test texts and drift draws",
         "model drift_type convention sigma n_seeds "
         + _metric_columns("angle_deg_mean angle_deg_median", "mean ci_low ci_high n") + " "
         + _metric_columns(_SWEEP_METRICS, "mean ci_low ci_high se_texts se_draws") + " n_texts interval",
         reads=["drift_sweep"])
_declare("drift_sweep_crossfit", synthetic_drift.drift_sweep_crossfit_table, 3,
         "the sweep cross-fitted over all texts, with intervals over texts, splits and draws",
         "model n_texts folds n_split_seeds n_drift_seeds drift_type convention sigma angle_deg_mean "
         + _metric_columns(_SWEEP_METRICS, "mean ci_low ci_high se se_texts se_splits se_draws n") + " interval")
_declare("power", synthetic_drift.power, 3,
         "standard error, minimum detectable effect and power of the clean AUC, paper split against cross-fitting",
         "design model metric drift_type convention sigma n_texts value se mde alpha power",
         reads=["drift_sweep_summary", "drift_sweep_crossfit"])
_declare("cliffs", synthetic_drift.cliffs, 3,
         "σ and angle where the seed-mean AUC loses 5 and 20 points on the linear grid",
         "model drift_type convention auc_clean auc_at_max_sigma sigma_5pt angle_deg_5pt sigma_20pt angle_deg_20pt",
         reads=["drift_sweep"])
_declare("cliff_log", synthetic_drift.cliff_log_table, 3,
         "cliff angles of both readings of Gaussian σ on a log-spaced grid, intervals over texts and drift seeds",
         "model drift_type convention criterion auc_clean target_auc n_seeds n_seeds_reached angle_deg "
         "angle_deg_ci_low angle_deg_ci_high angle_se_texts angle_se_draws sigma sigma_ci_low sigma_ci_high "
         "max_angle_deg bracket_ratio n_texts interval")
_declare("drift_budget", synthetic_drift.drift_budget_table, 3,
         "predicted and simulated drift budget per layer, and the probe's scale spectrum",
         "model layer pooling auc_clean angle_drop5_predicted_deg angle_half_predicted_deg angle_drop5_simulated_deg "
         "angle_half_simulated_deg ratio_drop5 ratio_half auc_1deg_predicted auc_1deg_simulated collapse_at_1deg "
         "max_curve_gap std_min std_p1 std_median norm_w_over_s mean_cosine")
_declare("drift_budget_curves", synthetic_drift.drift_budget_curves, 3,
         "predicted and simulated AUC against the drift angle behind the drift budget",
         "model layer pooling angle_deg predicted simulated")
_declare("variance_floor", synthetic_drift.variance_floor_table, 3,
         "the paper's probe against one with a floor on the scaler's standard deviations, per layer",
         "model layer pooling scaler scale_floor_fraction floor_value n_floored auc_clean auc_clean_ci_low "
         "auc_clean_ci_high std_min std_median norm_w_over_s angle_drop5_predicted_deg angle_half_predicted_deg "
         "budget_gain_half auc_1deg_predicted auc_1deg_simulated auc_1deg_ci_low auc_1deg_ci_high n_texts "
         "n_drift_draws interval")
_declare("layer_sweep", synthetic_drift.layer_sweep_table, 3,
         "Gaussian drift of each layer's probe, intervals over test texts and drift draws",
         "model layer pooling drift_type convention sigma angle_deg_mean "
         + _metric_columns("auc silent_failure_share", "mean ci_low ci_high se_texts se_draws")
         + " auc_drop_mean auc_drop_ci_low auc_drop_ci_high n_texts interval")
_declare("layer_collapse", synthetic_drift.layer_collapse, 3,
         "where a ≈1° Gaussian drift collapses each layer's probe, beside the drift budget's prediction",
         "model layer pooling convention auc_clean auc_clean_ci_low auc_clean_ci_high sigma_near_angle angle_deg "
         "auc_at_angle auc_at_angle_ci_low auc_at_angle_ci_high collapse auc_drop auc_drop_ci_low auc_drop_ci_high "
         "drop_resolved interval angle_half_predicted_deg",
         reads=["layer_sweep", "drift_budget"])
_declare("budget_vs_sweep", budget_vs_sweep, 3,
         "the closed-form drift budget against every isotropic Gaussian sweep point (σ > 0) per model and layer: "
         "measured AUC with its interval (drift_sweep_summary at the probe layer, layer_sweep elsewhere) and mean "
         "angle, the budget's AUC at that angle (auc_predicted), auc_difference = predicted − measured, whether the "
         "prediction lies inside the measured interval, and the half-excess angle (AUC loses half its excess over "
         "0.5) read from the measured curve and predicted; interval says what the measured interval covers",
         "model layer pooling drift_type convention sigma angle_deg_mean auc_clean auc auc_ci_low auc_ci_high "
         "auc_predicted auc_difference predicted_in_ci angle_half_measured_deg angle_half_predicted_deg source "
         "interval",
         reads=["drift_sweep_summary", "layer_sweep"])

# ---------------------------------------------------------------- chapter 4: silent failures and monitors

_declare("confidence_by_outcome", baseline.confidence_by_outcome_table, 4,
         "mean confidence of correct and wrong test predictions per σ and drift seed",
         "model drift_type convention sigma seed outcome n confidence")
_declare("claim_changes", claim_changes_table, 4,
         "clean, drifted (Gaussian, the paper's σ) and the paired change of each claimed metric, with the paper's C "
         "and a validation-chosen C, on the paper split and cross-fitted",
         " ".join(CLAIM_CHANGE_COLUMNS))
_declare("detectors", monitors.detectors, 4,
         "each monitor's statistic, p-value and alarm on drifted test samples",
         "model drift_type convention sigma seed angle_deg_mean detector statistic p_value alarm")
_declare("detectors_log_grid", monitors.detectors_log_grid, 4,
         "each monitor's statistic, p-value and alarm on Gaussian drift over the cliff's log-spaced σ grid",
         " ".join(monitors.DETECTOR_COLUMNS))
_declare("first_alarms", monitors.first_alarm_table, 4,
         "each monitor's first alarm over the σ grid against the 5-point AUC loss (log_*: on the log-spaced grid)",
         "model drift_type convention detector n_seeds n_sigmas alpha correction alpha_per_test alarm_at_zero "
         "false_alarm_share_at_zero share_seeds_alarmed share_seeds_any_alarm first_alarm_sigma first_alarm_sigma_min "
         "first_alarm_sigma_max first_alarm_angle_deg first_alarm_angle_deg_min first_alarm_angle_deg_max sigma_5pt "
         "angle_deg_5pt " + " ".join(monitors.LOG_GRID_COLUMNS),
         reads=["detectors", "drift_sweep", "detectors_log_grid"])
_declare("alarm_share_by_sigma", monitors.alarm_share, 4,
         "share of drift seeds each monitor alarms at, per σ",
         "model drift_type convention detector sigma angle_deg_mean n_seeds share_alarmed grid",
         reads=["detectors", "detectors_log_grid"])
_declare("false_alarms", monitors.false_alarms, 4,
         "each monitor's alarm rate with no drift, Clopper–Pearson interval",
         "model detector design n_runs n_alarms rate ci_low ci_high alpha rule n_permutations n_reference n_sample "
         "seconds interval n_pools design_effect")

# ---------------------------------------------------------------- chapter 5: separability

_declare("separability", separation.separability_table, 5,
         "silhouette, Fisher ratio, overlap and CV AUC per layer (paper Table 2)",
         "model layer metric value ci_low ci_high")
_declare("pairs", separation.pairs, 5,
         "base against instruct at the last separability layer, paired intervals",
         "base instruct note metric base_value base_ci_low base_ci_high instruct_value instruct_ci_low "
         "instruct_ci_high relative_change relative_change_low relative_change_high interval",
         reads=["separability"])

# ---------------------------------------------------------------- chapter 6: real drift

_declare("real_drift", realdrift.real_drift, 6,
         "each real model change: angle, frozen-probe metrics and each monitor's alarm (skipped sources noted)",
         "source model_before model_after angle_deg_mean angle_deg_median auc accuracy mean_confidence "
         "silent_failure_share silent_failure_rate note", variable_columns=r"alarm_\w+")
_declare("mitigations", realdrift.mitigations, 6,
         "what each fix (retrain, align, recalibrate, detector gate) recovers per real change",
         "source method k auc ci_low ci_high n_seeds mean_confidence ece angle_deg_mean alarm interval note "
         "auc_change auc_change_ci_low auc_change_ci_high auc_vs_frozen auc_vs_frozen_ci_low auc_vs_frozen_ci_high "
         "change_interval")
_declare("failure_modes", failure_modes, 6,
         "the frozen probe's two failure modes per update (real updates of equal width, fine-tuning checkpoints, "
         "Gaussian drift at the paper's σ, one common rotation): measured angle; AUC and accuracy before (_clean) and "
         "after with intervals, silent-failure rate, ECE and mean confidence before and after; a, mu, delta, tau of "
         "ℓ′ = a·ℓ + μ + δ·y + ε fitted on the test texts (the decomposition of what happened to them), "
         "label_corr = corr(ε, y) without δ; AUC and accuracy implied by that fit (_labelled), by the same fit on "
         "the validation split (_labelled_val, out of sample) and by a label-free fit on training texts "
         "(_label_free, the prediction before shipping); the "
         "scatter-only budget's AUC at the measured angle (auc_budget); the confidence monitor's alarm (1/0, NaN "
         "where untested); interval says what the intervals cover",
         "model kind source angle_deg_mean auc_clean auc auc_ci_low auc_ci_high accuracy_clean accuracy "
         "accuracy_ci_low accuracy_ci_high silent_failure_rate_clean silent_failure_rate ece_clean ece "
         "mean_confidence_clean mean_confidence a mu delta tau label_corr auc_labelled accuracy_labelled "
         "auc_labelled_val accuracy_labelled_val auc_label_free accuracy_label_free auc_budget alarm_confidence "
         "interval",
         reads=["real_drift", "finetune_drift", "detectors"])

# ---------------------------------------------------------------- chapter 7: fine-tuning

_declare("finetune_losses", finetune_drift.losses_table, 7,
         "training loss of every optimizer step per update strength", "method learning_rate step train_loss")
_declare("finetune_generations", finetune_drift.generations_table, 7,
         "greedy answers of the base and each strength's last checkpoint to held-out instructions",
         "instruction base", variable_columns=r"\S+ lr=\S+ step \d+")
_declare("finetune_drift", finetune_drift.drift_table, 7,
         "each fine-tuned checkpoint as a drift source: angle, frozen-probe metrics, alarms and fixes",
         "model method learning_rate step train_loss angle_deg_mean angle_deg_median auc auc_ci_low auc_ci_high "
         "accuracy mean_confidence silent_failure_share silent_failure_rate ece retrain_auc recalibrated_ece "
         "checkpoint auc_interval auc_change auc_change_ci_low auc_change_ci_high auc_change_interval",
         variable_columns=r"alarm_\w+|align_auc_k\d+")
_declare("finetune_separability", finetune_drift.separability_changes, 7,
         "separability of the base against each checkpoint at the probe layer",
         "base checkpoint learning_rate step note metric base_value base_ci_low base_ci_high instruct_value "
         "instruct_ci_low instruct_ci_high relative_change relative_change_low relative_change_high interval")


# ---------------------------------------------------------------- look-ups and files


def names() -> tuple[str, ...]:
    """Every declared table, in chapter order."""
    return TABLES.names()


def spec(name: str) -> TableSpec:
    """The declaration of table ``name`` (an unknown name is an error listing the declared ones)."""
    return TABLES.get(name)


def column_problems(name: str, columns) -> list[str]:
    """What is wrong with a table named ``name`` having ``columns``: declared columns it lacks, and columns
    neither declared nor matching its ``variable_columns``. Empty when the table has its declared schema."""
    s = spec(name)
    columns = list(columns)
    missing = [c for c in s.columns if c not in columns]
    pattern = re.compile(s.variable_columns) if s.variable_columns else None
    extra = [c for c in columns if c not in s.columns and not (pattern and pattern.fullmatch(c))]
    return [f"{name}: missing column {c!r}" for c in missing] + [f"{name}: undeclared column {c!r}" for c in extra]


def table_path(run_dir, name: str) -> Path:
    """``<run_dir>/metrics/<name>.csv``."""
    return Path(run_dir) / "metrics" / f"{name}.csv"


def _stamp_path(run_dir, name: str) -> Path:
    return Path(run_dir) / "metrics" / ".params" / name


def is_current(run_dir, name: str, fingerprint: str) -> bool:
    """Whether ``metrics/<name>.csv`` exists and was written with the parameters of ``fingerprint``."""
    stamp = _stamp_path(run_dir, name)
    return (table_path(run_dir, name).is_file() and stamp.is_file()
            and stamp.read_text().strip() == fingerprint)


def save(run_dir, name: str, df: pd.DataFrame, fingerprint: str) -> Path:
    """Write ``df`` as ``metrics/<name>.csv`` (atomically, 6 significant digits) with its parameters'
    fingerprint in ``metrics/.params/<name>``; return the CSV's path."""
    spec(name)
    path = table_path(run_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".csv.tmp")
    df.to_csv(tmp, index=False, float_format=FLOAT_FORMAT)
    os.replace(tmp, path)
    stamp = _stamp_path(run_dir, name)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint + "\n")
    return path


def load(run_dir, name: str, *, missing_ok: bool = False) -> pd.DataFrame | None:
    """Table ``name`` of the run in ``run_dir`` as saved; None when the run lacks it and ``missing_ok``."""
    spec(name)
    path = table_path(run_dir, name)
    if not path.is_file():
        if missing_ok:
            return None
        raise ProbedriftError(f"table {name}.csv is missing from {path.parent}",
                              f"compute it with Study.table({name!r}), or run the whole study (probedrift run)")
    return pd.read_csv(path)
