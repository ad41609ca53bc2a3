"""What real model updates do to the frozen probe, and what fixes them (the tables of chapter 6).

For each drift source of :mod:`probedrift.experiments.updates` the probe trained on the "before" embeddings of the
training split is frozen and scored on the "after" embeddings of the test split. Angles are measured
per text between the unit-normalised before and after vectors.

When an update changes the width (a model swap across families) the frozen probe cannot read the new
vectors at all. There the "after" embeddings are first carried into the old space by a linear adapter
fitted on ``max(anchor_sizes)`` training texts embedded by both versions (:mod:`probedrift.science.align`), and
the angle, the probe metrics and the detectors all use the adapted vectors; the ``note`` column says so.

Mitigations (:func:`mitigations_table`), per source:

- ``no_update``: the frozen probe on the before embeddings (where the probe started);
- ``frozen``: no fix, the frozen probe on the after embeddings;
- ``retrain``: a new probe, same recipe, fitted on the after embeddings of the training split (the
  upper bound: it needs every training text re-embedded and labelled);
- ``align``: for each k in ``anchor_sizes``, k random training texts keep their old embeddings; a map
  new → old is fitted on them (:func:`probedrift.science.align.fit_aligner`) and the frozen probe reads the
  mapped test embeddings; repeated over ``drift_seeds`` anchor draws (mean and 95% t-interval);
- ``recalibrate``: temperature scaling of the frozen probe on the after embeddings of the validation
  split. One positive temperature rescales every logit, so it changes confidence and calibration but
  never the ranking: the AUC stays the frozen probe's;
- ``detector_gate``: retrain only when at least one monitor alarms, otherwise keep the frozen probe.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd

from probedrift.core import intervals
from probedrift.core.errors import ProbedriftError
from probedrift.core.sphere import angle_deg, normalize
from probedrift.core.timing import timed
from probedrift.experiments.context import RunContext
from probedrift.experiments.monitors import make_detectors, subsample
from probedrift.experiments.updates import UpdatePair, update_pairs
from probedrift.science import metrics as metrics_mod
from probedrift.science.align import Aligner, fit_aligner
from probedrift.science.detectors import DETECTORS
from probedrift.science.probes import paper_probe

REAL_DRIFT_COLUMNS = ["source", "model_before", "model_after", "angle_deg_mean", "angle_deg_median", "auc",
                      "accuracy", "mean_confidence", "silent_failure_share", "silent_failure_rate"]
MITIGATION_COLUMNS = ["source", "method", "k", "auc", "ci_low", "ci_high", "n_seeds", "mean_confidence", "ece",
                      "angle_deg_mean", "alarm", "interval", "note", "auc_change", "auc_change_ci_low",
                      "auc_change_ci_high", "auc_vs_frozen", "auc_vs_frozen_ci_low", "auc_vs_frozen_ci_high",
                      "change_interval"]
MITIGATION_METHODS = ("no_update", "frozen", "retrain", "align", "recalibrate", "detector_gate")

__all__ = ["MITIGATION_COLUMNS", "MITIGATION_METHODS", "REAL_DRIFT_COLUMNS", "anchor_indices", "angle_samples",
           "mitigations", "mitigations_table", "paired_auc_change", "real_drift", "real_drift_table", "run_pairs",
           "synthetic_reference"]

_BOOT = "stratified bootstrap over test texts"
_SEEDS = "95% t-interval over anchor draws"
#: What the ``auc_change`` and ``auc_vs_frozen`` intervals cover (:func:`paired_auc_change`).
CHANGE_TEXTS = "95% normal interval paired over the same stratified bootstrap resamples of the test texts"
CHANGE_TEXTS_AND_DRAWS = CHANGE_TEXTS + " and over the anchor draws"


def anchor_indices(n_train: int, k: int, seed: int) -> np.ndarray:
    """``k`` distinct training rows drawn uniformly with ``numpy.random.default_rng(seed)``, sorted."""
    if not 2 <= k <= n_train:
        raise ProbedriftError(f"{k} anchors cannot be drawn from {n_train} training texts",
                              f"use anchor sizes between 2 and {n_train} (or a larger n_per_class)")
    return np.sort(np.random.default_rng(seed).choice(n_train, size=k, replace=False))


def _anchor_sizes(S: RunContext, n_train: int) -> list[int]:
    sizes = sorted(set(S.params.anchor_sizes))
    if not sizes:
        raise ProbedriftError("anchor_sizes is empty", "set e.g. anchor_sizes: [8, 16, 32] in the profile")
    too_big = [k for k in sizes if k > n_train or k < 2]
    if too_big:
        raise ProbedriftError(f"anchor sizes {too_big} do not fit the {n_train} training texts",
                              f"use anchor sizes between 2 and {n_train}")
    return sizes


def _new_probe(S: RunContext, X, y):
    return paper_probe(S.params.seed).fit(X, y)


@dataclass
class _Setup:
    """One source, ready to score: unit splits before/after, the frozen probe, the adapter if any."""

    pair: UpdatePair
    before: dict
    after: dict
    probe: object
    probe_is_study_probe: bool
    adapter: Aligner | None
    adapter_anchors: np.ndarray | None
    note: str

    def after_in_probe_space(self, split: str) -> np.ndarray:
        X = self.after[split][0]
        return X if self.adapter is None else normalize(self.adapter.transform(X))


def _setup(S: RunContext, pair: UpdatePair) -> _Setup:
    before, after = S.split_arrays(normalize(pair.before)), S.split_arrays(normalize(pair.after))
    default = S.embeddings(pair.model_before)
    study_probe = pair.before is default or (pair.before.shape == default.shape
                                             and np.array_equal(pair.before, default))
    probe = S.probe(pair.model_before) if study_probe else _new_probe(S, *before["train"])
    adapter = anchors = None
    note = "; ".join((pair.change, *pair.notes))
    if not pair.same_width:
        n_train = len(before["train"][1])
        k = max(_anchor_sizes(S, n_train))
        anchors = anchor_indices(n_train, k, S.params.seed)
        adapter = fit_aligner(after["train"][0][anchors], before["train"][0][anchors], method="auto")
        note += (f"; widths {pair.before.shape[1]} → {pair.after.shape[1]}: angles, probe metrics and detectors use "
                 f"the after embeddings mapped by a {adapter.method} adapter fitted on k = {k} anchor texts")
    return _Setup(pair, before, after, probe, study_probe, adapter, anchors, note)


def _detector_alarms(S: RunContext, su: _Setup) -> dict[str, bool]:
    p = S.params
    seed = p.seed
    dets = make_detectors(S, su.pair.model_before)
    if not su.probe_is_study_probe:  # refit each monitor on this source's before embeddings, this probe's scores
        references = {"train": subsample(su.before["train"][0], p.detector_sample_size, seed),
                      "val": su.before["val"][0]}
        for name, det in dets.items():
            if hasattr(det, "predict_proba"):
                det.predict_proba = su.probe.predict_proba
            det.fit(references[DETECTORS.get(name).reference])  # the split monitors.make_detectors fits it on
    sample = subsample(su.after_in_probe_space("test"), p.detector_sample_size, seed + 1)
    return {name: bool(det.test(sample).alarm) for name, det in dets.items()}


def skip_reason(S: RunContext, pairs: dict[str, UpdatePair], skipped: dict[str, str]) -> str | None:
    """Why chapter 6 has nothing to measure (None when some real drift source applies to this run)."""
    if pairs:
        return None
    if not S.params.real_drift_sources:
        return "no real drift source was asked for (`real_drift_sources` is empty)"
    return "none of the real drift sources applies to this run: " + "; ".join(
        f"`{source}`: {reason}" for source, reason in skipped.items())


def _pairs(S: RunContext, sources, pairs) -> dict[str, UpdatePair]:
    if pairs is None:
        return update_pairs(S, sources)[0]
    if sources is not None:
        return {s: pairs[s] for s in sources}
    return dict(pairs)


@timed("real drift")
def real_drift_table(S: RunContext, sources=None, pairs: dict[str, UpdatePair] | None = None,
                     skipped: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per drift source: measured angle, the frozen probe's test metrics, each monitor's alarm.

    Angle (degrees) per test text between unit-normalised before and after vectors, mean and median.
    Probe metrics as :func:`probedrift.science.metrics.probe_metrics` (τ = ``tau``). Monitors are the
    profile's ``detectors``, fitted on before embeddings of the training split (at most
    ``detector_sample_size``) and tested on after embeddings of the test split: ``alarm_<detector>``.
    ``pairs`` (from :func:`probedrift.experiments.updates.update_pairs`) skips recomputing the embeddings.
    """
    p = S.params
    rows = []
    for source, pair in _pairs(S, sources, pairs).items():
        su = _setup(S, pair)
        X_b, y = su.before["test"]
        X_a = su.after_in_probe_space("test")
        ang = angle_deg(X_b, X_a)
        m = metrics_mod.probe_metrics(y, su.probe.predict_proba(X_a), tau=p.tau, ece_bins=p.ece_bins)
        row = {"source": source, "model_before": pair.model_before, "model_after": pair.model_after,
               "angle_deg_mean": float(np.mean(ang)), "angle_deg_median": float(np.median(ang)),
               **{k: m[k] for k in REAL_DRIFT_COLUMNS[5:]}}
        row.update({f"alarm_{name}": alarm for name, alarm in _detector_alarms(S, su).items()})
        row["note"] = su.note
        rows.append(row)
    for source, reason in (skipped or {}).items():
        rows.append({"source": source, "note": f"skipped: {reason}"})
    alarm_cols = [f"alarm_{d}" for d in p.detectors]
    return pd.DataFrame(rows, columns=REAL_DRIFT_COLUMNS + alarm_cols + ["note"])


def run_pairs(S: RunContext) -> tuple[dict[str, UpdatePair], dict[str, str]]:
    """The run's real-drift update pairs and the skipped sources with their reasons
    (:func:`probedrift.experiments.updates.update_pairs` of every configured source), built once per run."""
    return S.memo("real_drift_pairs", lambda: update_pairs(S))


def real_drift(S: RunContext) -> pd.DataFrame:
    """Table ``real_drift``: :func:`real_drift_table` of every configured source; a skipped source keeps a
    row whose ``note`` gives the reason."""
    pairs, skipped = run_pairs(S)
    return real_drift_table(S, pairs=pairs, skipped=skipped)


def mitigations(S: RunContext) -> pd.DataFrame:
    """Table ``mitigations``: :func:`mitigations_table` of every source that applies to the run."""
    return mitigations_table(S, pairs=run_pairs(S)[0])


def angle_samples(S: RunContext, sources=None, pairs: dict[str, UpdatePair] | None = None) -> pd.DataFrame:
    """Per-text angle (degrees) between before and after of every source, all splits: the distribution.

    Columns ``source, split, angle_deg``. Sources whose width changes are measured after the
    adapter, leaving out the adapter's own anchor texts.
    """
    frames = []
    for source, pair in _pairs(S, sources, pairs).items():
        su = _setup(S, pair)
        for split, (X_b, _) in su.before.items():
            X_a = su.after_in_probe_space(split)
            ang = angle_deg(X_b, X_a)
            if split == "train" and su.adapter_anchors is not None:
                ang = np.delete(ang, su.adapter_anchors)
            frames.append(pd.DataFrame({"source": source, "split": split, "angle_deg": ang}))
    return pd.concat(frames, ignore_index=True)


def paired_auc_change(y, p_ref, P, W, level: float = 0.95) -> tuple[float, float, float]:
    """AUC(P) − AUC(p_ref) on the same test texts, mean over the rows of ``P`` (anchor draws; one row for
    a single fit), with its interval paired over text resamples: (change, ci_low, ci_high).

    ``W`` (B, n) are bootstrap weights (:func:`probedrift.core.intervals.bootstrap_weights`); every
    resample scores both predictions, so what the two AUCs share through the texts cancels. The
    interval is :func:`probedrift.core.intervals.combined_interval`, m̄ ± z·√(se_texts² + se_draws²):
    se_texts the standard deviation over resamples of the mean change, se_draws = s/√k over the k rows
    (0 for one row). Not clipped: a change may be negative.
    """
    P = np.atleast_2d(np.asarray(P, dtype=np.float64))
    ref = np.asarray(p_ref, dtype=np.float64)[None]
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or not W.shape[1] == P.shape[1] == ref.shape[1] == np.size(y):
        raise ProbedriftError(f"labels ({np.size(y)}), predictions {P.shape}, {ref.shape} and bootstrap weights "
                              f"{W.shape} do not describe the same test texts",
                              "pass predictions of the same texts and intervals.bootstrap_weights(y, n_boot, seed)")
    cells = metrics_mod.roc_auc_batch(y, P) - metrics_mod.roc_auc_batch(y, ref)
    boot = (metrics_mod.weighted_metrics(y, P, W, ["auc"])["auc"]
            - metrics_mod.weighted_metrics(y, ref, W, ["auc"])["auc"])
    out = intervals.combined_interval(cells[None], boot, level, clip=False)
    return out["mean"], out["ci_low"], out["ci_high"]


def _changes(y, P, refs: tuple[np.ndarray, np.ndarray], W) -> dict:
    """``auc_change`` (against the frozen probe on the before embeddings) and ``auc_vs_frozen`` (against the
    frozen probe on the after embeddings) of predictions ``P``, each with its paired interval."""
    out = {}
    for name, ref in zip(("auc_change", "auc_vs_frozen"), refs):
        out[name], out[f"{name}_ci_low"], out[f"{name}_ci_high"] = paired_auc_change(y, ref, P, W)
    out["change_interval"] = CHANGE_TEXTS if np.ndim(P) == 1 or len(P) == 1 else CHANGE_TEXTS_AND_DRAWS
    return out


def _row(S: RunContext, source, method, y, p1, *, refs, W, angle=np.nan, note="") -> dict:
    p = S.params
    auc, lo, hi = metrics_mod.bootstrap_ci("auc", y, p1, n_boot=p.n_boot, seed=p.seed)
    row = {"source": source, "method": method, "k": pd.NA, "auc": auc, "ci_low": lo, "ci_high": hi, "n_seeds": 1,
           "mean_confidence": float(metrics_mod.confidence(p1).mean()),
           "ece": metrics_mod.expected_calibration_error(y, p1, bins=p.ece_bins),
           "angle_deg_mean": angle, "alarm": pd.NA, "interval": _BOOT, "note": note}
    return row | _changes(y, p1, refs, W)


@timed("real drift")
def mitigations_table(S: RunContext, sources=None, pairs: dict[str, UpdatePair] | None = None) -> pd.DataFrame:
    """Per source: AUC (with interval), mean confidence and ECE of every mitigation in :data:`MITIGATION_METHODS`.

    ``interval`` says what ``ci_low``/``ci_high`` are: a stratified bootstrap over test texts
    (``n_boot`` resamples) for single fits, a 95% Student-t interval over the ``drift_seeds`` anchor
    draws for ``align``, clipped to [0, 1] (``n_seeds`` counts the draws; with two draws t = 12.7, so
    the interval is wide). ``angle_deg_mean`` is the mean angle
    between a test text's before embedding and the vector the frozen probe reads (NaN where a
    retrained probe reads the new embeddings). ``alarm`` is filled on the ``detector_gate`` row only.

    Changes, paired (:func:`paired_auc_change`, the same ``n_boot`` bootstrap resamples of the test texts as
    the levels' intervals, with seed ``seed``): ``auc_change`` is the row's AUC minus ``no_update``'s (what
    the change and the fix did to the probe's AUC, 0 on the ``no_update`` row), ``auc_vs_frozen`` the row's
    AUC minus ``frozen``'s (what the fix recovers over keeping the frozen probe; below 0 it does harm), each
    with ``_ci_low``/``_ci_high``. ``change_interval`` says what they cover: test texts, and for ``align``
    the anchor draws as well. Compare two rows by these, not by whether their ``ci_low``/``ci_high`` overlap.
    """
    p = S.params
    rows = []
    for source, pair in _pairs(S, sources, pairs).items():
        su = _setup(S, pair)
        y_te = su.before["test"][1]
        adapted = " (through the adapter)" if su.adapter is not None else ""
        X_b = su.before["test"][0]
        X_frozen = su.after_in_probe_space("test")
        W = intervals.bootstrap_weights(y_te, p.n_boot, p.seed)  # the resamples of metrics.bootstrap_ci
        refs = (su.probe.predict_proba(X_b), su.probe.predict_proba(X_frozen))
        rows.append(_row(S, source, "no_update", y_te, refs[0], angle=0.0, refs=refs, W=W,
                         note="frozen probe on the before embeddings"))
        frozen = _row(S, source, "frozen", y_te, refs[1], angle=float(angle_deg(X_b, X_frozen).mean()),
                      refs=refs, W=W, note=f"frozen probe on the after embeddings{adapted}")
        rows.append(frozen)
        retrained = _new_probe(S, *su.after["train"])
        retrain = _row(S, source, "retrain", y_te, retrained.predict_proba(su.after["test"][0]), refs=refs, W=W,
                       note="probe refitted on the after embeddings of the training split")
        rows.append(retrain)

        n_train = len(su.before["train"][1])
        draws = []
        for k in _anchor_sizes(S, n_train):
            for seed in p.drift_seeds:
                idx = anchor_indices(n_train, k, seed)
                aligner = fit_aligner(su.after["train"][0][idx], su.before["train"][0][idx], method="auto")
                X_al = aligner.transform(su.after["test"][0])
                p1 = su.probe.predict_proba(X_al)
                draws.append({"k": k, "seed": int(seed), "method_used": aligner.method, "p1": p1,
                              "angle_deg_mean": float(angle_deg(X_b, X_al).mean()),
                              "auc": metrics_mod.roc_auc(y_te, p1),
                              "mean_confidence": float(metrics_mod.confidence(p1).mean()),
                              "ece": metrics_mod.expected_calibration_error(y_te, p1, bins=p.ece_bins)})
        draws = pd.DataFrame(draws)
        agg = intervals.aggregate_seeds(draws, by="k", metrics=["auc", "mean_confidence", "ece", "angle_deg_mean"])
        used = draws.groupby("k")["method_used"].first()
        for _, r in agg.iterrows():
            P = np.stack(draws.p1[draws.k == r.k].tolist())
            rows.append({"source": source, "method": "align", "k": int(r.k), "auc": r.auc_mean,
                         "ci_low": max(0.0, r.auc_ci_low), "ci_high": min(1.0, r.auc_ci_high),
                         "n_seeds": int(r.n_seeds),
                         "mean_confidence": r.mean_confidence_mean, "ece": r.ece_mean,
                         "angle_deg_mean": r.angle_deg_mean_mean, "alarm": pd.NA,
                         "interval": _SEEDS, "note": f"{used[r.k]} map new → old on {int(r.k)} anchor texts"}
                        | _changes(y_te, P, refs, W))

        calibrated = copy.deepcopy(su.probe).fit_temperature(su.after_in_probe_space("val"), su.before["val"][1])
        rec = _row(S, source, "recalibrate", y_te, calibrated.predict_proba(X_frozen), angle=frozen["angle_deg_mean"],
                   refs=refs, W=W)
        T = calibrated.temperature
        rec["note"] = (f"temperature T = {T:.3g} fitted on the after embeddings of the validation split{adapted}: "
                       f"mean confidence {frozen['mean_confidence']:.3f} → {rec['mean_confidence']:.3f}, "
                       f"ECE {frozen['ece']:.3f} → {rec['ece']:.3f}; the ranking (AUC) is unchanged by construction")
        if not np.exp(-4.99) < T < np.exp(4.99):
            rec["note"] += ("; T sits at the edge of its search range [e⁻⁵, e⁵], so the validation split is too "
                            "small (or separable) to fit it")
        rows.append(rec)

        alarms = _detector_alarms(S, su)
        fired = [d for d, a in alarms.items() if a]
        gate = dict(retrain if fired else frozen)
        gate.update(method="detector_gate", alarm=bool(fired),
                    note=(f"alarm from {', '.join(fired)}: retrained" if fired
                          else "no monitor alarmed: the frozen probe stays in service"))
        rows.append(gate)
    out = pd.DataFrame(rows, columns=MITIGATION_COLUMNS)
    out["alarm"] = out["alarm"].astype("boolean")
    out["k"] = out["k"].astype("Int64")
    return out


def synthetic_reference(real: pd.DataFrame, agg: pd.DataFrame) -> pd.DataFrame:
    """Each real source next to isotropic synthetic noise of the same measured angle, same model.

    ``agg`` is :func:`probedrift.report.tables.aggregate_sweep` of the drift sweep. Both Gaussian conventions
    add isotropic noise (``per_dim`` and ``relative`` differ only in scale), so together they trace one
    curve of seed-mean AUC against seed-mean angle; ``auc_isotropic`` is that curve linearly
    interpolated at the source's ``angle_deg_mean`` (NaN outside the curve's range) and ``auc_clean``
    its value at σ = 0.
    """
    rows = []
    for _, r in real.iterrows():
        g = agg[(agg["model"] == r["model_before"]) & (agg["drift_type"] == "gaussian")]
        g = g.sort_values("angle_deg_mean_mean").drop_duplicates("angle_deg_mean_mean")
        x, auc = g["angle_deg_mean_mean"].to_numpy(), g["auc_mean"].to_numpy()
        clean = float(g[g["sigma"] == 0]["auc_mean"].mean()) if len(g) else np.nan
        iso = float(np.interp(r["angle_deg_mean"], x, auc, left=np.nan, right=np.nan)) if len(g) else np.nan
        rows.append({"source": r["source"], "model": r["model_before"], "angle_deg_mean": r["angle_deg_mean"],
                     "auc_clean": clean, "auc_real": r["auc"], "auc_isotropic": iso})
    return pd.DataFrame(rows, columns=["source", "model", "angle_deg_mean", "auc_clean", "auc_real", "auc_isotropic"])
