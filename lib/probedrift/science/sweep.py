"""Drifted sets and the drift sweep: a frozen probe scored on drifted test embeddings over drift types,
conventions, σ and seeds (paper §2.1).

:func:`drift` materialises the drifted copies of a set of unit embeddings for one seed, with their
measured angles. :func:`sweep` scores a probe on every (drift type, convention, σ, seed) without
keeping them: each registered drift is built once per seed as a
:class:`~probedrift.science.drift_forms.DriftForm`, angles come in closed form from its geometry, and each σ
writes its vectors into one reused buffer. For a probe with an affine decision function
(:meth:`probedrift.science.probes.LinearProbe.affine_form`) no vector is written at all: the logit of the
unit vector x = (a z + Σ_j c_j Ŷ_j)/‖·‖ follows from z·w, the per-term Ŷ_j·w and ‖·‖, in O(n) per σ.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.special
from tqdm import tqdm

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.core.sphere import check_seed, normalize, row_norms, unit_angle
from probedrift.science.drift import DRIFT_TYPES, drift_convention, resolve_conventions
from probedrift.science.drift_forms import DriftConvention, DriftForm, DriftInputs, FormGeometry, check_form
from probedrift.science.metrics import SWEEP_METRICS, probe_metrics_batch
from probedrift.science.probes import AffineForm, affine_form_of

__all__ = ["SWEEP_COLUMNS", "DriftedSet", "SweepPredictions", "drift", "sweep"]

#: Columns of the table returned by :func:`sweep`, in order.
SWEEP_COLUMNS = ("model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "angle_deg_median",
                 *SWEEP_METRICS)

_UNIT_TOL = 1e-3  # how far from 1 a row norm may be before the input counts as not unit-normalised
_LOOKAHEAD_SEEDS = 2  # seeds a sweep prepares ahead of the one it scores (each holds a few (n, d) arrays)


# --------------------------------------------------------------------------- input checks


def _check_unit(z: object, name: str = "z") -> np.ndarray:
    arr = np.asarray(z)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] < 2:
        raise ProbedriftError(
            f"{name} must be a 2-D array (n samples x d dims, d >= 2), got shape {arr.shape}",
            "pass one embedding per row",
        )
    if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
        raise ProbedriftError(f"{name} holds NaN, inf or non-numbers", "clean the embeddings first")
    arr = arr.astype(np.float32, copy=False)
    norms = row_norms(arr)
    if np.abs(norms - 1.0).max() > _UNIT_TOL:
        raise ProbedriftError(
            f"{name} is not unit-normalised (row norms from {norms.min():.3g} to {norms.max():.3g})",
            "pass probedrift.core.sphere.normalize(z); the drift formulas live on the unit sphere",
        )
    return arr


def _check_sigmas(sigmas: object) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0:
        raise ProbedriftError(
            f"sigmas must be a 1-D grid, got shape {arr.shape}", "pass e.g. np.linspace(0, 0.15, 8)"
        )
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ProbedriftError(
            f"sigmas must be finite and >= 0, got {arr.tolist()}",
            "drift magnitudes are non-negative; use e.g. np.linspace(0, 0.15, 8)",
        )
    return arr


def _check_direction(direction: object, d: int) -> np.ndarray | None:
    if direction is None:
        return None
    v = np.asarray(direction, dtype=np.float32)
    if v.shape != (d,) or not np.isfinite(v).all() or abs(np.linalg.norm(v) - 1) > _UNIT_TOL:
        raise ProbedriftError(
            f"direction must be a unit vector of length {d}", "pass the output of drift_direction(...)"
        )
    return v


def _build(entry: DriftConvention, inputs: DriftInputs) -> DriftForm | np.ndarray:
    """The entry's checked form, or for a drift registered with linear=False its (S, n, d) vectors."""
    out = entry.build(inputs)
    n, d = inputs.z.shape
    S = inputs.sigmas.size
    if entry.linear:
        return check_form(out, f"{entry.drift_type}/{entry.convention}", (n, d), S)
    arr = np.asarray(out, dtype=np.float32)
    if arr.shape != (S, n, d):
        raise ProbedriftError(
            f"the {entry.drift_type}/{entry.convention} drift returned shape {arr.shape}, expected {(S, n, d)}",
            "a drift registered with linear=False returns the drifted vectors of every σ",
        )
    return arr


# --------------------------------------------------------------------------- drifted sets


@dataclass
class DriftedSet:
    """Drifted copies of a set of unit embeddings over a σ grid.

    embeddings: (S, n, d) float32 unit vectors, one slice per σ; angles_deg: (S, n) float32 measured
    angle between each clean and drifted vector; sigmas: (S,) the grid. The remaining fields record how
    the set was made.
    """

    embeddings: np.ndarray
    angles_deg: np.ndarray
    sigmas: np.ndarray
    drift_type: str = ""
    convention: str = ""
    seed: int | None = None


def drift(
    z: object,
    drift_type: str,
    convention: str,
    sigmas: object,
    seed: int,
    *,
    reference: object = None,
    reference_labels: object = None,
    theta_per_sigma: float = np.pi / 2,
    direction: object = None,
) -> DriftedSet:
    """Drift unit embeddings z (n, d) at every σ of a grid with one seed's random draw (paper §2.2).

    z'(σ) = Normalize(a(σ) z + Σ_j c_j(σ) s_j ⊙ Y_j) as registered for (drift_type, convention) (see
    :mod:`probedrift.science.drift` and :func:`probedrift.science.drift.conventions_table`). The random object is drawn
    once per seed and scaled by each σ; σ = 0 returns z unchanged. Rotations use θ = σ · theta_per_sigma
    (the paper's θ = σ·π/2). ``reference`` / ``reference_labels`` are needed by the class_mean_difference
    and top_pc directions (use the training set, not the test set); ``direction`` passes a precomputed v
    from :func:`probedrift.science.drift.drift_direction` instead (saves recomputing it for every seed). Angles
    are measured on the returned vectors, 2·atan2(‖z' − z‖, ‖z' + z‖).

    Note on directional drift: a fixed shift σv changes the logit wᵀz + b of a linear probe by about
    σ·wᵀv for every sample (before re-normalisation), so the ranking -- and ROC-AUC -- barely moves
    while accuracy, confidence and the silent-failure figures can collapse.
    """
    entry = drift_convention(drift_type, convention)
    z = _check_unit(z)
    sig = _check_sigmas(sigmas)
    seed = check_seed(seed)
    check_positive("theta_per_sigma", theta_per_sigma)
    n, d = z.shape
    inputs = DriftInputs(
        z, sig, seed, float(theta_per_sigma), reference, reference_labels, _check_direction(direction, d)
    )
    out = np.empty((sig.size, n, d), dtype=np.float32)
    angles = np.zeros((sig.size, n), dtype=np.float32)
    with one_blas_thread():
        built = _build(entry, inputs)
        geometry = FormGeometry(built, z) if entry.linear else None
        for k in range(sig.size):
            if sig[k] == 0:
                out[k] = z  # exactly the identity
                continue
            if geometry is not None:
                geometry.write(k, z, out[k])
            else:
                out[k] = built[k]
            out[k] /= row_norms(out[k])[:, None]  # trims rounding (and normalises a non-linear drift)
            angles[k] = np.degrees(unit_angle(z, out[k]))
    return DriftedSet(out, angles, sig, drift_type, convention, seed)


# --------------------------------------------------------------------------- scoring


def _call_probe(predict_proba: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    p = np.array(predict_proba(x), dtype=np.float64)
    if p.ndim == 2 and p.shape == (x.shape[0], 2):
        p = p[:, 1]  # a scikit-learn style (m, 2) output: keep p(class 1)
    if p.shape != (x.shape[0],):
        raise ProbedriftError(
            f"predict_proba returned shape {p.shape} for {x.shape[0]} inputs",
            "return p(class 1) of shape (m,), e.g. lambda x: clf.predict_proba(x)[:, 1]",
        )
    return p


def _prepare(entry: DriftConvention, inputs: DriftInputs) -> FormGeometry | np.ndarray:
    """A drift ready to score: the per-row geometry of its form, or the vectors of a non-linear drift."""
    built = _build(entry, inputs)
    return FormGeometry(built, inputs.z) if entry.linear else built


class _SweepScorer:
    """Scores one prepared drift (all σ of one seed) with the probe, reusing one (n, d) buffer.

    For a probe with an affine form (w, b, T) no drifted vector is written: the drifted x =
    (a z + Σ_j c_j Ŷ_j)/‖·‖ is unit, so its logit x·w + b follows from z·w and the per-term Ŷ_j·w
    (computed once per seed) and the norm the form's geometry already gives, O(n) per σ instead of an
    (n, d) write and product.
    """

    def __init__(self, z: np.ndarray, sig: np.ndarray, predict_proba: Callable[[np.ndarray], np.ndarray],
                 affine: AffineForm | None):
        self.z, self.sig, self.predict_proba = z, sig, predict_proba
        self.buffer = np.empty(z.shape, dtype=np.float32)
        self.clean = _call_probe(predict_proba, z) if (sig == 0).any() else None
        self.affine = affine
        self.zw = z.astype(np.float64) @ affine.weights if affine is not None else None

    def _score_affine(self, prepared: FormGeometry) -> tuple[np.ndarray, np.ndarray]:
        w, b, temperature = self.affine
        sig, n = self.sig, self.z.shape[0]
        parts = prepared.projections(w, self.zw)
        P = np.empty((sig.size, n))
        angles = np.zeros((sig.size, n))
        for k in range(sig.size):
            if sig[k] == 0:
                P[k] = self.clean
                continue
            inverse, angles[k] = prepared.inverse_norm_and_angle(k, n)
            along = float(prepared.form.z_coefficient[k]) * self.zw
            for term, part in zip(prepared.form.terms, parts, strict=True):
                along = along + float(term.coefficient[k]) * part
            P[k] = scipy.special.expit((inverse * along + b) / temperature)
        return P, angles

    def score(self, prepared: FormGeometry | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probe outputs P (S, n) and angles in degrees (S, n) of every σ; σ = 0 is z itself."""
        if self.affine is not None and isinstance(prepared, FormGeometry):
            return self._score_affine(prepared)
        z, sig = self.z, self.sig
        P = np.empty((sig.size, z.shape[0]))
        angles = np.zeros((sig.size, z.shape[0]))
        for k in range(sig.size):
            if sig[k] == 0:
                P[k] = self.clean
                continue
            if isinstance(prepared, FormGeometry):
                angles[k] = prepared.write(k, z, self.buffer)
            else:
                self.buffer[:] = normalize(prepared[k])
                angles[k] = np.degrees(unit_angle(z, self.buffer))
            P[k] = _call_probe(self.predict_proba, self.buffer)
        return P, angles


# --------------------------------------------------------------------------- sweep


@dataclass
class SweepPredictions:
    """Per-text outputs behind a :func:`sweep` table.

    probabilities[(drift_type, convention)]: (k seeds, S σ, n texts) float64 p(class 1) of the probe;
    angles_deg[...]: the same shape, float32 angle of each text's drifted vector from its clean one;
    sigmas: (S,) the grid; seeds: (k,) the drift seeds, in the order of the first axis.
    """

    sigmas: np.ndarray
    seeds: np.ndarray
    probabilities: dict
    angles_deg: dict


def sweep(
    z: object,
    y: object,
    probe: object,
    *,
    drift_types: Sequence[str] | str = DRIFT_TYPES,
    conventions: Mapping[str, Sequence[str] | str] | str | None = None,
    sigmas: object,
    seeds: Sequence[int] | int,
    tau: float = 0.8,
    ece_bins: int = 5,
    reference: object = None,
    reference_labels: object = None,
    model: str | None = None,
    progress: bool = True,
    return_predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, SweepPredictions]:
    """Evaluate a frozen probe on drifted test embeddings over types, conventions, σ and seeds (§2.1).

    ``probe``: a probe (an object with ``predict_proba``, such as :class:`probedrift.science.probes.LinearProbe`),
    a probe's own ``predict_proba`` method, or any callable mapping unit embeddings to p(class 1), shape
    (n,) (an (n, 2) output is read as scikit-learn's; it must not keep the array it is given). When the
    probe's :meth:`affine_form` gives (w, b, T), every σ is scored in closed form without writing a
    drifted vector; otherwise each σ writes its unit vectors into one reused (n, d) buffer and calls
    predict_proba on it. For every (drift_type, convention, seed) the drift is built once as
    z'(σ) = Normalize(a(σ) z + Σ_j c_j(σ) s_j ⊙ Y_j) (at most one d x d product on z, shared random
    draws across conventions of a seed); σ = 0 is scored once on z. Angles come in closed form from
    the per-row inner products of z and Y_j (equal to the measured angle of :func:`drift` up to float32
    rounding). Drifts registered with seeded=False are computed once and repeated for every seed.
    ``conventions``: see :func:`probedrift.science.drift.resolve_conventions`. Returns one row per
    (drift_type, convention, σ, seed) with the columns SWEEP_COLUMNS (metrics as in
    :func:`probedrift.science.metrics.probe_metrics`, silent failure at confidence >= tau). With
    ``return_predictions`` it returns ``(table, SweepPredictions)``: the per-text probabilities and
    angles behind every row, so intervals over texts need not draw the drifted sets again.
    """
    z = _check_unit(z)
    y_arr = np.asarray(y)
    if y_arr.shape != (z.shape[0],):
        raise ProbedriftError(
            f"y has shape {y_arr.shape} but z has {z.shape[0]} rows",
            "pass one 0/1 label per embedding",
        )
    predict_proba = probe if not hasattr(probe, "predict_proba") else probe.predict_proba
    affine = affine_form_of(probe)
    pairs = resolve_conventions(drift_types, conventions)
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    seed_list = [check_seed(s) for s in seed_list]
    if not seed_list:
        raise ProbedriftError("seeds is empty", "pass e.g. seeds=range(10)")
    sig = _check_sigmas(sigmas)
    theta_per_sigma = np.pi / 2
    entries = {pair: drift_convention(*pair) for pair in pairs}

    def inputs(seed: int, shared: dict) -> DriftInputs:
        return DriftInputs(z, sig, seed, theta_per_sigma, reference, reference_labels, None, shared)

    def prepare_seed(seed: int) -> dict[tuple[str, str], FormGeometry | np.ndarray]:
        shared: dict = {}  # the seed's noise and Haar matrix, shared by its conventions
        return {pair: _prepare(e, inputs(seed, shared)) for pair, e in entries.items() if e.seeded}

    n_seeded = sum(e.seeded for e in entries.values())
    bar = tqdm(total=(len(entries) - n_seeded) + n_seeded * len(seed_list), desc="drift sweep", disable=not progress)
    results: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = {}
    # Worker threads prepare the next seeds (random draws, Haar matrix, products, row geometry) while
    # this thread scores the current one with the probe. Nearly all of it runs in BLAS or numpy kernels
    # that release the GIL, so the threads share the cores; BLAS itself stays on one thread per call.
    with one_blas_thread(), bar, ThreadPoolExecutor(max_workers=_LOOKAHEAD_SEEDS) as workers:
        upcoming = deque(workers.submit(prepare_seed, s) for s in (seed_list[:_LOOKAHEAD_SEEDS] if n_seeded else []))
        # Seed-independent drifts (directions from the reference set) are prepared once, first, so a
        # missing reference fails early.
        unseeded = {pair: _prepare(e, inputs(seed_list[0], {})) for pair, e in entries.items() if not e.seeded}
        scorer = _SweepScorer(z, sig, predict_proba, affine)
        for pair, prepared in unseeded.items():
            result = scorer.score(prepared)
            results.update({(*pair, s): result for s in seed_list})
            bar.update()
        for i, s in enumerate(seed_list if n_seeded else []):
            prepared_seed = upcoming.popleft().result()
            if i + _LOOKAHEAD_SEEDS < len(seed_list):
                upcoming.append(workers.submit(prepare_seed, seed_list[i + _LOOKAHEAD_SEEDS]))
            for pair, prepared in prepared_seed.items():
                results[(*pair, s)] = scorer.score(prepared)
                bar.update()
            del prepared_seed

    keys = [(t, c, s) for t, c in pairs for s in seed_list]
    # Seed-independent drifts share one result across seeds: their metrics are computed once.
    distinct = list({id(results[key]): results[key] for key in keys}.values())
    position = {id(result): i for i, result in enumerate(distinct)}
    rows = np.concatenate([position[id(results[key])] * sig.size + np.arange(sig.size) for key in keys])
    P = np.concatenate([result[0] for result in distinct])
    angles = np.concatenate([result[1] for result in distinct])
    metrics = probe_metrics_batch(y_arr, P, tau, ece_bins, list(SWEEP_METRICS))
    columns = {
        "model": model if model is not None else "",
        "drift_type": np.repeat([t for t, _, _ in keys], sig.size),
        "convention": np.repeat([c for _, c, _ in keys], sig.size),
        "sigma": np.tile(sig, len(keys)),
        "seed": np.repeat(np.array([s for _, _, s in keys], dtype=np.int64), sig.size),
        "angle_deg_mean": angles.mean(axis=1)[rows],
        "angle_deg_median": np.median(angles, axis=1)[rows],
        **{name: values[rows] for name, values in metrics.items()},
    }
    table = pd.DataFrame(columns)[list(SWEEP_COLUMNS)]
    if not return_predictions:
        return table
    stack = {pair: [results[(*pair, s)] for s in seed_list] for pair in pairs}
    predictions = SweepPredictions(
        sigmas=sig, seeds=np.array(seed_list, dtype=np.int64),
        probabilities={pair: np.stack([r[0] for r in rs]) for pair, rs in stack.items()},
        angles_deg={pair: np.stack([r[1] for r in rs]).astype(np.float32) for pair, rs in stack.items()},
    )
    return table, predictions
