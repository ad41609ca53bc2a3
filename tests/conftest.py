"""Shared fixtures. Tests run offline: models and data come from installed packages or tmp files."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# One thread per process: a test session runs two workers and the smoke run beside them on a 2-core machine,
# and the small matrices of the tests gain nothing from a second thread. Three smoke runs at once took
# 258 s with the libraries' default two threads each and 160 s with one (163 and 98 CPU-seconds each).
# Read by torch, OpenBLAS and MKL when they load, so set before anything imports them; inherited by the
# CLI runs and notebook kernels the tests start. An explicit setting in the environment wins.
# The session's smoke run is no exception: with its default two threads beside the one-thread workers it
# took 409 s instead of 295 s to be ready, and every test that needs it waits for it.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

import pytest  # noqa: E402

try:  # pytest >= 9: a node's id is a NodeId object (see pytest_collection_modifyitems)
    from _pytest.nodeid import coerce_node_id
except ImportError:  # pragma: no cover - older pytest, where pytest-xdist tags groups itself
    coerce_node_id = None


@pytest.fixture(scope="session")
def gemma():
    """The embedded base model, loaded once per test session (converted to safetensors on first use)."""
    from probedrift.inputs import models

    return models.load("gemma-3-270m", device="cpu")


@pytest.fixture(scope="session")
def smollm():
    """The embedded instruct model, loaded once per test session."""
    from probedrift.inputs import models

    return models.load("smollm2-135m-instruct", device="cpu")


@pytest.fixture
def isolated_embedding_cache(tmp_path, monkeypatch):
    """An empty embedding cache for one test; converted models stay in the shared cache.

    The model conversions are reused through a symlink so a test does not pay them again.
    """
    from probedrift.core.cache import cache_root

    shared_models = cache_root() / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "cache"
    root.mkdir()
    (root / "models").symlink_to(shared_models, target_is_directory=True)
    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(root))
    return root


def shared_once(tmp_path_factory, name: str, make) -> tuple[Path, dict]:
    """``make(directory)`` once per test session, even under pytest-xdist: the first worker to ask makes
    it under a file lock in the temporary root all workers share, the others wait and read its outcome.

    ``make`` returns a JSON-able outcome (e.g. ``{"rc": 0, "log": ...}``); returns (directory, outcome).
    This is the pattern pytest-xdist documents for session fixtures that must run once.
    """
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the root shared by every worker of this session
    target, record = base / name, base / f"{name}.outcome.json"
    with open(base / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not record.is_file():
                target.mkdir(parents=True, exist_ok=True)
                record.write_text(json.dumps(make(target)))
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return target, json.loads(record.read_text())


#: A marker token: tests check that it never reaches any output of the smoke run.
os.environ["PROBEDRIFT_TEST_TOKEN_VALUE"] = "hf_probedriftMarkerToken0123456789"


def _smoke_run_command(target: Path) -> tuple[list[str], dict]:
    """The session's smoke run: command and environment. A cold embedding cache, so the run's provenance
    counts every forward pass a whole smoke run makes; converted models and fine-tuned checkpoints are
    deterministic and come from the shared cache."""
    from probedrift.core.cache import cache_root

    cache = target / "cache"
    cache.mkdir(exist_ok=True)
    for shared in ("models", "finetune"):
        (cache_root() / shared).mkdir(parents=True, exist_ok=True)
        if not (cache / shared).is_symlink():
            (cache / shared).symlink_to(cache_root() / shared, target_is_directory=True)
    env = {**os.environ, "HF_TOKEN": os.environ["PROBEDRIFT_TEST_TOKEN_VALUE"], "PROBEDRIFT_CACHE_DIR": str(cache)}
    return ([sys.executable, "-m", "probedrift.run.cli", "run", "--profile", "smoke", "--results",
             str(target / "results")], env)


def _make_smoke_run(target: Path) -> dict:
    command, env = _smoke_run_command(target)
    res = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
    return {"rc": res.returncode, "log": res.stdout[-3000:] + res.stderr[-3000:]}


#: Runs in a child of the pytest-xdist controller: holds the inherited lock while the smoke run runs, then
#: writes the outcome record that :func:`shared_once` reads (the lock goes with the process).
_SMOKE_IN_BACKGROUND = """
import json, subprocess, sys
command, env, record = json.loads(sys.argv[1])
res = subprocess.run(command, capture_output=True, text=True, timeout=1800, env=env)
with open(record, "w") as handle:
    json.dump({"rc": res.returncode, "log": res.stdout[-3000:] + res.stderr[-3000:]}, handle)
"""


def _start_smoke_run_in_background(config) -> None:
    """Under pytest-xdist, the controller starts the session's smoke run before any worker asks for it, in
    a process of its own: the workers run the tests that need no smoke run meanwhile (they are ordered
    first, see :func:`pytest_collection_modifyitems`) instead of both waiting on one worker's build.
    The controller takes :func:`shared_once`'s lock and hands it to that process, so a worker that asks
    for the run waits for it exactly as it waits for a run another worker makes."""
    base = config._tmp_path_factory.getbasetemp()  # the workers' shared root (their basetemps live in it)
    target, record = base / "smoke-run", base / "smoke-run.outcome.json"
    target.mkdir(parents=True, exist_ok=True)
    handle = open(base / "smoke-run.lock", "w")
    fcntl.flock(handle, fcntl.LOCK_EX)
    command, env = _smoke_run_command(target)
    config._probedrift_smoke_run = subprocess.Popen(
        [sys.executable, "-c", _SMOKE_IN_BACKGROUND, json.dumps([command, env, str(record)])],
        pass_fds=[handle.fileno()], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    handle.close()  # the child holds the lock now; it is released when the child exits


@pytest.fixture(scope="session")
def smoke_run_once(tmp_path_factory) -> Path:
    """The directory of the session's one smoke run (``results/smoke`` and its embedding ``cache``)."""
    where, outcome = shared_once(tmp_path_factory, "smoke-run", _make_smoke_run)
    assert outcome["rc"] == 0, outcome["log"]
    return where


@pytest.fixture(scope="session")
def smoke_run(smoke_run_once) -> Path:
    """``probedrift run --profile smoke`` into a temporary results root, made once per test session
    (shared by every xdist worker); returns the run directory. Tests only read it."""
    return smoke_run_once / "results" / "smoke"


@pytest.fixture(scope="session")
def smoke_cache(smoke_run_once) -> Path:
    """The embedding cache the smoke run filled: reruns of the smoke profile find their embeddings warm."""
    return smoke_run_once / "cache"


#: Niceness of the pytest-xdist workers (see :func:`pytest_configure`).
WORKER_NICENESS = 10

SMOKE_FIXTURES = {"smoke_run", "smoke_cache", "smoke_run_once"}


def _needs_the_smoke_run(item) -> bool:
    return item.path.suffix == ".ipynb" or bool(SMOKE_FIXTURES & set(getattr(item, "fixturenames", ())))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Groups for ``pytest -n 2 --dist loadgroup``: a test file's tests stay together (its module fixtures
    are made once), and the notebooks run one after another on one worker, since each chapter reads and
    writes the tables of the same smoke results directory. The tests that need the session's smoke run
    (and the notebooks, which run on its cache) go last, so the workers are busy with the others while it
    runs. Lateness is decided per test, not per file: a file's tests that need no smoke run form a group of
    their own and run early (in a measured session about 90 s of test_runner.py, test_run_safety.py and
    test_reliability.py waited for the smoke run without needing it). No module fixture is shared between
    a file's early and late tests (a test checks), so none is made twice."""
    late = {item for item in items if _needs_the_smoke_run(item)}
    # A stable sort: the order within each part is kept, except that among the late tests one placed in a
    # group of its own (the longest reruns) goes first, so it starts as soon as the smoke run is there, and
    # the notebooks (about a minute, one after another on one worker) next, so they never end the session.
    def late_rank(item) -> int:
        if item.get_closest_marker("xdist_group") is not None:
            return 0
        return 1 if item.path.suffix == ".ipynb" else 2

    items.sort(key=lambda item: (item in late, late_rank(item) if item in late else 0))
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = ("notebooks" if item.path.suffix == ".ipynb"
                     else f"{item.path.name}:after-the-smoke-run" if item in late else item.path.name)
            item.add_marker(pytest.mark.xdist_group(group))
        if getattr(config.option, "loadgroup", False) and coerce_node_id is not None:
            # pytest-xdist 3.8 tags a grouped test by rewriting ``item._nodeid``, which pytest 9 no longer
            # reads (a node's id is ``item._id``), so its groups would be ignored: tag them here instead.
            names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                            for m in item.iter_markers("xdist_group")})
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


def _copy_the_smoke_tables(smoke_results: Path, target: Path) -> dict:
    shutil.copytree(smoke_results, target / smoke_results.name, dirs_exist_ok=True)
    return {"copied": str(smoke_results)}


class _NotebooksOnTheSmokeCache:
    """nbval's kernels (``pytest notebooks --nbval-lax``) start with the embedding cache of the session's
    smoke run, so they find the smoke profile's embeddings made once instead of extracting them again, and
    with a results folder of the session (``PROBEDRIFT_RESULTS_ROOT``) that holds a copy of that run's
    tables: every cell runs, and the catalogue loads the tables the smoke run computed from these very
    embeddings instead of computing them a second time (the smoke run's notebooks ran the same cells and
    computed them; nbval on its own took 52 s this way against 69 s computing them again). Never the tables
    of the repository's ``results/``, which an earlier session computed from another cache's embeddings.
    A plugin rather than a fixture: nbval's cells take no fixtures, and the notebooks lie outside tests/."""

    def __init__(self):
        self.saved = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if item.path.suffix != ".ipynb":
            return
        where, outcome = shared_once(item.config._tmp_path_factory, "smoke-run", _make_smoke_run)
        assert outcome["rc"] == 0, outcome["log"]
        results, _ = shared_once(item.config._tmp_path_factory, "nbval-results", functools.partial(
            _copy_the_smoke_tables, where / "results" / "smoke"))
        session = {"PROBEDRIFT_CACHE_DIR": where / "cache", "PROBEDRIFT_RESULTS_ROOT": results}
        for name, value in session.items():  # the kernel inherits them when it starts
            self.saved[name] = os.environ.get(name)
            os.environ[name] = str(value)

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item):
        if item.path.suffix == ".ipynb":
            for name, value in self.saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def pytest_configure(config):
    config.pluginmanager.register(_NotebooksOnTheSmokeCache(), "probedrift-notebooks-on-the-smoke-cache")
    # pytest-xdist's loadgroup hands out the groups with the most tests first by default, which sent the
    # notebooks (a test per cell) and test_runner.py to the workers at once, to wait idle for the smoke run
    # (about 440 worker-seconds in a measured session); hand them out in collection order instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # The workers (and the runs and kernels they start) yield the CPU to the session's smoke run, which
        # the controller starts at normal priority: every test that needs it waits for it, while the
        # workers' own tests can wait. Once it has finished, every process left has the same priority.
        os.nice(WORKER_NICENESS)


def pytest_sessionstart(session):
    """The controller of a parallel session over whole folders (``make test``) starts the smoke run early."""
    config = session.config
    is_controller = getattr(config.option, "numprocesses", None) and not os.environ.get("PYTEST_XDIST_WORKER")
    whole_folders = any(Path(arg.split("::")[0]).is_dir() for arg in config.args)
    if is_controller and whole_folders and not getattr(config.option, "collectonly", False):
        _start_smoke_run_in_background(config)


def pytest_sessionfinish(session):
    """A session that ends before its smoke run (``-x``, Ctrl-C) stops it rather than leaving it behind."""
    proc = getattr(session.config, "_probedrift_smoke_run", None)
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
