"""The loop's wall times: ``make test`` on a fresh clone, classroom and default runs cold and warm.

``python -m probedrift.bench.times [--only make_test classroom default binder]`` (``make bench-times``)
measures each figure with :func:`probedrift.bench.end_to_end.run_measured` (wall seconds, peak RSS of
the whole process tree) and records beside it the machine's 1-minute load average, sampled during the
measurement: a figure taken on a busy machine says so. The figures are merged into
``results/bench/end_to_end.json``, from which ``probedrift bench`` copies them into ``bench.json``.

- ``make_test``: ``git clone`` of this checkout's HEAD into a temporary folder, then ``make test`` there
  with an empty embedding cache (``PROBEDRIFT_CACHE_DIR`` in the temporary folder): the install, the
  model conversions, the fine-tuned smoke checkpoints and the whole suite.
- ``<profile>_cold`` / ``<profile>_warm``: ``probedrift run --profile <profile>`` on an empty cache
  whose ``models/`` links to the shared converted models (a conversion happens once per machine), then
  again on the cache the first run filled. ``--keep-cold-run ROOT`` copies each cold run's folder to
  ``ROOT/<profile>`` (e.g. ``results/``), so the run whose time is recorded is the committed reference run
  and the Performance page's stage table is that cold run's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from probedrift.core.cache import cache_root
from probedrift.core.errors import ProbedriftError
from probedrift.run.params import repo_root

from .end_to_end import read_json, run_measured
from .run import refresh_loop_times
from .timing import log

PROFILES = ("classroom", "default")
WHAT = ("make_test", *PROFILES, "binder")
#: keys of ``end_to_end.json`` this module writes; each ``*_seconds`` has a ``*_load1`` beside it
TIME_KEYS = ("make_test_seconds", "classroom_cold_seconds", "classroom_warm_seconds", "default_cold_seconds",
             "default_warm_seconds", "binder_cold_seconds", "binder_warm_seconds")


def _offline_env(**extra: str) -> dict:
    env = {**os.environ, **extra}
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        env.setdefault(key, "1")
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def _checked(name: str, r: dict) -> dict:
    if r["returncode"] != 0:
        raise ProbedriftError(f"{name} failed with exit code {r['returncode']}:\n{r['output_tail']}",
                              "run it on its own to see the whole error, then measure again")
    return r


def _figures(key: str, r: dict) -> dict:
    """``key_seconds``, ``key_load1`` (mean 1-minute load average while it ran) and ``key_peak_rss_mb``."""
    return {f"{key}_seconds": round(r["seconds"], 1), f"{key}_load1": round(r["load1_mean"], 2),
            f"{key}_load1_start": round(r["load1_start"], 2), f"{key}_peak_rss_mb": round(r["peak_rss_mb"])}


def measure_make_test(tmp: Path) -> dict:
    """``make test`` in a fresh clone of HEAD with an empty cache (the install included)."""
    clone = tmp / "clone"
    subprocess.run(["git", "clone", "--quiet", str(repo_root()), str(clone)], check=True)
    log("make test in a fresh clone, empty cache")
    r = run_measured(["make", "test"], cwd=str(clone), env=_offline_env(PROBEDRIFT_CACHE_DIR=str(tmp / "cache")))
    if r["returncode"] != 0:  # the time of a failing suite is still its time; the exit code is kept beside it
        log(f"make test exited with {r['returncode']}:\n{r['output_tail'][-1500:]}")
    return {**_figures("make_test", r), "make_test_returncode": r["returncode"]}


def measure_profile(profile: str, tmp: Path, keep_cold_run: Path | None = None) -> dict:
    """``probedrift run --profile <profile>`` cold (converted models shared), then warm; with
    ``keep_cold_run``, the cold run's folder replaces ``keep_cold_run/<profile>``."""
    cache = tmp / f"cache-{profile}"
    cache.mkdir()
    shared = cache_root() / "models"
    shared.mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(shared, target_is_directory=True)
    cmd = [sys.executable, "-m", "probedrift.run.cli", "run", "--profile", profile,
           "--results", str(tmp / f"results-{profile}")]
    out = {}
    for phase in ("cold", "warm"):
        log(f"probedrift run --profile {profile} ({phase})")
        r = _checked(f"probedrift run --profile {profile} ({phase})",
                     run_measured(cmd, cwd=str(repo_root()), env=_offline_env(PROBEDRIFT_CACHE_DIR=str(cache))))
        out.update(_figures(f"{profile}_{phase}", r))
        if phase == "cold" and keep_cold_run is not None:
            target = Path(keep_cold_run) / profile
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(tmp / f"results-{profile}" / profile, target)
            log(f"the cold run is kept in {target}")
    return out


def measure_times(out_dir: str | os.PathLike, what: tuple[str, ...] = WHAT,
                  keep_cold_run: str | os.PathLike | None = None) -> dict:
    """Measure ``what`` (of :data:`WHAT`) and merge the figures into ``out_dir/end_to_end.json``; with
    ``keep_cold_run``, each profile's cold run is kept there (see the module docstring)."""
    unknown = sorted(set(what) - set(WHAT))
    if unknown:
        raise ProbedriftError(f"nothing to measure called {', '.join(unknown)}", f"choose from {', '.join(WHAT)}")
    record: dict = {}
    with tempfile.TemporaryDirectory(prefix="probedrift-times-") as name:
        tmp = Path(name)
        for item in what:
            record.update(measure_make_test(tmp) if item == "make_test" else
                          measure_profile(item, tmp, Path(keep_cold_run) if keep_cold_run else None))
    record["cpu_count"] = os.cpu_count()
    record["measured"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    path = Path(out_dir) / "end_to_end.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    merged = {**(read_json(path) or {}), **record}
    path.write_text(json.dumps(merged, indent=1))
    return merged


def main(argv: list[str] | None = None) -> int:
    """Command line of :func:`measure_times`."""
    p = argparse.ArgumentParser(prog="python -m probedrift.bench.times", description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=list(WHAT), choices=WHAT, help="what to measure (default: all)")
    p.add_argument("--out", default=str(repo_root() / "results" / "bench"))
    p.add_argument("--keep-cold-run", metavar="ROOT", default=None,
                   help="copy each profile's cold run to ROOT/<profile> (e.g. results), as the committed run")
    args = p.parse_args(argv)
    got = measure_times(args.out, tuple(args.only), args.keep_cold_run)
    refresh_loop_times(args.out)  # bench.json carries the loop's times beside the benchmark's own figures
    for key in TIME_KEYS:
        if key in got:
            stem = key[: -len("_seconds")]
            print(f"{key}: {got[key]:.0f} s (load average {got[stem + '_load1']:.2f}, "
                  f"peak {got[stem + '_peak_rss_mb']} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
