"""Execute the study's notebooks for a profile with papermill, and record provenance.

``probedrift run --profile P`` runs ``notebooks/0*.ipynb`` in order into ``results/P/notebooks/``.
The run's state lives in ``results/P/run.json``: ``running`` while it executes, then ``complete``
or ``failed`` (with the notebook and cell). A new run first clears the previous run's tables,
figures and notebooks, so no notebook can read a table left by an earlier (possibly failed) run;
the expensive embeddings live in the content-addressed cache and are not lost. The book refuses
to build from a run that is not ``complete``.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .errors import ProbedriftError
from .params import load_params, parse_overrides, profile_path, repo_root

KERNEL = "python3"
RUN_SUBDIRS = ("notebooks", "metrics", "figures", "probes")
VERSIONED_PACKAGES = (
    "probedrift", "torch", "transformers", "numpy", "scipy", "scikit-learn", "pandas", "datasets",
    "papermill", "nbval", "jupyter-book", "matplotlib", "seaborn", "torchdrift",
)


def notebook_paths() -> list[Path]:
    """The study's notebooks, in execution order."""
    return sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


PROGRESS_MIME = "application/vnd.jupyter.widget-view+json"


def machine_paths(run_dir: Path) -> dict[str, str]:
    """Absolute paths of this machine mapped to portable names, longest first.

    The run directory becomes ``results/<profile>`` (relative to the repository), the embedding cache
    ``$PROBEDRIFT_CACHE_DIR``, the repository root ``.`` and the home directory ``~``: a committed run
    shows no path of the machine that made it.
    """
    from .models import cache_root

    root = repo_root()
    run_dir = Path(run_dir)
    try:
        portable_run = str(run_dir.resolve().relative_to(root.resolve()))
    except ValueError:
        portable_run = f"results/{run_dir.name}"
    pairs = {str(run_dir): portable_run, str(run_dir.resolve()): portable_run,
             str(cache_root()): "$PROBEDRIFT_CACHE_DIR", str(root): ".", str(root.resolve()): ".",
             str(Path.home()): "~"}
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def portable(text: str, paths: dict[str, str]) -> str:
    """``text`` with every machine path of :func:`machine_paths` replaced by its portable name."""
    for absolute, name in paths.items():
        if absolute not in ("", "/", "."):
            text = text.replace(absolute, name)
    return text


def finalize_notebook(path: Path, run_dir: Path | None = None) -> dict:
    """Make an executed notebook fit to publish, and return papermill's timings for the provenance.

    Strips papermill's volatile metadata, hides the injected-parameters cell, renders stored outputs
    (``mystnb.execution_mode: off``), drops progress bars and warnings (stderr streams and progress
    widgets went to the terminal of the run) and replaces machine paths by portable names.
    """
    import nbformat

    from .images import compress_png

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        tags = cell.metadata.get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            cell.metadata["tags"] = [*tags, "hide-input"]
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs
                            if not (o.output_type == "stream" and o.name == "stderr")
                            and PROGRESS_MIME not in o.get("data", {})]
            for o in cell.outputs:
                if "image/png" in o.get("data", {}):
                    png = compress_png(base64.b64decode(o.data["image/png"]))
                    o.data["image/png"] = base64.b64encode(png).decode("ascii")
    meta = nb.metadata.pop("papermill", {})
    nb.metadata["mystnb"] = {"execution_mode": "off"}
    text = nbformat.writes(nb)
    if run_dir is not None:
        text = portable(text, machine_paths(run_dir))
    path.write_text(text)
    return meta


def package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict:
    root = repo_root()
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        # A run's own outputs (results/, where the reference run is tracked) do not make the code dirty.
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                     ":(exclude)results"], cwd=root, capture_output=True, text=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": sha, "dirty": dirty}


def device_description(device: str) -> dict:
    import torch

    from .models import resolve_device

    dev = resolve_device(device)
    info = {"requested": device, "resolved": str(dev), "torch_threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
    if dev.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(dev)
    return info


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_state(run_dir: Path) -> dict:
    """The state recorded in ``run.json`` (``{}`` when the directory holds no run)."""
    try:
        return json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return {}


def run_profile(
    profile: str,
    overrides: list[str] | None = None,
    device: str | None = None,
    results_root: str = "results",
    notebooks: list[Path] | None = None,
) -> int:
    """Run every notebook for ``profile``; 0 on success, 1 (naming notebook and cell) on failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    # Parse and check every parameter first: bad input must fail before earlier results are cleared.
    override_values = parse_overrides(overrides)
    if device is not None:
        override_values["device"] = device
    params = load_params(profile, override_values)
    run_dir = Path(results_root) / params.profile
    if not run_dir.is_absolute():
        run_dir = repo_root() / run_dir
    params = params.replace(results_dir=str(run_dir))
    named = Path(profile).suffix not in {".yaml", ".yml"}
    nb_parameters = {"profile": profile if named else str(profile_path(profile).resolve()),
                     "overrides": override_values, "results_dir": str(run_dir)}
    root = repo_root()
    run_dir.mkdir(parents=True, exist_ok=True)
    for sub in RUN_SUBDIRS:
        shutil.rmtree(run_dir / sub, ignore_errors=True)
    for stale in ("provenance.json", "cache_keys.json", "forward_passes.json", "stage_seconds.json"):
        (run_dir / stale).unlink(missing_ok=True)
    (run_dir / "notebooks").mkdir()
    state = {"state": "running", "profile": params.profile, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    _write_json(run_dir / "run.json", state)
    timings = {}
    t_run = time.perf_counter()
    for nb_path in notebooks or notebook_paths():
        out = run_dir / "notebooks" / nb_path.name
        print(f"[probedrift run] {nb_path.name} ...", flush=True)
        t0 = time.perf_counter()
        os.environ["PROBEDRIFT_NOTEBOOK"] = nb_path.name  # the kernel inherits it: probedrift.timing
        try:
            pm.execute_notebook(
                str(nb_path), str(out), parameters=nb_parameters, kernel_name=KERNEL, cwd=str(root),
                progress_bar=False, request_save_on_cell_execute=True,
                # Progress bars and warnings go to this terminal; finalize_notebook drops them from the notebook.
                stderr_file=sys.stderr,
            )
        except PapermillExecutionError as exc:
            state.update(state="failed", notebook=nb_path.name, cell=exc.exec_count, cell_index=exc.cell_index,
                         error=f"{exc.ename}: {exc.evalue}", partial_notebook=str(out))
            _write_json(run_dir / "run.json", state)
            print(
                f"probedrift run: notebook {nb_path.name} failed at cell {exc.exec_count} "
                f"({exc.ename}: {exc.evalue}).\n  The partial executed notebook is kept at {out} for debugging.",
                file=sys.stderr,
            )
            return 1
        timings[nb_path.name] = round(time.perf_counter() - t0, 2)
        finalize_notebook(out, run_dir)
        print(f"[probedrift run] {nb_path.name} done in {timings[nb_path.name]:.1f} s", flush=True)
    provenance = {
        "profile": params.profile,
        "parameters": params.to_dict(),
        "overrides": override_values,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_commit(),
        "device": device_description(params.device),
        "timings_seconds": {**timings, "total": round(time.perf_counter() - t_run, 2)},
        "cache_keys": _read_json(run_dir / "cache_keys.json"),
        "forward_passes": _read_json(run_dir / "forward_passes.json"),
        "stage_seconds": _read_json(run_dir / "stage_seconds.json"),
    }
    paths = machine_paths(run_dir)
    provenance = json.loads(portable(json.dumps(provenance), paths))
    _write_json(run_dir / "provenance.json", provenance)
    for table in [*run_dir.glob("*.json"), *(run_dir / "metrics").glob("*.csv")]:
        text = table.read_text()
        if portable(text, paths) != text:  # e.g. checkpoint paths in the cache keys
            table.write_text(portable(text, paths))
    state.update(state="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 seconds=provenance["timings_seconds"]["total"])
    _write_json(run_dir / "run.json", state)
    print(f"[probedrift run] {params.profile} complete in {state['seconds']:.0f} s -> {run_dir}")
    return 0


def require_complete(run_dir: Path) -> dict:
    """The run's state, or a clear error if the run is missing, running or failed."""
    state = run_state(run_dir)
    if state.get("state") != "complete":
        what = state.get("state", "missing")
        extra = f" (notebook {state.get('notebook')}, cell {state.get('cell')})" if what == "failed" else ""
        raise ProbedriftError(
            f"the run in {str(run_dir)!r} is {what}{extra}, so its outputs cannot be trusted",
            f"run `probedrift run --profile {Path(run_dir).name}` to completion first",
        )
    return state


def store_check_outputs(run_dir: str | Path) -> list[str]:
    """Copy the outputs of ``# NBVAL_CHECK_OUTPUT`` cells from a run's executed notebooks into
    ``notebooks/``, so nbval compares future executions against them. Returns the notebooks changed.

    Use after deliberately changing a checked cell: ``probedrift run --profile smoke`` first.
    """
    import nbformat

    changed = []
    for src in notebook_paths():
        executed = Path(run_dir) / "notebooks" / src.name
        if not executed.is_file():
            continue
        done = {c.source: c for c in nbformat.read(executed, as_version=4).cells if c.cell_type == "code"}
        nb = nbformat.read(src, as_version=4)
        touched = False
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.lstrip().startswith("# NBVAL_CHECK_OUTPUT"):
                new = [o for o in done[cell.source].outputs if o.get("output_type") == "stream"]
                if cell.outputs != new or cell.execution_count is None:
                    # nbval only compares cells that were run, i.e. that carry an execution count.
                    cell.outputs, touched = new, True
                    cell.execution_count = 1
        if touched:
            nbformat.write(nb, src)
            changed.append(src.name)
    return changed
