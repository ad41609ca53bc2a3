"""The two failure modes of the frozen probe, measured and predicted on every update of the run (chapter 6).

One row per update the frozen probe can read directly (:mod:`probedrift.science.failure_modes`):

- ``real update``: each real drift source of :func:`probedrift.experiments.realdrift.run_pairs` whose width
  does not change (a model swap across widths needs an adapter, which is a different probe input);
- ``fine-tuning``: each LoRA checkpoint of chapter 7 with step > 0
  (:func:`probedrift.experiments.finetune_drift.prepared`), when the chapter applies to the run;
- ``gaussian``: isotropic Gaussian drift at the paper's σ (:data:`probedrift.report.paper.SIGMA`) under
  both readings of σ (:data:`GAUSSIAN_CONVENTIONS`), one drift draw, per model: almost pure scatter;
- ``common rotation``: one rotation R = cos θ I + sin θ J (:func:`probedrift.core.sphere.rotation_matrix`,
  every unit vector turns by exactly θ = :data:`COMMON_ROTATION_DEG`) applied to every text, per model:
  drift shared by all texts, the control the scatter-only budget cannot describe.

Protocol, per row: the frozen probe's logits (``decision_function``) before and after the update on every
split. The labelled decomposition ℓ′ = a·ℓ + μ + δ·y + ε is fitted on the test texts it describes — it says
what the update did to them, it does not forecast — and its AUC and accuracy from the clean test logits
(``auc_labelled``, ``accuracy_labelled``) check that the four numbers account for the measured change.
The same decomposition fitted on the validation split (``auc_labelled_val``, ``accuracy_labelled_val``) is
the out-of-sample version: with a validation split of a few dozen texts per class its δ is noisy. The
label-free (a, μ, τ)
is fitted on the training split's texts without their labels (never the test texts) and combined with
the clean labelled test logits (``auc_label_free``, ``accuracy_label_free``). ``auc_budget`` is the
scatter-only closed form (:func:`probedrift.science.budget.predicted_auc`) at the row's measured mean angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special

from probedrift.core.sphere import angle_deg, normalize, rotation_matrix
from probedrift.core.timing import timed
from probedrift.experiments import finetune_drift
from probedrift.experiments.context import RunContext
from probedrift.experiments.realdrift import run_pairs
from probedrift.experiments.updates import UpdatePair
from probedrift.report.paper import SIGMA as PAPER_SIGMA
from probedrift.science import metrics as metrics_mod
from probedrift.science.budget import predicted_auc
from probedrift.science.failure_modes import decompose, label_free_shift, predict_accuracy
from probedrift.science.failure_modes import predict_auc as predict_auc_from_shift
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import drift

__all__ = ["ALARM_MONITOR", "COMMON_ROTATION_DEG", "FAILURE_MODE_COLUMNS", "GAUSSIAN_CONVENTIONS", "INTERVAL", "KINDS",
           "SPLIT_SEED_OFFSETS", "Case", "failure_mode_row", "failure_mode_rows", "failure_modes", "update_cases"]

FAILURE_MODE_COLUMNS = (
    "model kind source angle_deg_mean auc_clean auc auc_ci_low auc_ci_high accuracy_clean accuracy accuracy_ci_low "
    "accuracy_ci_high silent_failure_rate_clean silent_failure_rate ece_clean ece mean_confidence_clean "
    "mean_confidence a mu delta tau label_corr auc_labelled accuracy_labelled auc_labelled_val accuracy_labelled_val "
    "auc_label_free accuracy_label_free auc_budget alarm_confidence interval").split()
KINDS = ("real update", "fine-tuning", "gaussian", "common rotation")
#: The two readings of the paper's Gaussian σ (per-dimension noise, and noise of norm σ relative to the unit vector).
GAUSSIAN_CONVENTIONS = ("per_dim", "relative")
#: Angle of the common-rotation control, in degrees: inside the range of the real updates' and the fine-tuning
#: checkpoints' mean angles (about 10° to 80° on the default run), near the strongest checkpoint's.
COMMON_ROTATION_DEG = 45.0
#: Offsets added to the first drift seed for the validation and training splits' draws (the test split uses the
#: seed itself, the draw of the sweep), so the three splits drift independently.
SPLIT_SEED_OFFSETS = {"test": 0, "val": 1_000, "train": 2_000}
#: The monitor whose alarm the table reports: it reads the probe's own confidence, as a practitioner would.
ALARM_MONITOR = "confidence"
#: What ``auc_ci_*`` and ``accuracy_ci_*`` cover (``{n_boot}`` is the run's number of resamples).
INTERVAL = ("95% percentile interval over test texts (stratified bootstrap, {n_boot} resamples); one split, one "
            "fitted probe, one drift draw; predictions are point values")


@dataclass(frozen=True)
class Case:
    """One update as the frozen probe sees it: unit embeddings before and after per split, the probe, the labels."""

    model: str
    kind: str
    source: str
    probe: object
    before: dict[str, np.ndarray]
    after: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def _splits(S: RunContext, X: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    arrays = S.split_arrays(normalize(X))
    return {s: a[0] for s, a in arrays.items()}, {s: a[1] for s, a in arrays.items()}


def _frozen_probe(S: RunContext, pair: UpdatePair, before_train: np.ndarray, y_train: np.ndarray):
    """The run's probe when ``pair.before`` is the run's own embedding of the model, else the same recipe fitted
    on the before embeddings of the training split (as :mod:`probedrift.experiments.realdrift` scores it)."""
    default = S.embeddings(pair.model_before)
    if pair.before is default or (pair.before.shape == default.shape and np.array_equal(pair.before, default)):
        return S.probe(pair.model_before)
    return paper_probe(S.params.seed).fit(before_train, y_train)


def _pair_case(S: RunContext, kind: str, pair: UpdatePair) -> Case:
    before, labels = _splits(S, pair.before)
    after, _ = _splits(S, pair.after)
    probe = _frozen_probe(S, pair, before["train"], labels["train"])
    return Case(pair.model_before, kind, pair.source, probe, before, after, labels)


def _finetune_pairs(S: RunContext) -> dict[str, UpdatePair]:
    """The fine-tuning checkpoints with step > 0 as update pairs, built once per run (none when chapter 7 does
    not apply)."""
    if finetune_drift.skip_reason(S) is not None:
        return {}

    def build():
        updates = [u for u in finetune_drift.prepared(S)[2] if u.step > 0]
        return finetune_drift.update_pairs(S, updates)
    return S.memo("failure_modes/finetune_pairs", build)


def _reference_cases(S: RunContext, model: str) -> list[Case]:
    """Gaussian drift at the paper's σ under both readings, and the common rotation, of ``model``'s embeddings."""
    p = S.params
    seed = int(p.drift_seeds[0])
    before, labels = _splits(S, S.embeddings(model))
    probe = S.probe(model)
    cases = []
    for convention in GAUSSIAN_CONVENTIONS:
        after = {s: drift(X, "gaussian", convention, [PAPER_SIGMA], seed + SPLIT_SEED_OFFSETS[s]).embeddings[0]
                 for s, X in before.items()}
        cases.append(Case(model, "gaussian", f"gaussian {convention} σ={PAPER_SIGMA:g}", probe, before, after,
                          labels))
    d = next(iter(before.values())).shape[1]
    R = rotation_matrix(d, np.radians(COMMON_ROTATION_DEG), seed)
    after = {s: X @ R.T for s, X in before.items()}
    cases.append(Case(model, "common rotation", f"one rotation of {COMMON_ROTATION_DEG:g}° for every text", probe,
                      before, after, labels))
    return cases


def update_cases(S: RunContext) -> list[Case]:
    """Every update of the table, in order: real updates of matching width, fine-tuning checkpoints (step > 0),
    then per model the Gaussian and common-rotation references."""
    cases = [_pair_case(S, "real update", pair) for pair in run_pairs(S)[0].values() if pair.same_width]
    cases += [_pair_case(S, "fine-tuning", pair) for pair in _finetune_pairs(S).values()]
    for model in S.models:
        cases += _reference_cases(S, model)
    return cases


def _metrics(S: RunContext, y: np.ndarray, logits: np.ndarray) -> dict[str, float]:
    p = S.params
    return metrics_mod.probe_metrics(y, scipy.special.expit(logits), tau=p.tau, ece_bins=p.ece_bins)


def failure_mode_row(S: RunContext, case: Case) -> dict:
    """One row of the table (:data:`FAILURE_MODE_COLUMNS` but ``alarm_confidence``): the measured metrics of the
    frozen probe before and after, the fitted decomposition and the three predictions (module docstring)."""
    p = S.params
    before = {s: case.probe.decision_function(X) for s, X in case.before.items()}
    after = {s: case.probe.decision_function(X) for s, X in case.after.items()}
    y = case.labels["test"]
    angle = float(angle_deg(case.before["test"], case.after["test"]).mean())
    clean, drifted = _metrics(S, y, before["test"]), _metrics(S, y, after["test"])
    p_after = scipy.special.expit(after["test"])
    _, auc_lo, auc_hi = metrics_mod.bootstrap_ci("auc", y, p_after, n_boot=p.n_boot, seed=p.seed)
    _, acc_lo, acc_hi = metrics_mod.bootstrap_ci("accuracy", y, p_after, n_boot=p.n_boot, seed=p.seed)
    labelled = decompose(before["test"], after["test"], y)
    labelled_val = decompose(before["val"], after["val"], case.labels["val"])
    label_free = label_free_shift(before["train"], after["train"])
    row = {"model": case.model, "kind": case.kind, "source": case.source, "angle_deg_mean": angle,
           "auc_ci_low": auc_lo, "auc_ci_high": auc_hi, "accuracy_ci_low": acc_lo, "accuracy_ci_high": acc_hi,
           "a": labelled.a, "mu": labelled.mu, "delta": labelled.delta, "tau": labelled.tau,
           "label_corr": labelled.label_corr,
           "auc_labelled": predict_auc_from_shift(before["test"], y, labelled),
           "accuracy_labelled": predict_accuracy(before["test"], y, labelled),
           "auc_labelled_val": predict_auc_from_shift(before["test"], y, labelled_val),
           "accuracy_labelled_val": predict_accuracy(before["test"], y, labelled_val),
           "auc_label_free": predict_auc_from_shift(before["test"], y, label_free),
           "accuracy_label_free": predict_accuracy(before["test"], y, label_free),
           "auc_budget": float(predicted_auc(case.probe, case.before["test"], y, [angle])[0]),
           "interval": INTERVAL.format(n_boot=p.n_boot)}
    for metric in ("auc", "accuracy", "silent_failure_rate", "ece", "mean_confidence"):
        row[f"{metric}_clean"], row[metric] = clean[metric], drifted[metric]
    return row


def _alarm(table: pd.DataFrame, mask: pd.Series) -> float:
    """The confidence monitor's alarm (1.0/0.0) of the one row ``mask`` selects, NaN when there is none."""
    column = f"alarm_{ALARM_MONITOR}"
    if column not in table.columns or int(mask.sum()) != 1:
        return float("nan")
    value = table.loc[mask, column].iloc[0]
    return float("nan") if pd.isna(value) else float(value in (True, "True", 1))


def failure_mode_rows(cases: list[Case], S: RunContext, alarms: dict[tuple[str, str], float]) -> pd.DataFrame:
    """:func:`failure_mode_row` of every case, with ``alarm_confidence`` looked up in ``alarms`` by (model, source)."""
    rows = []
    for case in cases:
        row = failure_mode_row(S, case)
        row["alarm_confidence"] = alarms.get((case.model, case.source), float("nan"))
        rows.append(row)
    return pd.DataFrame(rows, columns=FAILURE_MODE_COLUMNS)


@timed("real drift")
def failure_modes(S: RunContext) -> pd.DataFrame:
    """Table ``failure_modes``: the two failure modes measured and predicted for every case of :func:`update_cases`.

    ``alarm_confidence`` (1 = the confidence monitor alarmed) comes from the tables that already tested the
    update: ``real_drift`` by source, ``finetune_drift`` by checkpoint, and ``detectors`` for the Gaussian rows
    (the first drift seed at the paper's σ, the draw this table's test split uses); NaN for the common rotation.
    """
    cases = update_cases(S)
    kinds = {c.kind for c in cases}
    alarms: dict[tuple[str, str], float] = {}
    if "real update" in kinds:
        real = S.table("real_drift")
        for c in cases:
            if c.kind == "real update":
                alarms[(c.model, c.source)] = _alarm(real, real["source"] == c.source)
    if "fine-tuning" in kinds:
        tuned = S.table("finetune_drift")
        for c in cases:
            if c.kind == "fine-tuning":
                alarms[(c.model, c.source)] = _alarm(tuned, tuned["checkpoint"] == c.source)
    detectors = S.table("detectors")
    seed = int(S.params.drift_seeds[0])
    for c in cases:
        if c.kind == "gaussian":
            convention = c.source.split()[1]
            mask = ((detectors["model"] == c.model) & (detectors["drift_type"] == "gaussian")
                    & (detectors["convention"] == convention) & np.isclose(detectors["sigma"], PAPER_SIGMA)
                    & (detectors["seed"] == seed) & (detectors["detector"] == ALARM_MONITOR))
            alarms[(c.model, c.source)] = _alarm(detectors.rename(columns={"alarm": f"alarm_{ALARM_MONITOR}"}), mask)
    return failure_mode_rows(cases, S, alarms)
