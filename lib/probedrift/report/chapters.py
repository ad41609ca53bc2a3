"""Per-chapter displays that need the run's data or probes (counts, examples, extraction, reliability, skip notes)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from probedrift.core.grids import linear_sigma_grid
from probedrift.experiments.context import RunContext
from probedrift.experiments.synthetic_drift import drifted_test
from probedrift.inputs import data as data_mod
from probedrift.report.tables import SIGMA_TOLERANCE
from probedrift.science import metrics as metrics_mod
from probedrift.science.detectors import DETECTORS


def pairs_skip_reason(S: RunContext) -> str | None:
    """Why chapter 5 compares no base/instruct pair (None when some pair has both models in the run)."""
    if S.pairs:
        return None
    if not S.params.pairs:
        return "no base/instruct pair was given (`pairs` is empty)"
    skipped = "; ".join(f"{p.base} / {p.instruct}" for p in S.params.pairs if p not in S.pairs)
    return (f"no pair of the profile has both of its models in this run ({skipped}; "
            f"the run's models: {', '.join(S.models)})")


def monitors_note(S: RunContext) -> str | None:
    """What chapter 4's monitor comparison leaves out in this run (None when an embedding monitor runs)."""
    asked = list(S.params.detectors)
    others = ", ".join(d for d in DETECTORS if d != "confidence")
    if not asked:
        return ("No drift monitor was asked for in this run (`detectors` is empty), so this chapter measures the "
                f"probe's silent failures and compares no monitor with them; the registered monitors: "
                f"confidence, {others}")
    if asked == ["confidence"]:
        return ("Only the confidence monitor runs in this run (`detectors` is [confidence]): no embedding "
                f"monitor ({others}) is compared with it")
    return None


def dataset_summary(S: RunContext) -> pd.DataFrame:
    """Counts per split and class, median characters per class, and the length-only AUC."""
    frame = S.dataset.frame.assign(chars=S.dataset.frame["text"].str.len())
    table = frame.pivot_table(index="split", columns="label", values="text", aggfunc="count", fill_value=0)
    table.columns = [f"n_label_{c}" for c in table.columns]
    table = table.reindex([s for s in data_mod.SPLITS if s in table.index])
    table["median_chars_label_0"] = frame[frame.label == 0].groupby("split")["chars"].median()
    table["median_chars_label_1"] = frame[frame.label == 1].groupby("split")["chars"].median()
    return table.reset_index()


def examples(S: RunContext, per_class: int = 3, max_chars: int = 110, seed: int = 0) -> pd.DataFrame:
    """A few short texts of each class (for orientation; the data may contain insults)."""
    frame = S.dataset.frame
    rows = []
    for label in (0, 1):
        pool = frame[(frame.label == label) & (frame.text.str.len() <= max_chars)]
        pick = pool.sample(n=min(per_class, len(pool)), random_state=seed) if len(pool) else pool
        rows += [{"label": label, "text": t} for t in pick["text"]]
    return pd.DataFrame(rows)


def extraction_table(S: RunContext) -> pd.DataFrame:
    """Extract (or fetch) every model's probe layer and separability layers; timing and shapes."""

    rows = []
    for model in S.models:
        t0 = time.perf_counter()
        X = S.embeddings(model)
        layers = S.layer_indices(model)
        for layer in layers:
            S.embeddings(model, layer)
        n_layers = S.num_layers(model)
        rows.append({"model": model, "blocks": n_layers, "width": X.shape[1], "texts": X.shape[0],
                     "probe_layer": S.params.layer, "separability_layers": ", ".join(map(str, layers)),
                     "pooling": S.params.pooling, "max_length": S.params.max_length,
                     "seconds": round(time.perf_counter() - t0, 1)})
    return pd.DataFrame(rows)


def reliability_at_checkpoints(S: RunContext, model: str, drift_type: str, convention: str) -> dict[str, pd.DataFrame]:
    """Reliability tables at the checkpoints of paper Fig. 3 (indices into the linspace grid), first seed."""
    p = S.params
    grid = linear_sigma_grid(p.sigma_max, p.n_sigmas)
    wanted = np.array([grid[i] for i in p.reliability_checkpoints if i < len(grid)])
    ds = drifted_test(S, model, drift_type, convention, p.drift_seeds[0])
    _, y = S.unit(model)["test"]
    probe = S.probe(model)
    out = {}
    for i, sigma in enumerate(ds.sigmas):
        if np.isclose(sigma, wanted, rtol=0, atol=SIGMA_TOLERANCE).any():  # the same σ matching as tables.row_at_sigma
            p1 = probe.predict_proba(ds.embeddings[i])
            ece = metrics_mod.expected_calibration_error(y, p1, bins=p.ece_bins)
            out[f"σ={sigma:.3f} (ECE {ece:.1%})"] = metrics_mod.reliability_table(y, p1, bins=p.ece_bins)
    return out


