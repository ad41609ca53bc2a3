"""Synthetic drift on the unit sphere, with the angle it actually causes (paper §2.2).

The paper simulates model updates by perturbing unit-normalised test embeddings with three
mechanisms -- Gaussian noise, a fixed direction and a "rotation" -- whose size is set by a scalar σ on
the grid linspace(0, 0.15, 8). Its formulas admit several readings (open questions 1 and 3), and they
give very different angles for the same σ, so each mechanism comes in named *conventions* and every
drifted set reports the angle between clean and drifted vectors:

- gaussian/per_dim (paper): Normalize(z + ε), ε ~ N(0, σ² I_d). Angle ≈ atan(σ√d): tens of degrees at LLM widths,
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

Every (drift type, convention) is one function registered with :func:`register_drift`; the
constants DRIFT_TYPES, CONVENTIONS and PAPER_CONVENTIONS and :func:`conventions_table` are read from
that registry. A registered function returns a :class:`DriftForm`: the drifted vector as a linear
combination ``Normalize(a(σ) z + Σ_j c_j(σ) s_j ⊙ Y_j)`` of z and a few per-seed vectors Y_j. Each
σ of the grid then costs O(n) arithmetic (norms and angles in closed form) plus writing the vectors
the probe reads, and at most one d x d matrix product per seed is spent on the test set (Y = z Qᵀ or
z Jᵀ for the rotations). Adding a drift type::

    @register_drift("shear", "first_axis", formula="Normalize(z + σ (z·e₂) e₁)", doc="...")
    def _shear(inputs: DriftInputs) -> DriftForm:
        e1 = np.eye(inputs.d, dtype=np.float32)[0]
        return inputs.shift(e1, row_scale=inputs.z[:, 1])
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg
from scipy.linalg import blas
from sklearn.decomposition import PCA
from tqdm import tqdm

from probedrift.blas import one_blas_thread
from probedrift.errors import ProbedriftError, check_choice, check_positive
from probedrift.metrics import probe_metrics_batch

__all__ = [
    "CONVENTIONS",
    "DRIFT_TYPES",
    "PAPER_CONVENTIONS",
    "SWEEP_COLUMNS",
    "DriftConvention",
    "DriftForm",
    "DriftInputs",
    "DriftTerm",
    "DriftedSet",
    "SweepPredictions",
    "angle_deg",
    "conventions_table",
    "drift",
    "drift_convention",
    "drift_direction",
    "normalize",
    "paper_literal_matrix",
    "register_drift",
    "resolve_conventions",
    "rotation_matrix",
    "sweep",
    "unregister_drift",
]

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
_LOOKAHEAD_SEEDS = 2  # seeds a sweep prepares ahead of the one it scores (each holds a few (n, d) arrays)


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


def _orthogonality_error(Q: np.ndarray) -> float:
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
def _haar_from_seed(d: int, seed: int) -> np.ndarray:
    """Haar-random orthogonal d x d matrix (float64, read-only) for a seed.

    Q is the orthogonal factor of a standard Gaussian matrix G = QR with R's diagonal made positive
    (Mezzadri 2007). It is computed by Cholesky QR (R = chol(GᵀG)ᵀ, Q = G R⁻¹), which yields that same
    positive-diagonal factor directly and runs on matrix products: LAPACK's Householder QR was several
    times slower at d = 1024 on a 2-core CPU, where it dominates a sweep. Cholesky QR loses orthogonality as
    κ(G)², so the result is checked (max |QᵀQ − I| < 1e-6) and Householder QR with the sign fix is the
    fallback. The Cholesky factorisation runs on one BLAS thread, so Q does not depend on the machine's
    thread count. Cached because the "true" and "paper_literal" rotations of a seed share their Q.
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
        ok = _orthogonality_error(Q) < 1e-6
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


def _check_width(d: object) -> int:
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 2:
        raise ProbedriftError(f"d must be an integer >= 2, got {d!r}", "pass the embedding width")
    return int(d)


def _apply_complex_structure(x: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Rows of x times Jᵀ with J = Q J₀ Qᵀ, J₀ = blockdiag([[0, −1], [1, 0]], ..., [0] if d is odd).

    Computed as ((x Q) J₀ᵀ) Qᵀ; multiplying a row by J₀ᵀ maps each pair (u, v) to (−v, u), so J is
    never formed. Two products per call: :func:`_complex_structure` forms J once instead.
    """
    d = x.shape[-1]
    xq = x @ Q
    y = np.zeros_like(xq)
    m = 2 * (d // 2)
    y[..., 0:m:2] = -xq[..., 1:m:2]
    y[..., 1:m:2] = xq[..., 0:m:2]
    return y @ Q.T


def _complex_structure(Q: np.ndarray) -> np.ndarray:
    """J = Q J₀ Qᵀ = A Bᵀ − B Aᵀ with B = Q[:, 0:m:2], A = Q[:, 1:m:2] (m = 2⌊d/2⌋), in Q's dtype.

    J₀ maps e_{2k} to e_{2k+1} and e_{2k+1} to −e_{2k}, so J = Σ_k q_{2k+1} q_{2k}ᵀ − q_{2k} q_{2k+1}ᵀ:
    one d x d/2 x d product (half of Q J₀ Qᵀ), and J is exactly skew-symmetric.
    """
    m = 2 * (Q.shape[0] // 2)
    half = np.ascontiguousarray(Q[:, 1:m:2]) @ np.ascontiguousarray(Q[:, 0:m:2]).T
    return half - half.T


def rotation_matrix(d: int, theta: float, seed: int) -> np.ndarray:
    """The orthogonal matrix of the ``rotation``/``true`` drift: R = cos θ I + sin θ J (float64, d x d).

    J = Q J₀ Qᵀ with Q Haar-random (same seed as :func:`drift`) and J₀ block-diagonal [[0, −1], [1, 0]].
    For even d, J is skew-symmetric and orthogonal (J² = −I), so RᵀR = I and zᵀR z = cos θ for every
    unit z (zᵀJz = 0): every vector moves by exactly θ. For odd d, the axis q = Q[:, −1] has no partner
    and is left fixed, R = cos θ (I − qqᵀ) + qqᵀ + sin θ J (still orthogonal); a vector then moves by
    less than θ unless it is orthogonal to q.
    """
    d = _check_width(d)
    Q = _haar_from_seed(d, _check_seed(seed))
    R = np.cos(theta) * np.eye(d) + np.sin(theta) * _complex_structure(Q)
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
    d = _check_width(d)
    Q = _haar_from_seed(d, _check_seed(seed))
    return np.cos(theta) * np.eye(d) + np.sin(theta) * Q


# --------------------------------------------------------------------------- the form of a drift


@dataclass(frozen=True)
class DriftTerm:
    """One summand c(σ)·(s ⊙ Y) of a drifted vector.

    coefficient: (S,) c(σ) for each σ of the grid; vectors: (n, d) one row per sample, or (d,) one
    vector shared by every sample; row_scale: (n,) factor s_i on row i (None for 1).
    """

    coefficient: np.ndarray
    vectors: np.ndarray
    row_scale: np.ndarray | None = None


@dataclass(frozen=True)
class DriftForm:
    """A drift linear in per-seed vectors: z'(σ_k) = Normalize(a_k z + Σ_j c_j(σ_k) s_j ⊙ Y_j).

    z_coefficient: (S,) a_k; terms: the summands (:class:`DriftTerm`). σ = 0 must give z itself.
    """

    z_coefficient: np.ndarray
    terms: tuple[DriftTerm, ...]


@dataclass
class DriftInputs:
    """What a registered drift function reads: unit embeddings ``z`` (n, d) float32, the σ grid,
    the seed, θ per unit σ for rotations, an optional reference set and a precomputed direction.

    Random draws made through its methods are shared by every convention of one seed in a sweep.
    """

    z: np.ndarray
    sigmas: np.ndarray
    seed: int
    theta_per_sigma: float = np.pi / 2
    reference: object = None
    reference_labels: object = None
    direction: np.ndarray | None = None
    shared: dict = field(default_factory=dict, repr=False)

    @property
    def d(self) -> int:
        """Embedding width."""
        return int(self.z.shape[1])

    @property
    def theta(self) -> np.ndarray:
        """Rotation angles θ = σ · theta_per_sigma, (S,)."""
        return self.sigmas * self.theta_per_sigma

    def _memo(self, key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
        if key not in self.shared:
            self.shared[key] = make()
        return self.shared[key]

    def standard_normal(self) -> np.ndarray:
        """The seed's noise g ~ N(0, I_d) for every row, (n, d) float32: default_rng(seed), one draw."""
        shape = self.z.shape
        return self._memo("normal", lambda: np.random.default_rng(self.seed).standard_normal(shape, dtype=np.float32))

    def haar(self) -> np.ndarray:
        """The seed's Haar-random orthogonal Q (d x d, float32)."""
        return self._memo("haar", lambda: _haar_from_seed(self.d, self.seed).astype(np.float32))

    def complex_structure(self) -> np.ndarray:
        """The seed's J = Q J₀ Qᵀ (d x d, float32; orthogonal and skew-symmetric for even d)."""
        return self._memo("complex_structure", lambda: _complex_structure(self.haar()))

    def shift(self, vectors: np.ndarray, row_scale: np.ndarray | None = None) -> DriftForm:
        """The form of Normalize(z + σ s ⊙ Y)."""
        return DriftForm(np.ones_like(self.sigmas), (DriftTerm(self.sigmas, vectors, row_scale),))

    def rotate(self, vectors: np.ndarray, row_scale: np.ndarray | None = None) -> DriftForm:
        """The form of Normalize(cos θ z + sin θ s ⊙ Y), θ = σ · theta_per_sigma."""
        theta = self.theta
        return DriftForm(np.cos(theta), (DriftTerm(np.sin(theta), vectors, row_scale),))


@dataclass(frozen=True)
class DriftConvention:
    """One registered (drift type, convention): the function ``build(inputs)`` forming its drift.

    ``linear``: build returns a :class:`DriftForm` (the sweep's fast path); otherwise it returns the
    drifted vectors (S, n, d) for the whole σ grid (normalised afterwards). ``seeded``: False when the
    drift does not depend on the seed (the sweep computes it once and repeats it for every seed).
    """

    drift_type: str
    convention: str
    build: Callable[[DriftInputs], DriftForm | np.ndarray]
    formula: str
    doc: str
    paper: bool = False
    seeded: bool = True
    linear: bool = True


_REGISTRY: dict[tuple[str, str], DriftConvention] = {}


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise ProbedriftError(f"{kind} must be a name like 'gaussian', got {name!r}", "use letters, digits and _")
    return name


def register_drift(
    drift_type: str,
    convention: str,
    *,
    formula: str,
    doc: str | None = None,
    paper: bool = False,
    seeded: bool = True,
    linear: bool = True,
) -> Callable[[Callable], Callable]:
    """Decorator registering ``build(inputs: DriftInputs)`` as the (drift_type, convention) drift.

    ``formula``: the drifted vector as text (shown by :func:`conventions_table`); ``doc`` defaults to
    the function's docstring; ``paper``: this is the paper's reading of the type (at most one per
    type); ``seeded`` and ``linear`` as in :class:`DriftConvention`. Returns the function unchanged.
    """
    drift_type = _check_name("drift_type", drift_type)
    convention = _check_name("convention", convention)
    if not isinstance(formula, str) or not formula.strip():
        raise ProbedriftError(
            f"formula must be a non-empty string, got {formula!r}", "write z' as text, e.g. 'Normalize(z + σ v)'"
        )

    def decorator(build: Callable) -> Callable:
        if (drift_type, convention) in _REGISTRY:
            raise ProbedriftError(
                f"drift {drift_type}/{convention} is already registered",
                "pick another convention name, or unregister_drift(...) the old one first",
            )
        if paper and drift_type in PAPER_CONVENTIONS:
            raise ProbedriftError(
                f"drift type {drift_type!r} already has the paper convention {PAPER_CONVENTIONS[drift_type]!r}",
                "register the new convention with paper=False",
            )
        text = doc if doc is not None else " ".join((build.__doc__ or "").split("\n\n")[0].split())
        _REGISTRY[drift_type, convention] = DriftConvention(
            drift_type, convention, build, str(formula), text, bool(paper), bool(seeded), bool(linear)
        )
        return build

    return decorator


def unregister_drift(drift_type: str, convention: str) -> DriftConvention:
    """Remove a registered (drift_type, convention) and return its entry."""
    entry = drift_convention(drift_type, convention)
    del _REGISTRY[drift_type, convention]
    return entry


def drift_convention(drift_type: str, convention: str) -> DriftConvention:
    """The registry entry of (drift_type, convention), or a ProbedriftError naming the valid ones."""
    check_choice("drift type", drift_type, DRIFT_TYPES)
    check_choice(f"{drift_type} convention", convention, CONVENTIONS[drift_type])
    return _REGISTRY[drift_type, convention]


class _DriftTypes(Sequence):
    """The registered drift types in registration order; a live, tuple-like view of the registry."""

    def _items(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t for t, _ in _REGISTRY))

    def __getitem__(self, index):
        return self._items()[index]

    def __len__(self) -> int:
        return len(self._items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and not isinstance(other, str) and self._items() == tuple(other)

    __hash__ = None

    def __repr__(self) -> str:
        return repr(self._items())


class _Conventions(Mapping):
    """drift type → its conventions (tuple, registration order); a live view of the registry."""

    def __getitem__(self, drift_type: str) -> tuple[str, ...]:
        convs = tuple(c for t, c in _REGISTRY if t == drift_type)
        if not convs:
            raise KeyError(drift_type)
        return convs

    def __iter__(self) -> Iterator[str]:
        return iter(DRIFT_TYPES._items())

    def __len__(self) -> int:
        return len(DRIFT_TYPES)

    def __repr__(self) -> str:
        return repr(dict(self))


class _PaperConventions(Mapping):
    """drift type → the paper's convention, for the types registered with one; a live view."""

    def _items(self) -> dict[str, str]:
        return {t: c for (t, c), entry in _REGISTRY.items() if entry.paper}

    def __getitem__(self, drift_type: str) -> str:
        return self._items()[drift_type]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items())

    def __len__(self) -> int:
        return len(self._items())

    def __repr__(self) -> str:
        return repr(self._items())


#: The registered drift types, e.g. ("gaussian", "directional", "rotation").
DRIFT_TYPES = _DriftTypes()
#: drift type → its registered conventions.
CONVENTIONS = _Conventions()
#: The literal reading of the paper's formulas (§2.2). Note: the abstract's "σ = 0.02 ≈ 1°" matches
#: gaussian/"relative" instead; "per_dim" gives ≈ atan(σ√d) (≈ 30° at d ≈ 1000).
PAPER_CONVENTIONS = _PaperConventions()


def conventions_table() -> pd.DataFrame:
    """One row per registered (drift_type, convention): columns drift_type, convention, paper (bool),
    formula (the drifted vector z' as text) and doc, in registration order."""
    rows = [
        {"drift_type": e.drift_type, "convention": e.convention, "paper": e.paper, "formula": e.formula, "doc": e.doc}
        for e in _REGISTRY.values()
    ]
    return pd.DataFrame(rows, columns=["drift_type", "convention", "paper", "formula", "doc"]).astype({"paper": bool})


def resolve_conventions(
    drift_types: Sequence[str] | str, conventions: Mapping[str, Sequence[str] | str] | str | None
) -> list[tuple[str, str]]:
    """The (drift_type, convention) pairs to run, in order and without repeats.

    ``conventions``: None or "all" for every registered convention of each type, "paper" for
    PAPER_CONVENTIONS, or a mapping type → convention(s) (types it leaves out get all conventions).
    Unknown types or conventions raise a ProbedriftError listing the registered ones.
    """
    types = [drift_types] if isinstance(drift_types, str) else list(drift_types)
    for t in types:
        check_choice("drift type", t, DRIFT_TYPES)
    if isinstance(conventions, str):
        check_choice("conventions", conventions, ("paper", "all"))
    elif isinstance(conventions, Mapping):
        for t in conventions:
            check_choice("drift type in conventions", t, DRIFT_TYPES)
    elif conventions is not None:
        raise ProbedriftError(
            f"conventions must be None, 'paper', 'all' or a mapping, got {type(conventions).__name__}",
            "pass e.g. {'gaussian': ['relative'], 'rotation': ['true']}",
        )
    pairs: list[tuple[str, str]] = []
    for t in types:
        if conventions == "paper":
            if t not in PAPER_CONVENTIONS:
                raise ProbedriftError(
                    f"drift type {t!r} has no paper convention",
                    f"name its conventions explicitly, e.g. {{{t!r}: {list(CONVENTIONS[t])!r}}}",
                )
            chosen: Sequence[str] = [PAPER_CONVENTIONS[t]]
        elif isinstance(conventions, Mapping) and t in conventions:
            value = conventions[t]
            chosen = [value] if isinstance(value, str) else list(value)
        else:
            chosen = CONVENTIONS[t]
        for c in chosen:
            check_choice(f"{t} convention", c, CONVENTIONS[t])
            if (t, c) not in pairs:
                pairs.append((t, c))
    return pairs


# --------------------------------------------------------------------------- directions


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
    check_choice("directional convention", kind, ("random", "class_mean_difference", "top_pc"))
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
    # starting vector keeps the direction independent of the drift seed. Its matrix-vector products
    # are latency-bound, so they run on one BLAS thread.
    solver = "arpack" if min(ref.shape) > 2 else "full"
    with one_blas_thread():
        pc = PCA(n_components=1, svd_solver=solver, random_state=0).fit(ref).components_[0]
    return normalize(pc).astype(np.float32)


# --------------------------------------------------------------------------- the registered drifts


@register_drift("gaussian", "per_dim", paper=True, formula="Normalize(z + σ g), g ~ N(0, I_d)")
def _gaussian_per_dim(inputs: DriftInputs) -> DriftForm:
    """Isotropic noise of standard deviation σ per dimension; angle ≈ atan(σ√d)."""
    return inputs.shift(inputs.standard_normal())


@register_drift("gaussian", "relative", formula="Normalize(z + σ‖z‖ g/‖g‖), g ~ N(0, I_d)")
def _gaussian_relative(inputs: DriftInputs) -> DriftForm:
    """Isotropic noise of norm σ‖z‖ (the same draw g as per_dim); angle ≈ atan σ."""
    g = inputs.standard_normal()
    norms = _row_norm(g).astype(np.float64)
    return inputs.shift(g, row_scale=np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0))


def _fixed_direction(inputs: DriftInputs, kind: str) -> np.ndarray:
    if inputs.direction is not None:
        return inputs.direction
    seed = inputs.seed if kind == "random" else 0
    return drift_direction(kind, inputs.reference, inputs.reference_labels, seed, d=inputs.d)


@register_drift("directional", "random", paper=True, formula="Normalize(z + σ v), v = g/‖g‖, g ~ N(0, I_d)")
def _directional_random(inputs: DriftInputs) -> DriftForm:
    """A fixed shift along a seeded isotropic unit direction; angle ≈ atan σ."""
    return inputs.shift(_fixed_direction(inputs, "random"))


@register_drift(
    "directional",
    "class_mean_difference",
    seeded=False,
    formula="Normalize(z + σ v), v = Normalize(μ₀ − μ₁) of the reference set",
)
def _directional_class_mean(inputs: DriftInputs) -> DriftForm:
    """A fixed shift from the class-1 (unsafe) mean towards the class-0 (safe) mean of the reference set."""
    return inputs.shift(_fixed_direction(inputs, "class_mean_difference"))


@register_drift(
    "directional", "top_pc", seeded=False, formula="Normalize(z + σ v), v = first principal component of the reference"
)
def _directional_top_pc(inputs: DriftInputs) -> DriftForm:
    """A fixed shift along the reference set's direction of largest variance."""
    return inputs.shift(_fixed_direction(inputs, "top_pc"))


@register_drift("rotation", "true", formula="cos θ z + sin θ J z, J = Q J₀ Qᵀ (Jᵀ = −J, J² = −I), θ = σ·π/2")
def _rotation_true(inputs: DriftInputs) -> DriftForm:
    """A true rotation: every vector moves by exactly θ (odd d: the axis Q[:, −1] stays fixed)."""
    z = inputs.z
    form = inputs.rotate(z @ inputs.complex_structure().T)
    if inputs.d % 2:
        q = np.ascontiguousarray(inputs.haar()[:, -1])
        fixed_axis = DriftTerm(1.0 - np.cos(inputs.theta), q, (z @ q).astype(np.float64))
        form = DriftForm(form.z_coefficient, (*form.terms, fixed_axis))
    return form


@register_drift(
    "rotation", "paper_literal", paper=True, formula="Normalize(cos θ z + sin θ Q z), Q Haar-random, θ = σ·π/2"
)
def _rotation_paper_literal(inputs: DriftInputs) -> DriftForm:
    """The paper's matrix cos θ I + sin θ Q, not a rotation; after Normalize vectors move by ≈ θ."""
    return inputs.rotate(inputs.z @ inputs.haar().T)  # for row vectors, Q z is z Qᵀ


# --------------------------------------------------------------------------- evaluating a form


class _FormGeometry:
    """Per-row inner products of a :class:`DriftForm` (float64), from which every σ's drifted vector,
    its norm and its angle to z follow in O(n), and the writer of those vectors.

    Row scales of (n, d) terms are applied once (Ŷ_j = s_j ⊙ Y_j). With p_j = z·Ŷ_j and the Gram of the
    parts orthogonal to z, G⊥_jk = Ŷ_j·Ŷ_k − p_j p_k, the combination x = a z + Σ_j c_j Ŷ_j has
    x·z = a + Σ_j c_j p_j and ‖x − (x·z) z‖² = cᵀ G⊥ c, so ‖x‖ is the root of their sum of squares and
    the angle to z is atan2(‖x⊥‖, x·z).
    """

    def __init__(self, form: DriftForm, z: np.ndarray):
        self.form = form
        self.vectors: list[np.ndarray] = []
        self.scales: list[np.ndarray | None] = []  # row scales kept only for (d,) vectors
        for term in form.terms:
            scale = None if term.row_scale is None else np.asarray(term.row_scale, dtype=np.float64)
            if term.vectors.ndim == 2 and scale is not None:
                self.vectors.append(term.vectors * scale.astype(np.float32)[:, None])
                scale = None
            else:
                self.vectors.append(term.vectors)
            self.scales.append(scale)
        self.along = [self._scaled(self._dot(z, v), s) for v, s in zip(self.vectors, self.scales)]
        self.perp_gram = {}
        for j, (vj, sj) in enumerate(zip(self.vectors, self.scales)):
            for m in range(j, len(self.vectors)):
                gram = self._scaled(self._scaled(self._dot(vj, self.vectors[m]), sj), self.scales[m])
                self.perp_gram[j, m] = gram - self.along[j] * self.along[m]

    @staticmethod
    def _dot(a: np.ndarray, b: np.ndarray) -> np.ndarray | float:
        if a.ndim == 2 and b.ndim == 2:
            return np.einsum("ij,ij->i", a, b).astype(np.float64)
        if a.ndim == 1 and b.ndim == 1:
            return float(a.astype(np.float64) @ b.astype(np.float64))
        return (a @ b if a.ndim == 2 else b @ a).astype(np.float64)

    @staticmethod
    def _scaled(value, scale):
        return value if scale is None else value * scale

    def inverse_norm_and_angle(self, k: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """For σ_k: 1/‖x‖ (n,) of x = a z + Σ_j c_j Ŷ_j, and the angle between x and z in degrees (n,).
        Rows where x = 0 get 1/‖x‖ = 0 and a NaN angle."""
        a = float(self.form.z_coefficient[k])
        c = [float(t.coefficient[k]) for t in self.form.terms]
        parallel = a + sum(cj * pj for cj, pj in zip(c, self.along)) + np.zeros(n)
        perp2 = sum((1.0 if j == m else 2.0) * c[j] * c[m] * gram for (j, m), gram in self.perp_gram.items())
        perp = np.sqrt(np.maximum(perp2, 0.0)) + np.zeros(n)
        norm = np.hypot(parallel, perp)
        inverse = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        angle = np.where(norm > 0, np.degrees(np.arctan2(perp, parallel)), np.nan)
        return inverse, angle

    def projections(self, w: np.ndarray, zw: np.ndarray) -> list[np.ndarray]:
        """Ŷ_j·w per row (n,) for every term, float64: with z·w = ``zw`` they give x·w for every σ in O(n)."""
        out, w32 = [], w.astype(np.float32)
        for vectors, scale in zip(self.vectors, self.scales):
            if vectors.ndim == 2:
                out.append((vectors @ w32).astype(np.float64))  # float32, as the probe scores a written vector
            else:
                along = float(vectors.astype(np.float64) @ w)
                out.append(np.full(zw.shape, along) if scale is None else along * scale)
        return out

    def write(self, k: int, z: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Write Normalize(a_k z + Σ_j c_jk Ŷ_j) into ``out`` (n, d) float32, C-contiguous; return the
        angles to z in degrees (n,). One scalar multiply, one BLAS axpy per (n, d) term and one rank-1
        update (ger) per (d,) term, then one row scaling."""
        inverse, angle = self.inverse_norm_and_angle(k, z.shape[0])
        np.multiply(z, np.float32(self.form.z_coefficient[k]), out=out)
        flat = out.reshape(-1)
        for term, vectors, scale in zip(self.form.terms, self.vectors, self.scales):
            c = float(term.coefficient[k])
            if vectors.ndim == 2:
                _in_place(blas.saxpy(vectors.reshape(-1), flat, a=c), flat)
            else:
                weights = np.full(z.shape[0], c, dtype=np.float32) if scale is None else (c * scale).astype(np.float32)
                _in_place(blas.sger(1.0, vectors, weights, a=out.T, overwrite_a=1), out.T)
        out *= inverse.astype(np.float32)[:, None]
        return angle


def _in_place(result: np.ndarray, target: np.ndarray) -> None:
    """BLAS wrappers update ``target`` in place when its layout allows; copy back otherwise."""
    if not np.shares_memory(result, target):
        target[...] = result


def _check_form(form: object, entry: DriftConvention, shape: tuple[int, int], n_sigmas: int) -> DriftForm:
    """The form with float32 C-contiguous vectors and float64 coefficients and row scales, or an error."""
    n, d = shape
    name = f"{entry.drift_type}/{entry.convention}"
    if not isinstance(form, DriftForm):
        raise ProbedriftError(
            f"the {name} drift returned {type(form).__name__}, not a DriftForm",
            "return inputs.shift(...) / inputs.rotate(...) or a DriftForm, or register it with linear=False",
        )
    terms = []
    for term in form.terms:
        vectors = np.ascontiguousarray(term.vectors, dtype=np.float32)
        scale = None if term.row_scale is None else np.asarray(term.row_scale, dtype=np.float64)
        coefficient = np.asarray(term.coefficient, dtype=np.float64)
        scale_ok = scale is None or scale.shape == (n,)
        if vectors.shape not in ((n, d), (d,)) or not scale_ok or coefficient.shape != (n_sigmas,):
            raise ProbedriftError(
                f"the {name} drift returned a term with vectors {vectors.shape}, row scale "
                f"{None if scale is None else scale.shape} and coefficients {coefficient.shape}",
                f"vectors must be ({n}, {d}) or ({d},), row scales ({n},) and coefficients ({n_sigmas},)",
            )
        terms.append(DriftTerm(coefficient, vectors, scale))
    a = np.asarray(form.z_coefficient, dtype=np.float64)
    if a.shape != (n_sigmas,):
        raise ProbedriftError(
            f"the {name} drift returned {a.shape} z coefficients", f"give one per σ, shape ({n_sigmas},)"
        )
    return DriftForm(a, tuple(terms))


def _build(entry: DriftConvention, inputs: DriftInputs) -> DriftForm | np.ndarray:
    out = entry.build(inputs)
    n, d = inputs.z.shape
    S = inputs.sigmas.size
    if entry.linear:
        return _check_form(out, entry, (n, d), S)
    arr = np.asarray(out, dtype=np.float32)
    if arr.shape != (S, n, d):
        raise ProbedriftError(
            f"the {entry.drift_type}/{entry.convention} drift returned shape {arr.shape}, expected {(S, n, d)}",
            "a drift registered with linear=False returns the drifted vectors of every σ",
        )
    return arr


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


def _check_direction(direction: object, d: int) -> np.ndarray | None:
    if direction is None:
        return None
    v = np.asarray(direction, dtype=np.float32)
    if v.shape != (d,) or not np.isfinite(v).all() or abs(np.linalg.norm(v) - 1) > _UNIT_TOL:
        raise ProbedriftError(
            f"direction must be a unit vector of length {d}", "pass the output of drift_direction(...)"
        )
    return v


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
    the module docstring and :func:`conventions_table`). The random object is drawn once per seed and
    scaled by each σ; σ = 0 returns z unchanged. Rotations use θ = σ · theta_per_sigma (the paper's
    θ = σ·π/2). ``reference`` / ``reference_labels`` are needed by the class_mean_difference and top_pc
    directions (use the training set, not the test set); ``direction`` passes a precomputed v from
    :func:`drift_direction` instead (saves recomputing it for every seed). Angles are measured on the
    returned vectors, 2·atan2(‖z' − z‖, ‖z' + z‖).

    Note on directional drift: a fixed shift σv changes the logit wᵀz + b of a linear probe by about
    σ·wᵀv for every sample (before re-normalisation), so the ranking -- and ROC-AUC -- barely moves
    while accuracy, confidence and the silent-failure figures can collapse.
    """
    entry = drift_convention(drift_type, convention)
    z = _check_unit(z)
    sig = _check_sigmas(sigmas)
    seed = _check_seed(seed)
    check_positive("theta_per_sigma", theta_per_sigma)
    n, d = z.shape
    inputs = DriftInputs(
        z, sig, seed, float(theta_per_sigma), reference, reference_labels, _check_direction(direction, d)
    )
    out = np.empty((sig.size, n, d), dtype=np.float32)
    angles = np.zeros((sig.size, n), dtype=np.float32)
    with one_blas_thread():
        built = _build(entry, inputs)
        geometry = _FormGeometry(built, z) if entry.linear else None
        for k in range(sig.size):
            if sig[k] == 0:
                out[k] = z  # exactly the identity
                continue
            if geometry is not None:
                geometry.write(k, z, out[k])
            else:
                out[k] = built[k]
            out[k] /= _row_norm(out[k])[:, None]  # trims rounding (and normalises a non-linear drift)
            angles[k] = np.degrees(_angle_unit(z, out[k]))
    return DriftedSet(out, angles, sig, drift_type, convention, seed)


# --------------------------------------------------------------------------- sweep


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


def _prepare(entry: DriftConvention, inputs: DriftInputs) -> _FormGeometry | np.ndarray:
    """A drift ready to score: the per-row geometry of its form, or the vectors of a non-linear drift."""
    built = _build(entry, inputs)
    return _FormGeometry(built, inputs.z) if entry.linear else built


def _affine_probe(predict_proba: Callable) -> tuple[np.ndarray, float, float] | None:
    """(w, b, T) when ``predict_proba`` is :meth:`probedrift.probes.LinearProbe.predict_proba` itself, so that
    p(x) = sigmoid((x·w/‖x‖ + b)/T) for any x (its scaler folded into w and b); None for any other probe."""
    from .probes import LinearProbe

    probe = getattr(predict_proba, "__self__", None)
    if not isinstance(probe, LinearProbe) or getattr(predict_proba, "__func__", None) is not LinearProbe.predict_proba:
        return None
    return probe.affine_form()


class _SweepScorer:
    """Scores one prepared drift (all σ of one seed) with the probe, reusing one (n, d) buffer.

    For the paper's linear probe no drifted vector is written: the drifted x = (a z + Σ_j c_j Ŷ_j)/‖·‖ is
    unit, so its logit x·w + b follows from z·w and the per-term Ŷ_j·w (computed once per seed) and the
    norm the form's geometry already gives, O(n) per σ instead of an (n, d) write and product.
    """

    def __init__(self, z: np.ndarray, sig: np.ndarray, predict_proba: Callable[[np.ndarray], np.ndarray]):
        self.z, self.sig, self.predict_proba = z, sig, predict_proba
        self.buffer = np.empty(z.shape, dtype=np.float32)
        self.clean = _call_probe(predict_proba, z) if (sig == 0).any() else None
        self.affine = _affine_probe(predict_proba)
        self.zw = z.astype(np.float64) @ self.affine[0] if self.affine is not None else None

    def _score_affine(self, prepared: _FormGeometry) -> tuple[np.ndarray, np.ndarray]:
        import scipy.special

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
            for term, part in zip(prepared.form.terms, parts):
                along = along + float(term.coefficient[k]) * part
            P[k] = scipy.special.expit((inverse * along + b) / temperature)
        return P, angles

    def score(self, prepared: _FormGeometry | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probe outputs P (S, n) and angles in degrees (S, n) of every σ; σ = 0 is z itself."""
        if self.affine is not None and isinstance(prepared, _FormGeometry):
            return self._score_affine(prepared)
        z, sig = self.z, self.sig
        P = np.empty((sig.size, z.shape[0]))
        angles = np.zeros((sig.size, z.shape[0]))
        for k in range(sig.size):
            if sig[k] == 0:
                P[k] = self.clean
                continue
            if isinstance(prepared, _FormGeometry):
                angles[k] = prepared.write(k, z, self.buffer)
            else:
                self.buffer[:] = normalize(prepared[k])
                angles[k] = np.degrees(_angle_unit(z, self.buffer))
            P[k] = _call_probe(self.predict_proba, self.buffer)
        return P, angles


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
    return_predictions: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, SweepPredictions]:
    """Evaluate a frozen probe on drifted test embeddings over types, conventions, σ and seeds (§2.1).

    For every (drift_type, convention, seed) the drift is built once as z'(σ) = Normalize(a(σ) z +
    Σ_j c_j(σ) s_j ⊙ Y_j) (at most one d x d product on z, shared random draws across conventions of
    a seed); each σ then writes its unit vectors into one reused (n, d) buffer and calls
    ``predict_proba`` on it (a callable mapping unit embeddings to p(class 1), shape (n,); an (n, 2)
    output is read as scikit-learn's; it must not keep the array it is given). σ = 0 is scored once on z.
    Angles come in closed form from the per-row inner products of z and Y_j (equal to the measured
    angle of :func:`drift` up to float32 rounding). Drifts registered with seeded=False are computed once
    and repeated for every seed. ``conventions``: see :func:`resolve_conventions`. Returns one row per
    (drift_type, convention, σ, seed) with the columns SWEEP_COLUMNS (metrics as in
    :func:`probedrift.metrics.probe_metrics`, silent failure at confidence >= tau). With
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
    pairs = resolve_conventions(drift_types, conventions)
    seed_list = [seeds] if isinstance(seeds, (int, np.integer)) else list(seeds)
    seed_list = [_check_seed(s) for s in seed_list]
    if not seed_list:
        raise ProbedriftError("seeds is empty", "pass e.g. seeds=range(10)")
    sig = _check_sigmas(sigmas)
    theta_per_sigma = np.pi / 2
    entries = {pair: _REGISTRY[pair] for pair in pairs}

    def inputs(seed: int, shared: dict) -> DriftInputs:
        return DriftInputs(z, sig, seed, theta_per_sigma, reference, reference_labels, None, shared)

    def prepare_seed(seed: int) -> dict[tuple[str, str], _FormGeometry | np.ndarray]:
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
        scorer = _SweepScorer(z, sig, predict_proba)
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
    metrics = probe_metrics_batch(y_arr, P, tau, ece_bins, list(SWEEP_COLUMNS[7:]))
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
