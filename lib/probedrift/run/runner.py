"""``probedrift run``: check a profile, then execute its notebooks (:mod:`probedrift.run.execute`).

``probedrift run --profile P`` runs ``notebooks/0*.ipynb`` in order. Every check that can be made
before a notebook runs (parameters, dataset size per class after cleaning, models readable, results
root writable) is made here, before anything is written. The run then writes into a staging directory
``results/.P.partial/`` under a lock (:mod:`probedrift.run.rundir`), with its state in ``run.json``:
``running`` while it executes, then ``failed`` (with the notebook and cell) or ``interrupted``. Only
a run that completes replaces ``results/P/``, atomically, so an earlier complete run is never lost
to a failed, stopped or concurrent rerun; the expensive embeddings live in the content-addressed
cache either way. The book refuses to build from a run that is not ``complete``.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from pathlib import Path

from probedrift.core.errors import ProbedriftError
from probedrift.inputs import model_facts
from probedrift.run import rundir
from probedrift.run.execute import (  # noqa: F401  (re-exported: the run's public helpers)
    KERNEL,
    PROGRESS_DELAY_S,
    RunStopped,
    device_description,
    exec_run,
    finalize_notebook,
    git_commit,
    machine_paths,
    notebook_paths,
    package_versions,
    portable,
    require_complete,
    run_locked,
    run_state,
    store_check_outputs,
)
from probedrift.run.params import StudyParams, load_params, parse_overrides, profile_path, repo_root
from probedrift.run.study import Study


def preflight(params: StudyParams) -> None:
    """Every check that needs no run directory, made before anything is written: the results root is
    writable, the dataset yields ``n_per_class`` texts per class after cleaning, and each model's
    configuration and tokenizer can be read (converting an embedded model on first use)."""
    rundir.check_writable(params.run_dir)
    _ = Study(params).dataset  # raises the data layer's clear errors (too few texts per class, bad file, ...)
    names = list(dict.fromkeys([*params.models, *([params.finetune_base] if params.finetune_base else [])]))
    # Reading a configuration and tokenizer imports transformers and torch (about 0.3 GB resident); asked of a
    # child process, so the runner stays small for the whole run (the binder profile has 2 GB in all).
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        problem = pool.submit(_model_problem, names).result()
    if problem is not None:
        raise ProbedriftError(*problem)


def _model_problem(names: list[str]) -> tuple[str, str | None] | None:
    """The first model of ``names`` whose configuration or tokenizer cannot be read, as (problem, fix)."""
    try:
        for name in names:
            model_facts.check_readable(name)  # reads the configuration and tokenizer, no weights
    except ProbedriftError as error:
        return error.problem, error.fix
    return None


def run_profile(
    profile: str,
    overrides: list[str] | None = None,
    device: str | None = None,
    results_root: str = "results",
    notebooks: list[Path] | None = None,
    lean: bool = False,
) -> int:
    """Run every notebook for ``profile``; 0 on success, 1 (naming notebook and cell) on failure.

    The run is written to a staging directory and replaces ``results_root/<profile>`` only when it
    completes; a failed or stopped run leaves the previous run as it was and says where its partial
    outputs are. A second run into the same directory while one is running is refused.

    ``lean`` (the command line) replaces this process, once the checks have passed, by one that imports
    only what executing notebooks needs (:func:`probedrift.run.execute.exec_run`); it then never returns.
    """
    # Parse and check every parameter first: bad input must fail before anything is written.
    override_values = parse_overrides(overrides)
    if device is not None:
        override_values["device"] = device
    params = load_params(profile, override_values)
    run_dir = Path(results_root) / params.profile
    if not run_dir.is_absolute():
        run_dir = repo_root() / run_dir
    params = params.replace(results_dir=str(run_dir))
    # A quiet terminal: tqdm draws a bar only once a step has run PROGRESS_DELAY_S seconds, so the
    # long steps (extraction, fine-tuning) show progress and the many short ones print nothing. The
    # preflight's model conversion and the kernels inherit it (tqdm reads TQDM_* variables as defaults).
    os.environ.setdefault("TQDM_DELAY", str(PROGRESS_DELAY_S))
    if rundir.lock_holder(run_dir) is None:  # the lock is taken below; refuse a live run before the checks
        preflight(params)
    # The notebooks receive a profile by name, or a profile file by its absolute path.
    named = Path(profile).suffix not in {".yaml", ".yml"}
    run = dict(parameters=params.to_dict(), override_values=override_values, run_dir=run_dir,
               notebooks=notebooks or notebook_paths())
    if lean:
        exec_run(profile if named else str(profile_path(profile).resolve()), **run)
    return run_locked(profile if named else str(profile_path(profile).resolve()), **run)


