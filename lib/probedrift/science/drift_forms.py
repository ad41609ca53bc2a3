"""The form of a drift: what a registered drift function returns, and how a form becomes vectors.

Every registered drift (:mod:`probedrift.science.drift`) returns a :class:`DriftForm`: the drifted vector as
a linear combination z'(σ_k) = Normalize(a_k z + Σ_j c_j(σ_k) s_j ⊙ Y_j) of the unit embedding z
and a few per-seed vectors Y_j (noise, a direction, z Qᵀ or z Jᵀ). :class:`FormGeometry` then gives
every σ's norm and angle to z in closed form from per-row inner products, in O(n) per σ, and writes
the drifted vectors when a probe needs them. A registration is recorded as a :class:`DriftConvention`
(the function and its formula), grouped by :class:`DriftType` in the registry of :mod:`probedrift.science.drift`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import blas

from probedrift.core.errors import ProbedriftError, check_choice
from probedrift.core.sphere import complex_structure, haar_orthogonal

__all__ = ["DriftConvention", "DriftForm", "DriftInputs", "DriftTerm", "DriftType", "FormGeometry", "check_form"]


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
        return self._memo("haar", lambda: haar_orthogonal(self.d, self.seed).astype(np.float32))

    def complex_structure(self) -> np.ndarray:
        """The seed's J = Q J₀ Qᵀ (d x d, float32; orthogonal and skew-symmetric for even d)."""
        return self._memo("complex_structure", lambda: complex_structure(self.haar()))

    def shift(self, vectors: np.ndarray, row_scale: np.ndarray | None = None) -> DriftForm:
        """The form of Normalize(z + σ s ⊙ Y)."""
        return DriftForm(np.ones_like(self.sigmas), (DriftTerm(self.sigmas, vectors, row_scale),))

    def rotate(self, vectors: np.ndarray, row_scale: np.ndarray | None = None) -> DriftForm:
        """The form of Normalize(cos θ z + sin θ s ⊙ Y), θ = σ · theta_per_sigma."""
        theta = self.theta
        return DriftForm(np.cos(theta), (DriftTerm(np.sin(theta), vectors, row_scale),))


@dataclass(frozen=True)
class DriftConvention:
    """One reading of a drift type: ``build(inputs)`` forms its drift; ``formula``: z' as text.

    ``paper``: the paper's reading of the type; ``linear``: build returns a DriftForm (otherwise the
    drifted vectors (S, n, d) of the whole σ grid, normalised afterwards); ``seeded``: False when the
    drift does not depend on the seed (a sweep computes it once and repeats it for every seed).
    """

    drift_type: str
    convention: str
    build: Callable[[DriftInputs], DriftForm | np.ndarray]
    formula: str
    doc: str
    paper: bool = False
    seeded: bool = True
    linear: bool = True


@dataclass(frozen=True)
class DriftType:
    """A registered drift type: its conventions in registration order; ``default``: whether a run uses
    it unless told otherwise."""

    name: str
    conventions: tuple[DriftConvention, ...]
    default: bool = True

    @property
    def convention_names(self) -> tuple[str, ...]:
        """The names of its conventions, in registration order."""
        return tuple(c.convention for c in self.conventions)

    @property
    def paper(self) -> str | None:
        """The name of the paper's convention, or None."""
        return next((c.convention for c in self.conventions if c.paper), None)

    def convention(self, name: str) -> DriftConvention:
        """The convention ``name``, or a ProbedriftError listing this type's conventions."""
        check_choice(f"{self.name} convention", name, self.convention_names)
        return self.conventions[self.convention_names.index(name)]


def check_form(form: object, name: str, shape: tuple[int, int], n_sigmas: int) -> DriftForm:
    """The form with float32 C-contiguous vectors and float64 coefficients and row scales, or an error
    naming the drift ``name`` and the shapes it should have had."""
    n, d = shape
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


class FormGeometry:
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
        self.along = [self._scaled(self._dot(z, v), s) for v, s in zip(self.vectors, self.scales, strict=True)]
        self.perp_gram = {}
        for j, (vj, sj) in enumerate(zip(self.vectors, self.scales, strict=True)):
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
        parallel = a + sum(cj * pj for cj, pj in zip(c, self.along, strict=True)) + np.zeros(n)
        perp2 = sum((1.0 if j == m else 2.0) * c[j] * c[m] * gram for (j, m), gram in self.perp_gram.items())
        perp = np.sqrt(np.maximum(perp2, 0.0)) + np.zeros(n)
        norm = np.hypot(parallel, perp)
        inverse = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
        angle = np.where(norm > 0, np.degrees(np.arctan2(perp, parallel)), np.nan)
        return inverse, angle

    def projections(self, w: np.ndarray, zw: np.ndarray) -> list[np.ndarray]:
        """Ŷ_j·w per row (n,) for every term, float64: with z·w = ``zw`` they give x·w for every σ in O(n)."""
        out, w32 = [], w.astype(np.float32)
        for vectors, scale in zip(self.vectors, self.scales, strict=True):
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
        for term, vectors, scale in zip(self.form.terms, self.vectors, self.scales, strict=True):
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
