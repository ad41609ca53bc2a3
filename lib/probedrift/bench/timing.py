"""Timing helpers: a progress log, medians, and variants timed in interleaved rounds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

_clock = {"start": time.perf_counter()}


def restart_clock() -> float:
    """Restart the clock the progress log counts from; returns the start time."""
    _clock["start"] = time.perf_counter()
    return _clock["start"]


def log(msg: str) -> None:
    """Print one progress line, prefixed with the seconds since :func:`restart_clock`."""
    print(f"[bench {time.perf_counter() - _clock['start']:6.1f} s] {msg}", flush=True)


def median(xs) -> float:
    """The median of ``xs`` as a float."""
    return float(statistics.median(xs))


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall seconds of one call of ``fn`` (``time.perf_counter``) and its return value."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(variants: dict[str, Callable[[], object]], reps: int) -> tuple[dict[str, list[float]], dict]:
    """Seconds per call of each variant over ``reps`` interleaved rounds, and each variant's first output.

    Round r calls every variant once, in order (A, B, C, A, B, C, ...), so a change of background
    load hits all variants alike.
    """
    times: dict[str, list[float]] = {k: [] for k in variants}
    first: dict[str, object] = {}
    for r in range(reps):
        for name, fn in variants.items():
            dt, out = timed(fn)
            times[name].append(dt)
            first.setdefault(name, out)
        log(f"  round {r + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    return times, first
