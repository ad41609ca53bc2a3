"""The paper's claims as changes (chapter 4): table ``claim_changes``, clean against drifted at the paper's σ,
with the paper's C and with C chosen on validation data, on the paper split and cross-fitted.

The paper reports its second claim as changes under drift (ECE 1.2% → 22.6%, mean confidence down 14%;
abstract, Fig. 3), from a probe with C = 1 fitted on 7,000 texts in 1,024–2,560 dimensions. The same C on a
few hundred training texts in 576–640 dimensions barely regularises: the training set is separable and the
probe is overconfident before any drift, so its clean ECE is already large and a change in ECE mostly
measures that. Beside the paper's C this table therefore fits the probe with C chosen on held-out data:

- ``VALIDATION_C_GRID``: the candidate C, decades from 10⁻⁴ up to the paper's C = 1;
- ``C_CRITERION``: the validation log-loss (mean binary cross-entropy of p(y=1) on the validation split),
  a proper scoring rule, so it selects for calibrated probabilities, not only for ranking (the validation
  AUC of :meth:`probedrift.science.probes.LinearProbe.select_C` is blind to calibration); ties go to the
  larger C.

Designs:

- ``paper split``: the probe fitted on the 70% training split (C chosen on the 10% validation split) and
  evaluated on the 20% test split;
- ``cross-fitted``: the folds of :func:`probedrift.science.crossfit.crossfit_sweep` (``crossfit_folds`` ×
  ``crossfit_seeds``), every text a test text once per split seed; with ``c_rule = "validation"`` each fold
  chooses its own C on a stratified validation part of its training folds (the paper's 10 : 70 ratio), fits
  on all of them, and ``c`` is the median of the folds' C.

Drift: Gaussian at the paper's σ (:data:`probedrift.report.paper.SIGMA`) under both readings of σ
(``per_dim`` and ``relative``), every drift seed of the run. Intervals: :mod:`probedrift.science.changes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

from probedrift.core.sphere import normalize
from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.report.paper import SIGMA
from probedrift.science.changes import paired_changes
from probedrift.science.crossfit import crossfit_sweep
from probedrift.science.probes import LinearProbe, paper_probe
from probedrift.science.sweep import sweep as sweep_engine

__all__ = ["CLAIM_CHANGE_COLUMNS", "CLAIM_METRICS", "C_CRITERION", "VALIDATION_C_GRID", "claim_changes",
           "claim_changes_table", "validation_c"]

#: Candidate C of the validation rule: decades from 10⁻⁴ to the paper's C = 1.
VALIDATION_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: How the validation rule scores a candidate C (lower is better).
C_CRITERION = "validation log-loss"
#: The metrics of the table, in row order.
CLAIM_METRICS = ("auc", "accuracy", "mean_confidence", "silent_failure_share", "silent_failure_rate", "ece")
#: The conventions of Gaussian σ the table reads the paper's σ under.
CLAIM_CONVENTIONS = ("per_dim", "relative")
CLAIM_CHANGE_COLUMNS = ["model", "design", "c_rule", "c", "convention", "sigma", "metric", "clean", "clean_ci_low",
                        "clean_ci_high", "drifted", "drifted_ci_low", "drifted_ci_high", "change", "change_ci_low",
                        "change_ci_high", "n_texts", "n_draws", "interval"]


def _interval_text(design: str, n_draws: int, folds: int = 0, n_splits: int = 0) -> str:
    texts = ("test texts of the paper split" if design == "paper split"
             else f"all texts, out-of-fold ({n_splits} split seeds of {folds}-fold cross-fitting, probe refitted "
                  "and C chosen again in each fold)")
    splits = "" if design == "paper split" else " + split/probe seeds (two-way ANOVA)"
    return (f"95% normal interval over {texts} (stratified bootstrap, the same resample for clean and drifted and "
            f"for every draw) + drift draws ({n_draws}, s.e. of the mean over draws){splits}; the change "
            "drifted − clean is paired over texts, splits and draws")


def validation_c(X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray, seed: int,
                 grid: tuple[float, ...] = VALIDATION_C_GRID) -> float:
    """The C of ``grid`` whose probe (the paper's recipe otherwise) has the smallest validation log-loss,
    −mean[y log p + (1 − y) log(1 − p)] (``C_CRITERION``); ties go to the larger C."""
    losses = {float(c): log_loss(y_val, LinearProbe(C=c, seed=seed).fit(X_train, y_train).predict_proba(X_val),
                                 labels=[0, 1]) for c in grid}
    best = min(losses.values())
    return max(c for c, v in losses.items() if v <= best)


def _drift_probs(X: np.ndarray, y: np.ndarray, predict, seeds: list[int], tau: float, ece_bins: int) -> dict:
    """{convention: (k draws, 2 σ, n texts)} p(y=1) at σ = 0 and the paper's σ."""
    _, pred = sweep_engine(X, y, predict, drift_types=["gaussian"], conventions={"gaussian": list(CLAIM_CONVENTIONS)},
                           sigmas=[0.0, SIGMA], seeds=seeds, tau=tau, ece_bins=ece_bins, progress=False,
                           return_predictions=True)
    return {c: pred.probabilities[("gaussian", c)] for c in CLAIM_CONVENTIONS}


def _rows(S: RunContext, model: str, design: str, c_rule: str, c: float, y: np.ndarray, probs: dict,
          interval: str) -> list[dict]:
    """One row per convention and metric from {convention: (R, k, 2, n)} predictions."""
    p = S.params
    rows = []
    for conv, P in probs.items():
        r = paired_changes(y, P[:, :, 0], P[:, :, 1], list(CLAIM_METRICS), n_boot=p.crossfit_boot, seed=p.seed,
                           tau=p.tau, ece_bins=p.ece_bins)
        for m in CLAIM_METRICS:
            rows.append({"model": model, "design": design, "c_rule": c_rule, "c": float(c), "convention": conv,
                         "sigma": SIGMA, "metric": m, **{k: r[m][k] for k in CLAIM_CHANGE_COLUMNS if k in r[m]},
                         "n_texts": int(y.size), "n_draws": int(P.shape[1]), "interval": interval})
    return rows


def _paper_split(S: RunContext, model: str) -> list[dict]:
    p = S.params
    u = S.unit(model)
    (X_tr, y_tr), (X_val, y_val), (X_te, y_te) = u["train"], u["val"], u["test"]
    c_val = validation_c(X_tr, y_tr, X_val, y_val, p.seed)
    probes = {"paper": S.probe(model), "validation": LinearProbe(C=c_val, seed=p.seed).fit(X_tr, y_tr)}
    seeds = [int(s) for s in p.drift_seeds]
    rows = []
    for rule, probe in probes.items():
        probs = {c: P[None] for c, P in _drift_probs(X_te, y_te, probe, seeds, p.tau, p.ece_bins).items()}
        rows += _rows(S, model, "paper split", rule, probe.C, y_te, probs, _interval_text("paper split", len(seeds)))
    return rows


def _cross_fitted(S: RunContext, model: str) -> list[dict]:
    p = S.params
    X = normalize(S.embeddings(model))
    y = np.asarray(S.dataset.labels).astype(np.int64)
    val_share = p.split_fractions[1] / (p.split_fractions[0] + p.split_fractions[1])
    chosen: list[float] = []

    def fit_validation(X_: np.ndarray, y_: np.ndarray, seed: int):
        X_in, X_v, y_in, y_v = train_test_split(X_, y_, test_size=val_share, stratify=y_, random_state=seed)
        c = validation_c(X_in, y_in, X_v, y_v, seed)
        chosen.append(c)
        return LinearProbe(C=c, seed=seed).fit(X_, y_).predict_proba

    fits = {"paper": lambda X_, y_, s: paper_probe(s).fit(X_, y_).predict_proba, "validation": fit_validation}
    interval = _interval_text("cross-fitted", len(p.drift_seeds), p.crossfit_folds, len(p.crossfit_seeds))
    rows = []
    for rule, fit in fits.items():
        pred = crossfit_sweep(X, y, fit, folds=p.crossfit_folds, split_seeds=list(p.crossfit_seeds),
                              sigmas=[0.0, SIGMA], drift_seeds=list(p.drift_seeds), drift_types=["gaussian"],
                              conventions={"gaussian": list(CLAIM_CONVENTIONS)}, tau=p.tau, ece_bins=p.ece_bins)
        c = paper_probe().C if rule == "paper" else float(np.median(chosen))
        probs = {conv: pred.probabilities[("gaussian", conv)] for conv in CLAIM_CONVENTIONS}
        rows += _rows(S, model, "cross-fitted", rule, c, y, probs, interval)
    return rows


@timed("drift")
def claim_changes(S: RunContext, model: str) -> pd.DataFrame:
    """Clean, drifted (Gaussian, paper σ) and drifted − clean of :data:`CLAIM_METRICS`, per design, C rule and
    convention of σ, with paired intervals (:func:`probedrift.science.changes.paired_changes`; module docstring)."""
    return pd.DataFrame(_paper_split(S, model) + _cross_fitted(S, model), columns=CLAIM_CHANGE_COLUMNS)


def claim_changes_table(S: RunContext) -> pd.DataFrame:
    """Table ``claim_changes``: :func:`claim_changes` of every model."""
    return pd.concat([claim_changes(S, m) for m in S.models], ignore_index=True)
