"""Silhouette of two labelled classes, and of many bootstrap resamples at once from one distance matrix
(the interval of :func:`probedrift.science.separability.separability_report`)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import pairwise_distances, silhouette_score

from probedrift.core.errors import check_choice, check_positive
from probedrift.science.probe_fits import check_xy


def silhouette(X: Any, y: Any, metric: str = "cosine", sample_size: int | None = 2000, seed: int = 0) -> float:
    """Mean silhouette ``S = (1/N) Σ (b_i − a_i) / max(a_i, b_i)`` with the two classes as clusters.

    ``a_i`` is the mean distance of point i to its own class, ``b_i`` to the other class (sklearn's
    ``silhouette_score``). Computed on a seeded random subsample of ``sample_size`` points (all
    points if fewer, or if ``sample_size`` is None), because it costs O(N²). Range [−1, 1].
    """
    check_choice("silhouette metric", metric, ["cosine", "euclidean"])
    X, y = check_xy(X, y)
    if sample_size is not None:
        check_positive("sample_size", sample_size)
    n = X.shape[0]
    size = None if sample_size is None or sample_size >= n else int(sample_size)
    return float(silhouette_score(X, y, metric=metric, sample_size=size, random_state=seed))


def silhouette_resamples(Zs: list[np.ndarray], y: np.ndarray, idxs: list[np.ndarray], metric: str,
                         sample_size: int | None, seed: int) -> list[np.ndarray]:
    """:func:`silhouette` of each array of ``Zs`` on each resample ``idxs`` (the same rows for every array).

    Up to ``sample_size`` texts the distances are computed once and every resample is scored from them at
    once (:func:`resampled_silhouettes`); larger samples are subsampled per resample as :func:`silhouette`
    does."""
    if sample_size is None or len(y) <= sample_size:
        counts = np.stack([np.bincount(i, minlength=len(y)) for i in idxs]).astype(np.float64)
        out = []
        for Z in Zs:
            D = pairwise_distances(Z, metric=metric)
            np.fill_diagonal(D, 0.0)
            out.append(resampled_silhouettes(D, y, counts))
        return out
    return [np.array([silhouette(Z[i], y[i], metric=metric, sample_size=sample_size, seed=seed + k)
                      for k, i in enumerate(idxs)]) for Z in Zs]


def resampled_silhouettes(D: np.ndarray, y: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Silhouette (two classes) of every resample at once from one distance matrix.

    ``D`` (n, n) holds the distances of the n points (zero diagonal), ``y`` their 0/1 labels, and row b of
    ``counts`` (B, n) how often each point appears in resample b. A point's copies sit at distance 0 from
    each other, as in ``silhouette_score(D[np.ix_(i, i)], y[i], metric="precomputed")`` for the resample's
    rows ``i``, which this equals up to rounding: with ``S_c = counts_c @ D`` the summed distances to the
    resample's class-c points (``counts_c`` the counts of class c), point j of class k has
    ``a = S_k / (n_k − 1)``, ``b = S_{1−k} / n_{1−k}`` and ``s = (b − a) / max(a, b)`` (0 in a class of one, or
    where both are 0); the silhouette is the count-weighted mean of ``s``. One (B × n) @ (n × n) product per
    class instead of B silhouettes of (n × n) copies: about 30× faster at 800 texts and 200 resamples.
    """
    y = np.asarray(y)
    by_class = [np.where(y == c, counts, 0.0) for c in (0, 1)]
    sums = [w @ D for w in by_class]  # (B, n): summed distance from each point to the resample's class c
    sizes = [w.sum(axis=1, keepdims=True) for w in by_class]  # (B, 1)
    own = np.where(y == 1, sums[1], sums[0])
    other = np.where(y == 1, sums[0], sums[1])
    own_size = np.where(y == 1, sizes[1], sizes[0])
    other_size = np.where(y == 1, sizes[0], sizes[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        a = own / (own_size - 1)
        b = other / other_size
        s = np.nan_to_num((b - a) / np.maximum(a, b))
    s = np.where(own_size > 1, s, 0.0)
    return (counts * s).sum(axis=1) / counts.sum(axis=1)
