"""No run is ever lost: staging, atomic replacement, the lock, interrupted states and early checks.

The reruns here are real ``probedrift run`` processes on the smoke profile (embeddings warm from the
session's smoke run), stopped the way a terminal or a scheduler stops them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.run import book, rundir, runner

pytestmark = pytest.mark.slow


def _snapshot(directory: Path) -> dict[str, str]:
    """sha256 of every file under ``directory``, by relative path."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "probedrift.run.cli", *args]


def _as_a_terminal_job() -> None:
    # A foreground job of an interactive shell gets Ctrl-C; a background job of a script (CI, `make test &`)
    # inherits SIGINT ignored. The job under test is a terminal's, so SIGINT gets its default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_run(results: Path, cache: Path | None = None) -> subprocess.Popen:
    """``probedrift run --profile smoke`` in a new process group, as a shell job is; its stderr (progress
    bars, warnings) goes to a file so that a full pipe never blocks it (``proc.stderr_text()`` reads it).
    ``cache``: the embedding cache it runs on (the smoke run's, so its embeddings are warm)."""
    results.mkdir(parents=True, exist_ok=True)
    err = open(results.parent / f"stderr-{time.monotonic_ns()}.txt", "w+")
    env = {**os.environ, **({"PROBEDRIFT_CACHE_DIR": str(cache)} if cache else {})}
    proc = subprocess.Popen(_cli("run", "--profile", "smoke", "--results", str(results)), stdout=subprocess.PIPE,
                            stderr=err, text=True, start_new_session=True, preexec_fn=_as_a_terminal_job, env=env)
    proc.stderr_text = lambda: (err.seek(0), err.read())[1]
    return proc


def _wait_for_line(proc: subprocess.Popen, text: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no {text!r} within {timeout} s"
    raise AssertionError(f"the run ended before printing {text!r}: {proc.wait()} {proc.stderr_text()[-2000:]}")


@pytest.fixture
def previous_run(smoke_run, tmp_path):
    """A copy of the session's complete smoke run as ``<tmp>/results/smoke`` (the run a rerun must keep)."""
    results = tmp_path / "results"
    shutil.copytree(smoke_run, results / "smoke")
    return results / "smoke"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_rerun_stopped_by_a_signal_leaves_the_previous_run_byte_identical(previous_run, sig, tmp_path, smoke_cache):
    before = _snapshot(previous_run)
    proc = _start_run(previous_run.parent, cache=smoke_cache)
    try:
        _wait_for_line(proc, "02_probes.ipynb")  # chapters 1 and 2 done: the new run has written tables
        staging = rundir.staging_dir(previous_run)
        assert (staging / "metrics" / "probe_baseline.csv").is_file() and (staging / "figures").is_dir()
        assert rundir.read_state(staging)["state"] == "running"
        if sig == signal.SIGTERM:  # meanwhile, a second run into the same directory is refused
            second = subprocess.run(_cli("run", "--profile", "smoke", "--results", str(previous_run.parent)),
                                    capture_output=True, text=True, timeout=120)
            assert second.returncode == 2 and "Traceback" not in second.stderr
            first_line = second.stderr.splitlines()[0]
            assert first_line.startswith("probedrift: error: another run into") and f"pid {proc.pid}" in first_line
        os.killpg(proc.pid, sig)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    stderr = proc.stderr_text()
    assert rc == 128 + sig, stderr[-2000:]
    assert f"stopped by {sig.name}" in stderr and f"Partial outputs are in {staging}" in stderr
    assert _snapshot(previous_run) == before
    assert runner.require_complete(previous_run)["state"] == "complete"
    assert rundir.effective_state(staging, previous_run)["state"] == "interrupted"
    if sig == signal.SIGTERM:  # the book builds from the kept run, through the command line
        out = tmp_path / "book"
        res = subprocess.run(_cli("book", "--profile", "smoke", "--results", str(previous_run.parent),
                                  "--out", str(out)), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
        assert (out / "_build" / "html" / "index.html").is_file()
    else:
        book.stage("smoke", results_root=str(previous_run.parent), out_root=tmp_path / "book")


def test_a_run_killed_outright_is_reported_interrupted_with_the_fix(tmp_path):
    results = tmp_path / "results"
    proc = _start_run(results)
    try:
        _wait_for_line(proc, "notebooks into")  # the run has started its staging directory
        time.sleep(2)
        # Checked, the run goes on in a lean process (the same pid): none of the study's heavy libraries is
        # loaded in the process that drives the kernels, which is what keeps the binder profile under 2 GB.
        assert "probedrift.run.execute" in Path(f"/proc/{proc.pid}/cmdline").read_text()
        loaded = Path(f"/proc/{proc.pid}/maps").read_text()
        assert not [lib for lib in ("libtorch", "/sklearn/", "/scipy/", "/pandas/")  # their compiled modules
                    if lib in loaded]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # no handler runs: run.json still says "running"
        proc.wait(timeout=60)
    staging = rundir.staging_dir(results / "smoke")
    assert rundir.read_state(staging)["state"] == "running"
    assert not (results / "smoke").exists()
    res = subprocess.run(_cli("book", "--profile", "smoke", "--results", str(results)), capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert "is interrupted" in res.stderr and "the process that wrote it is gone" in res.stderr
    assert str(staging) in res.stderr


def test_a_legacy_running_state_without_a_process_reads_interrupted(tmp_path):
    run_dir = tmp_path / "smoke"
    run_dir.mkdir()
    rundir.write_state(run_dir, {"state": "running", "profile": "smoke", "pid": 2 ** 22 + 7})
    assert runner.run_state(run_dir)["state"] == "interrupted"
    with pytest.raises(ProbedriftError, match="interrupted.*\n.*fix: the process that wrote it is gone"):
        runner.require_complete(run_dir)
    with rundir.run_lock(run_dir):  # a live holder keeps "running"
        assert runner.run_state(run_dir)["state"] == "running"


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("profile = 'smoke'\noverrides = {}\nresults_dir = None",
                                  metadata={"tags": ["parameters"]}),
        *[nbformat.v4.new_code_cell(c) for c in cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_failed_rerun_keeps_the_previous_run_and_a_complete_one_replaces_it(tmp_path, capsys):
    write = "from pathlib import Path\n(Path(results_dir) / 'metrics').mkdir()\n" \
            "(Path(results_dir) / 'metrics' / 't.csv').write_text('{}\\n')"
    results = tmp_path / "results"
    run_dir = results / "smoke"
    good = _notebook(tmp_path / "01_good.ipynb", write.format("a"))
    assert runner.run_profile("smoke", results_root=str(results), notebooks=[good]) == 0
    assert (run_dir / "metrics" / "t.csv").read_text() == "a\n"
    assert not rundir.staging_dir(run_dir).exists()
    before = _snapshot(run_dir)
    bad = _notebook(tmp_path / "01_bad.ipynb", write.format("b"), "raise RuntimeError('boom')")
    assert runner.run_profile("smoke", results_root=str(results), notebooks=[bad]) == 1
    assert _snapshot(run_dir) == before  # the failed rerun's half-written table never reached the run
    staged = rundir.staging_dir(run_dir)
    assert (staged / "metrics" / "t.csv").read_text() == "b\n"
    assert runner.require_complete(run_dir)["state"] == "complete"
    again = _notebook(tmp_path / "01_again.ipynb", write.format("c"))
    capsys.readouterr()
    assert runner.run_profile("smoke", results_root=str(results), notebooks=[again]) == 0
    assert "discarding the partial outputs of an earlier failed run (started " in capsys.readouterr().out
    assert (run_dir / "metrics" / "t.csv").read_text() == "c\n"
    assert sorted(p.name for p in results.iterdir()) == [".smoke.lock", "smoke"]  # no staging, no previous


def test_a_replacement_cut_between_its_two_renames_is_undone(tmp_path):
    run_dir = tmp_path / "smoke"
    previous = tmp_path / ".smoke.previous"
    previous.mkdir()
    (previous / "run.json").write_text('{"state": "complete"}')
    assert "restored" in rundir.recover(run_dir)
    assert runner.run_state(run_dir) == {"state": "complete"} and not previous.exists()


def test_promote_swaps_atomically_and_deletes_the_old_run_only_after(tmp_path):
    run_dir, staging = tmp_path / "smoke", tmp_path / ".smoke.partial"
    for d, text in ((run_dir, "old"), (staging, "new")):
        (d / "metrics").mkdir(parents=True)
        (d / "metrics" / "t.csv").write_text(text)
    rundir.promote(staging, run_dir)
    assert (run_dir / "metrics" / "t.csv").read_text() == "new" and not staging.exists()


def test_too_many_texts_per_class_exits_2_before_any_results_directory_is_touched(tmp_path):
    data = tmp_path / "mine.csv"
    rows = [f"a text number {i} about item {i % 7},{i % 2}" for i in range(30)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    results = tmp_path / "results"
    res = subprocess.run(_cli("run", "--profile", "smoke", "--results", str(results), "--set", f"dataset={data}",
                              "--set", "n_per_class=40"), capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
    assert res.stderr.startswith("probedrift: error:") and "15" in res.stderr.splitlines()[0]
    assert not results.exists()


def test_an_unwritable_results_root_exits_2_before_anything_is_written(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    res = subprocess.run(_cli("run", "--profile", "smoke", "--results", str(blocker / "results")),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "is a file" in res.stderr.splitlines()[0]
    assert blocker.read_text() == "not a directory"


def test_a_damaged_converted_model_is_detected_on_load_and_reconverted(tmp_path, monkeypatch):
    from probedrift.inputs import models

    name = "smollm2-135m-instruct"
    shared = models.converted_dir(name)
    cache = tmp_path / "cache"
    (cache / "models").mkdir(parents=True)
    shutil.copytree(shared, cache / "models" / shared.name)
    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(cache))
    local = models.converted_dir(name)
    assert local == cache / "models" / shared.name
    manifest = json.loads((local / models.CONVERSION_MANIFEST).read_text())
    weights = local / "model.safetensors"
    with open(weights, "r+b") as f:  # flip bytes in the middle of the weights, keeping the size
        f.seek(weights.stat().st_size // 2)
        block = f.read(64)
        f.seek(-64, os.SEEK_CUR)
        f.write(bytes(b ^ 0xFF for b in block))
    with pytest.warns(UserWarning, match="model.safetensors no longer match"):
        again = models.converted_dir(name)
    assert again == local
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == manifest["model.safetensors"]["sha256"]
    import warnings  # a second load of the repaired model is quiet

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        models.converted_dir(name)


def _markdown_outputs(notebook: Path) -> str:
    nb = nbformat.read(notebook, as_version=4)
    return "\n".join(o.get("data", {}).get("text/markdown", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []))


#: Sizes that leave every code path of the smoke profile in place and make its reruns cheaper.
CHEAPER = ["drift_types=[gaussian, rotation]", "crossfit_seeds=[0]", "false_alarm_runs=10", "detector_permutations=20",
           "n_boot=20", "crossfit_boot=20", "cliff_points=8", "detector_sample_size=30"]

EMPTY_INPUTS = {
    "no-real-drift-sources": ("real_drift_sources=[]", "06_real_drift.ipynb",
                              "This chapter has nothing to measure in this run:** no real drift source was asked for"),
    "no-pairs": ("pairs=[]", "05_separability.ipynb",
                 "No base/instruct comparison in this run:** no base/instruct pair was given"),
    "no-monitors": ("detectors=[]", "04_silent_failures.ipynb",
                    "No drift monitor was asked for in this run (`detectors` is empty)"),
    "confidence-monitor-only": ("detectors=[confidence]", "04_silent_failures.ipynb",
                                "Only the confidence monitor runs in this run"),
    "single-model": ("models=[gemma-3-270m]", "05_separability.ipynb",
                     "No base/instruct comparison in this run:** no pair of the profile has both of its models in "
                     "this run"),
}

#: The emptied inputs share runs where they are independent: each run empties one input of chapter 4
#: (the monitors) and one of chapter 5 (the pairs or the models), and chapter 6 still runs its sources
#: with that run's monitors and without its model swap. Emptying the real drift sources would leave
#: chapter 6 nothing to run the other emptied inputs through, so it gets a run of its own.
EMPTY_INPUT_RUNS = {
    "no-monitors-no-pairs": ("no-monitors", "no-pairs"),
    "confidence-only-single-model": ("confidence-monitor-only", "single-model"),
    "no-real-drift-sources": ("no-real-drift-sources",),
}
RUN_OF_CASE = {case: run for run, cases in EMPTY_INPUT_RUNS.items() for case in cases}


@pytest.fixture(scope="module")
def empty_input_runs(smoke_run, smoke_cache, tmp_path_factory):
    """The whole smoke profile once per run of :data:`EMPTY_INPUT_RUNS`, two at a time, on the smoke run's
    warm embedding cache: run name -> (rc, log, run directory)."""
    from concurrent.futures import ThreadPoolExecutor

    def run(name: str):
        root = tmp_path_factory.mktemp(name)
        args = ["run", "--profile", "smoke", "--results", str(root)]
        for item in [*(EMPTY_INPUTS[case][0] for case in EMPTY_INPUT_RUNS[name]), *CHEAPER]:
            args += ["--set", item]
        res = subprocess.run(_cli(*args), capture_output=True, text=True, timeout=1200,
                             env={**os.environ, "PROBEDRIFT_CACHE_DIR": str(smoke_cache)})
        return name, (res.returncode, res.stdout[-3000:] + res.stderr[-3000:], root / "smoke")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(run, EMPTY_INPUT_RUNS))


def test_every_emptied_input_has_a_run():
    assert sorted(RUN_OF_CASE) == sorted(EMPTY_INPUTS)
    chapters = [{EMPTY_INPUTS[case][1] for case in cases} for cases in EMPTY_INPUT_RUNS.values()]
    assert all(len(c) == len(cases) for c, cases in zip(chapters, EMPTY_INPUT_RUNS.values()))


@pytest.mark.xdist_group("run-safety-empty-inputs")  # apart from this file's other reruns, on the other worker
@pytest.mark.parametrize("case", list(EMPTY_INPUTS))
def test_the_smoke_profile_completes_on_empty_inputs_and_says_what_it_skipped(empty_input_runs, case, tmp_path):
    _, chapter, words = EMPTY_INPUTS[case]
    rc, log, run_dir = empty_input_runs[RUN_OF_CASE[case]]
    assert rc == 0, log
    assert runner.run_state(run_dir)["state"] == "complete"
    assert {p.name for p in (run_dir / "notebooks").glob("*.ipynb")} == {p.name for p in runner.notebook_paths()}
    assert words in _markdown_outputs(run_dir / "notebooks" / chapter)
    src = book.stage("smoke", results_root=str(run_dir.parent), out_root=tmp_path)  # the book's generated pages
    assert (src / "generated" / "key_findings.md").read_text().strip()
