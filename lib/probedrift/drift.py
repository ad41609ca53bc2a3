"""Synthetic drift on the unit sphere, with the angle it actually causes (paper §2.2).

The paper simulates model updates by perturbing unit-normalised test embeddings with three
mechanisms -- Gaussian noise, a fixed direction and a "rotation" -- whose size is set by a scalar σ on
the grid linspace(0, 0.15, 8). Its formulas admit several readings (open questions 1 and 3), and they
give very different angles for the same σ, so each mechanism comes in named *conventions* and every
drifted set reports the measured per-sample angle between clean and drifted vectors:

- gaussian/per_dim (paper): Normalize(z + ε), ε ~ N(0, σ² I_d). Angle ≈ atan(σ√d): 27° at d = 640,
  σ = 0.02.
- gaussian/relative: Normalize(z + σ‖z‖ g/‖g‖), g ~ N(0, I_d). Angle ≈ atan σ = 1.15° at σ = 0.02.
- directional/random (paper): Normalize(z + σ v), v a seeded isotropic unit vector. Angle ≈ atan σ.
- directional/class_mean_difference: the same with v = Normalize(μ₀ − μ₁) of a labelled reference set.
- directional/top_pc: the same with v = the first principal component of a reference set.
- rotation/true: R z with R = cos θ I + sin θ J, J a random complex structure (orthogonal and
  skew-symmetric), θ = σ·π/2. Every vector moves by exactly θ (1.8° at σ = 0.02).
- rotation/paper_literal (paper): Normalize((cos θ I + sin θ Q) z), Q Haar-random orthogonal. Not a
  rotation, but after Normalize vectors still move by ≈ θ in high dimension.

(Normalize = row L2 normalisation; z is unit-normalised.)

The abstract's "σ = 0.02 ≈ 1° ≈ 2% of the norm" matches the ``relative`` reading, not the per-dimension
formula the paper writes down (which at d ≈ 1000 moves every embedding by about 30°).

All random objects (noise matrix, direction, orthogonal matrix) are drawn once per seed and scaled by
each σ of the grid (common random numbers), so curves over σ are smooth and σ = 0 is exactly the
identity.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg
from sklearn.decomposition import PCA
from tqdm import tqdm

from probedrift.errors import ProbedriftError, check_choice, check_positive
from probedrift.metrics import probe_metrics_batch

__all__ = [
    "CONVENTIONS",
    "DRIFT_TYPES",
    "PAPER_CONVENTIONS",
    "SWEEP_COLUMNS",
    "DriftedSet",
    "angle_deg",
    "drift",
    "drift_direction",
    "normalize",
    "paper_literal_matrix",
    "rotation_matrix",
    "sweep",
]

DRIFT_TYPES = ("gaussian", "directional", "rotation")

CONVENTIONS = {
    "gaussian": ("per_dim", "relative"),
    "directional": ("random", "class_mean_difference", "top_pc"),
    "rotation": ("true", "paper_literal"),
}

#: The literal reading of the paper's formulas (§2.2). Note: the abstract's "σ = 0.02 ≈ 1°" matches
#: gaussian/"relative" instead; "per_dim" gives ≈ atan(σ√d) (≈ 30° at d ≈ 1000).
PAPER_CONVENTIONS = {"gaussian": "per_dim", "directional": "random", "rotation": "paper_literal"}

#: Columns of the table returned by :func:`sweep`, in order.
SWEEP_COLUMNS = (
    "model",
    "drift_type",
    "convention",
    "sigma",
    "seed",
    "angle_deg_mean",
    "angle_deg_median",
    "auc",
    "accuracy",
    "f1",
    "mean_confidence",
    "silent_failure_share",
    "silent_failure_rate",
    "ece",
)

_UNIT_TOL = 1e-3  # how far from 1 a row norm may be before the input counts as not unit-normalised


# --------------------------------------------------------------------------- geometry helpers


def normalize(z: object) -> np.ndarray:
    """Row L2 normalisation along the last axis, z / ‖z‖; all-zero rows stay zero.

    Floating input keeps its dtype; anything else becomes float32. Returns a new array.
    """
    arr = np.asarray(z)
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float32)
    # einsum avoids np.linalg.norm's squared temporary: 2-3x faster on (S, n, d) stacks.
    norms = np.sqrt(np.einsum("...i,...i->...", arr, arr))[..., None]
    return np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)


def _row_norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("...i,...i->...", x, x))


def _angle_unit(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between unit rows: 2·atan2(‖a − b‖, ‖a + b‖), with ‖a + b‖² = 4 − ‖a − b‖²."""
    chord = _row_norm(b - a)
    return 2.0 * np.arctan2(chord, np.sqrt(np.maximum(4.0 - chord * chord, 0.0)))


def angle_deg(a: object, b: object) -> np.ndarray:
    """Per-row angle in degrees between a and b (broadcast over leading axes).

    Uses 2·atan2(‖â − b̂‖, ‖â + b̂‖) rather than arccos(clip(â·b̂, −1, 1)): the arccos form loses all
    precision for the ≈1° angles this study is about (cos 1° = 0.99985 sits a few float32 steps
    from 1), while the chord form is accurate at every angle. Rows where either vector is zero give NaN.
    """
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape[-1:] != b_arr.shape[-1:]:
        raise ProbedriftError(
            f"a and b must have the same last dimension, got shapes {a_arr.shape} and {b_arr.shape}",
            "compare embeddings of the same model (same width)",
        )
    ang = _angle_unit(normalize(a_arr), normalize(b_arr))
    zero = (_row_norm(a_arr) == 0) | (_row_norm(b_arr) == 0)
    return np.where(zero, np.nan, np.degrees(ang))


@functools.lru_cache(maxsize=4)
def _haar_from_seed(d: int, seed: int) -> np.ndarray:
    """Haar-random orthogonal d x d matrix (float64, read-only) for a seed.

    Q is the orthogonal factor of a standard Gaussian matrix G = QR with R's diagonal made positive
    (Mezzadri 2007). It is computed by Cholesky QR (R = chol(GᵀG)ᵀ, Q = G R⁻¹), which yields that same
    positive-diagonal factor directly and runs on matrix products: LAPACK's Householder QR was several
    times slower at d = 1024 on a 2-core CPU, where it dominates a sweep. Cholesky QR loses orthogonality as
    κ(G)², so the result is checked and Householder QR with the sign fix is the fallback. Cached
    because the "true" and "paper_literal" rotations of a seed share their Q.
    """
    G = np.random.default_rng(seed).standard_normal((d, d))
    try:
        L = np.linalg.cholesky(G.T @ G)
        Q = linalg.solve_triangular(L, G.T, lower=True, check_finite=False).T
        ok = np.abs(Q.T @ Q - np.eye(d)).max() < 1e-6
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        Q, R = np.linalg.qr(G)
        Q = Q * np.sign(np.diag(R))
    Q.setflags(write=False)
    return Q


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ProbedriftError(f"seed must be a non-negative integer, got {seed!r}", "pass e.g. seed=0")
    return int(seed)


def _apply_complex_structure(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Rows of x times Jᵀ with J = Q J₀ Qᵀ, J₀ = blockdiag([[0, −1], [1, 0]], ..., [0] if d is odd).

    Computed as ((x Q) J₀ᵀ) Qᵀ; multiplying a row by J₀ᵀ maps each pair (u, v) to (−v, u), so J is
    never formed.
    """
    d = x.shape[-1]
    xq = x @ Q
    y = np.zeros_like(xq)
    m = 2 * (d // 2)
    y[..., 0:m:2] = -xq[..., 1:m:2]
    y[..., 1:m:2] = xq[..., 0:m:2]
    return y @ Q.T


def rotation_matrix(d: int, theta: float, seed: int) -> np.ndarray:
    """The orthogonal matrix of the ``rotation``/``true`` drift: R = cos θ I + sin θ J (float64, d x d).

    J = Q J₀ Qᵀ with Q Haar-random (same seed as :func:`drift`) and J₀ block-diagonal [[0, −1], [1, 0]].
    For even d, J is skew-symmetric and orthogonal (J² = −I), so RᵀR = I and zᵀR z = cos θ for every
    unit z (zᵀJz = 0): every vector moves by exactly θ. For odd d, the axis q = Q[:, −1] has no partner
    and is left fixed, R = cos θ (I − qqᵀ) + qqᵀ + sin θ J (still orthogonal); a vector then moves by
    less than θ unless it is orthogonal to q.
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ProbedriftError(f"d must be an integer >= 2, got {d!r}", "pass the embedding width")
    Q = _haar_from_seed(int(d), _check_seed(seed))
    J = _apply_complex_structure(np.eye(d), Q).T  # rows of I times Jᵀ = Jᵀ
    R = np.cos(theta) * np.eye(d) + np.sin(theta) * J
    if d % 2:
        q = Q[:, -1]
        R += (1.0 - np.cos(theta)) * np.outer(q, q)
    return R


def paper_literal_matrix(d: int, theta: float, seed: int) -> np.ndarray:
    """The paper's literal "rotation" matrix M = cos θ I + sin θ Q (float64, d x d), Q Haar-random.

    Not a rotation (open question 3): MᵀM = I + sin θ cos θ (Q + Qᵀ) ≠ I for 0 < θ < π/2, with
    ‖MᵀM − I‖₂ ≈ sin 2θ in high dimension. The ``rotation``/``paper_literal`` drift is Normalize(M z)
    with the same Q as :func:`rotation_matrix` for the same seed.
    """
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ProbedriftError(f"d must be an integer >= 2, got {d!r}", "pass the embedding width")
    Q = _haar_from_seed(int(d), _check_seed(seed))
    return np.cos(theta) * np.eye(d) + np.sin(theta) * Q


# --------------------------------------------------------------------------- drift


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
    norms = _row_norm(arr)
    if np.abs(norms - 1.0).max() > _UNIT_TOL:
        raise ProbedriftError(
            f"{name} is not unit-normalised (row norms from {norms.min():.3g} to {norms.max():.3g})",
            "pass probedrift.drift.normalize(z); the drift formulas live on the unit sphere",
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


def drift_direction(
    kind: str,
    reference: object = None,
    reference_labels: object = None,
    seed: int = 0,
    *,
    d: int | None = None,
) -> np.ndarray:
    """The fixed unit vector v of a directional drift (float32, shape (d,)). The paper does not say how v
    is chosen (open question 12), so three choices are offered:

    - ``random``: a seeded isotropic direction, g/‖g‖ with g ~ N(0, I_d). Needs ``d`` or ``reference``.
    - ``class_mean_difference``: v = Normalize(μ₀ − μ₁) of the labelled reference set. It points from
      the class-1 (unsafe) mean to the class-0 (safe) mean, so a positive σ makes every embedding look
      safer -- the harmful direction for a safety probe.
    - ``top_pc``: the first principal component of the reference set (scikit-learn PCA, whose sign
      convention makes the largest-magnitude loading positive). The direction of largest variance,
      e.g. a shared offset that a model update might change.
    """
    check_choice("directional convention", kind, CONVENTIONS["directional"])
    seed = _check_seed(seed)
    if kind == "random":
        if d is None:
            if reference is None:
                raise ProbedriftError(
                    "a random direction needs the embedding width",
                    "pass d=<width> or reference=<embeddings>",
                )
            d = np.asarray(reference).shape[-1]
        g = np.random.default_rng(seed).standard_normal(int(d))
        return normalize(g).astype(np.float32)
    if reference is None:
        raise ProbedriftError(
            f"the {kind!r} direction needs a reference set of embeddings",
            "pass reference=<training embeddings> (and reference_labels for class_mean_difference), "
            "or use kind='random'",
        )
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ProbedriftError(
            f"reference must be 2-D with at least 2 rows, got shape {ref.shape}",
            "pass the training embeddings, one per row",
        )
    if d is not None and ref.shape[1] != d:
        raise ProbedriftError(
            f"reference has width {ref.shape[1]} but the embeddings have width {d}",
            "use a reference set from the same model and layer",
        )
    if kind == "class_mean_difference":
        if reference_labels is None:
            raise ProbedriftError(
                "class_mean_difference needs reference_labels",
                "pass reference_labels (0/1, one per reference row)",
            )
        lab = np.asarray(reference_labels)
        if lab.shape != (ref.shape[0],) or not np.isin(lab, (0, 1)).all() or np.unique(lab).size < 2:
            raise ProbedriftError(
                "reference_labels must be 0/1, one per reference row, with both classes present",
                "pass the training labels that belong to the reference embeddings",
            )
        diff = ref[lab == 0].mean(axis=0) - ref[lab == 1].mean(axis=0)
        if np.linalg.norm(diff) == 0:
            raise ProbedriftError("the two class means coincide", "use kind='top_pc' or 'random'")
        return normalize(diff).astype(np.float32)
    # ARPACK finds the one leading component ~10x faster than a full SVD at d ~ 1000; the fixed
    # starting vector keeps the direction independent of the drift seed.
    solver = "arpack" if min(ref.shape) > 2 else "full"
    pc = PCA(n_components=1, svd_solver=solver, random_state=0).fit(ref).components_[0]
    return normalize(pc).astype(np.float32)


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

    See the module docstring for the formulas of each (drift_type, convention). The random object is
    drawn once per seed and scaled by each σ; σ = 0 returns z unchanged. Rotations use
    θ = σ · theta_per_sigma (the paper's θ = σ·π/2). ``reference`` / ``reference_labels`` are needed by
    the class_mean_difference and top_pc directions (use the training set, not the test set);
    ``direction`` passes a precomputed v from :func:`drift_direction` instead (saves recomputing it
    for every seed).

    Note on directional drift: a fixed shift σv changes the logit wᵀz + b of a linear probe by about
    σ·wᵀv for every sample (before re-normalisation), so the ranking -- and ROC-AUC -- barely moves
    while accuracy, confidence and the silent-failure figures can collapse.
    """
    check_choice("drift type", drift_type, DRIFT_TYPES)
    check_choice(f"{drift_type} convention", convention, CONVENTIONS[drift_type])
    z = _check_unit(z)
    sig = _check_sigmas(sigmas)
    seed = _check_seed(seed)
    check_positive("theta_per_sigma", theta_per_sigma)
    n, d = z.shape
    # Every drift is z' = Normalize(a_k z + b_k Y) for σ_k, with one random Y per seed.
    a = np.ones_like(sig)
    b = sig
    extra = None
    if drift_type == "gaussian":
        Y = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
        if convention == "relative":
            Y = normalize(Y)  # ‖z‖ = 1, so ε = σ‖z‖ g/‖g‖ = σ g/‖g‖
    elif drift_type == "directional":
        if direction is None:
            v = drift_direction(convention, reference, reference_labels, seed, d=d)
        else:
            v = np.asarray(direction, dtype=np.float32)
            if v.shape != (d,) or not np.isfinite(v).all() or abs(np.linalg.norm(v) - 1) > _UNIT_TOL:
                raise ProbedriftError(
                    f"direction must be a unit vector of length {d}",
                    "pass the output of drift_direction(...)",
                )
        Y = np.broadcast_to(v, (n, d))
    else:
        theta = sig * theta_per_sigma
        a, b = np.cos(theta), np.sin(theta)
        Q32 = _haar_from_seed(d, seed).astype(np.float32)
        if convention == "true":
            Y = _apply_complex_structure(z, Q32)
            if d % 2:
                q = Q32[:, -1]
                extra = ((z @ q)[:, None] * q, 1.0 - a)  # the fixed axis keeps its component
        else:
            Y = z @ Q32.T  # (cos θ I + sin θ Q) z for row vectors is z (cos θ I + sin θ Qᵀ)

    out = np.empty((sig.size, n, d), dtype=np.float32)
    angles = np.zeros((sig.size, n), dtype=np.float32)
    # A loop over the (few) σ values, not over samples: it fills each slice in place and keeps the
    # peak memory at one (n, d) temporary instead of several (S, n, d) ones.
    for k in range(sig.size):
        if sig[k] == 0:
            out[k] = z  # exactly the identity
            continue
        np.multiply(Y, np.float32(b[k]), out=out[k])
        out[k] += np.float32(a[k]) * z
        if extra is not None:
            out[k] += np.float32(extra[1][k]) * extra[0]
        out[k] /= _row_norm(out[k])[:, None]  # the true rotation is unit already; trims rounding
        angles[k] = np.degrees(_angle_unit(z, out[k]))
    return DriftedSet(out, angles, sig, drift_type, convention, seed)


# --------------------------------------------------------------------------- sweep


def _resolve_conventions(
    drift_types: Sequence[str], conventions: Mapping[str, Sequence[str] | str] | str | None
) -> list[tuple[str, str]]:
    pairs = []
    for t in drift_types:
        if conventions is None:
            chosen: Sequence[str] = CONVENTIONS[t]
        elif isinstance(conventions, str):
            check_choice("conventions", conventions, ("paper", "all"))
            chosen = [PAPER_CONVENTIONS[t]] if conventions == "paper" else CONVENTIONS[t]
        elif isinstance(conventions, Mapping):
            chosen = conventions.get(t, CONVENTIONS[t])
            chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        else:
            raise ProbedriftError(
                f"conventions must be None, 'paper', 'all' or a mapping, got {type(conventions).__name__}",
                "pass e.g. {'gaussian': ['relative'], 'rotation': ['true']}",
            )
        for c in chosen:
            check_choice(f"{t} convention", c, CONVENTIONS[t])
            if (t, c) not in pairs:
                pairs.append((t, c))
    return pairs


def _call_probe(predict_proba: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    p = np.asarray(predict_proba(x), dtype=np.float64)
    if p.ndim == 2 and p.shape == (x.shape[0], 2):
        p = p[:, 1]  # a scikit-learn style (m, 2) output: keep p(class 1)
    if p.shape != (x.shape[0],):
        raise ProbedriftError(
            f"predict_proba returned shape {p.shape} for {x.shape[0]} inputs",
            "return p(class 1) of shape (m,), e.g. lambda x: clf.predict_proba(x)[:, 1]",
        )
    return p


def sweep(
    z: object,
    y: object,
    predict_proba: Callable[[np.ndarray], np.ndarray],
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
) -> pd.DataFrame:
    """Evaluate a frozen probe on drifted test embeddings over types, conventions, σ and seeds (§2.1).

    For every (drift_type, convention, seed) the whole σ grid is drifted at once and scored with one
    ``predict_proba`` call on the (S·n, d) stack (a callable mapping unit embeddings to p(class 1),
    shape (m,); an (m, 2) output is read as scikit-learn's). ``conventions``: None or "all" for every
    convention of each type, "paper" for PAPER_CONVENTIONS, or a mapping type -> conventions. Returns
    one row per (drift_type, convention, σ, seed) with the columns SWEEP_COLUMNS (metrics as in
    :func:`probedrift.metrics.probe_metrics`, silent failure at confidence >= tau).
    """
    z = _check_unit(z)
    y_arr = np.asarray(y)
    if y_arr.shape != (z.shape[0],):
        raise ProbedriftError(
            f"y has shape {y_arr.shape} but z has {z.shape[0]} rows",
            "pass one 0/1 label per embedding",
        )
    types = [drift_types] if isinstance(drift_types, str) else list(drift_types)
    for t in types:
        check_choice("drift type", t, DRIFT_TYPES)
    pairs = _resolve_conventions(types, conventions)
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    seed_list = [_check_seed(s) for s in seed_list]
    if not seed_list:
        raise ProbedriftError("seeds is empty", "pass e.g. seeds=range(10)")
    sig = _check_sigmas(sigmas)
    metric_names = list(SWEEP_COLUMNS[7:])
    n, d = z.shape

    # Data-derived directions do not depend on the seed: compute each once (and fail early if the
    # reference set is missing).
    fixed_directions = {
        c: drift_direction(c, reference, reference_labels, d=d)
        for t, c in pairs
        if t == "directional" and c != "random"
    }
    # Seeds outer, conventions inner: the two rotation conventions of a seed then reuse one cached Q.
    jobs = [(t, s, c) for t in types for s in seed_list for t2, c in pairs if t2 == t]
    frames = {}
    for t, s, c in tqdm(jobs, desc="drift sweep", disable=not progress):
        ds = drift(z, t, c, sig, s, direction=fixed_directions.get(c))
        P = _call_probe(predict_proba, ds.embeddings.reshape(-1, d)).reshape(sig.size, n)
        m = probe_metrics_batch(y_arr, P, tau, ece_bins, metric_names)
        frames[t, c, s] = pd.DataFrame(
            {
                "model": model if model is not None else "",
                "drift_type": t,
                "convention": c,
                "sigma": sig,
                "seed": s,
                "angle_deg_mean": ds.angles_deg.mean(axis=1, dtype=np.float64),
                "angle_deg_median": np.median(ds.angles_deg, axis=1),
                **m,
            }
        )
    ordered = [frames[t, c, s] for t, c in pairs for s in seed_list]
    return pd.concat(ordered, ignore_index=True)[list(SWEEP_COLUMNS)]
