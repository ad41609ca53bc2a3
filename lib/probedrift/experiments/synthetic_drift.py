"""Synthetic drift of the frozen probe (chapter 3): the tables the drift sweep and its analyses write.

Every function takes the run (:class:`probedrift.run.study.Study`) and returns a table or what a table is
built from. The catalogue (:mod:`probedrift.run.catalogue`) declares which function produces which table
(``drift_sweep``, ``drift_sweep_summary``, ``drift_sweep_crossfit``, ``power``, ``cliffs``,
``cliff_log``, ``drift_budget``, ``drift_budget_curves``, ``variance_floor``, ``layer_sweep``,
``layer_collapse``); tables that read other tables ask the run for them (:meth:`Study.table`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from probedrift.core.grids import log_sigma_grid, sweep_sigma_grid
from probedrift.core.sphere import normalize
from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.inputs.embed import normalize_layer
from probedrift.report.tables import aggregate_sweep, cliff_points
from probedrift.science import metrics as metrics_mod
from probedrift.science.budget import budget_and_curves
from probedrift.science.cliff import cliff_table
from probedrift.science.crossfit import collapse_table, crossfit_sweep, crossfit_table, interval_rows, power_table
from probedrift.science.drift import resolve_conventions
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import SWEEP_COLUMNS, DriftedSet, SweepPredictions, drift
from probedrift.science.sweep import sweep as sweep_engine
from probedrift.science.variance_floor import floor_spec, floored_probe, variance_floor_comparison

# ---------------------------------------------------------------- the grid and the drifted sets


def sigma_grid(S: RunContext) -> np.ndarray:
    """The σ grid: linspace(0, sigma_max, n_sigmas) (paper Table 1: 0..0.15, 8 checkpoints) ∪ extra_sigmas."""
    p = S.params
    return sweep_sigma_grid(p.sigma_max, p.n_sigmas, p.extra_sigmas)


def conventions(S: RunContext) -> list[tuple[str, str]]:
    """The (drift type, convention) pairs of this run, from the drift registry."""
    return resolve_conventions(S.params.drift_types, S.params.conventions)


def drifted_test(S: RunContext, model: str, drift_type: str, convention: str, seed: int) -> DriftedSet:
    """The drifted test set for one (type, convention, seed) over the whole σ grid."""
    splits = S.unit(model)
    X_te, _ = splits["test"]
    X_tr, y_tr = splits["train"]
    return drift(X_te, drift_type, convention, sigma_grid(S), seed, reference=X_tr, reference_labels=y_tr)


def budget_layers(S: RunContext, model: str) -> list[int]:
    """Hidden-state indices of the layer axis: the probe layer and every separability layer."""
    return sorted({normalize_layer(S.params.layer, S.num_layers(model)), *S.layer_indices(model)})


def layer_probe(S: RunContext, model: str, layer: int):
    """The paper's probe trained on the training split of hidden state ``layer`` (the run's probe at its layer)."""
    if layer == normalize_layer(S.params.layer, S.num_layers(model)):
        return S.probe(model)
    return paper_probe(S.params.seed).fit(*S.unit(model, layer)["train"])


def budget_seeds(S: RunContext) -> list[int]:
    """Draws of the budget's simulation: the drift seeds, at least 20 (simulating is cheap and the
    simulated curve is the check on the closed form)."""
    seeds = list(S.params.drift_seeds)
    return seeds + [max(seeds) + 1 + i for i in range(max(0, 20 - len(seeds)))]


def _for_all_models(S: RunContext, per_model) -> pd.DataFrame:
    return pd.concat([per_model(S, m) for m in S.models], ignore_index=True)


# ---------------------------------------------------------------- the sweep (paper §2.1)


def sweep(S: RunContext, model: str, layer: int | None = None, drift_types=None, conventions=None, probe=None,
          progress: bool = False) -> tuple[pd.DataFrame, SweepPredictions]:
    """:func:`probedrift.science.sweep.sweep` of the paper split's test set (at ``layer``), with its per-text
    predictions."""
    splits = S.unit(model, layer)
    X_te, y_te = splits["test"]
    X_tr, y_tr = splits["train"]
    p = S.params
    probe = S.probe(model) if probe is None else probe
    return sweep_engine(
        X_te, y_te, probe.predict_proba, drift_types=list(p.drift_types if drift_types is None else drift_types),
        conventions=p.conventions if conventions is None else conventions, sigmas=sigma_grid(S),
        seeds=list(p.drift_seeds), tau=p.tau, ece_bins=p.ece_bins, reference=X_tr, reference_labels=y_tr,
        model=model, progress=progress, return_predictions=True,
    )


def _predictions(S: RunContext, model: str) -> SweepPredictions:
    """The paper sweep's per-text predictions of ``model``, drawn once per run (the summary's intervals read them)."""
    return S.memo(f"sweep_predictions/{model}", lambda: sweep(S, model)[1])


@timed("drift")
def drift_sweep(S: RunContext, model: str, progress: bool = True) -> pd.DataFrame:
    """Every drift type and convention over the σ grid and drift seeds, frozen probe (paper §2.1)."""
    table, predictions = sweep(S, model, progress=progress)
    S.memo(f"sweep_predictions/{model}", lambda: predictions)
    return table


def drift_sweep_table(S: RunContext) -> pd.DataFrame:
    """Table ``drift_sweep``: :func:`drift_sweep` of every model, one row per type/convention/σ/drift seed."""
    return _for_all_models(S, drift_sweep)


@timed("drift")
def drift_sweep_summary(S: RunContext, model: str, sweep_table: pd.DataFrame) -> pd.DataFrame:
    """The sweep aggregated over drift seeds, with intervals that cover test sampling *and* the draw.

    Per drift type, convention and σ: each metric's mean over drift seeds with the interval of
    :func:`probedrift.science.metrics.texts_and_draws_interval` (``<metric>_mean/_ci_low/_ci_high``, and its
    two standard errors ``_se_texts`` and ``_se_draws``); the measured angle's mean with a t-interval
    over seeds (from ``sweep_table``). Directions that do not depend on the seed (class-mean difference,
    top PC) get ``_se_draws`` = 0 and an interval from test sampling alone. ``interval`` says what is
    covered; ``n_texts`` is the number of test texts. The per-text probabilities come from the sweep
    itself (:class:`probedrift.science.sweep.SweepPredictions`), so the drifted sets are drawn once.
    """
    p = S.params
    angles = aggregate_sweep(sweep_table[sweep_table.model == model])
    angles = angles[["model", "drift_type", "convention", "sigma", "n_seeds"]
                    + [c for c in angles.columns if c.startswith("angle_")]]
    _, y = S.unit(model)["test"]
    predictions = _predictions(S, model)
    names = [m for m in SWEEP_COLUMNS if m in metrics_mod.METRIC_NAMES]
    rows = []
    for t, c in conventions(S):
        P = predictions.probabilities[(t, c)]  # (seeds, σ, texts)
        for i, sigma in enumerate(sigma_grid(S)):
            r = metrics_mod.texts_and_draws_interval(y, P[:, i], names, n_boot=p.n_boot, seed=p.seed, tau=p.tau,
                                                     ece_bins=p.ece_bins)
            row = {"model": model, "drift_type": t, "convention": c, "sigma": float(sigma)}
            row.update({f"{m}_{k}": v for m, parts in r.items() for k, v in parts.items()})
            rows.append(row)
    out = pd.DataFrame(rows)
    keys = ["model", "drift_type", "convention", "sigma"]
    out = angles.assign(sigma=angles.sigma.round(9)).merge(out.assign(sigma=out.sigma.round(9)), on=keys,
                                                            how="right", validate="one_to_one")
    out["n_texts"] = len(y)
    out["interval"] = metrics_mod.TEXTS_AND_DRAWS
    return out


def drift_sweep_summary_table(S: RunContext) -> pd.DataFrame:
    """Table ``drift_sweep_summary``: :func:`drift_sweep_summary` of every model, its angles aggregated from
    the sweep as saved (the values a reader of ``drift_sweep.csv`` aggregates too)."""
    sweep_table = S.table("drift_sweep", as_saved=True)
    return pd.concat([drift_sweep_summary(S, m, sweep_table) for m in S.models], ignore_index=True)


# ---------------------------------------------------------------- cross-fitting and power


def crossfit_predictions(S: RunContext, model: str, layer: int | None = None):
    """Out-of-fold predictions of every text under every drift (:func:`probedrift.science.crossfit.crossfit_sweep`):
    ``crossfit_folds``-fold stratified partitions of all texts for each of ``crossfit_seeds``, the
    paper's probe fitted on the other folds (seed = the split seed)."""
    p = S.params
    X = normalize(S.embeddings(model, layer))
    return crossfit_sweep(X, S.dataset.labels, lambda X_, y_, s: paper_probe(s).fit(X_, y_).predict_proba,
                          folds=p.crossfit_folds, split_seeds=list(p.crossfit_seeds), sigmas=sigma_grid(S),
                          drift_seeds=list(p.drift_seeds), drift_types=list(p.drift_types),
                          conventions=p.conventions, tau=p.tau, ece_bins=p.ece_bins)


@timed("drift")
def drift_sweep_crossfit(S: RunContext, model: str) -> pd.DataFrame:
    """The drift sweep cross-fitted over all texts (table ``drift_sweep_crossfit``).

    Per drift type, convention and σ: each metric's mean over split seeds and drift draws of the
    metric on all N out-of-fold predictions, with ``_se_texts`` (stratified bootstrap of texts, paired),
    ``_se_splits`` and ``_se_draws`` (two-way ANOVA), ``_se`` = their root sum of squares, the
    interval mean ± z·se and ``_n`` (defined cells); see :mod:`probedrift.science.crossfit`. ``interval``
    says what is covered.
    """
    p = S.params
    return crossfit_table(crossfit_predictions(S, model), model=model, n_boot=p.crossfit_boot, seed=p.seed,
                          tau=p.tau, ece_bins=p.ece_bins)


def drift_sweep_crossfit_table(S: RunContext) -> pd.DataFrame:
    """Table ``drift_sweep_crossfit``: :func:`drift_sweep_crossfit` of every model."""
    return _for_all_models(S, drift_sweep_crossfit)


def power(S: RunContext) -> pd.DataFrame:
    """Table ``power``: the clean AUC's standard error and minimum detectable effect of the paper split
    against cross-fitting (:func:`probedrift.science.crossfit.power_table`)."""
    return power_table({"paper split": S.table("drift_sweep_summary"), "cross-fitted": S.table("drift_sweep_crossfit")})


# ---------------------------------------------------------------- cliffs


def cliffs(S: RunContext) -> pd.DataFrame:
    """Table ``cliffs``: per model/type/convention the σ and angle where the seed-mean AUC loses 5 and 20
    points (:func:`probedrift.report.tables.cliff_points`)."""
    return cliff_points(S.table("drift_sweep"))


@timed("drift")
def cliff(S: RunContext, model: str) -> pd.DataFrame:
    """Cliff angles under both readings of Gaussian σ on a log-spaced σ grid (:mod:`probedrift.science.cliff`).

    The paper's frozen probe on the test split, every drift seed; σ = 0 plus ``cliff_points`` values
    from ``cliff_sigma_min`` to ``sigma_max``. Rows: model × convention × criterion (half of the
    excess AUC lost; a 20-point fall where the clean AUC allows it), with intervals over test texts
    and drift seeds.
    """
    p = S.params
    X_te, y_te = S.unit(model)["test"]
    sigmas = log_sigma_grid(p.cliff_sigma_min, p.sigma_max, p.cliff_points)
    _, preds = sweep_engine(X_te, y_te, S.probe(model).predict_proba, drift_types=["gaussian"],
                               conventions={"gaussian": ["per_dim", "relative"]}, sigmas=sigmas,
                               seeds=list(p.drift_seeds), tau=p.tau, ece_bins=p.ece_bins, model=model,
                               progress=False, return_predictions=True)
    return pd.concat([cliff_table(y_te, preds.probabilities[key], preds.angles_deg[key], preds.sigmas,
                                  model=model, drift_type=key[0], convention=key[1], n_boot=p.n_boot,
                                  seed=p.seed) for key in preds.probabilities], ignore_index=True)


def cliff_log_table(S: RunContext) -> pd.DataFrame:
    """Table ``cliff_log``: :func:`cliff` of every model."""
    return _for_all_models(S, cliff)


# ---------------------------------------------------------------- the drift budget and its mitigation


@timed("drift")
def drift_budget(S: RunContext, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The drift budget at every layer of :func:`budget_layers` (the mechanism of :mod:`probedrift.science.budget`):
    predicted and simulated angles at which AUC loses 5 points and half its excess, AUC at 1°, and
    the probe's scale spectrum, on the test split (simulated over :func:`budget_seeds`); and the
    predicted and simulated AUC-versus-angle curves behind them."""
    entries = {(model, layer, S.params.pooling): (layer_probe(S, model, layer), *S.unit(model, layer)["test"])
               for layer in budget_layers(S, model)}
    return budget_and_curves(entries, seeds=budget_seeds(S))


def _budgets(S: RunContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(budget, curves) of every model, computed once per run for the two tables."""
    def compute():
        budgets = [drift_budget(S, m) for m in S.models]
        return (pd.concat([table for table, _ in budgets], ignore_index=True),
                pd.concat([c for _, c in budgets], ignore_index=True))
    return S.memo("drift_budget", compute)


def drift_budget_table(S: RunContext) -> pd.DataFrame:
    """Table ``drift_budget``: the first table of :func:`drift_budget` for every model."""
    return _budgets(S)[0]


def drift_budget_curves(S: RunContext) -> pd.DataFrame:
    """Table ``drift_budget_curves``: the predicted and simulated AUC-versus-angle curves of :func:`drift_budget`."""
    return _budgets(S)[1]


@timed("drift")
def variance_floor(S: RunContext, model: str) -> pd.DataFrame:
    """The variance-floor mitigation at every layer of :func:`budget_layers` (table ``variance_floor``).

    Per layer two probes on the same training split: the paper's (:func:`layer_probe`, scaler
    unchanged, ``scaler = "none"``) and the same recipe with each scaler std clamped to
    s_j ≥ ``scale_floor_fraction`` × median_j s_j (:func:`probedrift.science.budget.floored_probe`). Both read the
    test split: clean AUC with its interval, ‖w/s‖, smallest std, predicted budget angles and the AUC
    under exact-angle isotropic drift of 1° over :func:`budget_seeds`
    (:func:`probedrift.science.budget.variance_floor_comparison`; ``interval`` says what is covered).
    """
    p = S.params
    frames = []
    for layer in budget_layers(S, model):
        splits = S.unit(model, layer)
        probes = {"none": layer_probe(S, model, layer),
                  floor_spec(p.scale_floor_fraction): floored_probe(p.scale_floor_fraction, p.seed).fit(
                      *splits["train"])}
        frames.append(variance_floor_comparison(
            probes, *splits["test"], keys={"model": model, "layer": int(layer), "pooling": p.pooling},
            seeds=budget_seeds(S), n_boot=p.n_boot, boot_seed=p.seed))
    return pd.concat(frames, ignore_index=True)


def variance_floor_table(S: RunContext) -> pd.DataFrame:
    """Table ``variance_floor``: :func:`variance_floor` of every model."""
    return _for_all_models(S, variance_floor)


# ---------------------------------------------------------------- the layer axis


@timed("drift")
def layer_sweep(S: RunContext, model: str) -> pd.DataFrame:
    """Gaussian drift (per_dim and relative) at every layer of :func:`budget_layers` (table ``layer_sweep``).

    Per layer the paper's probe of :func:`layer_probe` is swept on the paper split's test set over
    the σ grid and drift seeds; AUC and silent-failure share get the interval of
    :func:`probedrift.science.metrics.texts_and_draws_interval` (test texts and drift draws). Columns: model,
    layer, pooling, drift_type, convention, sigma, angle_deg_mean, auc_mean/_ci_low/_ci_high,
    silent_failure_share_mean/_ci_low/_ci_high (their ``_se_*`` too), auc_drop_mean/_ci_low/_ci_high
    (the loss against σ = 0, paired over texts and draws), n_texts, interval.
    """
    p = S.params
    frames = []
    for layer in budget_layers(S, model):
        _, pred = sweep(S, model, layer, drift_types=["gaussian"], conventions={"gaussian": ["per_dim", "relative"]},
                        probe=layer_probe(S, model, layer))
        y = S.unit(model, layer)["test"][1]
        df = interval_rows(y, pred.probabilities, pred.angles_deg, pred.sigmas, ["auc", "silent_failure_share"],
                           n_boot=p.n_boot, seed=p.seed, tau=p.tau, ece_bins=p.ece_bins,
                           keys={"model": model, "layer": int(layer), "pooling": p.pooling}, paired_drops=["auc"])
        df = df.drop(columns=[c for c in df.columns if c.endswith(("_se", "_se_splits", "_n"))])  # one split
        df["n_texts"] = len(y)
        frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["interval"] = metrics_mod.TEXTS_AND_DRAWS
    return out


def layer_sweep_table(S: RunContext) -> pd.DataFrame:
    """Table ``layer_sweep``: :func:`layer_sweep` of every model."""
    return _for_all_models(S, layer_sweep)


def layer_collapse(S: RunContext) -> pd.DataFrame:
    """Table ``layer_collapse``: per model, where a ≈1° Gaussian drift (relative reading) collapses the probe,
    per layer and pooling (:func:`probedrift.science.crossfit.collapse_table`), with the drift budget's predicted
    half-excess angle."""
    layers, budget = S.table("layer_sweep"), S.table("drift_budget")
    return pd.concat([collapse_table(layers[layers.model == m], budget[budget.model == m]) for m in S.models],
                     ignore_index=True)
