"""Section 7: end-to-end study and test wall times, measured here or read from earlier runs."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from probedrift.core.cache import cache_root
from probedrift.core.errors import ProbedriftError
from probedrift.run.params import repo_root

from .config import END_TO_END_KEYS
from .timing import log


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None, interval: float = 0.2) -> dict:
    """Wall seconds, exit code and peak RSS (MB) of a command's whole process tree, and the machine's
    1-minute load average at the start and its mean over the run (``load1_start``, ``load1_mean``).

    The tree's RSS (the process plus all its descendants, summed) is sampled every ``interval`` s.
    """

    with tempfile.TemporaryFile() as output:
        t0 = time.perf_counter()
        loads = [os.getloadavg()[0]]
        proc = psutil.Popen(cmd, env=env, cwd=cwd, stdout=output, stderr=subprocess.STDOUT)
        peak, next_load = 0, t0 + 5
        while proc.poll() is None:
            if time.perf_counter() >= next_load:  # the kernel updates it every 5 s
                loads.append(os.getloadavg()[0])
                next_load += 5
            rss = 0
            with contextlib.suppress(psutil.Error):
                for p in [proc, *proc.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss
            peak = max(peak, rss)
            time.sleep(interval)
        seconds = time.perf_counter() - t0
        output.seek(0)
        tail = output.read()[-3000:].decode("utf-8", "replace")
    return {"seconds": seconds, "returncode": proc.returncode, "peak_rss_mb": peak / 2**20, "output_tail": tail,
            "load1_start": loads[0], "load1_mean": sum(loads) / len(loads)}


def _study_environment(cache: Path) -> dict:
    env = {**os.environ, "PROBEDRIFT_CACHE_DIR": str(cache)}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        env.setdefault(key, "1")
    return env


def measure_end_to_end(out_dir: Path, profile: str = "default") -> dict:
    """Run ``probedrift run --profile <profile>`` cold, then warm, into temporary results and cache.

    Cold = an empty cache directory whose ``models/`` links to the shared converted models, so the
    one-off model conversions are not part of the figure. Warm = the same command again on that
    cache. Merges the figures into ``out_dir/end_to_end.json`` (other keys there are kept).
    """

    shared_models = cache_root() / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    record: dict = {}
    with tempfile.TemporaryDirectory(prefix="probedrift-e2e-") as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(shared_models, target_is_directory=True)
        cmd = [sys.executable, "-m", "probedrift.run.cli", "run", "--profile", profile,
               "--results", str(Path(tmp) / "results")]
        for phase in ("cold", "warm"):
            log(f"end to end: probedrift run --profile {profile} ({phase})")
            r = run_measured(cmd, env=_study_environment(cache), cwd=str(repo_root()))
            if r["returncode"] != 0:
                raise ProbedriftError(
                    f"probedrift run --profile {profile} ({phase}) failed with exit code {r['returncode']}:\n"
                    f"{r['output_tail']}",
                    "run the profile on its own to see the full error, then rerun the benchmark",
                )
            record[f"study_{profile}_seconds_{phase}"] = r["seconds"]
            record[f"study_{profile}_peak_rss_mb_{phase}"] = r["peak_rss_mb"]
    record[f"study_{profile}_peak_rss_mb"] = max(record[f"study_{profile}_peak_rss_mb_cold"],
                                                 record[f"study_{profile}_peak_rss_mb_warm"])
    path = Path(out_dir) / "end_to_end.json"
    merged = {**(read_json(path) or {}), **record,
              "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=1))
    return merged


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None if it is missing, unreadable or not an object."""
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def number_of(record) -> float | None:
    """A recorded figure as a float: a plain number, or a dict's ``total`` / ``seconds`` / ``wall_seconds``."""
    if isinstance(record, (int, float)) and not isinstance(record, bool):
        return float(record)
    if isinstance(record, dict):
        for key in ("total", "seconds", "wall_seconds"):
            if isinstance(record.get(key), (int, float)):
                return float(record[key])
    return None


def _end_to_end_json(out_dir: Path, results_root: Path) -> tuple[dict, Path | None]:
    """The recorded end-to-end figures: ``out_dir/end_to_end.json``, else ``results/bench/end_to_end.json``."""
    for path in (Path(out_dir) / "end_to_end.json", Path(results_root) / "bench" / "end_to_end.json"):
        found = read_json(path)
        if found:
            return found, path
    return {}, None


def end_to_end_figures(out_dir: Path, results_root: Path) -> dict:
    """Study and test figures (:data:`END_TO_END_KEYS`) from ``end_to_end.json`` and, for the cold and
    warm study times, ``default/provenance.json``; None where neither records one."""
    measured, measured_path = _end_to_end_json(out_dir, results_root)
    prov = read_json(Path(results_root) / "default" / "provenance.json") or {}
    timings = prov.get("timings_seconds") if isinstance(prov.get("timings_seconds"), dict) else {}
    out = {key: number_of(measured.get(key)) for key in END_TO_END_KEYS}
    for phase in ("cold", "warm"):
        key = f"study_default_seconds_{phase}"
        if out[key] is None:
            out[key] = number_of(prov.get(phase)) or number_of(timings.get(phase))
    # The default run's own records: forward passes counted by extraction, fine-tuning by its stage timer.
    passes = prov.get("forward_passes")
    if out.get("forward_passes_default") is None and isinstance(passes, dict) and passes:
        out["forward_passes_default"] = float(sum(v for v in passes.values() if isinstance(v, (int, float))))
    stages = prov.get("stage_seconds")
    if out.get("finetune_seconds") is None and isinstance(stages, dict):
        tuned = [per.get("fine-tuning") for per in stages.values() if isinstance(per, dict)]
        if any(isinstance(t, (int, float)) for t in tuned):
            out["finetune_seconds"] = float(sum(t for t in tuned if isinstance(t, (int, float))))
    detail = {
        "end_to_end_json": str(measured_path) if measured_path else None,
        "provenance_json": str(Path(results_root) / "default" / "provenance.json") if prov else None,
        "last_default_run_seconds": number_of(timings.get("total")),
    }
    return {**out, "detail": detail}
