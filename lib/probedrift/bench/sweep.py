"""Section 5: the vectorised drift sweep against a per-sample Python loop that computes the same numbers."""

from __future__ import annotations

import numpy as np

from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import apply_complex_structure, haar_orthogonal
from probedrift.inputs.synthetic import axes, two_class
from probedrift.science.drift import DRIFT_TYPES, convention_names, drift_direction, paper_conventions
from probedrift.science.metrics import probe_metrics
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import sweep as drift_sweep

from .config import Sizes
from .timing import interleaved, log, median

METRIC_COLUMNS = ("auc", "accuracy", "f1", "mean_confidence", "silent_failure_share", "silent_failure_rate", "ece")


def train_and_test_sets(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test sets of ``n`` unit embeddings each, from one synthetic two-class problem.

    :func:`probedrift.inputs.synthetic.two_class` with class axes of ``seed``: Normalize(offset + (y − ½)·δ·u
    + N(0, I/d)), δ = 1.7/√d, ‖offset‖ = 2.
    """
    geometry = axes(d, seed=seed, offset_scale=2.0)
    draws = np.random.default_rng([seed, 1])
    x_tr, y_tr = two_class(n, d, draws, class_axes=geometry)
    x_te, y_te = two_class(n, d, draws, class_axes=geometry)
    return x_tr, y_tr, x_te, y_te


def _per_sample_directions(z, drift_type: str, convention: str, sig: np.ndarray, seed: int, reference,
                           reference_labels):
    """The drift's per-sample direction ``Y_i`` (a function of i) and the coefficients (a, b) per σ,
    from the same random draw as :func:`probedrift.science.sweep.drift`."""
    n, d = z.shape
    a, b = np.ones_like(sig), sig
    if drift_type == "gaussian":
        noise = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
        if convention == "relative":
            return (lambda i: noise[i] / np.sqrt(noise[i] @ noise[i])), a, b
        return (lambda i: noise[i]), a, b
    if drift_type == "directional":
        v = drift_direction(convention, reference, reference_labels, seed if convention == "random" else 0, d=d)
        return (lambda i: v), a, b
    if convention == "true" and d % 2:
        raise ProbedriftError("the loop reference of the true rotation needs an even width", "use an even d")
    theta = sig * np.pi / 2
    Q32 = haar_orthogonal(d, seed).astype(np.float32)
    if convention == "paper_literal":
        return (lambda i: z[i] @ Q32.T), np.cos(theta), np.sin(theta)
    return (lambda i: apply_complex_structure(z[i], Q32)), np.cos(theta), np.sin(theta)


def loop_sweep_reference(z, y, probe, drift_type: str, convention: str, sigmas, seed: int, reference,
                         reference_labels) -> dict[str, np.ndarray]:
    """The sweep's numbers for one (type, convention, seed), computed one sample and one σ at a time.

    Same random draw as :func:`probedrift.science.sweep.drift`; for each sample i and σ: z' = Normalize(a z_i
    + b Y_i), p = probe(z'), angle = 2·atan2(‖z' − z_i‖, ‖z' + z_i‖); metrics per σ with the scalar
    :func:`probedrift.science.metrics.probe_metrics`.
    """
    n = z.shape[0]
    sig = np.asarray(sigmas, dtype=np.float64)
    direction, a, b = _per_sample_directions(z, drift_type, convention, sig, seed, reference, reference_labels)
    P = np.empty((sig.size, n))
    angles = np.empty((sig.size, n), dtype=np.float32)
    for i in range(n):
        zi, yi = z[i], direction(i)
        for k in range(sig.size):
            if sig[k] == 0:
                x = zi
            else:
                x = yi * np.float32(b[k])
                x += np.float32(a[k]) * zi
                x = x / np.sqrt(x @ x)
            chord = np.sqrt((x - zi) @ (x - zi))
            angles[k, i] = np.degrees(2.0 * np.arctan2(chord, np.sqrt(max(4.0 - chord * chord, 0.0))))
            P[k, i] = probe.predict_proba(x[None])[0]
    rows = [probe_metrics(y, P[k]) for k in range(sig.size)]
    out = {m: np.array([r[m] for r in rows]) for m in METRIC_COLUMNS}
    out["angle_deg_mean"] = angles.mean(axis=1, dtype=np.float64)
    out["angle_deg_median"] = np.median(angles, axis=1)
    return out


def _max_abs_diffs(rows, loop_out: dict[str, np.ndarray]) -> dict[str, float]:
    """Per column, max |sweep − loop| (NaN in both counts as equal; NaN in one only as inf)."""
    diffs = {}
    for col, values in loop_out.items():
        vec = rows[col].to_numpy(dtype=np.float64)
        both_nan = np.isnan(vec) & np.isnan(values)
        diffs[col] = float(np.nanmax(np.where(both_nan, 0.0, np.abs(vec - values)), initial=0.0))
        if np.isnan(vec).sum() != np.isnan(values).sum():
            diffs[col] = float("inf")
    return diffs


def _time_full_sweep(sz: Sizes, sets, probe, sigmas) -> tuple[dict, object]:
    """Median seconds of the whole sweep (every type and convention, all σ and seeds); its table."""
    x_tr, y_tr, x_te, y_te = sets
    seeds = list(range(sz.sweep_seeds))
    n_pairs = sum(len(convention_names(t)) for t in DRIFT_TYPES)

    def full_sweep(seed_list=seeds):
        haar_orthogonal.cache_clear()  # every repetition draws its rotations afresh
        return drift_sweep(x_te, y_te, probe, drift_types=DRIFT_TYPES, conventions="all",
                        sigmas=sigmas, seeds=seed_list, reference=x_tr, reference_labels=y_tr, progress=False)

    log(f"drift sweep: {n_pairs} type/conventions x {sz.n_sigmas} sigmas x {len(seeds)} seeds "
        f"on {sz.sweep_n} x {sz.sweep_d}")
    full_sweep([0])
    times, outs = interleaved({"sweep": full_sweep}, sz.reps)
    res = {
        "n": sz.sweep_n, "d": sz.sweep_d, "n_sigmas": sz.n_sigmas, "n_seeds": len(seeds),
        "type_conventions": n_pairs, "configurations": n_pairs * len(seeds), "seconds": times["sweep"],
        "median_seconds": median(times["sweep"]), "includes": "drift, angles, predictions and metrics",
    }
    return res, outs["sweep"]


def _loop_against_sweep(sz: Sizes, sets, probe, sigmas, table, failures: list[str]) -> dict:
    """The loop reference and the vectorised sweep, interleaved, on seed 0 of one convention per type;
    their numbers compared with the full sweep's, and the loop's time extrapolated to the full sweep."""
    x_tr, y_tr, x_te, y_te = sets
    loop_configs = list(paper_conventions().items())
    log(f"loop reference on {len(loop_configs)} configurations x {sz.n_sigmas} sigmas x 1 seed")
    per_config, max_diff, extrapolated = {}, {}, 0.0
    for t, c in loop_configs:
        ref_fn = lambda t=t, c=c: loop_sweep_reference(x_te, y_te, probe, t, c, sigmas, 0, x_tr, y_tr)  # noqa: E731
        vec_fn = lambda t=t, c=c: drift_sweep(x_te, y_te, probe, drift_types=t,  # noqa: E731
                                             conventions={t: [c]}, sigmas=sigmas, seeds=[0], reference=x_tr,
                                             reference_labels=y_tr, progress=False)
        vec_fn()
        ct, couts = interleaved({"loop": ref_fn, "vectorised": vec_fn}, sz.reps)
        rows = table[(table.drift_type == t) & (table.convention == c) & (table.seed == 0)]
        diffs = max_diff[f"{t}/{c}"] = _max_abs_diffs(rows, couts["loop"])
        tol_ok = all(v <= (1e-3 if col.startswith("angle") else 1e-5) for col, v in diffs.items())
        if not tol_ok:
            failures.append(f"loop reference differs from the sweep for {t}/{c}: {diffs}")
        t_loop, t_vec = median(ct["loop"]), median(ct["vectorised"])
        per_config[f"{t}/{c}"] = {"loop_seconds": t_loop, "vectorised_seconds": t_vec,
                                  "ratio": t_loop / t_vec, "numbers_equal": tol_ok}
        extrapolated += t_loop * len(convention_names(t)) * sz.sweep_seeds
    return {
        "configurations_timed": [f"{t}/{c} seed 0" for t, c in loop_configs],
        "per_configuration": per_config,
        "extrapolated_seconds": extrapolated,
        "extrapolation": "loop seconds per configuration of each type x (conventions of that type x seeds)",
        "max_abs_diff": max_diff,
    }


def bench_drift_sweep(sz: Sizes) -> tuple[dict, list[str]]:
    """Section 5: seconds of the vectorised drift sweep (paper's probe on synthetic embeddings), and its
    speed-up over the per-sample loop reference, whose numbers must equal the sweep's."""
    failures: list[str] = []
    sets = train_and_test_sets(sz.sweep_n, sz.sweep_d)
    probe = paper_probe(0).fit(sets[0], sets[1])
    sigmas = np.linspace(0.0, 0.15, sz.n_sigmas)
    res, table = _time_full_sweep(sz, sets, probe, sigmas)
    res["loop_reference"] = _loop_against_sweep(sz, sets, probe, sigmas, table, failures)
    res["ratio_vs_loop"] = res["loop_reference"]["extrapolated_seconds"] / res["median_seconds"]
    return res, failures
