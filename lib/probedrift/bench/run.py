"""``run_bench``: every section in one process, the headline figures, and the written report."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from probedrift.core.errors import ProbedriftError
from probedrift.run.params import repo_root

from .config import END_TO_END_KEYS, FULL, HEADLINE_KEYS, QUICK, TARGETS
from .detectors import bench_detectors
from .end_to_end import end_to_end_figures, measure_end_to_end
from .extraction import bench_extraction
from .hardware import machine_info, primary_dtype, resolve_device
from .report import fmt, write_report
from .sweep import bench_drift_sweep
from .timing import log, restart_clock, timed


def headline_figures(extraction: dict, sweep: dict) -> dict:
    """The flat extraction and sweep figures of ``bench.json``, as ratios within this run."""
    setup = extraction["setup"]
    last, mid = extraction["probedrift_last"], extraction["probedrift_mid"]
    naive, st = extraction["naive"], extraction["sentence_transformers"]
    batches = extraction["batch_sweep"]
    return {
        "ratio_vs_naive": last["texts_per_s"] / naive["texts_per_s"],
        "ratio_vs_sentence_transformers": last["texts_per_s"] / st["texts_per_s"],
        "ratio_vs_sentence_transformers_mid_layer": mid["texts_per_s"] / st["texts_per_s"],
        "truncation_cost_ratio": mid["median_seconds"] / last["median_seconds"],
        "truncation_layer_fraction": setup["mid_layer"] / setup["n_layers"],
        "hardware_fraction": max(v["hardware_fraction"] for k, v in batches.items() if int(k) >= 8),
        "hardware_fraction_per_batch": {k: v["hardware_fraction"] for k, v in batches.items()},
        "cache_speedup": extraction["cache"]["speedup"],
        "drift_sweep_seconds": sweep["median_seconds"],
        "drift_sweep_ratio_vs_loop": sweep["ratio_vs_loop"],
    }


def _output_directory(out_dir) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProbedriftError(f"cannot create the output directory {str(out)!r}: {exc}",
                              "pass a writable directory with --out") from None
    return out


def _print_summary(report: dict, out: Path) -> None:
    log(f"wrote {out / 'bench.json'} and {out / 'bench.md'} in {report['bench_seconds']:.0f} s")
    for key in HEADLINE_KEYS:
        target = f"  (target >= {TARGETS[key]:g})" if key in TARGETS else ""
        log(f"{key}: {fmt(report[key], '.4g')}{target}")
    for f in report["failures"]:
        print(f"probedrift bench: check failed: {f}", file=sys.stderr)


# B008: the default is an immutable str, computed once at definition as intended
def run_bench(quick: bool = False, out_dir: str | os.PathLike = os.path.join("results", "bench"),  # noqa: B008
              end_to_end: bool = False, device: str = "cpu") -> int:
    """Run the benchmark, write ``bench.json`` and ``bench.md`` to ``out_dir``; 0 if every check passed.

    ``device`` is "cpu", "cuda" or "auto" (CUDA when a GPU is visible); it sets where the extraction
    runs, in float32 on CPU and bfloat16 on CUDA (float32 timed alongside). ``end_to_end`` first runs
    the default study cold and warm (about half an hour) and records it in ``end_to_end.json``.
    """

    device = resolve_device(device)
    out = _output_directory(out_dir)
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(key, "1")
    sz = QUICK if quick else FULL
    t0 = restart_clock()
    if end_to_end:
        measure_end_to_end(out)
    machine = machine_info(primary_dtype(device), device)
    sections = {}
    sections["extraction"], (extraction, failures) = timed(lambda: bench_extraction(sz, device))
    sections["drift_sweep"], (sweep, sweep_failures) = timed(lambda: bench_drift_sweep(sz))
    sections["detectors"], detectors = timed(lambda: bench_detectors(sz))
    e2e = end_to_end_figures(out, repo_root() / "results")
    machine["load_average_end"] = list(os.getloadavg())
    report = {
        **headline_figures(extraction, sweep),
        **{k: e2e[k] for k in END_TO_END_KEYS},
        "device": device,
        "ratio_vs_naive_tokens": extraction["probedrift_last"]["tokens_per_s"] / extraction["naive"]["tokens_per_s"],
        "bfloat16_speedup_vs_float32": extraction["bfloat16"]["speedup_vs_float32"],
        "quick": quick, "sizes": asdict(sz), "machine": machine,
        "extraction": extraction, "drift_sweep": sweep, "detectors": detectors,
        "end_to_end_detail": e2e["detail"], "failures": failures + sweep_failures,
        "section_seconds": sections, "bench_seconds": time.perf_counter() - t0,
    }
    report = write_report(report, out)
    _print_summary(report, out)
    return 1 if report["failures"] else 0


def refresh_loop_times(out_dir: str | os.PathLike = os.path.join("results", "bench")) -> dict | None:  # noqa: B008
    """Copy the loop's measured times (:data:`END_TO_END_KEYS`, from ``end_to_end.json``: ``make test`` on a
    fresh clone, the profiles cold and warm, each with its load average) into ``out_dir``'s ``bench.json``
    and rewrite ``bench.md``, leaving every figure the benchmark itself measured as it was. None (nothing
    written) when ``out_dir`` holds no ``bench.json`` yet: ``make bench`` writes one."""
    out = Path(out_dir)
    try:
        report = json.loads((out / "bench.json").read_text())
    except FileNotFoundError:
        return None
    e2e = end_to_end_figures(out, repo_root() / "results")
    report.update({key: e2e[key] for key in END_TO_END_KEYS})
    report["end_to_end_detail"] = e2e["detail"]
    return write_report(report, out)

