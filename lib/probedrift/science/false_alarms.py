"""False alarms under no drift: how often each monitor alarms when nothing changed.

Each run draws a fresh reference and a fresh sample from clean pools (:class:`NullDesign`), fits the
monitor on the reference and tests the sample. When every run draws from the same pools, the runs are
independent given those pools and the alarm rate comes with an exact (Clopper–Pearson) binomial
interval: it covers the redraws, given this data set. When the pools themselves are what varies -- two
fixed pools of a few hundred texts make chance differences between them repeat in every run, so one
partition's rate can lie far from another's -- the runs are spread over G pool pairs (``clusters``) and
the interval counts the pool pair as the unit that varies
(:func:`probedrift.core.intervals.clustered_rate_interval`: Clopper–Pearson at the Korn–Graubard
effective size).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.core.intervals import clopper_pearson, clustered_rate_interval
from probedrift.science.detectors import Detector

FALSE_ALARM_COLUMNS = ["model", "detector", "design", "n_runs", "n_alarms", "rate", "ci_low", "ci_high", "alpha",
                       "rule", "n_permutations", "n_reference", "n_sample", "seconds", "interval", "n_pools",
                       "design_effect"]
FALSE_ALARM_INTERVAL = ("Clopper–Pearson 95% interval for the detector's no-drift alarm rate over redraws of the "
                        "reference and the sample from this run's clean texts (runs counted as independent)")
CLUSTERED_INTERVAL = ("Clopper–Pearson 95% interval for the no-drift alarm rate over redraws of the reference "
                        "and the sample from {pools} fresh pool pairs (the runs spread evenly over them); the pool "
                        "pair is the unit that varies: effective size of Korn–Graubard (design effect from the "
                        "spread between pools, t-ratio for {pools} pools)")


@dataclass(frozen=True)
class NullDesign:
    """How one detector is tested under no drift: ``n_reference`` rows drawn from ``reference_pool`` and
    ``n_sample`` rows from ``sample_pool``, both without replacement and fresh each run. When the two
    pools are the same array the draws are disjoint (one permutation split in two).

    ``clusters`` (optional, at least two): pairs (reference rows, sample rows) of index arrays into the two
    pools, e.g. G fresh partitions of the texts; run r then draws its reference and sample from the rows of
    pair r mod G, and the interval treats the pair as the unit that varies."""

    reference_pool: np.ndarray
    sample_pool: np.ndarray
    n_reference: int
    n_sample: int
    clusters: tuple = ()


def false_alarm_table(
    factories: dict[str, Callable[[], Detector]],
    designs: dict[str, NullDesign],
    *,
    n_runs: int = 200,
    seed: int = 0,
    model: str = "model",
    design: str = "",
) -> pd.DataFrame:
    """Each detector's alarm rate when nothing drifted, with a Clopper–Pearson 95% interval.

    For detector ``name``, each of ``n_runs`` runs draws a fresh reference and a fresh sample from the
    clean pools of ``designs[name]`` (:class:`NullDesign`), fits ``factories[name]()`` on the reference
    and tests the sample. ``rate = n_alarms / n_runs``; ``[ci_low, ci_high]`` is the exact binomial
    interval (:func:`clopper_pearson`); with ``clusters`` the runs are spread over the pool pairs and the
    interval is :func:`probedrift.core.intervals.clustered_rate_interval` over them (``n_pools`` of them,
    ``design_effect`` its variance inflation; 1 pool and NaN without clusters). A valid test at level α
    has rate ≤ α up to Monte-Carlo error;
    the confidence monitor is a threshold rule (``alpha`` NaN) whose rate is whatever its threshold
    gives. Columns :data:`FALSE_ALARM_COLUMNS`; ``n_permutations`` is NaN for detectors without one;
    ``design`` is the caller's label for how the pools were chosen.
    """
    check_positive("n_runs", n_runs)
    rows = []
    for name, factory in factories.items():
        nd = designs[name]
        same = nd.reference_pool is nd.sample_pool
        n_ref, n_s = int(nd.n_reference), int(nd.n_sample)
        if same and n_ref + n_s > len(nd.reference_pool):
            raise ProbedriftError(f"{name}: a pool of {len(nd.reference_pool)} cannot give disjoint draws of "
                                  f"{n_ref} and {n_s}", "draw smaller reference and sample")
        if not same and (n_ref > len(nd.reference_pool) or n_s > len(nd.sample_pool)):
            raise ProbedriftError(f"{name}: the draws are larger than their pools", "draw fewer rows")
        clusters = [(np.asarray(a), np.asarray(b)) for a, b in nd.clusters]
        if len(clusters) == 1 or any(n_ref > len(a) or n_s > len(b) for a, b in clusters):
            raise ProbedriftError(f"{name}: clusters need at least two pool pairs, each as large as the draws",
                                  "pass G >= 2 partitions whose parts hold n_reference and n_sample rows")
        rng = np.random.default_rng([seed, len(rows)])
        start = time.perf_counter()
        draws = []
        for r in range(int(n_runs)):
            if clusters:
                a, b = clusters[r % len(clusters)]
                draws.append((rng.choice(a, n_ref, replace=False), rng.choice(b, n_s, replace=False)))
            elif same:
                idx = rng.permutation(len(nd.reference_pool))
                draws.append((idx[:n_ref], idx[n_ref:n_ref + n_s]))
            else:
                draws.append((rng.choice(len(nd.reference_pool), n_ref, replace=False),
                              rng.choice(len(nd.sample_pool), n_s, replace=False)))

        def one_run(draw, nd=nd, factory=factory) -> bool:
            return bool(factory().fit(nd.reference_pool[draw[0]]).test(nd.sample_pool[draw[1]]).alarm)

        # Runs are independent and seeded by their draws: one per core, one BLAS thread each.
        with one_blas_thread(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            outcomes = np.array(list(pool.map(one_run, draws)), dtype=np.int64)
        alarms = int(outcomes.sum())
        det = factory()
        lo, hi = clopper_pearson(alarms, n_runs)
        interval, deff = FALSE_ALARM_INTERVAL, np.nan
        if clusters:
            g = np.arange(int(n_runs)) % len(clusters)
            ci = clustered_rate_interval(np.bincount(g, outcomes), np.bincount(g))
            lo, hi, deff = ci["ci_low"], ci["ci_high"], ci["design_effect"]
            interval = CLUSTERED_INTERVAL.format(pools=len(clusters))
        threshold = det.threshold_rule
        rows.append({"model": model, "detector": name, "design": design, "n_runs": int(n_runs), "n_alarms": alarms,
                     "rate": alarms / n_runs, "ci_low": lo, "ci_high": hi,
                     "alpha": np.nan if threshold else det.alpha, "rule": det.describe_rule(),
                     "n_permutations": getattr(det, "n_permutations", np.nan), "n_reference": n_ref,
                     "n_sample": n_s, "seconds": time.perf_counter() - start, "interval": interval,
                     "n_pools": max(1, len(clusters)), "design_effect": deff})
    return pd.DataFrame(rows, columns=FALSE_ALARM_COLUMNS)
