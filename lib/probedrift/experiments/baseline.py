"""The frozen probe on clean and drifted test texts (chapters 2 and 4): the tables ``probe_baseline`` and
``confidence_by_outcome``, and the test probabilities behind the reliability diagram."""

from __future__ import annotations

import numpy as np
import pandas as pd

from probedrift.experiments.context import RunContext
from probedrift.experiments.synthetic_drift import conventions, drifted_test
from probedrift.science import metrics as metrics_mod
from probedrift.science.drift import paper_conventions

BASELINE_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "n_test", "seed"]
BASELINE_METRICS = ["auc", "accuracy", "f1", "mean_confidence", "ece", "silent_failure_share", "silent_failure_rate"]


def test_probabilities(S: RunContext, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Test labels and the frozen probe's p(y=1) on the clean test embeddings."""
    X_te, y_te = S.unit(model)["test"]
    return y_te, S.probe(model).predict_proba(X_te)


def baseline(S: RunContext, model: str) -> pd.DataFrame:
    """Clean test-set metrics of the frozen probe with stratified bootstrap intervals, and the 15-bin ECE."""
    p = S.params
    y_te, p1 = test_probabilities(S, model)
    rows = []
    for name in BASELINE_METRICS:
        value, lo, hi = metrics_mod.bootstrap_ci(name, y_te, p1, n_boot=p.n_boot, seed=p.seed, tau=p.tau,
                                                 ece_bins=p.ece_bins)
        rows.append({"model": model, "metric": name, "value": value, "ci_low": lo, "ci_high": hi})
    ece15 = metrics_mod.expected_calibration_error(y_te, p1, bins=15)
    rows.append({"model": model, "metric": "ece_15_bins", "value": ece15, "ci_low": np.nan, "ci_high": np.nan})
    df = pd.DataFrame(rows)
    df["n_test"] = len(y_te)
    df["seed"] = p.seed
    return df[BASELINE_COLUMNS]


def probe_baseline(S: RunContext) -> pd.DataFrame:
    """Table ``probe_baseline``: :func:`baseline` of every model."""
    return pd.concat([baseline(S, m) for m in S.models], ignore_index=True)


def confidence_by_outcome(S: RunContext, model: str, convention_set: str = "paper") -> pd.DataFrame:
    """Mean max-class confidence of correct vs wrong test predictions, per σ and drift seed.

    With ``convention_set="paper"`` each drift type uses its paper reading (the formulas of paper Table 1),
    plus the ``relative`` Gaussian reading that matches the abstract's "≈1°"; otherwise every convention
    of the run.
    """
    probe = S.probe(model)
    _, y = S.unit(model)["test"]
    rows = []
    for t in S.params.drift_types:
        if convention_set == "paper":
            convs = [paper_conventions()[t]] + (["relative"] if t == "gaussian" else [])
        else:
            convs = [c for tt, c in conventions(S) if tt == t]
        for c in convs:
            for seed in S.params.drift_seeds:
                ds = drifted_test(S, model, t, c, int(seed))
                P = probe.predict_proba(ds.embeddings.reshape(-1, ds.embeddings.shape[-1])).reshape(len(ds.sigmas), -1)
                conf = np.maximum(P, 1 - P)
                correct = (P >= 0.5).astype(int) == y[None, :]
                for i, sigma in enumerate(ds.sigmas):
                    for outcome, mask in (("correct", correct[i]), ("wrong", ~correct[i])):
                        rows.append({"model": model, "drift_type": t, "convention": c, "sigma": float(sigma),
                                     "seed": int(seed), "outcome": outcome, "n": int(mask.sum()),
                                     "confidence": float(conf[i][mask].mean()) if mask.any() else np.nan})
    return pd.DataFrame(rows)


def confidence_by_outcome_table(S: RunContext) -> pd.DataFrame:
    """Table ``confidence_by_outcome``: :func:`confidence_by_outcome` (paper readings) of every model."""
    return pd.concat([confidence_by_outcome(S, m) for m in S.models], ignore_index=True)
