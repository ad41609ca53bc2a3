"""The drift budget of a practitioner's own linear probe (:mod:`probedrift.science.user_probe`), with
what an actual update does to it: the Python side of ``probedrift budget``.

**The budget** (:func:`predicted_curve`, :func:`budget_angles`) is the closed form of
:mod:`probedrift.science.budget` for the probe ℓ(x) = w·(x̃ − m)/s + b. Isotropic drift of angle θ turns
the *direction* z_i = x_i/‖x_i‖ of every held-out embedding by exactly θ, toward its own uniform random
direction u_i orthogonal to z_i, drawn independently for every text:

    x_i′ = ‖x_i‖ · (cos θ · z_i + sin θ · u_i),

which keeps each embedding's norm r_i = ‖x_i‖. With v = w/s the logit becomes
ℓ_i(θ) − b′ = cos θ · (ℓ_i − b′) + sin θ · r_i · v·u_i (b′ = b − v·m), so for a positive p and a negative n

    AUC(θ) = mean over pairs of Φ(c_pn · cot θ),   c_pn = (ℓ_p − ℓ_n) / √(σ̃_p² + σ̃_n²),
    σ̃_i² = r_i² · (‖v‖² − (v·z_i)²) / (d − 1).

With ``l2_normalize=True`` (the paper's probe) the probe sees only z_i, r_i = 1 and this is exactly
:func:`probedrift.science.budget.predicted_auc`; the norms of the user's vectors then play no part.
With ``l2_normalize=False`` the assumption that drift keeps each norm is the convention: a model
update that also rescales embeddings moves the logits in ways the budget does not count (the update
decomposition below measures them).

**An update** (same texts, embedded before and after): the probe's logits ℓ and ℓ′ are decomposed by
:func:`probedrift.science.failure_modes.decompose` into ℓ′ = a·ℓ + μ + δ·y + ε (signal kept a, shift
shared by all texts μ, label-aligned shift δ, per-text scatter of spread τ), and the predicted AUC and
accuracy after the update follow (``predict_auc``, ``predict_accuracy`` there), next to the measured
ones. The label-free fit (δ = 0) is the prediction a practitioner can make from unlabelled texts.

**Intervals** (:func:`bootstrap_intervals`, optional): percentile intervals over the held-out texts from
stratified bootstrap resamples. The drift is integrated out in closed form, so the held-out sample is
the only source of uncertainty they cover.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.optimize
import scipy.special
from sklearn.metrics import roc_auc_score

from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.core.intervals import check_level, percentile_interval, stratified_bootstrap_indices
from probedrift.science import failure_modes as fm
from probedrift.science.budget import AUC_DROP, CURVE_GRID_DEG, DEFAULT_GRID_DEG, MAX_PAIRS, check_angles
from probedrift.science.metrics import silent_failure_rate
from probedrift.science.user_probe import UserProbe, as_user_probe, check_xy

__all__ = [
    "BOOTSTRAP_MAX_PAIRS",
    "NEAR_CONSTANT_RATIO",
    "SILENT_CONFIDENCE",
    "BudgetReport",
    "bootstrap_intervals",
    "budget_angles",
    "format_report",
    "pair_coefficients",
    "predicted_curve",
    "scale_report",
    "update_report",
    "user_budget",
]

#: A scaler std below this fraction of the median std marks a near-constant dimension: its weight in
#: v = w/s is at least 1/NEAR_CONSTANT_RATIO times that of a typical dimension with the same w.
NEAR_CONSTANT_RATIO = 0.01
#: Pairs per bootstrap resample (a fixed-seed sample beyond it): its Monte-Carlo error on an AUC, of order
#: 1/√BOOTSTRAP_MAX_PAIRS, is far below the resampling spread of any held-out set it is used on.
BOOTSTRAP_MAX_PAIRS = 200_000
#: A wrong decision made with confidence max(p, 1 − p) ≥ this is a silent failure (the paper's τ = 0.8).
SILENT_CONFIDENCE = 0.8
_PAIR_SAMPLE_SEED = 0  # the seed of the pair sample above max_pairs, so a budget is a fixed function
_ROOT_RTOL = 1e-6  # relative precision of the budget angles


def pair_coefficients(probe: UserProbe, X: Any, y: Any, *, max_pairs: int = MAX_PAIRS) -> np.ndarray:
    """c_pn = (ℓ_p − ℓ_n)/√(σ̃_p² + σ̃_n²), σ̃_i² = ‖x_i‖²(‖v‖² − (v·z_i)²)/(d − 1) with ‖x_i‖ taken as 1 when
    the probe L2-normalises (module docstring), for all positive×negative pairs, or ``max_pairs`` drawn
    with a fixed seed. A pair with zero spread gets ±inf (0 for a tie)."""
    Xc, yc = check_xy(X, y, width=probe.n_features)
    check_positive("max_pairs", max_pairs)
    return _coefficients(*_text_terms(probe, Xc), yc, int(max_pairs))


def _text_terms(probe: UserProbe, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each text's logit ℓ_i and drift spread σ̃_i² (:func:`pair_coefficients`), for checked rows Xc."""
    r = np.ones(Xc.shape[0]) if probe.l2_normalize else np.linalg.norm(Xc, axis=1)
    v = probe.weights / probe.scale
    vz = (Xc / np.linalg.norm(Xc, axis=1, keepdims=True)) @ v
    return probe.logits(Xc), r**2 * np.maximum(v @ v - vz**2, 0.0) / (probe.n_features - 1)


def _coefficients(logits: np.ndarray, spread2: np.ndarray, y: np.ndarray, max_pairs: int) -> np.ndarray:
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    if pos.size * neg.size > max_pairs:
        rng = np.random.default_rng(_PAIR_SAMPLE_SEED)
        pos, neg = pos[rng.integers(0, pos.size, max_pairs)], neg[rng.integers(0, neg.size, max_pairs)]
    else:
        pos, neg = np.repeat(pos, neg.size), np.tile(neg, pos.size)
    gap, spread = logits[pos] - logits[neg], np.sqrt(spread2[pos] + spread2[neg])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(spread > 0, gap / spread, np.sign(gap) * np.inf)


def _auc_at(c: np.ndarray, angles_deg: np.ndarray) -> np.ndarray:
    """Mean over pairs of Φ(c · cot θ) for each θ; 0·∞ (a tie at θ = 0) counts one half."""
    theta = np.radians(np.asarray(angles_deg, dtype=np.float64))
    out = np.empty(theta.size)
    for i, t in enumerate(theta):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            arg = c * (np.cos(t) / np.sin(t))
        out[i] = scipy.special.ndtr(np.where(np.isnan(arg), 0.0, arg)).mean()
    return out


def predicted_curve(probe: Any, X: Any, y: Any, angles_deg: Any = CURVE_GRID_DEG, *,
                    l2_normalize: bool | None = None, max_pairs: int = MAX_PAIRS) -> np.ndarray:
    """Expected ROC-AUC under isotropic drift of exact angle θ (module docstring), one per angle:
    the mean over positive×negative pairs of Φ(c_pn cot θ) (:func:`pair_coefficients`)."""
    p = as_user_probe(probe, l2_normalize=l2_normalize)
    return _auc_at(pair_coefficients(p, X, y, max_pairs=max_pairs), check_angles(angles_deg))


def budget_angles(c: np.ndarray, auc_clean: float, *, drop: float = AUC_DROP,
                  grid_deg: Any = DEFAULT_GRID_DEG) -> dict[str, float]:
    """The first angles (degrees) where the predicted AUC falls to AUC₀ − ``drop`` and to the half-excess
    level 0.5 + (AUC₀ − 0.5)/2, given the pair coefficients ``c``.

    Each is bracketed on ``grid_deg`` (log-spaced, 1e-3° to 90° by default) and refined with Brent's
    method (scipy.optimize.brentq) to a relative precision of 1e-6; 0.0 when the curve is already at or
    below the target at the first grid angle, NaN when it never gets there (AUC₀ − ``drop`` ≤ 0.5, or
    AUC₀ ≤ 0.5 for the half-excess level). Keys: target_drop, angle_drop_deg, target_half, angle_half_deg.
    """
    check_positive("drop", drop)
    grid = np.sort(check_angles(grid_deg))
    if grid[0] <= 0:
        raise ProbedriftError("grid_deg must hold angles > 0", "drop the 0")
    on_grid = _auc_at(c, grid)
    out: dict[str, float] = {}
    targets = {"drop": auc_clean - float(drop),
               "half": 0.5 + (auc_clean - 0.5) / 2.0 if auc_clean > 0.5 else float("nan")}
    for name, target in targets.items():
        out[f"target_{name}"] = target
        below = np.flatnonzero(on_grid <= target) if np.isfinite(target) and target > 0.5 else np.array([], int)
        if below.size == 0:
            out[f"angle_{name}_deg"] = float("nan")
        elif below[0] == 0:
            out[f"angle_{name}_deg"] = 0.0
        else:
            lo, hi = float(grid[below[0] - 1]), float(grid[below[0]])
            out[f"angle_{name}_deg"] = float(scipy.optimize.brentq(
                lambda a, t=target: _auc_at(c, np.array([a]))[0] - t, lo, hi, rtol=_ROOT_RTOL))
    return out


def scale_report(probe: Any, X: Any, *, smallest: int = 5, near_constant_ratio: float = NEAR_CONSTANT_RATIO,
                 l2_normalize: bool | None = None) -> dict[str, Any]:
    """The probe's scaler stds s_j relative to their median: std_min, std_p1, std_median, std_min_ratio
    (= std_min / std_median), n_near_constant (dimensions with s_j < ``near_constant_ratio`` · median),
    the ``smallest`` dimensions (index, std, ratio to the median), norm_w_over_s = ‖w/s‖, and
    mean_cosine = mean over i ≠ j of z_i·z_j of the held-out directions (as
    :func:`probedrift.science.budget.scale_spectrum`)."""
    p = as_user_probe(probe, l2_normalize=l2_normalize)
    Z = p.prepared(X)
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    s, n = p.scale, Z.shape[0]
    med = float(np.median(s))
    order = np.argsort(s, kind="stable")[: max(0, int(smallest))]
    total = Z.sum(axis=0)
    return {
        "std_min": float(s.min()), "std_p1": float(np.percentile(s, 1)), "std_median": med,
        "std_min_ratio": float(s.min() / med),
        "near_constant_ratio": float(near_constant_ratio),
        "n_near_constant": int((s < near_constant_ratio * med).sum()),
        "smallest": [{"dim": int(j), "std": float(s[j]), "ratio_to_median": float(s[j] / med)} for j in order],
        "norm_w_over_s": float(np.linalg.norm(p.weights / s)),
        "mean_cosine": float((total @ total - n) / (n * (n - 1))),
    }


def _measured(logits: np.ndarray, y: np.ndarray, confidence: float) -> dict[str, float]:
    """AUC (Mann-Whitney, from the logits), accuracy (ℓ ≥ 0 decides 1) and silent-failure rate."""
    return {"auc": float(roc_auc_score(y, logits)), "accuracy": float(np.mean((logits >= 0) == (y == 1))),
            "silent_failure_rate": silent_failure_rate(y, scipy.special.expit(logits), confidence)}


def update_report(probe: Any, X: Any, y: Any, X_updated: Any, *, confidence: float = SILENT_CONFIDENCE,
                  l2_normalize: bool | None = None, max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """What an update did to the probe, on the same texts embedded before (``X``) and after (``X_updated``).

    Keys: angle_deg_mean (mean angle between each text's two directions), the ``labelled`` and
    ``label_free`` :class:`~probedrift.science.failure_modes.LogitShift` fits (as dicts) with their
    predicted AUC, accuracy and silent-failure rate (failure_modes.predict_*), ``auc_budget`` (the
    scatter-only closed form at angle_deg_mean), and ``clean`` and ``measured`` (AUC, accuracy at ℓ ≥ 0,
    silent-failure rate at ``confidence``). The labelled fit is in-sample (it describes these texts);
    the label-free one uses no labels from either embedding.
    """
    p = as_user_probe(probe, l2_normalize=l2_normalize)
    Xc, yc = check_xy(X, y, width=p.n_features)
    Xu = check_xy(X_updated, None, width=p.n_features, name="X_updated")[0]
    if Xu.shape[0] != Xc.shape[0]:
        raise ProbedriftError(f"X_updated has {Xu.shape[0]} rows but X has {Xc.shape[0]}",
                              "embed the same held-out texts, in the same order, with the updated model")
    before, after = p.logits(Xc), p.logits(Xu, "X_updated")
    cos = np.einsum("ij,ij->i", Xc, Xu) / (np.linalg.norm(Xc, axis=1) * np.linalg.norm(Xu, axis=1))
    angle = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).mean())
    out: dict[str, Any] = {"n": int(yc.size), "angle_deg_mean": angle}
    fits = {"labelled": fm.decompose(before, after, yc), "label_free": fm.label_free_shift(before, after)}
    for name, shift in fits.items():
        out[name] = {**asdict(shift), "auc": fm.predict_auc(before, yc, shift),
                     "accuracy": fm.predict_accuracy(before, yc, shift),
                     "silent_failure_rate": fm.predict_silent_failure_rate(before, yc, shift, confidence)}
    c = pair_coefficients(p, Xc, yc, max_pairs=max_pairs)
    out["auc_budget"] = float(_auc_at(c, np.array([angle]))[0])
    out["confidence"] = float(confidence)
    out["clean"], out["measured"] = _measured(before, yc, confidence), _measured(after, yc, confidence)
    return out


@dataclass(frozen=True)
class BudgetReport:
    """What :func:`user_budget` returns. ``budget``: n_features, n, n_positive, auc_clean, accuracy_clean,
    drop, the targets and angles of :func:`budget_angles`; ``curve``: {angle_deg: predicted AUC};
    ``spectrum``: :func:`scale_report`; ``l2_normalize``: the convention; ``update``: :func:`update_report`
    or None; ``intervals``: :func:`bootstrap_intervals` or None."""

    budget: dict[str, Any]
    curve: dict[float, float]
    spectrum: dict[str, Any]
    l2_normalize: bool
    update: dict[str, Any] | None = field(default=None)
    intervals: dict[str, Any] | None = field(default=None)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: the curve as a list of {angle_deg, auc_predicted}, NaN and inf as None."""
        out = asdict(self)
        out["curve"] = [{"angle_deg": a, "auc_predicted": v} for a, v in self.curve.items()]
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def bootstrap_intervals(probe: Any, X: Any, y: Any, X_updated: Any = None, *, resamples: int = 200,
                        level: float = 0.95, seed: int = 0, drop: float = AUC_DROP,
                        max_pairs: int = BOOTSTRAP_MAX_PAIRS) -> dict[str, Any]:
    """Percentile intervals over held-out texts: ``resamples`` stratified bootstrap resamples of (X, y)
    (class counts kept, core.intervals.stratified_bootstrap_indices with ``seed``), each recomputing the
    clean AUC and the two budget angles (:func:`budget_angles`, ``max_pairs`` pairs) and, with
    ``X_updated`` (the same rows re-embedded), the measured AUC and accuracy after the update and those
    predicted by the labelled and the label-free fits. Keys: each quantity → [low, high] (NaN where
    the quantity is NaN on every resample), plus level, resamples, seed and ``interval`` (what is covered).
    The drift itself is integrated out in closed form, so it adds no resampling of its own."""
    p = as_user_probe(probe)
    Xc, yc = check_xy(X, y, width=p.n_features)
    check_positive("resamples", resamples)
    level = check_level(level)
    logits, spread2 = _text_terms(p, Xc)
    after = None
    if X_updated is not None:
        Xu = check_xy(X_updated, None, width=p.n_features, name="X_updated")[0]
        if Xu.shape[0] != Xc.shape[0]:
            raise ProbedriftError(f"X_updated has {Xu.shape[0]} rows but X has {Xc.shape[0]}",
                                  "embed the same held-out texts, in the same order, with the updated model")
        after = p.logits(Xu, "X_updated")
    draws: dict[str, list[float]] = {}
    for idx in stratified_bootstrap_indices(yc, int(resamples), int(seed)):
        lb, yb = logits[idx], yc[idx]
        auc0 = float(roc_auc_score(yb, lb))
        angles = budget_angles(_coefficients(lb, spread2[idx], yb, int(max_pairs)), auc0, drop=drop)
        row = {"auc_clean": auc0, "angle_drop_deg": angles["angle_drop_deg"],
               "angle_half_deg": angles["angle_half_deg"]}
        if after is not None:
            la = after[idx]
            row.update(measured_auc=float(roc_auc_score(yb, la)),
                       measured_accuracy=float(np.mean((la >= 0) == (yb == 1))))
            for name, shift in (("labelled", fm.decompose(lb, la, yb)), ("label_free", fm.label_free_shift(lb, la))):
                row[f"{name}_auc"] = fm.predict_auc(lb, yb, shift)
                row[f"{name}_accuracy"] = fm.predict_accuracy(lb, yb, shift)
        for k, v in row.items():
            draws.setdefault(k, []).append(v)
    out: dict[str, Any] = {k: list(percentile_interval(v, level)) for k, v in draws.items()}
    out.update(level=level, resamples=int(resamples), seed=int(seed),
               interval=f"{level:.0%} percentile bootstrap over held-out texts ({int(resamples)} stratified "
                        "resamples, class counts kept); the drift is integrated out in closed form")
    return out


def user_budget(probe: Any, X: Any, y: Any, X_updated: Any = None, *, l2_normalize: bool | None = None,
                angles_deg: Any = CURVE_GRID_DEG, drop: float = AUC_DROP, smallest: int = 5,
                confidence: float = SILENT_CONFIDENCE, max_pairs: int = MAX_PAIRS, bootstrap: int = 0,
                level: float = 0.95, seed: int = 0) -> BudgetReport:
    """The drift budget, predicted AUC curve and scale spectrum of a linear probe on labelled held-out
    embeddings (X, y), and, given the same texts embedded by an updated model, the update's components.

    ``probe``: a fitted Pipeline ([Normalizer] → StandardScaler → LogisticRegression), a
    :class:`~probedrift.science.user_probe.UserProbe`, a LinearProbe, a dict of arrays or a ``.npz``
    path (:func:`~probedrift.science.user_probe.as_user_probe`). ``l2_normalize``: whether the probe divides
    each embedding by its norm before the scaler (module docstring: with False, drift is assumed to keep
    each norm). Budget angles: :func:`budget_angles` (drop ``drop``, and half the excess over 0.5);
    curve: :func:`predicted_curve` at ``angles_deg``; update: :func:`update_report`; with
    ``bootstrap`` > 0 resamples, intervals over held-out texts (:func:`bootstrap_intervals`).
    """
    p = as_user_probe(probe, l2_normalize=l2_normalize)
    Xc, yc = check_xy(X, y, width=p.n_features)
    angles = check_angles(angles_deg)
    check_positive("max_pairs", max_pairs)
    logits, spread2 = _text_terms(p, Xc)
    auc0 = float(roc_auc_score(yc, logits))
    c = _coefficients(logits, spread2, yc, int(max_pairs))
    budget = {"n_features": p.n_features, "n": int(yc.size), "n_positive": int(yc.sum()), "auc_clean": auc0,
              "accuracy_clean": float(np.mean((logits >= 0) == (yc == 1))), "drop": float(drop),
              **budget_angles(c, auc0, drop=drop)}
    curve = dict(zip((float(a) for a in angles), (float(v) for v in _auc_at(c, angles))))
    update = None if X_updated is None else update_report(p, Xc, yc, X_updated, confidence=confidence,
                                                          max_pairs=max_pairs)
    check_positive("bootstrap", bootstrap, allow_zero=True)
    intervals = None if not bootstrap else bootstrap_intervals(p, Xc, yc, X_updated, resamples=bootstrap,
                                                               level=level, seed=seed, drop=drop)
    return BudgetReport(budget, curve, scale_report(p, Xc, smallest=smallest), p.l2_normalize, update, intervals)


def _fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _angle(x: float) -> str:
    if not np.isfinite(x):
        return "never (within 90°)"
    return f"{x:.3g}°" if x > 0 else "under 0.001°"


def format_report(report: BudgetReport) -> str:
    """The report as the text ``probedrift budget`` prints: budget (with its convention), curve, scale
    spectrum and, with an update, its components and predicted against measured AUC and accuracy."""
    b, s, u = report.budget, report.spectrum, report.update
    norm = ("divides each embedding by its norm (L2) before the scaler" if report.l2_normalize else
            "reads raw embeddings (no L2 normalisation); drift is taken to keep each embedding's norm")
    lines = [f"probe: d = {b['n_features']}; it {norm}",
             f"held-out: {b['n']} texts, {b['n_positive']} positive; clean AUC {_fmt(b['auc_clean'])}, "
             f"accuracy {_fmt(b['accuracy_clean'])} (decision: logit ≥ 0, i.e. p ≥ 0.5)", "",
             "drift budget (isotropic drift: each text's embedding direction turned by θ toward its own "
             "random direction; closed-form expected AUC):",
             f"  AUC falls by {b['drop']:g} (to {_fmt(b['target_drop'])}) at θ = {_angle(b['angle_drop_deg'])}",
             f"  AUC loses half its excess over 0.5 (to {_fmt(b['target_half'])}) at θ = "
             f"{_angle(b['angle_half_deg'])}"]
    if not b["auc_clean"] > 0.5:
        lines.append("  the probe does not rank these texts above chance (AUC ≤ 0.5): it has no budget to lose")
    lines += ["  predicted AUC at θ: " + ", ".join(f"{a:g}° {_fmt(v)}" for a, v in report.curve.items()), "",
              "scale spectrum (scaler std per dimension; a near-constant dimension makes w/s huge and the budget "
              "small):",
              f"  median std {s['std_median']:.3g}; smallest {s['std_min']:.3g} ({s['std_min_ratio']:.2g} × median); "
              f"{s['n_near_constant']} dimension(s) under {s['near_constant_ratio']:g} × median",
              "  smallest: " + ", ".join(f"dim {e['dim']} {e['std']:.3g} ({e['ratio_to_median']:.2g}×)"
                                         for e in s["smallest"])]
    tail = []
    if report.intervals is not None:
        iv = report.intervals
        tail += ["", f"intervals: {iv['interval']}"]
        tail += [f"  {k}: {_fmt(v[0])} – {_fmt(v[1])}" for k, v in iv.items() if isinstance(v, list)]
    if u is None:
        return "\n".join(lines + tail)
    lab, free = u["labelled"], u["label_free"]
    silent = f"silent failures (conf ≥ {u['confidence']:g})"
    rows = [("before the update (measured)", u["clean"]), ("after the update (measured)", u["measured"]),
            ("predicted, labelled fit a, μ, δ, τ", lab), ("predicted, label-free fit a, μ, τ", free)]
    lines += ["", f"update: the same {u['n']} texts re-embedded; mean angle between old and new direction "
              f"{u['angle_deg_mean']:.3g}°",
              f"  {'':38s} {'AUC':>6s} {'accuracy':>9s} {silent:>30s}"]
    lines += [f"  {name:38s} {_fmt(r['auc']):>6s} {_fmt(r['accuracy']):>9s} {_fmt(r['silent_failure_rate']):>30s}"
              for name, r in rows]
    lines += [f"  {'scatter-only budget at the mean angle':38s} {_fmt(u['auc_budget']):>6s}",
              f"  components (labelled): signal kept a = {lab['a']:.3g}, "
              f"shift shared by all texts μ = {lab['mu']:.3g}, "
              f"label-aligned δ = {lab['delta']:.3g}, per-text scatter τ = {lab['tau']:.3g}",
              f"  components (label-free): a = {free['a']:.3g}, μ = {free['mu']:.3g}, τ = {free['tau']:.3g}; "
              f"corr(scatter, label) = {_fmt(lab['label_corr'], 2)}",
              "  scatter τ (relative to a) reorders texts and lowers AUC; a shared shift μ moves every score "
              "against the threshold: accuracy and silent failures change while AUC holds"]
    return "\n".join(lines + tail)
