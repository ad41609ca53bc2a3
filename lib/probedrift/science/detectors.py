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

import inspect
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.linalg
import scipy.stats
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from probedrift.core.errors import ProbedriftError, check_choice, check_positive
from probedrift.core.registry import Registry
from probedrift.science.probe_fits import check_embeddings
from probedrift.science.two_sample import ks_columns, mmd_permutation_test, observed_and_permuted_masks, permutation_p


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


class Detector:
    """Base class: ``fit(reference)`` then ``test(sample) -> DetectorResult``; ``name`` names it.

    A two-sample test alarms when ``p_value < alpha``; a *threshold rule* (``threshold_rule``) alarms on
    its statistic and has no level α.
    """

    name = ""
    threshold_rule = False

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
                "with probedrift.science.align first",
            )
        return X

    def test(self, sample: Any) -> DetectorResult:
        """Test ``sample`` (m, d) against the reference."""
        raise NotImplementedError

    def describe_rule(self) -> str:
        """When the monitor alarms, in words (the false-alarm table's ``rule`` column)."""
        return f"test: p < {self.alpha:g}"

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
    threshold_rule = True

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

    def describe_rule(self) -> str:
        """The threshold in words."""
        return f"threshold: mean confidence falls more than {self.max_relative_drop:.0%}"


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
        masks = None
        if x.shape[0] == self.reference_.shape[0] and y.shape[0] == S.shape[0]:
            # Neither sample was subsampled, so the generator is as fresh as default_rng(seed) and would draw
            # the very masks every test of this detector draws: take them from the shared, drawn-once copy.
            masks = observed_and_permuted_masks(x.shape[0], y.shape[0], self.n_permutations, self.seed)[1:]
        stat, p, self.bandwidth_ = mmd_permutation_test(x, y, self.n_permutations, rng, masks=masks)
        return DetectorResult(stat, p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return f"MMDDetector(n_permutations={self.n_permutations}, alpha={self.alpha}, seed={self.seed})"


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
        sums_a = observed_and_permuted_masks(n, m, self.n_permutations, self.seed) @ z
        sums_b = total[None, :] - sums_a
        # cosine is scale-free, so group sums stand in for group means
        num = np.einsum("bj,bj->b", sums_a, sums_b)
        den = np.linalg.norm(sums_a, axis=1) * np.linalg.norm(sums_b, axis=1)
        dist = 1.0 - num / np.where(den == 0, 1.0, den)
        observed = float(dist[0])
        p = permutation_p(observed, dist[1:])
        return DetectorResult(observed, p, bool(p < self.alpha))

    def __repr__(self) -> str:
        return f"MeanCosineDetector(n_permutations={self.n_permutations}, alpha={self.alpha}, seed={self.seed})"


# --------------------------------------------------------------------------------------------------
# the monitor registry


class MonitorParams(Protocol):
    """The parameters a monitor reads (fields of :class:`~probedrift.run.params.StudyParams`)."""

    detectors: tuple[str, ...]
    detector_permutations: int
    alpha: float
    seed: int
    confidence_drop: float


@dataclass(frozen=True)
class MonitorSpec:
    """A drift monitor a run can use: its class and how the run configures and fits it.

    ``kwargs(params, predict_proba, n_permutations)`` builds the class's keyword arguments from the
    run's :class:`~probedrift.run.params.StudyParams`, the probe's ``predict_proba`` and the permutation
    count. ``reference`` is the clean split it is fitted on: ``"train"`` (a sample of the training
    split) or ``"val"`` (texts the probe never saw; the confidence monitor needs them, since on its own
    training texts the probe is more confident than on any unseen text). ``threshold`` marks a
    threshold rule (no level α, so nothing to correct over the σ grid).
    """

    name: str
    cls: type[Detector]
    kwargs: Callable[[MonitorParams, Callable, int], dict]
    reference: str = "train"
    default: bool = True
    doc: str = ""

    @property
    def threshold(self) -> bool:
        """Whether the monitor is a threshold rule (its class's ``threshold_rule``)."""
        return self.cls.threshold_rule


#: Monitor name → :class:`MonitorSpec`, in registration order (the order of the run's tables).
DETECTORS: Registry[MonitorSpec] = Registry("monitor")

DETECTORS.add(MonitorSpec(
    "confidence", ConfidenceMonitor,
    lambda p, proba, perms: {"predict_proba": proba, "max_relative_drop": p.confidence_drop},
    reference="val", doc="mean confidence falls by more than confidence_drop (relative)"))
DETECTORS.add(MonitorSpec(
    "mmd", MMDDetector, lambda p, proba, perms: {"n_permutations": perms, "alpha": p.alpha, "seed": p.seed},
    doc="kernel two-sample test (RBF MMD², permutation p-value)"))
DETECTORS.add(MonitorSpec(
    "ks", KSDetector, lambda p, proba, perms: {"alpha": p.alpha},
    doc="per-dimension Kolmogorov–Smirnov tests, Bonferroni-corrected"))
DETECTORS.add(MonitorSpec(
    "domain_classifier", DomainClassifierDetector, lambda p, proba, perms: {"alpha": p.alpha, "seed": p.seed},
    doc="classifier two-sample test (cross-validated AUC of reference vs sample)"))
DETECTORS.add(MonitorSpec(
    "mean_cosine", MeanCosineDetector,
    lambda p, proba, perms: {"n_permutations": perms, "alpha": p.alpha, "seed": p.seed},
    doc="cosine between the mean embeddings (permutation p-value)"))


def configured_monitors(params: MonitorParams, predict_proba: Callable,
                        n_permutations: int | None = None) -> dict[str, dict]:
    """Keyword arguments of each monitor the run configures (``params.detectors``, in that order).

    ``n_permutations`` overrides the profile's ``detector_permutations``.
    """
    perms = params.detector_permutations if n_permutations is None else int(n_permutations)
    return {name: DETECTORS.get(name).kwargs(params, predict_proba, perms) for name in params.detectors}


def threshold_monitors() -> tuple[str, ...]:
    """Names of the monitors that are threshold rules (no level to correct over the σ grid)."""
    return tuple(s.name for s in DETECTORS.specs() if s.threshold)


def make_detector(name: str, **kw: Any) -> Detector:
    """Build the monitor registered under ``name`` in :data:`DETECTORS` with keywords ``kw``."""
    cls = DETECTORS.get(name).cls
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kw) - set(accepted))
    if unknown:
        raise ProbedriftError(
            f"the {name} detector takes no argument {', '.join(unknown)}",
            f"use some of: {', '.join(accepted)}",
        )
    return cls(**kw)
