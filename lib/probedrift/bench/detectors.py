"""Section 6: time per test of every drift detector."""

from __future__ import annotations

from probedrift.science.detectors import DETECTORS, make_detector
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import drift

from .config import Sizes
from .sweep import train_and_test_sets
from .timing import interleaved, log, median, timed


def bench_detectors(sz: Sizes) -> dict:
    """Seconds per ``test`` of every detector (median of reps after a warm-up call), reference n × d
    against a sample of n × d drifted by relative Gaussian noise σ = 0.02, and the seconds of ``fit``.
    The confidence monitor reads the paper's probe trained on the reference's problem."""

    x_tr, y_tr, x_te, _ = train_and_test_sets(sz.detector_n, sz.detector_d, seed=1)
    probe = paper_probe(0).fit(x_tr, y_tr)
    sample = drift(x_te, "gaussian", "relative", [0.02], seed=0).embeddings[0]
    kwargs = {
        "confidence": {"predict_proba": probe.predict_proba},
        "mmd": {"n_permutations": sz.permutations},
        "mean_cosine": {"n_permutations": sz.permutations},
    }
    out = {}
    log(f"detectors on {sz.detector_n} vs {sz.detector_n} x {sz.detector_d}")
    for name in DETECTORS:
        t_fit, det = timed(lambda name=name: make_detector(name, **kwargs.get(name, {})).fit(x_tr))
        det.test(sample)
        times, outs = interleaved({name: lambda det=det: det.test(sample)}, sz.reps)
        out[name] = {
            "seconds_per_test": median(times[name]), "seconds": times[name], "fit_seconds": t_fit,
            "permutations": getattr(det, "n_permutations", None), "alarm": bool(outs[name].alarm),
            "n_reference": sz.detector_n, "n_sample": sz.detector_n, "d": sz.detector_d,
        }
    return out
