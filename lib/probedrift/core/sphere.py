"""Geometry on the unit sphere: normalisation, angles, Haar-random orthogonal matrices and the
complex structure that turns one into a true rotation.

Everything here is pure linear algebra on arrays; the drift formulas that use it live in
:mod:`probedrift.science.drift`. Conventions: rows are vectors (an (n, d) array holds n embeddings), and a
matrix M acts on a row z as z Mᵀ (the column form M z).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import linalg

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import ProbedriftError

__all__ = [
    "angle_deg",
    "apply_complex_structure",
    "check_seed",
    "check_width",
    "complex_structure",
    "haar_orthogonal",
    "normalize",
    "orthogonality_error",
    "paper_literal_matrix",
    "rotation_matrix",
    "row_norms",
    "unit_angle",
]


def check_seed(seed: object) -> int:
    """``seed`` as an int, or a ProbedriftError unless it is a non-negative integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ProbedriftError(f"seed must be a non-negative integer, got {seed!r}", "pass e.g. seed=0")
    return int(seed)


def check_width(d: object) -> int:
    """The embedding width ``d`` as an int, or a ProbedriftError unless it is an integer >= 2."""
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ProbedriftError(f"d must be an integer >= 2, got {d!r}", "pass the embedding width")
    return int(d)


def row_norms(x: np.ndarray) -> np.ndarray:
    """‖x‖ along the last axis, in x's dtype (einsum: no squared temporary)."""
    return np.sqrt(np.einsum("...i,...i->...", x, x))


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


def unit_angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle in radians between unit rows: 2·atan2(‖a − b‖, ‖a + b‖), with ‖a + b‖² = 4 − ‖a − b‖²."""
    chord = row_norms(b - a)
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
    ang = unit_angle(normalize(a_arr), normalize(b_arr))
    zero = (row_norms(a_arr) == 0) | (row_norms(b_arr) == 0)
    return np.where(zero, np.nan, np.degrees(ang))


def orthogonality_error(Q: np.ndarray) -> float:
    """max |QᵀQ − I| (entrywise), or a smaller number certified below 1e-6.

    Screen first with 16 fixed Gaussian probes x_j: e = max_j ‖Qᵀ(Q x_j) − x_j‖ ≥ ‖QᵀQ − I‖₂·max_j |u·x_j|
    for the top eigenvector u of QᵀQ − I, and max_j |u·x_j| ≥ 0.01 except with probability 0.008¹⁶ ≈ 3e-34,
    so e < 1e-8 certifies max |QᵀQ − I| ≤ ‖QᵀQ − I‖₂ < 1e-6 in O(d²). Otherwise QᵀQ is formed (O(d³)).
    """
    d = Q.shape[0]
    probes = np.random.default_rng(0).standard_normal((d, 16))
    screen = float(np.linalg.norm(Q.T @ (Q @ probes) - probes, axis=0).max())
    if screen < 1e-8:
        return screen
    error = Q.T @ Q
    error[np.diag_indices(d)] -= 1.0
    return float(np.abs(error).max())


@functools.lru_cache(maxsize=4)
def haar_orthogonal(d: int, seed: int) -> np.ndarray:
    """Haar-random orthogonal d x d matrix (float64, read-only) for a seed.

    Q is the orthogonal factor of a standard Gaussian matrix G = QR with R's diagonal made positive
    (Mezzadri 2007). It is computed by Cholesky QR (R = chol(GᵀG)ᵀ, Q = G R⁻¹), which yields that same
    positive-diagonal factor directly and runs on matrix products: LAPACK's Householder QR was several
    times slower at d = 1024 on a 2-core CPU, where it dominates a sweep. Cholesky QR loses orthogonality as
    κ(G)², so the result is checked (max |QᵀQ − I| < 1e-6) and Householder QR with the sign fix is the
    fallback. The Cholesky factorisation runs on one BLAS thread, so Q does not depend on the machine's
    thread count. Cached because the "true" and "paper_literal" rotations of a seed share their Q
    (``haar_orthogonal.cache_clear()`` empties the cache, e.g. to time fresh draws).
    """
    G = np.random.default_rng(seed).standard_normal((d, d))
    try:
        gram = G.T @ G
        with one_blas_thread():
            L = np.linalg.cholesky(gram)
        # The triangular solve runs on column blocks (same result as one call) so that it releases the
        # GIL between blocks and the other threads of a sweep keep running.
        blocks = [
            linalg.solve_triangular(L, G.T[:, start : start + 256], lower=True, check_finite=False)
            for start in range(0, d, 256)
        ]
        Q = np.concatenate(blocks, axis=1).T
        ok = orthogonality_error(Q) < 1e-6
    except np.linalg.LinAlgError:
        ok = False
    if not ok:
        Q, R = np.linalg.qr(G)
        Q = Q * np.sign(np.diag(R))
    Q.setflags(write=False)
    return Q


def apply_complex_structure(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Rows of x times Jᵀ with J = Q J₀ Qᵀ, J₀ = blockdiag([[0, −1], [1, 0]], ..., [0] if d is odd).

    Computed as ((x Q) J₀ᵀ) Qᵀ; multiplying a row by J₀ᵀ maps each pair (u, v) to (−v, u), so J is
    never formed. Two products per call: :func:`complex_structure` forms J once instead.
    """
    d = x.shape[-1]
    xq = x @ Q
    y = np.zeros_like(xq)
    m = 2 * (d // 2)
    y[..., 0:m:2] = -xq[..., 1:m:2]
    y[..., 1:m:2] = xq[..., 0:m:2]
    return y @ Q.T


def complex_structure(Q: np.ndarray) -> np.ndarray:
    """J = Q J₀ Qᵀ = A Bᵀ − B Aᵀ with B = Q[:, 0:m:2], A = Q[:, 1:m:2] (m = 2⌊d/2⌋), in Q's dtype.

    J₀ maps e_{2k} to e_{2k+1} and e_{2k+1} to −e_{2k}, so J = Σ_k q_{2k+1} q_{2k}ᵀ − q_{2k} q_{2k+1}ᵀ:
    one d x d/2 x d product (half of Q J₀ Qᵀ), and J is exactly skew-symmetric.
    """
    m = 2 * (Q.shape[0] // 2)
    half = np.ascontiguousarray(Q[:, 1:m:2]) @ np.ascontiguousarray(Q[:, 0:m:2]).T
    return half - half.T


def rotation_matrix(d: int, theta: float, seed: int) -> np.ndarray:
    """The orthogonal matrix of the ``rotation``/``true`` drift: R = cos θ I + sin θ J (float64, d x d).

    J = Q J₀ Qᵀ with Q Haar-random (:func:`haar_orthogonal`, the seed of the drift) and J₀
    block-diagonal [[0, −1], [1, 0]]. For even d, J is skew-symmetric and orthogonal (J² = −I), so
    RᵀR = I and zᵀR z = cos θ for every unit z (zᵀJz = 0): every vector moves by exactly θ. For odd d,
    the axis q = Q[:, −1] has no partner and is left fixed, R = cos θ (I − qqᵀ) + qqᵀ + sin θ J (still
    orthogonal); a vector then moves by less than θ unless it is orthogonal to q.
    """
    d = check_width(d)
    Q = haar_orthogonal(d, check_seed(seed))
    R = np.cos(theta) * np.eye(d) + np.sin(theta) * complex_structure(Q)
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
    d = check_width(d)
    Q = haar_orthogonal(d, check_seed(seed))
    return np.cos(theta) * np.eye(d) + np.sin(theta) * Q
