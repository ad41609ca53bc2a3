"""Drift monitors against the drift sweep (chapter 4): the tables ``detectors``, ``detectors_log_grid``,
``first_alarms``, ``alarm_share_by_sigma`` and ``false_alarms``.

The monitors themselves (two-sample tests and the confidence threshold) are :mod:`probedrift.science.detectors`;
here they are configured from the run's parameters, fitted on clean reference embeddings the test texts
never belong to, and run over the drifted test sets of :mod:`probedrift.experiments.synthetic_drift`.

Two σ grids: the sweep's linear grid (every drift type), and for Gaussian drift the cliff's log-spaced
grid (:func:`probedrift.core.grids.log_sigma_grid`). On the linear grid consecutive angles can be far
apart (on the default run nothing lies between about 14° and 27° per dimension), so "a monitor alarms
before the AUC has lost 5 points" can be unresolvable there; the log grid's consecutive angles differ by
a factor well below 2, and ``first_alarms`` gets its ``log_*`` columns from it.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import check_choice
from probedrift.core.grids import log_sigma_grid
from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.experiments.synthetic_drift import conventions, drifted_test, sigma_grid
from probedrift.report.tables import alarm_share_by_sigma, cliff_points, first_alarms, grid_alarms
from probedrift.science.detectors import DETECTORS, configured_monitors, make_detector
from probedrift.science.false_alarms import NullDesign
from probedrift.science.false_alarms import false_alarm_table as null_alarm_table
from probedrift.science.sweep import drift
from probedrift.science.sweep import sweep as sweep_engine

DETECTOR_COLUMNS = ["model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "detector",
                    "statistic", "p_value", "alarm"]
FALSE_ALARM_DESIGNS = ("pooled", "split")
#: Pool pairs of the split false-alarm design: fresh stratified partitions of all clean texts into a
#: training-sized and a held-out-sized part, the runs spread evenly over them, so the interval covers the
#: partition (the chance differences between two fixed pools that every run of one partition repeats).
SPLIT_DESIGN_POOLS = 20
#: The drift the monitors are also run on over the cliff's log-spaced grid: Gaussian, both readings of σ.
LOG_GRID_DRIFT = {"gaussian": ["per_dim", "relative"]}
#: How many of the run's drift seeds (the first ones) the log-spaced grid tests: its 25 σ cost about as much
#: per seed as the whole linear grid of one drift type, the domain classifier most (a cross-validated fit each).
LOG_GRID_SEEDS = 5
#: Columns ``first_alarms`` adds from the log-spaced grid (NaN for drifts it does not cover).
LOG_GRID_COLUMNS = ["log_n_sigmas", "log_share_seeds_alarmed", "log_first_alarm_sigma", "log_first_alarm_angle_deg",
                    "log_first_alarm_angle_deg_min", "log_first_alarm_angle_deg_max", "log_sigma_5pt",
                    "log_angle_deg_5pt", "log_share_seeds_alarm_before_5pt"]


def subsample(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` rows of ``X``, drawn without replacement by ``default_rng(seed)``, in their original order."""
    if len(X) <= n:
        return X
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[np.sort(idx)]


def detector_kwargs(S: RunContext, model: str, n_permutations: int | None = None) -> dict[str, dict]:
    """Keyword arguments of each configured monitor (``n_permutations`` overrides the profile's)."""
    return configured_monitors(S.params, S.probe(model).predict_proba, n_permutations)


def make_detectors(S: RunContext, model: str, n_permutations: int | None = None) -> dict:
    """The configured monitors, fitted on clean reference embeddings the test texts never belong to.

    Each is fitted on its registered reference split (:class:`probedrift.science.detectors.MonitorSpec`): ``"train"``,
    a sample of ``detector_sample_size`` training texts (the embedding monitors), or ``"val"``, the
    validation split (the confidence monitor: on its own training texts the probe is more confident than
    on any unseen text, with d ≈ 600 and a few hundred texts the training set is linearly separable, so a
    training-set reference would measure the generalisation gap and alarm at σ = 0).
    """
    p = S.params
    splits = S.unit(model)
    references = {"train": subsample(splits["train"][0], p.detector_sample_size, p.seed), "val": splits["val"][0]}
    return {name: make_detector(name, **kw).fit(references[DETECTORS.get(name).reference])
            for name, kw in detector_kwargs(S, model, n_permutations).items()}


def grid_permutations(S: RunContext, n_sigmas: int | None = None) -> int:
    """Permutations of the detector table's permutation tests: enough that the smallest p-value,
    ``1/(B+1)``, is at most a quarter of the per-test level ``α/K`` of :func:`tables.first_alarms`
    (K = ``n_sigmas``, the points of the σ grid; the sweep's by default), and never fewer than the
    profile's ``detector_permutations``."""
    p = S.params
    k = len(sigma_grid(S)) if n_sigmas is None else int(n_sigmas)
    return max(p.detector_permutations, int(np.ceil(4 * k / p.alpha)) - 1)


def log_grid(S: RunContext) -> np.ndarray:
    """The cliff's σ grid: 0 and ``cliff_points`` log-spaced values from ``cliff_sigma_min`` to ``sigma_max``."""
    p = S.params
    return log_sigma_grid(p.cliff_sigma_min, p.sigma_max, p.cliff_points)


def _log_grid_cases(S: RunContext) -> list[tuple[str, str]]:
    """The (type, convention) pairs of :data:`LOG_GRID_DRIFT` that this run sweeps."""
    return [(t, c) for t, c in conventions(S) if c in LOG_GRID_DRIFT.get(t, [])]


@timed("monitors")
def detector_table(S: RunContext, model: str, progress: bool = True, grid: str = "linear") -> pd.DataFrame:
    """Each monitor's statistic, p-value and alarm on drifted test samples, per type/convention/σ/drift seed.

    Every drift seed of the run. The reference (train; validation for the confidence monitor) and
    the sample (test) are disjoint, so σ = 0 shows each monitor's false-alarm behaviour. ``alarm``
    is at the profile's α per test; :func:`probedrift.report.tables.first_alarms` corrects over the σ grid
    from ``p_value``, so permutation tests run :func:`grid_permutations` permutations.
    Samples identical across seeds (σ = 0, seed-free directions) are tested once. ``grid="log"``: the
    cliff's log-spaced grid (:func:`log_grid`) for the drifts of :data:`LOG_GRID_DRIFT` and the first
    :data:`LOG_GRID_SEEDS` drift seeds instead.
    """
    p = S.params
    check_choice("σ grid", grid, ("linear", "log"))
    sigmas = sigma_grid(S) if grid == "linear" else log_grid(S)
    dets = make_detectors(S, model, n_permutations=grid_permutations(S, len(sigmas)))
    splits = S.unit(model)

    def test_all(sample: np.ndarray) -> list:
        return [(name, det.test(sample)) for name, det in dets.items()]

    done: dict[bytes, list] = {}
    rows = []
    pairs = conventions(S) if grid == "linear" else _log_grid_cases(S)
    seeds = p.drift_seeds if grid == "linear" else p.drift_seeds[:LOG_GRID_SEEDS]
    cases = [(t, c, seed) for t, c in pairs for seed in seeds]
    # The tests are small solves and products that release the GIL: one BLAS thread each, one
    # test per core (each test is seeded, so the table does not depend on the scheduling).
    with one_blas_thread(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for t, c, seed in tqdm(cases, desc=f"detectors {model}", disable=not progress):
            ds = (drifted_test(S, model, t, c, seed) if grid == "linear" else
                  drift(splits["test"][0], t, c, sigmas, seed, reference=splits["train"][0],
                        reference_labels=splits["train"][1]))
            keys, pending = [], {}
            for i in range(len(ds.sigmas)):
                sample = subsample(ds.embeddings[i], p.detector_sample_size, p.drift_seeds[0] + 1)
                key = hashlib.sha1(np.ascontiguousarray(sample).tobytes()).digest()
                keys.append(key)
                if key not in done and key not in pending:
                    pending[key] = pool.submit(test_all, sample)
            done.update({key: future.result() for key, future in pending.items()})
            for i, (sigma, key) in enumerate(zip(ds.sigmas, keys, strict=True)):
                for name, r in done[key]:
                    rows.append({"model": model, "drift_type": t, "convention": c, "sigma": float(sigma),
                                 "seed": seed, "angle_deg_mean": float(ds.angles_deg[i].mean()),
                                 "detector": name, "statistic": r.statistic, "p_value": r.p_value,
                                 "alarm": bool(r.alarm)})
    return pd.DataFrame(rows, columns=DETECTOR_COLUMNS)


def detectors(S: RunContext) -> pd.DataFrame:
    """Table ``detectors``: :func:`detector_table` of every model."""
    return pd.concat([detector_table(S, m) for m in S.models], ignore_index=True)


def detectors_log_grid(S: RunContext) -> pd.DataFrame:
    """Table ``detectors_log_grid``: :func:`detector_table` on the cliff's log-spaced grid, every model."""
    return pd.concat([detector_table(S, m, grid="log") for m in S.models], ignore_index=True)


def log_grid_cliffs(S: RunContext) -> pd.DataFrame:
    """The 5- and 20-point AUC cliffs of the seed-mean curve on the log-spaced grid, for the drifts of
    :data:`LOG_GRID_DRIFT` and the seeds of :func:`detectors_log_grid` (:func:`probedrift.report.tables.cliff_points`
    of a sweep on that grid)."""
    p = S.params
    frames = []
    for m in S.models:
        (X_te, y_te), (X_tr, y_tr) = S.unit(m)["test"], S.unit(m)["train"]
        frames.append(sweep_engine(X_te, y_te, S.probe(m), drift_types=list(LOG_GRID_DRIFT), conventions=LOG_GRID_DRIFT,
                                   sigmas=log_grid(S), seeds=list(p.drift_seeds[:LOG_GRID_SEEDS]), tau=p.tau,
                                   ece_bins=p.ece_bins,
                                   reference=X_tr, reference_labels=y_tr, model=m, progress=False))
    return cliff_points(pd.concat(frames, ignore_index=True))


def _with_log_grid(linear: pd.DataFrame, detectors_log: pd.DataFrame, cliffs_log: pd.DataFrame,
                   alpha: float) -> pd.DataFrame:
    """``linear`` (first alarms on the sweep's grid) with :data:`LOG_GRID_COLUMNS` from the log-spaced grid, and
    per seed whether its first alarm on that grid comes at a smaller angle than the seed-mean 5-point cliff there
    (a seed that never alarms does not)."""
    keys = ["model", "drift_type", "convention", "detector"]
    out = linear.copy()
    if detectors_log.empty:
        return out.assign(**{c: np.nan for c in LOG_GRID_COLUMNS})
    log = first_alarms(detectors_log, cliffs_log, alpha=alpha)
    fw = grid_alarms(detectors_log, alpha).sort_values(keys + ["seed", "sigma"])
    n_seeds = fw.groupby(keys)["seed"].nunique().rename("_seeds").reset_index()
    first = fw[(fw.sigma > 0) & fw.alarm_fw].groupby(keys + ["seed"])["angle_deg_mean"].first().reset_index()
    cliff = (cliffs_log[keys[:3] + ["angle_deg_5pt"]].rename(columns={"angle_deg_5pt": "_cliff"}) if len(cliffs_log)
             else pd.DataFrame(columns=[*keys[:3], "_cliff"]))
    first = first.merge(cliff, on=keys[:3], how="left")
    first["_before"] = first["angle_deg_mean"] < first["_cliff"].astype(float)
    before = n_seeds.merge(first.groupby(keys)["_before"].sum().reset_index(), on=keys, how="left").merge(
        cliff, on=keys[:3], how="left")
    share = before["_before"].fillna(0) / before["_seeds"]
    before["log_share_seeds_alarm_before_5pt"] = share.where(before["_cliff"].astype(float).notna())
    log = log.merge(before[keys + ["log_share_seeds_alarm_before_5pt"]], on=keys, how="left")
    renamed = {c: f"log_{c}" for c in ("n_sigmas", "share_seeds_alarmed", "first_alarm_sigma", "first_alarm_angle_deg",
                                       "first_alarm_angle_deg_min", "first_alarm_angle_deg_max", "sigma_5pt",
                                       "angle_deg_5pt")}
    log = log.rename(columns=renamed).reindex(columns=keys + LOG_GRID_COLUMNS)
    return out.merge(log, on=keys, how="left")


def first_alarm_table(S: RunContext) -> pd.DataFrame:
    """Table ``first_alarms``: each monitor's first alarm over the σ grid (corrected for the grid's tests)
    against the angle where the seed-mean AUC has lost 5 points (:func:`probedrift.report.tables.first_alarms`),
    with :data:`LOG_GRID_COLUMNS` from the cliff's log-spaced grid for Gaussian drift (:func:`_with_log_grid`)."""
    linear = first_alarms(S.table("detectors"), cliff_points(S.table("drift_sweep")), alpha=S.params.alpha)
    return _with_log_grid(linear, S.table("detectors_log_grid"), log_grid_cliffs(S), S.params.alpha)


def alarm_share(S: RunContext) -> pd.DataFrame:
    """Table ``alarm_share_by_sigma``: the share of drift seeds each monitor alarms at, per σ
    (:func:`probedrift.report.tables.alarm_share_by_sigma`), on the sweep's grid (``grid`` = "linear") and, for
    Gaussian drift, on the cliff's log-spaced grid ("log")."""
    alpha = S.params.alpha
    log = S.table("detectors_log_grid")
    frames = [alarm_share_by_sigma(S.table("detectors"), alpha=alpha).assign(grid="linear")]
    if len(log):
        frames.append(alarm_share_by_sigma(log, alpha=alpha).assign(grid="log"))
    return pd.concat(frames, ignore_index=True)


@timed("monitors")
def false_alarm_table(S: RunContext, model: str, design: str = "pooled") -> pd.DataFrame:
    """Each monitor's alarm rate with no drift over ``false_alarm_runs`` runs, Clopper–Pearson 95% interval.

    :func:`probedrift.science.false_alarms.false_alarm_table`; every run draws a fresh reference and sample of
    the sizes :func:`detector_table` uses (reference ``detector_sample_size`` training-sized rows,
    sample as many as the test split gives). A monitor fitted on the validation split (the
    confidence monitor) draws its reference and sample as a disjoint split of the held-out texts
    (validation + test, which the probe never saw), the reference as large as the validation split. For the
    embedding monitors ``design``:

    - ``"pooled"``: reference and sample disjoint draws from all clean texts, so they are
      exchangeable: the rate a level-α test promises (≤ α) over fresh data;
    - ``"split"``: reference from a training-sized part, sample from the held-out-sized rest, of
      :data:`SPLIT_DESIGN_POOLS` fresh stratified partitions of all clean texts (the first is not the
      run's own split: every partition is drawn the same way). Within one partition the runs share
      most of their texts, so chance differences between the two parts repeat run after run and one
      partition's rate can lie far from another's; the interval treats the partition as the unit that
      varies (:func:`probedrift.core.intervals.clustered_rate_interval`), so it covers the rate of the
      split design over partitions, not only the redraws within one.
    """
    check_choice("false-alarm design", design, FALSE_ALARM_DESIGNS)
    p = S.params
    splits = S.unit(model)
    train, val, test = splits["train"][0], splits["val"][0], splits["test"][0]
    held_out = np.concatenate([val, test])
    everything = np.concatenate([train, held_out])
    labels = np.concatenate([splits["train"][1], splits["val"][1], splits["test"][1]])
    n_ref = min(p.detector_sample_size, len(train))
    n_sample = min(p.detector_sample_size, len(test))
    kwargs = detector_kwargs(S, model)
    factories = {name: (lambda name=name, kw=kw: make_detector(name, **kw)) for name, kw in kwargs.items()}
    designs = {}
    for name in kwargs:
        if DETECTORS.get(name).reference == "val":
            designs[name] = NullDesign(held_out, held_out, len(val), min(n_sample, len(held_out) - len(val)))
        elif design == "pooled":
            designs[name] = NullDesign(everything, everything, n_ref, n_sample)
        else:
            designs[name] = NullDesign(everything, everything, n_ref, n_sample,
                                       clusters=partitions(labels, len(train), p.seed, SPLIT_DESIGN_POOLS))
    return null_alarm_table(factories, designs, n_runs=p.false_alarm_runs, seed=p.seed, model=model, design=design)


def partitions(y: np.ndarray, n_first: int, seed: int, count: int) -> tuple:
    """``count`` stratified random partitions of rows 0..n−1 into ``n_first`` rows and the rest, each class
    split in proportion (``default_rng([seed, g])`` for partition g): pairs (first rows, other rows)."""
    out = []
    for g in range(count):
        rng = np.random.default_rng([seed, g])
        first = []
        for c in (0, 1):
            rows = rng.permutation(np.flatnonzero(y == c))
            first.append(rows[:round(n_first * rows.size / y.size)])
        first = np.sort(np.concatenate(first))
        out.append((first, np.setdiff1d(np.arange(y.size), first)))
    return tuple(out)


def false_alarms(S: RunContext) -> pd.DataFrame:
    """Table ``false_alarms``: :func:`false_alarm_table` of every model under the pooled design, then of the
    first model under the split design."""
    designs = [(m, "pooled") for m in S.models] + [(S.models[0], "split")]
    return pd.concat([false_alarm_table(S, m, design=d) for m, d in designs], ignore_index=True)
