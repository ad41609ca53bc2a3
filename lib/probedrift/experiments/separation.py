"""Class separability per layer and base against instruct (chapter 5): the tables ``separability`` and ``pairs``.

The measures (silhouette, Fisher ratio, overlap, cross-validated AUC) and their intervals are
:mod:`probedrift.science.separability`; here they are computed on the run's embeddings at the separability
layers (paper Table 2) and compared between the two models of each base/instruct pair of the run.
"""

from __future__ import annotations

import pandas as pd

from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.report.tables import pair_comparison
from probedrift.science.separability import paired_relative_change, per_layer_report

SEPARABILITY_COLUMNS = ["model", "layer", "metric", "value", "ci_low", "ci_high"]
PAIRED_COLUMNS = ["base", "instruct", "metric", "base_value", "instruct_value", "relative_change",
                  "relative_change_low", "relative_change_high", "interval"]


def expensive_resamples(n_boot: int) -> int:
    """Resamples of the silhouette and overlap: each costs a distance matrix or two LDA fits, so they get
    fewer than the Fisher ratio (whose resamples are one matrix product in all): n_boot/100 within [5, 20]."""
    return max(5, min(20, n_boot // 100))


@timed("separability")
def separability(S: RunContext, model: str) -> pd.DataFrame:
    """Silhouette, Fisher ratio, overlap and CV AUC per layer (paper Table 2), with intervals."""
    by_layer = {layer: S.embeddings(model, layer) for layer in S.layer_indices(model)}
    n_boot = S.params.n_boot
    df = per_layer_report(by_layer, S.dataset.labels, model=model, n_boot=n_boot,
                          n_boot_expensive=expensive_resamples(n_boot), seed=S.params.seed)
    return df[SEPARABILITY_COLUMNS]


def separability_table(S: RunContext) -> pd.DataFrame:
    """Table ``separability``: :func:`separability` of every model."""
    return pd.concat([separability(S, m) for m in S.models], ignore_index=True)


@timed("separability")
def paired_separability(S: RunContext) -> pd.DataFrame:
    """Per pair of ``S.pairs``: each separability measure's relative change (instruct − base)/|base| at
    both models' last separability layer, with an interval paired over the texts both embedded
    (:func:`probedrift.science.separability.paired_relative_change`; the resamples of :func:`separability`).
    Columns :data:`PAIRED_COLUMNS`; pass it to :func:`probedrift.report.tables.pair_comparison` as ``paired``."""
    frames = []
    for pair in S.pairs:
        X = [S.embeddings(m, max(S.layer_indices(m))) for m in (pair.base, pair.instruct)]
        df = paired_relative_change(*X, S.dataset.labels, n_boot_expensive=expensive_resamples(S.params.n_boot),
                                    seed=S.params.seed)
        frames.append(df.assign(base=pair.base, instruct=pair.instruct))
    return (pd.concat(frames, ignore_index=True)[PAIRED_COLUMNS] if frames
            else pd.DataFrame(columns=PAIRED_COLUMNS))


def pairs(S: RunContext) -> pd.DataFrame:
    """Table ``pairs``: base against instruct of every pair of the run at the last separability layer
    (:func:`probedrift.report.tables.pair_comparison` with the paired intervals of :func:`paired_separability`)."""
    return pair_comparison(S.table("separability"), S.pairs, paired=paired_separability(S))
