"""Where a run's time goes: seconds per stage (extraction, probes, drift, monitors, ...) per notebook.

``probedrift run`` names the notebook it executes in ``$PROBEDRIFT_NOTEBOOK``; library methods
decorated with :func:`timed` add their wall time to ``<run_dir>/stage_seconds.json`` under that
notebook and their stage. A timed call nested in another counts towards its own stage and is taken
out of the enclosing one (each stage gets its calls' *self* time, as a profiler reports it), so no
second is counted twice, and a cold run shows its checkpoint embeddings as extraction and its
training as fine-tuning even where a real-drift table asked for them. Whatever a notebook spends
outside timed calls is its "other" time (the runner's per-notebook total minus the stages).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from pathlib import Path

#: The variable naming the notebook a kernel executes (set by :mod:`probedrift.run.kernel` before each chapter).
NOTEBOOK_VARIABLE = "PROBEDRIFT_NOTEBOOK"
STAGES = ("extraction", "probes", "drift", "monitors", "separability", "real drift", "corpus", "fine-tuning",
          "generation", "figures")
_active = threading.local()


def add_seconds(run_dir: Path, stage: str, seconds: float, notebook: str | None = None) -> None:
    """Add ``seconds`` to ``stage`` of ``notebook`` (default ``$PROBEDRIFT_NOTEBOOK``) in the run's file."""
    notebook = notebook or os.environ.get(NOTEBOOK_VARIABLE, "interactive")
    path = Path(run_dir) / "stage_seconds.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    per = known.setdefault(notebook, {})
    per[stage] = round(per.get(stage, 0.0) + seconds, 3)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    os.replace(tmp, path)


def timed(stage: str):
    """Decorator for a Study method: its wall time, less that of the timed calls it makes, counts towards
    ``stage``; the nested calls count towards their own stages (see the module docstring)."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; one of {STAGES}")

    def wrap(method):
        @functools.wraps(method)
        def inner(self, *args, **kwargs):
            stack = getattr(_active, "nested_seconds", None)
            if stack is None:
                stack = _active.nested_seconds = []
            stack.append(0.0)  # seconds spent in timed calls made by this one
            t0 = time.perf_counter()
            try:
                return method(self, *args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                nested = stack.pop()
                if stack:
                    stack[-1] += elapsed
                add_seconds(self.run_dir, stage, elapsed - nested)

        return inner

    return wrap


def stage_table(stage_seconds: dict, notebook_seconds: dict) -> list[dict]:
    """Rows ``notebook, <stage>..., other, total``: ``other`` = the notebook's total minus its stages."""
    rows = []
    for notebook, total in notebook_seconds.items():
        if notebook == "total":
            continue
        spent = stage_seconds.get(notebook, {})
        row = {"notebook": notebook, **{s: spent.get(s, 0.0) for s in STAGES}}
        row["other"] = max(0.0, total - sum(spent.values()))
        row["total"] = total
        rows.append(row)
    return rows
