"""False alarms under no drift: how often each monitor alarms when nothing changed.

Each run draws a fresh reference and a fresh sample from clean pools (:class:`NullDesign`), fits the
monitor on the reference and tests the sample; the alarm rate over the runs comes with an exact
(Clopper–Pearson) binomial interval.
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
from probedrift.core.intervals import clopper_pearson
from probedrift.science.detectors import Detector

FALSE_ALARM_COLUMNS = ["model", "detector", "design", "n_runs", "n_alarms", "rate", "ci_low", "ci_high", "alpha",
                       "rule", "n_permutations", "n_reference", "n_sample", "seconds", "interval"]
FALSE_ALARM_INTERVAL = ("Clopper–Pearson 95% interval for the detector's no-drift alarm rate over redraws of the "
                        "reference and the sample from this run's clean texts (runs counted as independent)")


@dataclass(frozen=True)
class NullDesign:
    """How one detector is tested under no drift: ``n_reference`` rows drawn from ``reference_pool`` and
    ``n_sample`` rows from ``sample_pool``, both without replacement and fresh each run. When the two
    pools are the same array the draws are disjoint (one permutation split in two)."""

    reference_pool: np.ndarray
    sample_pool: np.ndarray
    n_reference: int
    n_sample: int


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
    interval (:func:`clopper_pearson`). A valid test at level α has rate ≤ α up to Monte-Carlo error;
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
        rng = np.random.default_rng([seed, len(rows)])
        start = time.perf_counter()
        draws = []
        for _ in range(int(n_runs)):
            if same:
                idx = rng.permutation(len(nd.reference_pool))
                draws.append((idx[:n_ref], idx[n_ref:n_ref + n_s]))
            else:
                draws.append((rng.choice(len(nd.reference_pool), n_ref, replace=False),
                              rng.choice(len(nd.sample_pool), n_s, replace=False)))

        def one_run(draw, nd=nd, factory=factory) -> bool:
            return bool(factory().fit(nd.reference_pool[draw[0]]).test(nd.sample_pool[draw[1]]).alarm)

        # Runs are independent and seeded by their draws: one per core, one BLAS thread each.
        with one_blas_thread(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            alarms = sum(pool.map(one_run, draws))
        det = factory()
        lo, hi = clopper_pearson(alarms, n_runs)
        threshold = det.threshold_rule
        rows.append({"model": model, "detector": name, "design": design, "n_runs": int(n_runs), "n_alarms": alarms,
                     "rate": alarms / n_runs, "ci_low": lo, "ci_high": hi,
                     "alpha": np.nan if threshold else det.alpha, "rule": det.describe_rule(),
                     "n_permutations": getattr(det, "n_permutations", np.nan), "n_reference": n_ref,
                     "n_sample": n_s, "seconds": time.perf_counter() - start, "interval": FALSE_ALARM_INTERVAL})
    return pd.DataFrame(rows, columns=FALSE_ALARM_COLUMNS)
