"""Execute the study's notebooks with papermill into a staging directory, and record provenance.

:func:`run_locked` is the part of ``probedrift run`` that runs after every check has passed
(:func:`probedrift.run.runner.run_profile`): it takes the run's lock, executes ``notebooks/0*.ipynb`` in
order into ``results/.P.partial/`` with the run's state in ``run.json`` (``running``, then ``failed`` with
the notebook and cell, ``interrupted``, or ``complete``), and replaces ``results/P/`` only when every
notebook has completed (:mod:`probedrift.run.rundir`). The chapters run one after another in one kernel,
returned to a fresh kernel's state before each (:mod:`probedrift.run.kernel`).

This module imports neither the study nor its science (no torch, pandas, scikit-learn or scipy): the
command line checks a run in a full process, then replaces that process by ``python -m
probedrift.run.execute`` (:func:`exec_run`), so the process that drives the kernels for the whole run
holds about 0.1 GB instead of 0.25 GB — room the binder profile's 2 GB needs.
"""

from __future__ import annotations

import base64
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from probedrift.core.cache import cache_root
from probedrift.core.errors import ProbedriftError
from probedrift.report.images import compress_png
from probedrift.run import rundir
from probedrift.run.kernel import ChapterKernel
from probedrift.run.publish import strip_widget_state
from probedrift.run.rundir import repo_root

KERNEL = "python3"
PROGRESS_DELAY_S = 5  # seconds a step runs before its progress bar appears
VERSIONED_PACKAGES = (
    "probedrift", "torch", "transformers", "numpy", "scipy", "scikit-learn", "pandas", "datasets",
    "papermill", "nbval", "jupyter-book", "matplotlib", "seaborn", "torchdrift",
)


def notebook_paths() -> list[Path]:
    """The study's notebooks, in execution order."""
    return sorted((repo_root() / "notebooks").glob("[0-9][0-9]_*.ipynb"))


PROGRESS_MIME = "application/vnd.jupyter.widget-view+json"


def machine_paths(run_dir: Path, staging: Path | None = None) -> dict[str, str]:
    """Absolute paths of this machine mapped to portable names, longest first.

    The run directory (and the ``staging`` directory it was written in) becomes ``results/<profile>``
    (relative to the repository), the embedding cache ``$PROBEDRIFT_CACHE_DIR``, the repository root
    ``.`` and the home directory ``~``: a committed run shows no path of the machine that made it.
    """
    root = repo_root()
    run_dir = Path(run_dir)
    try:
        portable_run = str(run_dir.resolve().relative_to(root.resolve()))
    except ValueError:
        portable_run = f"results/{run_dir.name}"
    pairs = {str(run_dir): portable_run, str(run_dir.resolve()): portable_run,
             str(cache_root()): "$PROBEDRIFT_CACHE_DIR", str(root): ".", str(root.resolve()): ".",
             str(Path.home()): "~"}
    if staging is not None:
        pairs.update({str(staging): portable_run, str(Path(staging).resolve()): portable_run})
    return dict(sorted(pairs.items(), key=lambda kv: -len(kv[0])))


def portable(text: str, paths: dict[str, str]) -> str:
    """``text`` with every machine path of :func:`machine_paths` replaced by its portable name."""
    for absolute, name in paths.items():
        if absolute not in ("", "/", "."):
            text = text.replace(absolute, name)
    return text


def finalize_notebook(path: Path, run_dir: Path | None = None, staging: Path | None = None) -> dict:
    """Make an executed notebook fit to publish, and return papermill's timings for the provenance.

    Strips papermill's volatile metadata, hides the injected-parameters cell, renders stored outputs
    (``mystnb.execution_mode: off``), drops progress bars, their saved widget state and warnings (stderr
    streams and progress widgets went to the terminal of the run) and replaces machine paths by portable names.
    """
    import nbformat  # only running notebooks needs it

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
    strip_widget_state(nb)  # the progress bars' saved state: a static page cannot draw it
    nb.metadata["mystnb"] = {"execution_mode": "off"}
    text = nbformat.writes(nb)
    if run_dir is not None:
        text = portable(text, machine_paths(run_dir, staging))
    path.write_text(text)
    return meta


def package_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_PACKAGES` (for the run's provenance)."""
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> dict:
    """The checkout's commit and whether its code has uncommitted changes (None for both outside git)."""
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


_DEVICE_FACTS = """
import json, os, platform, sys
import torch
from probedrift.inputs import models
try:
    dev = models.resolve_device(sys.argv[1])
except Exception as error:
    print(json.dumps({"error": str(error)}))
    sys.exit(3)
info = {"requested": sys.argv[1], "resolved": str(dev), "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count()}
if dev.type == "cuda":
    info["gpu"] = torch.cuda.get_device_name(dev)
print(json.dumps(info))
"""


def device_description(device: str) -> dict:
    """The device a run resolves ``device`` to, with CPU, thread and GPU facts (for the provenance).

    Asked of a short-lived Python process: importing torch costs the runner about 0.3 GB of resident memory
    for the whole run, which a memory-bounded machine (the binder profile's 2 GB) cannot spare.
    """
    res = subprocess.run([sys.executable, "-c", _DEVICE_FACTS, device], capture_output=True, text=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
    lines = res.stdout.strip().splitlines()
    info = json.loads(lines[-1]) if lines else {"error": res.stderr.strip()[-500:]}
    if res.returncode != 0 or "error" in info:
        raise ProbedriftError(f"cannot use the device {device!r}: {info.get('error', '')}",
                              "set device to auto, cpu or an available cuda device")
    return info


def run_state(run_dir: Path) -> dict:
    """The state recorded in ``run.json`` (``{}`` when the directory holds no run); a ``running``
    state whose process is gone reads ``interrupted``."""
    return rundir.effective_state(run_dir)


class RunStopped(BaseException):
    """A stop signal (SIGTERM, SIGHUP) turned into an exception, so the run can record where it stopped."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_stop(signum, frame):
    raise RunStopped(signum)


def run_locked(profile: str, *, parameters: dict, override_values: dict, run_dir: Path,
               notebooks: list[Path], command: str | None = None) -> int:
    """Run the notebooks of a checked parameter set under the lock of ``run_dir``; 0 on success, 1 (naming
    notebook and cell) on failure, 128 + signal when stopped. A second run into the same directory while one
    is running is refused. ``profile`` is what the notebooks' ``profile`` parameter receives: a profile's
    name, or the absolute path of a profile file; ``command`` the command line the lock file records."""
    run_dir = Path(run_dir)
    with rundir.run_lock(run_dir, command=command or " ".join(sys.argv)):
        note = rundir.recover(run_dir)
        if note:
            print(f"[probedrift run] {note}", flush=True)
        staging = rundir.staging_dir(run_dir)
        stale = rundir.read_state(staging)  # this process holds the lock: a "running" writer is gone
        if stale:
            what = "interrupted" if stale.get("state") == "running" else stale.get("state")
            print(f"[probedrift run] discarding the partial outputs of an earlier {what} run "
                  f"(started {stale.get('started', '?')}) in {staging}", flush=True)
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "notebooks").mkdir(parents=True)
        handlers = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
        try:
            return _execute(profile, parameters=parameters, override_values=override_values, run_dir=run_dir,
                            staging=staging, notebooks=notebooks)
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)


def exec_run(profile: str, *, parameters: dict, override_values: dict, run_dir: Path,
             notebooks: list[Path]) -> None:
    """Replace this process by a lean one that calls :func:`run_locked` with these arguments (``os.execv``:
    same process id, so signals and the lock's recorded pid still name the run). Does not return."""
    spec = {"profile": profile, "parameters": parameters, "override_values": override_values,
            "run_dir": str(run_dir), "notebooks": [str(p) for p in notebooks], "command": " ".join(sys.argv)}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "probedrift.run.execute", json.dumps(spec)])


def main(argv: list[str] | None = None) -> int:
    """``python -m probedrift.run.execute SPEC``: :func:`run_locked` on the JSON spec :func:`exec_run` wrote."""
    spec = json.loads((argv if argv is not None else sys.argv[1:])[0])
    try:
        return run_locked(spec["profile"], parameters=spec["parameters"],
                          override_values=spec["override_values"], run_dir=Path(spec["run_dir"]),
                          notebooks=[Path(p) for p in spec["notebooks"]], command=spec["command"])
    except ProbedriftError as error:  # as the command line reports it (probedrift.run.cli.main)
        print(f"probedrift: error: {error}", file=sys.stderr)
        return 2


def _execute(profile: str, *, parameters: dict, override_values: dict, run_dir: Path,
             staging: Path, notebooks: list[Path]) -> int:
    import papermill as pm  # only running notebooks needs it
    from nbformat.validator import MissingIDFieldWarning  # only running notebooks needs it
    from papermill.exceptions import PapermillExecutionError  # only running notebooks needs it

    nb_parameters = {"profile": profile,
                     "overrides": override_values, "results_dir": str(staging)}
    root = repo_root()
    state = {"state": "running", "profile": parameters["profile"], "pid": os.getpid(),
             "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "target": str(run_dir)}
    rundir.write_state(staging, state)
    kept = (f"the previous run in {run_dir} is unchanged" if (run_dir / "run.json").is_file()
            else f"nothing was written to {run_dir}")
    timings = {}
    t_run = time.perf_counter()
    print(f"[probedrift run] {parameters['profile']}: {len(notebooks)} notebooks into {staging}", flush=True)
    nb_path = notebooks[0] if notebooks else Path("-")
    try:  # a stop between two chapters (or while one is finalised) is a stop too, not a traceback
        with ChapterKernel(root, KERNEL) as kernel:  # one kernel, reset before each chapter (probedrift.run.kernel)
            for nb_path in notebooks:
                out = staging / "notebooks" / nb_path.name
                t0 = time.perf_counter()
                try:
                    kernel.start_chapter(nb_path.name)
                    with warnings.catch_warnings():
                        # The study's notebooks carry no cell ids (nbformat 4.4 files); nbformat warns on every read
                        # that it will require them, which says nothing about this run.
                        warnings.simplefilter("ignore", MissingIDFieldWarning)
                        pm.execute_notebook(
                            str(nb_path), str(out), parameters=nb_parameters, kernel_name=KERNEL, cwd=str(root),
                            progress_bar=False, request_save_on_cell_execute=True,
                            # Progress bars and warnings go to this terminal; finalize_notebook drops them from the
                            # notebook.
                            stderr_file=sys.stderr, km=kernel.manager,
                        )
                except PapermillExecutionError as exc:
                    if exc.ename == "KeyboardInterrupt":  # Ctrl-C reached the kernel first
                        return _stopped(state, staging, nb_path, signal.SIGINT, kept)
                    state.update(state="failed", notebook=nb_path.name, cell=exc.exec_count, cell_index=exc.cell_index,
                                 error=f"{exc.ename}: {exc.evalue}", partial_notebook=str(out))
                    rundir.write_state(staging, state)
                    print(
                        f"probedrift run: notebook {nb_path.name} failed at cell {exc.exec_count} "
                        f"({exc.ename}: {exc.evalue}).\n  The partial executed notebook is kept at {out} "
                        f"for debugging; {kept}.",
                        file=sys.stderr,
                    )
                    return 1
                except (KeyboardInterrupt, RunStopped) as exc:
                    return _stopped(state, staging, nb_path, getattr(exc, "signum", signal.SIGINT), kept)
                timings[nb_path.name] = round(time.perf_counter() - t0, 2)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", MissingIDFieldWarning)  # as above
                    finalize_notebook(out, run_dir, staging)
                print(f"[probedrift run] {nb_path.name:<28} {timings[nb_path.name]:7.1f} s", flush=True)
    except (KeyboardInterrupt, RunStopped) as exc:
        return _stopped(state, staging, nb_path, getattr(exc, "signum", signal.SIGINT), kept)
    provenance = {
        "profile": parameters["profile"],
        "parameters": parameters,
        "overrides": override_values,
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "git": git_commit(),
        "device": device_description(parameters["device"]),
        "timings_seconds": {**timings, "total": round(time.perf_counter() - t_run, 2)},
        "cache_keys": rundir.read_json(staging / "cache_keys.json"),
        "forward_passes": rundir.read_json(staging / "forward_passes.json"),
        "stage_seconds": rundir.read_json(staging / "stage_seconds.json"),
    }
    paths = machine_paths(run_dir, staging)
    provenance = json.loads(portable(json.dumps(provenance), paths))
    rundir.write_json(staging / "provenance.json", provenance)
    for table in [*staging.glob("*.json"), *(staging / "metrics").glob("*.csv")]:
        text = table.read_text()
        if portable(text, paths) != text:  # e.g. checkpoint paths in the cache keys
            table.write_text(portable(text, paths))
    state.update(state="complete", finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                 seconds=provenance["timings_seconds"]["total"])
    del state["pid"], state["target"]
    rundir.write_state(staging, state)
    rundir.promote(staging, run_dir)
    print(f"[probedrift run] {parameters['profile']} complete in {state['seconds']:.0f} s -> {run_dir}")
    return 0


def _stopped(state: dict, staging: Path, nb_path: Path, signum: int, kept: str) -> int:
    """Record a run stopped by a signal in its staging directory, say so, and return 128 + signal."""
    name = signal.Signals(signum).name
    state.update(state="interrupted", notebook=nb_path.name, signal=name)
    rundir.write_state(staging, state)
    print(f"probedrift run: stopped by {name} during {nb_path.name}; {kept}.\n"
          f"  Partial outputs are in {staging} (the next run replaces them).", file=sys.stderr, flush=True)
    return 128 + int(signum)


def require_complete(run_dir: Path) -> dict:
    """The run's state, or a clear error if the run is missing, running, interrupted or failed."""
    run_dir = Path(run_dir)
    state = run_state(run_dir)
    if state.get("state") == "complete":
        return state
    what = state.get("state", "missing")
    extra = f" (notebook {state.get('notebook')}, cell {state.get('cell')})" if what == "failed" else ""
    fix = f"run `probedrift run --profile {run_dir.name}` to completion first"
    staging = rundir.staging_dir(run_dir)
    staged = rundir.effective_state(staging, run_dir)
    if what == "missing" and staged:
        extra = f"; the last run into it is {staged['state']}, with partial outputs in {str(staging)!r}"
        what = "missing"
        if staged["state"] == "running":
            fix = "wait for that run to complete"
    if what == "interrupted" or staged.get("state") == "interrupted":
        fix = f"the process that wrote it is gone: rerun `probedrift run --profile {run_dir.name}`"
    raise ProbedriftError(f"the run in {str(run_dir)!r} is {what}{extra}, so its outputs cannot be trusted", fix)


def store_check_outputs(run_dir: str | Path) -> list[str]:
    """Copy the outputs of ``# NBVAL_CHECK_OUTPUT`` cells from a run's executed notebooks into
    ``notebooks/``, so nbval compares future executions against them. Returns the notebooks changed.

    Use after deliberately changing a checked cell: ``probedrift run --profile smoke`` first.
    """
    import nbformat  # only running notebooks needs it

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


if __name__ == "__main__":
    sys.exit(main())
