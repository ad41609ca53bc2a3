"""Two-sample statistics behind the drift monitors (:mod:`probedrift.science.detectors`): permutation
p-values, the unbiased RBF-kernel MMD² with its permutation test, and per-column Kolmogorov–Smirnov
statistics computed for all columns at once.

Permutation p-values use ``(1 + #{T* ≥ T}) / (1 + B)`` over B seeded permutations, so they are never 0
and a test at level α is exact up to Monte-Carlo error.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.stats

from probedrift.core.errors import ProbedriftError


def permutation_p(observed: float, null: np.ndarray) -> float:
    """``(1 + #{T* ≥ T}) / (1 + B)`` over the B permuted statistics: never 0, exact up to Monte-Carlo error."""
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))


def group_masks(n: int, m: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n+m) 0/1 masks: row b marks which pooled points form the first group under permutation b."""
    order = np.argsort(rng.random((n_permutations, n + m)), axis=1)
    masks = np.zeros((n_permutations, n + m))
    np.put_along_axis(masks, order[:, :n], 1.0, axis=1)
    return masks


@functools.lru_cache(maxsize=8)
def observed_and_permuted_masks(n: int, m: int, n_permutations: int, seed: int) -> np.ndarray:
    """Row 0 marks the observed first group, rows 1.. the :func:`group_masks` of a fresh
    ``default_rng(seed)``: the same for every test of a detector, so drawn once (read-only)."""
    masks = group_masks(n, m, n_permutations, np.random.default_rng(seed))
    masks = np.concatenate([np.r_[np.ones(n), np.zeros(m)][None, :], masks])
    masks.flags.writeable = False
    return masks


def mmd_permutation_test(
    x: np.ndarray, y: np.ndarray, n_permutations: int, rng: np.random.Generator, bandwidth: float | None = None,
    masks: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Unbiased MMD² (RBF kernel, median-heuristic bandwidth unless given) and its permutation p-value.

    Returns ``(mmd2, p_value, bandwidth)``; see :class:`MMDDetector` for the formulas. ``masks``: the
    permutations' (B, n+m) :func:`group_masks`, when the caller already has the ones ``rng`` would draw
    (drawing them sorts B × (n+m) random numbers, which costs as much as the statistic).
    """
    n, m = x.shape[0], y.shape[0]
    z = np.concatenate([x, y])
    sq = np.einsum("ij,ij->i", z, z)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (z @ z.T), 0.0)
    if bandwidth is None:
        off = d2[np.triu_indices(n + m, k=1)]
        bandwidth = float(np.sqrt(np.median(off)))
        if bandwidth <= 0:
            # More than half of the pooled points coincide (duplicate texts, or a model that maps many
            # texts to one vector): the median heuristic degenerates, so use the distinct pairs only.
            distinct = off[off > 0]
            bandwidth = float(np.sqrt(np.median(distinct))) if distinct.size else 1.0
    if bandwidth <= 0:
        raise ProbedriftError(f"the kernel bandwidth must be positive, got {bandwidth}",
                              "pass bandwidth=None for the median heuristic, or a positive value")
    k = np.exp(-d2 / (2.0 * bandwidth**2))
    np.fill_diagonal(k, 0.0)  # the unbiased statistic leaves out the i = j terms

    def stat(masks: np.ndarray) -> np.ndarray:
        km = masks @ k  # (B, N): row b, column j = Σ_{i in group x} k(i, j)
        kxx = np.einsum("bj,bj->b", km, masks)
        total_x = km.sum(axis=1)  # Σ_{i∈x, j} k(i, j) = kxx + kxy
        kxy = total_x - kxx
        kyy = k.sum() - kxx - 2.0 * kxy
        return kxx / (n * (n - 1)) + kyy / (m * (m - 1)) - 2.0 * kxy / (n * m)

    observed = float(stat(np.r_[np.ones(n), np.zeros(m)][None, :])[0])
    null = stat(group_masks(n, m, n_permutations, rng) if masks is None else masks)
    return observed, permutation_p(observed, null), bandwidth


# Two-sample KS p-values by (n, m, n·m·D): the p-value depends on nothing else (scipy's "auto" method
# is chosen from n and m), and a monitor grid meets the same few hundred levels thousands of times.
_KS_P_VALUES: dict[tuple[int, int, int], float] = {}


def ks_columns(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column two-sample KS statistics and p-values, equal to ``scipy.stats.ks_2samp(x, y, axis=0)``.

    ``D_j = max_t |F_x,j(t) − F_y,j(t)|`` is computed for all columns at once from one sort of the
    pooled sample (``n·m·D_j`` is the largest |Σ (m·[from x] − n·[from y])| over the sorted values,
    read only where the value changes, so ties count as in scipy). The p-value depends on ``D_j``
    only (for fixed n, m), so scipy is called once per distinct ``n·m·D_j`` not seen before (in
    this process) and its answer copied to the other columns.
    """
    dtype = np.result_type(np.asarray(x).dtype, np.asarray(y).dtype, np.float32)
    x = np.atleast_2d(np.asarray(x, dtype=dtype).T).T
    y = np.atleast_2d(np.asarray(y, dtype=dtype).T).T
    n, m = x.shape[0], y.shape[0]
    z = np.concatenate([x, y])
    order = np.argsort(z, axis=0, kind="stable")
    zs = np.take_along_axis(z, order, axis=0)
    steps = np.where(order < n, m, -n).astype(np.int64)
    cum = np.abs(np.cumsum(steps, axis=0))
    changes = np.ones_like(zs, dtype=bool)
    changes[:-1] = zs[1:] != zs[:-1]
    d_int = np.where(changes, cum, 0).max(axis=0)
    levels, first, inverse = np.unique(d_int, return_index=True, return_inverse=True)
    new = [i for i, level in enumerate(levels) if (n, m, int(level)) not in _KS_P_VALUES]
    if new:
        columns = first[new]
        res = scipy.stats.ks_2samp(x[:, columns].astype(np.float64), y[:, columns].astype(np.float64), axis=0)
        for i, p in zip(new, np.atleast_1d(res.pvalue)):
            _KS_P_VALUES[(n, m, int(levels[i]))] = float(p)
    p_levels = np.array([_KS_P_VALUES[(n, m, int(level))] for level in levels])
    return (levels / (n * m))[inverse.ravel()], p_levels[inverse.ravel()]
