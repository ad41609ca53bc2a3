"""Synthetic two-class unit embeddings: the one generator the benchmark, the drift table and the tests share.

A sample is ``Normalize(offset + (y − ½)·δ·u + ε)`` with ``ε ~ N(0, I/d)``, ``u`` and ``offset``
random unit directions (``offset`` scaled by ``offset_scale``) and ``δ = separation/√d``, so
``separation`` is the class distance in noise standard deviations (d′) before normalisation. The
Bayes AUC of the unnormalised problem is Φ(d′/√2): d′ = 1.7 gives ≈ 0.89. The shared offset puts
the classes in a cap of the sphere, as real pooled hidden states are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Axes", "axes", "two_class"]

Axes = tuple[np.ndarray, np.ndarray]


def axes(d: int, seed: int = 99, offset_scale: float = 1.0) -> Axes:
    """The class direction ``u`` and the shared ``offset`` (unit vector times ``offset_scale``)."""
    rng = np.random.default_rng(seed)
    u = rng.standard_normal(d)
    offset = rng.standard_normal(d)
    return u / np.linalg.norm(u), offset_scale * offset / np.linalg.norm(offset)


def two_class(
    n: int,
    d: int,
    seed: int | np.random.Generator = 0,
    *,
    separation: float = 1.7,
    class_axes: Axes | None = None,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` unit embeddings of width ``d`` and balanced labels ``y`` (a random permutation of 0/1).

    ``seed`` is an int or a ``numpy.random.Generator`` (so consecutive draws can share one stream);
    ``class_axes`` from :func:`axes` fixes the geometry across draws (train and test from one problem).
    """
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    u, offset = class_axes if class_axes is not None else axes(d)
    y = rng.permutation(np.arange(n) % 2)
    x = offset + (y[:, None] - 0.5) * (separation / np.sqrt(d)) * u + rng.standard_normal((n, d)) / np.sqrt(d)
    x = x.astype(dtype)
    return x / np.linalg.norm(x, axis=1, keepdims=True), y
