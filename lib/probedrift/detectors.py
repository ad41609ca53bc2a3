"""Drift monitors a production team could run on embeddings, behind one interface.

Every :class:`Detector` is fitted on a reference sample (embeddings of the model version the probe
was trained on) and then tests later samples::

    det = make_detector("mmd", alpha=0.05).fit(reference)
    result = det.test(sample)        # DetectorResult(statistic, p_value, alarm)

Two-sample tests alarm when ``p_value < alpha``; the confidence monitor alarms on a threshold.
Permutation p-values use ``(1 + #{T* ≥ T}) / (1 + B)`` over B seeded permutations, so they are
never 0 and a test at level α is exact up to Monte-Carlo error. A detector reuses its seed on
every call, so testing the same sample twice gives the same answer.
"""

from __future__ import annotations

import functools
import inspect
import os
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .blas import one_blas_thread
from .errors import ProbedriftError, check_choice, check_positive
from .probes import check_embeddings


@dataclass(frozen=True)
class DetectorResult:
    """One test: the detector's ``statistic``, its ``p_value`` (NaN if it has none) and the ``alarm``."""

    statistic: float
    p_value: float
    alarm: bool


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it lies in (0, 1), else raise a :class:`ProbedriftError`."""
    if not 0.0 < float(alpha) < 1.0:
        raise ProbedriftError(
            f"alpha must lie strictly between 0 and 1, got {alpha!r}", "pass a test level such as alpha=0.05"
        )
    return float(alpha)


def _permutation_p(observed: float, null: np.ndarray) -> float:
    return float((1 + np.count_nonzero(null >= observed)) / (1 + null.size))


def _group_masks(n: int, m: int, n_permutations: int, rng: np.random.Generator) -> np.ndarray:
    """(B, n+m) 0/1 masks: row b marks which pooled points form the first group under permutation b."""
    order = np.argsort(rng.random((n_permutations, n + m)), axis=1)
    masks = np.zeros((n_permutations, n + m))
    np.put_along_axis(masks, order[:, :n], 1.0, axis=1)
    return masks


@functools.lru_cache(maxsize=8)
def _observed_and_permuted_masks(n: int, m: int, n_permutations: int, seed: int) -> np.ndarray:
    """Row 0 marks the observed first group, rows 1.. the :func:`_group_masks` of a fresh
    ``default_rng(seed)``: the same for every test of a detector, so drawn once (read-only)."""
    masks = _group_masks(n, m, n_permutations, np.random.default_rng(seed))
    masks = np.concatenate([np.r_[np.ones(n), np.zeros(m)][None, :], masks])
    masks.flags.writeable = False
    return masks


class Detector:
    """Base class: ``fit(reference)`` then ``test(sample) -> DetectorResult``; ``name`` names it."""

    name = ""

    def __init__(self) -> None:
        self.reference_: np.ndarray | None = None

    def fit(self, reference: Any) -> Detector:
        """Store (a copy of) the reference embeddings, shape (n, d); returns ``self``."""
        self.reference_ = check_embeddings(reference, "reference").copy()
        self._fit()
        return self

    def _fit(self) -> None:
        """Pre-compute whatever the detector needs from :attr:`reference_`."""

    def _sample(self, sample: Any) -> np.ndarray:
        if self.reference_ is None:
            raise ProbedriftError(f"the {self.name} detector is not fitted", "call .fit(reference) first")
        X = check_embeddings(sample, "sample")
        if X.shape[1] != self.reference_.shape[1]:
            raise ProbedriftError(
                f"the sample has d={X.shape[1]} but the reference has d={self.reference_.shape[1]}",
                "test embeddings from the same layer of a model of the same width, or map them "
                "with probedrift.align first",
            )
        return X

    def test(self, sample: Any) -> DetectorResult:
        """Test ``sample`` (m, d) against the reference."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


# --------------------------------------------------------------------------------------------------


def _max_class_confidence(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 2:
        return p.max(axis=1)
    return np.maximum(p, 1.0 - p)


class ConfidenceMonitor(Detector):
    """Mean-confidence monitor, the "standard monitoring" the paper says drift defeats (§3, §5 claim 2).

    ``c(S) = mean_{x∈S} max_y p(y|x)``; statistic = relative drop ``(c(ref) − c(S)) / c(ref)``;
    alarm when it exceeds ``max_relative_drop``. This is a threshold rule, as deployed monitors use,
    so the alarm does not depend on ``p_value``. For information ``p_value`` is a one-sided Welch
    t-test of "confidence fell" on the per-sample confidences. ``predict_proba`` maps (n, d)
    embeddings to p(y=1|x), shape (n,), or to class probabilities, shape (n, k).
    """

    name = "confidence"

    def __init__(self, predict_proba: Callable[[np.ndarray], Any] | None = None, max_relative_drop: float = 0.10):
        super().__init__()
        if not callable(predict_proba):
            raise ProbedriftError(
                "the confidence monitor needs predict_proba, a function of the embeddings",
                "pass predict_proba=probe.predict_proba",
            )
        check_positive("max_relative_drop", max_relative_drop)
        self.predict_proba = predict_proba
        self.max_relative_drop = float(max_relative_drop)

    def _fit(self) -> None:
        self.reference_confidence_ = _max_class_confidence(self.predict_proba(self.reference_))
        self.reference_mean_ = float(self.reference_confidence_.mean())

    def test(self, sample: Any) -> DetectorResult:
        conf = _max_class_confidence(self.predict_proba(self._sample(sample)))
        drop = (self.reference_mean_ - float(conf.mean())) / self.reference_mean_
        if np.ptp(conf) == 0 and np.ptp(self.reference_confidence_) == 0:
            p = float("nan")  # the t-test is undefined without any spread
        else:
            with warnings.catch_warnings():
                # A probe saturated at confidence ≈ 1 gives nearly identical confidences, and scipy warns of
                # precision loss in their variance on every test (hundreds per chapter). The p-value is
                # informational only (the alarm is the threshold rule above), so the warning is dropped here.
                warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
                p = float(
                    scipy.stats.ttest_ind(
                        self.reference_confidence_, conf, equal_var=False, alternative="greater"
                    ).pvalue
                )
        return DetectorResult(float(drop), p, bool(drop > self.max_relative_drop))

    def __repr__(self) -> str:
        return f"ConfidenceMonitor(max_relative_drop={self.max_relative_drop})"


class MMDDetector(Detector):
    """Kernel two-sample test (Gretton et al. 2012) with a Gaussian RBF kernel.

    ``k(x, y) = exp(−‖x − y‖² / (2ℓ²))`` with ``ℓ`` the median pairwise distance of the pooled
    sample (median heuristic), and the unbiased statistic

        MMD²_u = Σ_{i≠j} k(xᵢ,xⱼ)/(n(n−1)) + Σ_{i≠j} k(yᵢ,yⱼ)/(m(m−1)) − 2 Σ_{i,j} k(xᵢ,yⱼ)/(nm).

    Written here rather than taken from torchdrift because torchdrift draws its permutations from
    torch's global RNG (no seed of its own), re-indexes the kernel matrix in a Python loop, and
    keeps the kernel's diagonal in its statistic; here the kernel is computed once and all
    permutations are scored by one (B × N) @ (N × N) product. Both samples are subsampled
    (seeded) to ``max_samples`` points. The last bandwidth is kept in ``bandwidth_``.
    """

    name = "mmd"

    def __init__(self, n_permutations: int = 200, alpha: float = 0.05, max_samples: int = 500, seed: int = 0):
        super().__init__()
        check_positive("n_permutations", n_permutations)
        check_positive("max_samples", max_samples)
        self.n_permutations = int(n_permutations)
        self.alpha = check_alpha(alpha)
        self.max_samples = int(max_samples)
        self.seed = int(seed)
        self.bandwidth_: float | None = None

    def _subsample(self, X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if X.shape[0] <= self.max_samples:
            return X
        return X[np.sort(rng.choice(X.shape[0], self.max_samples, replace=False))]

    def test(self, sample: Any) -> DetectorResult:
        S = self._sample(sample)
        rng = np.random.default_rng(self.seed)
        x = self._subsample(self.reference_, rng).astype(np.float64)
        y = self._subsample(S, rng).astype(np.float64)
        if min(x.shape[0], y.shape[0]) < 2:
            raise ProbedriftError("MMD needs at least 2 points in each sample", "pass larger samples")
        stat, p, self.bandwidth_ = mmd_permutation_test(x, y, self.n_permutations, rng)
        return DetectorResult(stat, p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return f"MMDDetector(n_permutations={self.n_permutations}, alpha={self.alpha}, seed={self.seed})"


def mmd_permutation_test(
    x: np.ndarray, y: np.ndarray, n_permutations: int, rng: np.random.Generator, bandwidth: float | None = None
) -> tuple[float, float, float]:
    """Unbiased MMD² (RBF kernel, median-heuristic bandwidth unless given) and its permutation p-value.

    Returns ``(mmd2, p_value, bandwidth)``; see :class:`MMDDetector` for the formulas.
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
    null = stat(_group_masks(n, m, n_permutations, rng))
    return observed, _permutation_p(observed, null), bandwidth


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


class KSDetector(Detector):
    """Per-dimension two-sample Kolmogorov–Smirnov tests, combined over the d dimensions.

    ``D_j = sup_t |F_ref,j(t) − F_S,j(t)|`` for each dimension j (``scipy.stats.ks_2samp`` with
    ``axis=0``, vectorised); statistic = ``max_j D_j``. ``correction="bonferroni"``: p-value =
    ``min(1, d · min_j p_j)``. ``correction="fdr"``: Benjamini–Hochberg adjusted p-values
    (``scipy.stats.false_discovery_control``), p-value = their minimum, so the alarm fires exactly
    when BH at level α rejects at least one dimension. ``n_rejected_`` keeps the count of the last
    test's dimensions with adjusted p < α.
    """

    name = "ks"
    CORRECTIONS = ("bonferroni", "fdr")

    def __init__(self, correction: str = "bonferroni", alpha: float = 0.05):
        super().__init__()
        self.correction = check_choice("KS correction", correction, self.CORRECTIONS)
        self.alpha = check_alpha(alpha)
        self.n_rejected_: int | None = None

    def test(self, sample: Any) -> DetectorResult:
        R, S = self.reference_, self._sample(sample)
        statistic, pvals = ks_columns(R, S)
        if self.correction == "bonferroni":
            adjusted = np.minimum(1.0, pvals * pvals.size)
        else:
            adjusted = scipy.stats.false_discovery_control(pvals, method="bh")
        self.n_rejected_ = int(np.count_nonzero(adjusted < self.alpha))
        p = float(adjusted.min())
        return DetectorResult(float(np.max(statistic)), p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return f"KSDetector(correction={self.correction!r}, alpha={self.alpha})"


class DomainClassifierDetector(Detector):
    """Classifier two-sample test (C2ST): can a classifier tell the sample from the reference?

    Reference rows get label 0, sample rows label 1, and a linear classifier is cross-fitted over
    ``folds`` seeded stratified folds. In each fold j the held-out scores give ``AUC_j = U_j / (n_j m_j)``
    and a one-sided Mann–Whitney p-value ``p_j`` ("sample scores rank higher"), exact under no drift
    because fold j's points never touched the model that scored them.

    statistic = mean_j AUC_j (0.5 = indistinguishable); p-value = ``min(1, k · min_j p_j)``
    (Bonferroni over the k folds, valid whatever their dependence). Not the Mann–Whitney test on
    all out-of-fold scores pooled: the k models share training points, which makes pooled scores
    dependent, and that test alarmed in about 12% of no-drift runs at α = 0.05 (600 runs,
    100 vs 100 × 32).

    ``classifier``:

    - ``"ridge"`` (default): least squares with an L2 penalty on features standardised over the
      pooled rows, ``w = Xₜᵀ (Xₜ Xₜᵀ + λ I)⁻¹ (yₜ − ȳₜ)`` with ``λ = ridge · tr(Xₜ Xₜᵀ) / nₜ``
      (``ridge`` = 1 puts the penalty at the mean squared row norm). One Gram matrix of the pooled
      rows serves every fold, so a test costs a few small linear solves. The standardisation uses
      no labels, so under no drift the pooled rows stay exchangeable and the held-out p-values exact.
    - ``"logistic"``: ``StandardScaler → LogisticRegression`` (``C``, liblinear dual) refitted per
      fold; the same test with a classifier about 20-50× slower, kept for comparison.
    """

    name = "domain_classifier"
    CLASSIFIERS = ("ridge", "logistic")

    def __init__(self, folds: int = 5, alpha: float = 0.05, seed: int = 0, classifier: str = "ridge",
                 ridge: float = 1.0, C: float = 0.1):
        super().__init__()
        if int(folds) < 2:
            raise ProbedriftError(f"folds must be at least 2, got {folds}", "pass folds=5")
        check_positive("C", C)
        check_positive("ridge", ridge)
        self.folds = int(folds)
        self.alpha = check_alpha(alpha)
        self.seed = int(seed)
        self.classifier = check_choice("domain classifier", classifier, self.CLASSIFIERS)
        self.ridge = float(ridge)
        self.C = float(C)

    def _ridge_scores(self, X: np.ndarray, labels: np.ndarray, folds: list) -> list[np.ndarray]:
        Z = X.astype(np.float64)
        scale = Z.std(axis=0)
        Z = (Z - Z.mean(axis=0)) / np.where(scale > 0, scale, 1.0)
        gram = Z @ Z.T
        scores = []
        for train, held in folds:
            K = gram[np.ix_(train, train)]
            lam = self.ridge * np.trace(K) / len(train)
            target = labels[train] - labels[train].mean()
            dual = scipy.linalg.cho_solve(scipy.linalg.cho_factor(K + lam * np.eye(len(train))), target)
            scores.append(gram[np.ix_(held, train)] @ dual)
        return scores

    def _logistic_scores(self, X: np.ndarray, labels: np.ndarray, folds: list) -> list[np.ndarray]:
        scores = []
        for train, held in folds:
            clf = make_pipeline(
                StandardScaler(),
                LogisticRegression(C=self.C, solver="liblinear", dual=True, max_iter=1000, random_state=self.seed),
            ).fit(X[train], labels[train])
            scores.append(clf.decision_function(X[held]))
        return scores

    def test(self, sample: Any) -> DetectorResult:
        S = self._sample(sample)
        n, m = self.reference_.shape[0], S.shape[0]
        if min(n, m) < self.folds:
            raise ProbedriftError(
                f"each sample needs at least folds={self.folds} points, got {n} and {m}",
                "pass larger samples or fewer folds",
            )
        X = np.concatenate([self.reference_, S])
        labels = np.r_[np.zeros(n, dtype=np.int64), np.ones(m, dtype=np.int64)]
        folds = list(StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=self.seed).split(X, labels))
        fit = self._ridge_scores if self.classifier == "ridge" else self._logistic_scores
        aucs, pvals = [], []
        for (_, held), scores in zip(folds, fit(X, labels, folds)):
            pos, neg = scores[labels[held] == 1], scores[labels[held] == 0]
            res = scipy.stats.mannwhitneyu(pos, neg, alternative="greater")
            aucs.append(res.statistic / (pos.size * neg.size))
            pvals.append(res.pvalue)
        p = float(min(1.0, self.folds * min(pvals)))
        return DetectorResult(float(np.mean(aucs)), p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return (f"DomainClassifierDetector(folds={self.folds}, alpha={self.alpha}, seed={self.seed}, "
                f"classifier={self.classifier!r})")


class MeanCosineDetector(Detector):
    """Cosine distance between mean embeddings, ``1 − cos(x̄_ref, x̄_S)``, with a permutation p-value.

    The natural peer of the paper's "≈ 1°" drift: a rigid drift of every embedding by angle θ moves
    the mean direction by about θ when the embeddings share a common direction. All permutations
    are scored at once from the pooled sample's group sums.
    """

    name = "mean_cosine"

    def __init__(self, n_permutations: int = 200, alpha: float = 0.05, seed: int = 0):
        super().__init__()
        check_positive("n_permutations", n_permutations)
        self.n_permutations = int(n_permutations)
        self.alpha = check_alpha(alpha)
        self.seed = int(seed)

    def test(self, sample: Any) -> DetectorResult:
        S = self._sample(sample).astype(np.float64)
        R = self.reference_.astype(np.float64)
        n, m = R.shape[0], S.shape[0]
        z = np.concatenate([R, S])
        total = z.sum(axis=0)
        sums_a = _observed_and_permuted_masks(n, m, self.n_permutations, self.seed) @ z
        sums_b = total[None, :] - sums_a
        # cosine is scale-free, so group sums stand in for group means
        num = np.einsum("bj,bj->b", sums_a, sums_b)
        den = np.linalg.norm(sums_a, axis=1) * np.linalg.norm(sums_b, axis=1)
        dist = 1.0 - num / np.where(den == 0, 1.0, den)
        observed = float(dist[0])
        p = _permutation_p(observed, dist[1:])
        return DetectorResult(observed, p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return f"MeanCosineDetector(n_permutations={self.n_permutations}, alpha={self.alpha}, seed={self.seed})"


DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (ConfidenceMonitor, MMDDetector, KSDetector, DomainClassifierDetector, MeanCosineDetector)
}


def make_detector(name: str, **kw: Any) -> Detector:
    """Build the detector registered under ``name`` in :data:`DETECTORS` with keywords ``kw``."""
    check_choice("detector", name, DETECTORS)
    cls = DETECTORS[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise ProbedriftError(
            f"the {name} detector takes no argument {', '.join(unknown)}",
            f"use some of: {', '.join(accepted)}",
        )
    return cls(**kw)


# --------------------------------------------------------------------------------------------------
# false alarms under no drift

FALSE_ALARM_COLUMNS = ["model", "detector", "design", "n_runs", "n_alarms", "rate", "ci_low", "ci_high", "alpha", "rule",
                       "n_permutations", "n_reference", "n_sample", "seconds", "interval"]
FALSE_ALARM_INTERVAL = ("Clopper–Pearson 95% interval for the detector's no-drift alarm rate over redraws of the "
                        "reference and the sample from this run's clean texts (runs counted as independent)")


@dataclass(frozen=True)
class NullDesign:
    """How one detector is tested under no drift: ``n_reference`` rows drawn from ``reference_pool`` and
    ``n_sample`` rows from ``sample_pool``, both without replacement and fresh each run. When the two
    pools are the same array the draws are disjoint (one permutation split in two)."""

    reference_pool: np.ndarray
    sample_pool: np.ndarray
    n_reference: int
    n_sample: int


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial rate: ``scipy.stats.binomtest(k, n).proportion_ci``."""
    ci = scipy.stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def _rule(det: Detector) -> str:
    if isinstance(det, ConfidenceMonitor):
        return f"threshold: mean confidence falls more than {det.max_relative_drop:.0%}"
    return f"test: p < {det.alpha:g}"


def false_alarm_table(
    factories: dict[str, Callable[[], Detector]],
    designs: dict[str, NullDesign],
    *,
    n_runs: int = 200,
    seed: int = 0,
    model: str = "model",
    design: str = "",
) -> pd.DataFrame:
    """Each detector's alarm rate when nothing drifted, with a Clopper–Pearson 95% interval.

    For detector ``name``, each of ``n_runs`` runs draws a fresh reference and a fresh sample from the
    clean pools of ``designs[name]`` (:class:`NullDesign`), fits ``factories[name]()`` on the reference
    and tests the sample. ``rate = n_alarms / n_runs``; ``[ci_low, ci_high]`` is the exact binomial
    interval (:func:`clopper_pearson`). A valid test at level α has rate ≤ α up to Monte-Carlo error;
    the confidence monitor is a threshold rule (``alpha`` NaN) whose rate is whatever its threshold
    gives. Columns :data:`FALSE_ALARM_COLUMNS`; ``n_permutations`` is NaN for detectors without one;
    ``design`` is the caller's label for how the pools were chosen.
    """
    import time

    check_positive("n_runs", n_runs)
    rows = []
    for name, factory in factories.items():
        nd = designs[name]
        same = nd.reference_pool is nd.sample_pool
        n_ref, n_s = int(nd.n_reference), int(nd.n_sample)
        if same and n_ref + n_s > len(nd.reference_pool):
            raise ProbedriftError(f"{name}: a pool of {len(nd.reference_pool)} cannot give disjoint draws of "
                                  f"{n_ref} and {n_s}", "draw smaller reference and sample")
        if not same and (n_ref > len(nd.reference_pool) or n_s > len(nd.sample_pool)):
            raise ProbedriftError(f"{name}: the draws are larger than their pools", "draw fewer rows")
        rng = np.random.default_rng([seed, len(rows)])
        start = time.perf_counter()
        draws = []
        for _ in range(int(n_runs)):
            if same:
                idx = rng.permutation(len(nd.reference_pool))
                draws.append((idx[:n_ref], idx[n_ref:n_ref + n_s]))
            else:
                draws.append((rng.choice(len(nd.reference_pool), n_ref, replace=False),
                              rng.choice(len(nd.sample_pool), n_s, replace=False)))

        def one_run(draw, nd=nd, factory=factory) -> bool:
            return bool(factory().fit(nd.reference_pool[draw[0]]).test(nd.sample_pool[draw[1]]).alarm)

        # Runs are independent and seeded by their draws: one per core, one BLAS thread each.
        with one_blas_thread(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            alarms = sum(pool.map(one_run, draws))
        det = factory()
        lo, hi = clopper_pearson(alarms, n_runs)
        threshold = isinstance(det, ConfidenceMonitor)
        rows.append({"model": model, "detector": name, "design": design, "n_runs": int(n_runs), "n_alarms": alarms,
                     "rate": alarms / n_runs, "ci_low": lo, "ci_high": hi,
                     "alpha": np.nan if threshold else det.alpha, "rule": _rule(det),
                     "n_permutations": getattr(det, "n_permutations", np.nan), "n_reference": n_ref,
                     "n_sample": n_s, "seconds": time.perf_counter() - start, "interval": FALSE_ALARM_INTERVAL})
    return pd.DataFrame(rows, columns=FALSE_ALARM_COLUMNS)
