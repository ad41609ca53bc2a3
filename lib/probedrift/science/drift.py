"""Synthetic drift on the unit sphere (paper §2.2): the drift formulas and the registry of drift types.

The paper perturbs unit-normalised test embeddings z with three mechanisms whose size is set by a
scalar σ on linspace(0, 0.15, 8). Its formulas admit several readings (open questions 1 and 3) that
give very different angles for the same σ, so each drift type comes in named *conventions*, one of
them the paper's literal reading. Below, Normalize is row L2 normalisation. The abstract's
"σ = 0.02 ≈ 1° ≈ 2% of the norm" matches gaussian/relative, not the per-dimension formula the paper
writes down (which at d ≈ 1000 moves every embedding by about 30°).

Each (drift type, convention) is one function registered with :func:`register_drift`, returning a
:class:`~probedrift.science.drift_forms.DriftForm`: z'(σ) = Normalize(a(σ) z + Σ_j c_j(σ) s_j ⊙ Y_j) with a few
per-seed vectors Y_j drawn once per seed and scaled by every σ (common random numbers: σ = 0 is the
identity). :mod:`probedrift.science.sweep` evaluates the forms; :mod:`probedrift.core.sphere` holds the geometry.
Adding a drift type is one function here::

    @register_drift("shear", "first_axis", formula="Normalize(z + σ (z·e₂) e₁)")
    def _shear(inputs: DriftInputs) -> DriftForm:
        \"\"\"A shear of the first axis by the second.\"\"\"
        return inputs.shift(np.eye(inputs.d, dtype=np.float32)[0], row_scale=inputs.z[:, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from probedrift.core.blas import one_blas_thread
from probedrift.core.errors import ProbedriftError, check_choice
from probedrift.core.registry import Registry
from probedrift.core.sphere import check_seed, normalize, row_norms
from probedrift.science.drift_forms import DriftConvention, DriftForm, DriftInputs, DriftTerm, DriftType

#: The registered drift types (name → :class:`DriftType`), e.g. gaussian, directional, rotation.
DRIFT_TYPES: Registry[DriftType] = Registry("drift type")


def register_drift(drift_type: str, convention: str, *, formula: str, doc: str | None = None, paper: bool = False,
                   seeded: bool = True, linear: bool = True, default: bool = True) -> Callable[[Callable], Callable]:
    """Decorator registering ``build(inputs: DriftInputs)`` as the (drift_type, convention) drift.

    ``formula``: the drifted vector as text; ``doc`` defaults to the docstring's first paragraph;
    ``paper``: the paper's reading (at most one per type); ``seeded``, ``linear`` as in
    :class:`DriftConvention`; ``default`` (read when the type is first registered): whether a run uses
    the type unless told otherwise. Returns the function unchanged.
    """
    for kind, name in (("drift_type", drift_type), ("convention", convention)):
        if not isinstance(name, str) or not name.isidentifier():
            raise ProbedriftError(f"{kind} must be a name like 'gaussian', got {name!r}", "use letters, digits and _")
    if not isinstance(formula, str) or not formula.strip():
        raise ProbedriftError(f"formula must be non-empty text, got {formula!r}", "e.g. 'Normalize(z + σ v)'")

    def decorator(build: Callable) -> Callable:
        old = DRIFT_TYPES.get(drift_type) if drift_type in DRIFT_TYPES else DriftType(drift_type, (), bool(default))
        if convention in old.convention_names:
            raise ProbedriftError(f"drift {drift_type}/{convention} is already registered",
                                  "pick another convention name, or unregister_drift(...) the old one first")
        if paper and old.paper is not None:
            raise ProbedriftError(f"drift type {drift_type!r} already has the paper convention {old.paper!r}",
                                  "register the new convention with paper=False")
        text = doc if doc is not None else " ".join((build.__doc__ or "").split("\n\n")[0].split())
        entry = DriftConvention(drift_type, convention, build, formula, text, bool(paper), bool(seeded), bool(linear))
        DRIFT_TYPES.add(replace(old, conventions=(*old.conventions, entry)), replace=True)
        return build

    return decorator


def unregister_drift(drift_type: str, convention: str) -> DriftConvention:
    """Remove a registered (drift_type, convention) (and the type with its last convention); return the entry."""
    entry = drift_convention(drift_type, convention)
    rest = tuple(c for c in DRIFT_TYPES.get(drift_type).conventions if c is not entry)
    if rest:
        DRIFT_TYPES.add(replace(DRIFT_TYPES.get(drift_type), conventions=rest), replace=True)
    else:
        DRIFT_TYPES.remove(drift_type)
    return entry


def drift_convention(drift_type: str, convention: str) -> DriftConvention:
    """The registered (drift_type, convention), or a ProbedriftError naming the registered ones."""
    return DRIFT_TYPES.get(drift_type).convention(convention)


def convention_names(drift_type: str) -> tuple[str, ...]:
    """The registered conventions of ``drift_type``, in registration order."""
    return DRIFT_TYPES.get(drift_type).convention_names


def paper_conventions() -> dict[str, str]:
    """drift type → the paper's convention (§2.2), for the types registered with one."""
    return {t.name: t.paper for t in DRIFT_TYPES.specs() if t.paper is not None}


def conventions_table() -> pd.DataFrame:
    """One row per registered (drift_type, convention): columns drift_type, convention, paper (bool),
    formula (the drifted vector z' as text) and doc, in registration order."""
    columns = ["drift_type", "convention", "paper", "formula", "doc"]
    rows = [[getattr(c, col) for col in columns] for t in DRIFT_TYPES.specs() for c in t.conventions]
    return pd.DataFrame(rows, columns=columns).astype({"paper": bool})


def resolve_conventions(drift_types: Sequence[str] | str,
                        conventions: Mapping[str, Sequence[str] | str] | str | None) -> list[tuple[str, str]]:
    """The (drift_type, convention) pairs to run, in order and without repeats.

    ``conventions``: None or "all" for every registered convention of each type, "paper" for each
    type's paper convention, or a mapping type → convention(s) (types it leaves out get all
    conventions). Unknown types or conventions raise a ProbedriftError listing the registered ones.
    """
    types = [drift_types] if isinstance(drift_types, str) else list(drift_types)
    specs = [DRIFT_TYPES.get(t) for t in types]
    if isinstance(conventions, str):
        check_choice("conventions", conventions, ("paper", "all"))
    elif isinstance(conventions, Mapping):
        for t in conventions:
            check_choice("drift type in conventions", t, DRIFT_TYPES.names())
    elif conventions is not None:
        raise ProbedriftError(f"conventions must be None, 'paper', 'all' or a mapping: {type(conventions).__name__}",
                              "pass e.g. {'gaussian': ['relative'], 'rotation': ['true']}")
    pairs: list[tuple[str, str]] = []
    for spec in specs:
        if conventions == "paper":
            if spec.paper is None:
                example = {spec.name: list(spec.convention_names)}
                raise ProbedriftError(f"drift type {spec.name!r} has no paper convention",
                                      f"name its conventions explicitly, e.g. {example!r}")
            chosen: Sequence[str] = [spec.paper]
        elif isinstance(conventions, Mapping) and spec.name in conventions:
            value = conventions[spec.name]
            chosen = [value] if isinstance(value, str) else list(value)
        else:
            chosen = spec.convention_names
        for c in chosen:
            spec.convention(c)
            if (spec.name, c) not in pairs:
                pairs.append((spec.name, c))
    return pairs


def drift_direction(kind: str, reference: object = None, reference_labels: object = None, seed: int = 0, *,
                    d: int | None = None) -> np.ndarray:
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
    seed = check_seed(seed)
    if kind == "random":
        if d is None and reference is None:
            raise ProbedriftError("a random direction needs the embedding width", "pass d=<width> or reference=<X>")
        width = int(d if d is not None else np.asarray(reference).shape[-1])
        return normalize(np.random.default_rng(seed).standard_normal(width)).astype(np.float32)
    if reference is None:
        raise ProbedriftError(f"the {kind!r} direction needs reference embeddings (labels too for class means)",
                              "pass reference=<training embeddings>, reference_labels=<their labels>, or kind='random'")
    ref = np.asarray(reference, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] < 2:
        raise ProbedriftError(f"reference must be 2-D with at least 2 rows, got {ref.shape}",
                              "pass embeddings, one per row")
    if d is not None and ref.shape[1] != d:
        raise ProbedriftError(f"reference has width {ref.shape[1]}, the embeddings {d}", "use the same model and layer")
    if kind == "class_mean_difference":
        lab = np.asarray(reference_labels) if reference_labels is not None else None
        if lab is None or lab.shape != (ref.shape[0],) or not np.isin(lab, (0, 1)).all() or np.unique(lab).size < 2:
            raise ProbedriftError("class_mean_difference needs 0/1 reference_labels, one per row, both classes present",
                                  "pass the training labels of the reference embeddings")
        diff = ref[lab == 0].mean(axis=0) - ref[lab == 1].mean(axis=0)
        if np.linalg.norm(diff) == 0:
            raise ProbedriftError("the two class means coincide", "use kind='top_pc' or 'random'")
        return normalize(diff).astype(np.float32)
    # ARPACK finds the one leading component ~10x faster than a full SVD at d ~ 1000; the fixed starting
    # vector keeps v independent of the drift seed. Its latency-bound products run on one BLAS thread.
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
    norms = row_norms(g).astype(np.float64)
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


@register_drift("directional", "class_mean_difference", seeded=False,
                formula="Normalize(z + σ v), v = Normalize(μ₀ − μ₁) of the reference set")
def _directional_class_mean(inputs: DriftInputs) -> DriftForm:
    """A fixed shift from the class-1 (unsafe) mean towards the class-0 (safe) mean of the reference set."""
    return inputs.shift(_fixed_direction(inputs, "class_mean_difference"))


@register_drift("directional", "top_pc", seeded=False,
                formula="Normalize(z + σ v), v = first principal component of the reference")
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


@register_drift("rotation", "paper_literal", paper=True,
                formula="Normalize(cos θ z + sin θ Q z), Q Haar-random, θ = σ·π/2")
def _rotation_paper_literal(inputs: DriftInputs) -> DriftForm:
    """The paper's matrix cos θ I + sin θ Q, not a rotation; after Normalize vectors move by ≈ θ."""
    return inputs.rotate(inputs.z @ inputs.haar().T)  # for row vectors, Q z is z Qᵀ
