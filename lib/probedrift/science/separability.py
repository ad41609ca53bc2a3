"""Class separability of embeddings: silhouette, Fisher ratio, class overlap, probe AUC (paper §3, Table 2).

The paper compares base and instruction-tuned models by these measures but does not say in which
space it computed them (open question 11). Here the space is a named parameter, ``space``:

- ``"raw"``: the embeddings as extracted;
- ``"normalized"``: rows scaled to unit L2 norm (points on the sphere, where the drift acts);
- ``"normalized_standardized"`` (default): unit L2 norm, then each dimension z-scored over the
  sample; this is the space the probe's logistic regression sees.

:func:`cv_auc` always receives the embeddings as given, because its pipeline applies the probe's own
normalisation. Labels are 0/1 with 1 = unsafe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
from sklearn.covariance import ledoit_wolf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from probedrift.core.errors import ProbedriftError, check_choice, check_positive
from probedrift.core.intervals import centred_t_interval
from probedrift.science.probe_fits import check_embeddings, check_xy, l2_normalize
from probedrift.science.silhouette import silhouette, silhouette_resamples  # noqa: F401  (silhouette is re-exported)

SPACES = ("raw", "normalized", "normalized_standardized")
METRICS = ("silhouette", "fisher", "fisher_raw", "overlap", "cv_auc")
"""``fisher`` is the debiased Fisher ratio; ``fisher_raw`` the paper's plug-in formula (biased upwards by
``d(1/n₀ + 1/n₁)/2`` for identical classes in the standardised space, which grows with the width d)."""
_GRID_POINTS = 512
#: Bootstrap resamples behind the silhouette's interval. Each costs a look-up in one distance matrix computed
#: once per sample (up to ``sample_size`` texts), so there can be as many as a standard deviation needs: the
#: interval's half-width is t_{0.975, B−1}·sd(θ*), whose sd carries B − 1 degrees of freedom.
SILHOUETTE_RESAMPLES = 200


def to_space(X: Any, space: str = "normalized_standardized") -> np.ndarray:
    """Map embeddings into one of :data:`SPACES` (see the module docstring), as float64."""
    check_choice("space", space, SPACES)
    X = check_embeddings(X).astype(np.float64)
    if space == "raw":
        return X
    X = l2_normalize(X)
    if space == "normalized":
        return X
    return StandardScaler().fit_transform(X)


def fisher_ratio(X: Any, y: Any, *, debiased: bool = True) -> float:
    """Fisher ratio as in the paper (§3): ``F = ‖μ₁ − μ₀‖² / (mean_j σ²₀ⱼ + mean_j σ²₁ⱼ)``.

    ``μ_k`` is the mean of class k; ``σ²_kj`` its variance in dimension j (population variance,
    ddof = 0), averaged over the d dimensions. The numerator sums over dimensions while the
    denominator averages, so F grows with d for a fixed per-dimension separation.

    The plug-in numerator is biased upwards by sampling noise, ``E‖x̄₁ − x̄₀‖² = ‖μ₁ − μ₀‖² +
    tr Σ₀/n₀ + tr Σ₁/n₁``, which is large when d is comparable to n (two identical classes of 500
    points in d = 1024 score F ≈ 2). ``debiased=True`` subtracts the unbiased estimate of that term
    (``tr S_k / n_k``, ddof = 1); it can then be slightly negative. ``debiased=False`` is the paper's
    formula (reported as ``fisher_raw``); debiased is the default because the raw noise floor differs
    between models of different widths.
    """
    X, y = check_xy(X, y)
    X = X.astype(np.float64)
    X0, X1 = X[y == 0], X[y == 1]
    diff = X1.mean(axis=0) - X0.mean(axis=0)
    within = X0.var(axis=0).mean() + X1.var(axis=0).mean()
    if within == 0:
        raise ProbedriftError(
            "both classes have zero within-class variance", "pass embeddings that vary within a class"
        )
    between = diff @ diff
    if debiased:
        between -= sum(Xk.var(axis=0, ddof=1).sum() / Xk.shape[0] for Xk in (X0, X1))
    return float(between / within)


def _overlap_1d(s0: np.ndarray, s1: np.ndarray) -> float:
    """``OVL = ∫ min(f₀, f₁)`` of two Gaussian KDEs on a shared grid (trapezoid rule)."""
    for s in (s0, s1):
        if np.ptp(s) == 0:
            raise ProbedriftError(
                "a class projects onto a single value, so its density is undefined",
                "pass more varied samples of each class",
            )
    k0, k1 = scipy.stats.gaussian_kde(s0), scipy.stats.gaussian_kde(s1)
    pad = 4.0 * max(np.sqrt(k0.covariance[0, 0]), np.sqrt(k1.covariance[0, 0]))
    lo = min(s0.min(), s1.min()) - pad
    hi = max(s0.max(), s1.max()) + pad
    grid = np.linspace(lo, hi, _GRID_POINTS)
    ovl = np.trapezoid(np.minimum(k0(grid), k1(grid)), grid)
    return float(np.clip(ovl, 0.0, 1.0))


def _halves(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded stratified split of the sample indices into two halves."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for cls in (0, 1):
        idx = rng.permutation(np.flatnonzero(y == cls))
        a.append(idx[: idx.size // 2])
        b.append(idx[idx.size // 2 :])
    return np.concatenate(a), np.concatenate(b)


def _lda_direction(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Shrinkage-LDA direction ``w = Σ⁻¹ (μ₁ − μ₀)``, ``Σ = Σ_k π_k LW(X_k)`` (Ledoit–Wolf per class).

    Hand-written instead of sklearn's ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``
    for speed: the shrunk covariance is positive definite, so a Cholesky solve replaces sklearn's
    least-squares SVD, which dominated the separability reports (4× slower at d = 640). sklearn
    standardises before shrinking, so the directions differ slightly (cosine ≥ 0.95, tested).
    """

    X0, X1 = X[y == 0], X[y == 1]
    # As sklearn: each class's covariance shrunk on its own, then weighted by the class priors.
    cov = sum(len(Xk) / len(X) * ledoit_wolf(Xk - Xk.mean(axis=0), assume_centered=True)[0] for Xk in (X0, X1))
    return scipy.linalg.solve(cov, X1.mean(axis=0) - X0.mean(axis=0), assume_a="pos")


def _cross_fitted_overlap(XA: np.ndarray, yA: np.ndarray, XB: np.ndarray, yB: np.ndarray) -> float:
    ovls = []
    for Xf, yf, Xe, ye in ((XA, yA, XB, yB), (XB, yB, XA, yA)):
        s = Xe @ _lda_direction(Xf, yf)
        ovls.append(_overlap_1d(s[ye == 0], s[ye == 1]))
    return float(np.mean(ovls))


def class_overlap(X: Any, y: Any, seed: int = 0) -> float:
    """Overlap of the two classes along the Fisher LDA direction, in [0, 1] (1 = identical, 0 = disjoint).

    Definition (the paper reports "class overlap" without one):

    1. split the sample into two stratified halves A and B (seeded);
    2. fit a shrinkage LDA direction (:func:`_lda_direction`, Ledoit–Wolf) on A and project
       B onto its discriminant direction; and the other way round (2-fold cross-fitting: in high
       dimension a direction fitted and evaluated on the same points separates them even when the
       classes are identical);
    3. on each evaluated half, estimate the 1-D densities ``f₀, f₁`` of the projected classes with a
       Gaussian KDE (Scott's bandwidth) and take the overlap coefficient
       ``OVL = ∫ min(f₀(s), f₁(s)) ds`` on a 512-point grid;
    4. average the two halves' OVL.

    For two 1-D Gaussians with equal variance and standardised distance δ, ``OVL = 2Φ(−δ/2)``.
    """
    X, y = check_xy(X, y, min_per_class=4)
    X = X.astype(np.float64)
    a, b = _halves(y, seed)
    return _cross_fitted_overlap(X[a], y[a], X[b], y[b])


def _paper_probe() -> Any:
    return make_pipeline(Normalizer(), StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced",
                                                                          max_iter=2000))


def cv_auc(X: Any, y: Any, folds: int = 5, seed: int = 0, *, return_folds: bool = False) -> float | np.ndarray:
    """Cross-validated ROC-AUC of the paper's probe (``Normalizer → StandardScaler → LogisticRegression``).

    Stratified, shuffled, seeded ``folds``-fold CV; returns the mean AUC over folds, or the
    per-fold AUCs with ``return_folds=True``.
    """
    if int(folds) < 2:
        raise ProbedriftError(f"folds must be at least 2, got {folds}", "pass folds=5")
    X, y = check_xy(X, y, min_per_class=int(folds))
    cv = StratifiedKFold(n_splits=int(folds), shuffle=True, random_state=seed)
    scores = cross_val_score(_paper_probe(), X, y, cv=cv, scoring="roc_auc")
    return scores if return_folds else float(scores.mean())


# --------------------------------------------------------------------------------------------------
# reports


def _stratified_bootstrap(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.concatenate([rng.choice(i, size=i.size, replace=True) for i in (np.flatnonzero(y == c) for c in (0, 1))])


def _fisher_jackknife(X: np.ndarray, y: np.ndarray, *, standardize: bool, debiased: bool) -> tuple[float, float]:
    """Fisher ratio and its stratified delete-one jackknife variance, the space's standardisation refitted
    on every leave-one-out sample.

    ``var = Σ_k (n_k − 1)/n_k · Σ_{i∈k} (F₍ᵢ₎ − F̄₍·₎ₖ)²``. Used instead of the bootstrap, whose
    resamples duplicate points: the plug-in class-mean difference carries noise of covariance
    ``Ω = Σ₁/n₁ + Σ₀/n₀`` that the bootstrap treats as signal and adds again, inflating its variance
    by about ``4 tr Ω²`` (2–2.5× the sampling sd at n = 300, d = 640), and a bootstrap on the
    standardised sample misses the standardisation's own variability. The jackknife is exact for
    the linear part of the statistic and overstates the degenerate high-dimensional part (its sd
    is at most about √2 too large when that part dominates). Leave-one-out moments are rank-one
    updates, so all n values cost O(n·d).
    """
    full, loo = _fisher_leave_one_out(X, y, standardize=standardize, debiased=debiased)
    return full, _stratified_jackknife_variance(loo)


def _stratified_jackknife_variance(loo: list[np.ndarray]) -> float:
    """``Σ_k (n_k − 1)/n_k · Σ_{i∈k} (θ₍ᵢ₎ − θ̄₍·₎ₖ)²`` from the leave-one-out values of each class."""
    return float(sum((len(v) - 1) / len(v) * ((v - v.mean()) ** 2).sum() for v in loo))


def _fisher_leave_one_out(X: np.ndarray, y: np.ndarray, *, standardize: bool,
                          debiased: bool) -> tuple[float, list[np.ndarray]]:
    """The Fisher ratio of (X, y) and its leave-one-out values, one array per class (class 0's texts in
    row order, then class 1's), the space's standardisation refitted on every leave-one-out sample."""
    X = X.astype(np.float64)
    parts = [X[y == c] for c in (0, 1)]
    ns = [len(p) for p in parts]
    mus = [p.mean(axis=0) for p in parts]
    sqs = [(p * p).mean(axis=0) for p in parts]

    def ratio(m0, q0, n0, m1, q1, n1):
        v0, v1 = q0 - m0 * m0, q1 - m1 * m1
        n = n0 + n1
        scale = (n0 * v0 + n1 * v1) / n + n0 * n1 / n**2 * (m1 - m0) ** 2 if standardize else np.ones_like(v0)
        scale = np.where(scale > 0, scale, 1.0)
        num = ((m1 - m0) ** 2 / scale).sum(axis=-1)
        a0, a1 = (v0 / scale).sum(axis=-1), (v1 / scale).sum(axis=-1)
        if debiased:  # tr S_k / n_k with ddof = 1 is the ddof-0 trace over (n_k − 1)
            num = num - a0 / (n0 - 1) - a1 / (n1 - 1)
        return num / ((a0 + a1) / v0.shape[-1])

    full = float(ratio(mus[0], sqs[0], ns[0], mus[1], sqs[1], ns[1]))
    loo = []
    for k in (0, 1):
        n, P = ns[k], parts[k]
        mk, qk = (n * mus[k] - P) / (n - 1), (n * sqs[k] - P * P) / (n - 1)
        loo.append(np.asarray(ratio(mk, qk, n - 1, mus[1], sqs[1], ns[1]) if k == 0
                              else ratio(mus[0], sqs[0], ns[0], mk, qk, n - 1), dtype=np.float64))
    return full, loo


def _check_resamples(n: int) -> None:
    if n < 2:  # a standard deviation needs two resamples
        raise ProbedriftError(f"n_boot_silhouette must be at least 2, got {n}",
                              f"use e.g. {SILHOUETTE_RESAMPLES}: a standard deviation needs resamples")


def _normal_interval(estimate: float, boots: np.ndarray) -> tuple[float, float]:
    """Normal bootstrap interval ``θ̂ ± z₀.₉₇₅ · sd(θ*)``.

    Not the percentile interval: in high dimension the plug-in measures are biased (see
    :func:`fisher_ratio`) and a resample with duplicated points adds the bias again, so the
    resampled values sit beside the estimate rather than around it. The bootstrap's spread is still
    a fair estimate of the sampling spread, so the interval is centred on the estimate.
    """
    half = float(scipy.stats.norm.ppf(0.975) * np.std(boots, ddof=1))
    return estimate - half, estimate + half


def separability_report(
    X: Any,
    y: Any,
    *,
    n_boot: int = 200,
    n_boot_expensive: int = 20,
    seed: int = 0,
    space: str = "normalized_standardized",
    metrics: Iterable[str] = METRICS,
    silhouette_metric: str = "cosine",
    sample_size: int = 2000,
    folds: int = 5,
    n_boot_silhouette: int = SILHOUETTE_RESAMPLES,
) -> pd.DataFrame:
    """Table of separability measures with 95% intervals: columns ``metric, value, ci_low, ci_high``.

    ``value`` is each measure on the full sample in ``space`` (see the module docstring). Intervals:

    - ``fisher`` (debiased, :func:`fisher_ratio`) and ``fisher_raw`` (the paper's plug-in):
      ``F̂ ± 1.96 · sd_jack``, the stratified delete-one jackknife with the standardisation refitted
      (:func:`_fisher_jackknife`); it covers the sampling spread at this n and d. For ``fisher`` the
      interval is around an estimate of the population ratio; for ``fisher_raw`` around a value
      biased upwards by its noise floor, which the interval does not cover;
    - ``silhouette``: ``θ̂ ± t_{0.975, B−1} · sd(θ*)`` over ``n_boot_silhouette`` stratified bootstrap
      resamples (:data:`SILHOUETTE_RESAMPLES`; one distance matrix serves them all). Centred on the
      estimate, not a percentile interval: a resample's duplicated points sit at distance 0 from each
      other, which shifts the resampled silhouettes (and widens their spread, so the interval is
      conservative);
    - ``overlap``: ``θ̂ ± z₀.₉₇₅ · sd(θ*)`` over ``n_boot_expensive`` resamples (two LDA fits each, about
      1 s at 2,000 × 1,024); the A/B halves are fixed and each half is resampled on its own, so a
      duplicated point never sits on both sides of the cross-fit;
    - ``cv_auc``: mean over folds ± t(0.975, k−1)·sd/√k, the spread of the k fold AUCs (the folds
      are not independent, so this interval is approximate).
    """
    check_choice("space", space, SPACES)
    metrics = list(metrics)
    for m in metrics:
        check_choice("separability metric", m, METRICS)
    check_positive("n_boot", n_boot)
    check_positive("n_boot_expensive", n_boot_expensive)
    _check_resamples(n_boot_silhouette)
    X, y = check_xy(X, y, min_per_class=max(4, int(folds)))
    Z = to_space(X, space)
    rng = np.random.default_rng(seed)
    rows = []
    for m in metrics:
        if m == "silhouette":
            value = silhouette(Z, y, metric=silhouette_metric, sample_size=sample_size, seed=seed)
            idxs = [_stratified_bootstrap(y, rng) for _ in range(n_boot_silhouette)]
            boots = silhouette_resamples([Z], y, idxs, silhouette_metric, sample_size, seed)[0]
            lo, hi = centred_t_interval(value, boots)
        elif m in ("fisher", "fisher_raw"):
            pre = Z if space != "normalized_standardized" else to_space(X, "normalized")
            value, var = _fisher_jackknife(pre, y, standardize=space == "normalized_standardized",
                                           debiased=m == "fisher")
            half = float(scipy.stats.norm.ppf(0.975)) * np.sqrt(var)
            lo, hi = value - half, value + half
        elif m == "overlap":
            a, b = _halves(y, seed)
            value = _cross_fitted_overlap(Z[a], y[a], Z[b], y[b])
            boots = []
            for _ in range(n_boot_expensive):
                ia, ib = a[_stratified_bootstrap(y[a], rng)], b[_stratified_bootstrap(y[b], rng)]
                boots.append(_cross_fitted_overlap(Z[ia], y[ia], Z[ib], y[ib]))
            lo, hi = _normal_interval(value, np.array(boots))
        else:
            scores = cv_auc(X, y, folds=folds, seed=seed, return_folds=True)
            value = float(scores.mean())
            half = scipy.stats.t.ppf(0.975, len(scores) - 1) * scores.std(ddof=1) / np.sqrt(len(scores))
            lo, hi = value - half, value + half
        rows.append({"metric": m, "value": value, "ci_low": lo, "ci_high": hi})
    return pd.DataFrame(rows, columns=["metric", "value", "ci_low", "ci_high"])


def per_layer_report(
    embeddings_by_layer: Mapping[int, Any],
    y: Any,
    model: str = "model",
    **kw: Any,
) -> pd.DataFrame:
    """:func:`separability_report` for each layer: columns ``model, layer, metric, value, ci_low, ci_high``.

    ``kw`` go to :func:`separability_report` (the same seed for every layer).
    """
    if not embeddings_by_layer:
        raise ProbedriftError("no layers given", "pass a dict {layer index: (n, d) embeddings}")
    frames = []
    for layer in sorted(embeddings_by_layer):
        df = separability_report(embeddings_by_layer[layer], y, **kw)
        df.insert(0, "layer", int(layer))
        df.insert(0, "model", model)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# --------------------------------------------------------------------------------------------------
# paired model comparison

PAIRED_INTERVAL = (
    "95% interval of the relative change (instruct − base)/|base|, paired over shared texts: both models' "
    "measures on the same texts left out (fisher, fisher_raw: stratified delete-one jackknife), the same "
    "stratified bootstrap resamples (silhouette: t interval with B − 1 df; overlap: normal interval) or the same "
    "folds (cv_auc: t-interval over folds); last layer, probe input space"
)


def _relative(base: Any, instruct: Any) -> Any:
    """``(instruct − base)/|base|``, NaN where base is 0."""
    base, instruct = np.asarray(base, dtype=np.float64), np.asarray(instruct, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base != 0, (instruct - base) / np.abs(base), np.nan)


def paired_relative_change(
    X_base: Any,
    X_instruct: Any,
    y: Any,
    *,
    n_boot_expensive: int = 20,
    seed: int = 0,
    space: str = "normalized_standardized",
    metrics: Iterable[str] = METRICS,
    silhouette_metric: str = "cosine",
    sample_size: int = 2000,
    folds: int = 5,
    n_boot_silhouette: int = SILHOUETTE_RESAMPLES,
) -> pd.DataFrame:
    """Relative change ``r = (m_instruct − m_base)/|m_base|`` of each measure between two models that
    embedded the *same texts* (row i of both arrays is text i), with an interval paired over the texts.

    The measures are those of :func:`separability_report` (same space, seeds and values). Because both
    models see the same texts, the texts' sampling noise is shared and largely cancels in r; the
    interval resamples texts once for both models:

    - ``fisher``, ``fisher_raw``: paired stratified delete-one jackknife, r₍ᵢ₎ from both models' ratios
      without text i, ``var = Σ_k (n_k − 1)/n_k Σ_{i∈k} (r₍ᵢ₎ − r̄₍·₎ₖ)²``, interval r ± z₀.₉₇₅ √var;
    - ``silhouette``: ``n_boot_silhouette`` stratified bootstrap resamples shared by both models, interval
      r ± t_{0.975, B−1} · sd(r*);
    - ``overlap``: ``n_boot_expensive`` resamples shared by both models within the fixed A/B halves,
      interval r ± z₀.₉₇₅ · sd(r*);
    - ``cv_auc``: the same stratified folds for both models; r ± t(0.975, k−1) · sd(d_f)/√k with
      ``d_f = (AUC_instruct,f − AUC_base,f)/|mean AUC_base|``.

    Columns ``metric, base_value, instruct_value, relative_change, relative_change_low,
    relative_change_high, interval`` (:data:`PAIRED_INTERVAL`).
    """
    check_choice("space", space, SPACES)
    metrics = list(metrics)
    for m in metrics:
        check_choice("separability metric", m, METRICS)
    check_positive("n_boot_expensive", n_boot_expensive)
    _check_resamples(n_boot_silhouette)
    Xb, y = check_xy(X_base, y, min_per_class=max(4, int(folds)))
    Xi, _ = check_xy(X_instruct, y, min_per_class=max(4, int(folds)))
    Zb, Zi = to_space(Xb, space), to_space(Xi, space)
    z = float(scipy.stats.norm.ppf(0.975))
    rng = np.random.default_rng(seed)
    rows = []
    for m in metrics:
        if m in ("fisher", "fisher_raw"):
            kw = {"standardize": space == "normalized_standardized", "debiased": m == "fisher"}
            pre = [Z if space != "normalized_standardized" else to_space(X, "normalized")
                   for Z, X in ((Zb, Xb), (Zi, Xi))]
            vb, loo_b = _fisher_leave_one_out(pre[0], y, **kw)
            vi, loo_i = _fisher_leave_one_out(pre[1], y, **kw)
            rel = float(_relative(vb, vi))
            half = z * np.sqrt(_stratified_jackknife_variance([_relative(b, i) for b, i in zip(loo_b, loo_i)]))
        elif m == "silhouette":
            vb, vi = (silhouette(Z, y, metric=silhouette_metric, sample_size=sample_size, seed=seed) for Z in (Zb, Zi))
            rel = float(_relative(vb, vi))
            idxs = [_stratified_bootstrap(y, rng) for _ in range(n_boot_silhouette)]
            bb, bi = silhouette_resamples([Zb, Zi], y, idxs, silhouette_metric, sample_size, seed)
            half = centred_t_interval(rel, _relative(bb, bi))[1] - rel
        elif m == "overlap":
            a, b = _halves(y, seed)
            vb = _cross_fitted_overlap(Zb[a], y[a], Zb[b], y[b])
            vi = _cross_fitted_overlap(Zi[a], y[a], Zi[b], y[b])
            rel = float(_relative(vb, vi))
            boots = []
            for _ in range(n_boot_expensive):
                ia, ib = a[_stratified_bootstrap(y[a], rng)], b[_stratified_bootstrap(y[b], rng)]
                boots.append(float(_relative(_cross_fitted_overlap(Zb[ia], y[ia], Zb[ib], y[ib]),
                                             _cross_fitted_overlap(Zi[ia], y[ia], Zi[ib], y[ib]))))
            half = z * float(np.std(boots, ddof=1))
        else:
            sb = cv_auc(Xb, y, folds=folds, seed=seed, return_folds=True)
            si = cv_auc(Xi, y, folds=folds, seed=seed, return_folds=True)
            vb, vi = float(sb.mean()), float(si.mean())
            rel = float(_relative(vb, vi))
            d = (si - sb) / abs(vb) if vb else np.full(len(sb), np.nan)
            half = float(scipy.stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        rows.append({"metric": m, "base_value": float(vb), "instruct_value": float(vi), "relative_change": rel,
                     "relative_change_low": rel - half, "relative_change_high": rel + half,
                     "interval": PAIRED_INTERVAL})
    return pd.DataFrame(rows, columns=["metric", "base_value", "instruct_value", "relative_change",
                                       "relative_change_low", "relative_change_high", "interval"])
