"""A results directory that is never lost: a lock, a staging directory, and an atomic replacement.

``probedrift run`` writes a run of profile ``P`` into ``results/.P.partial/`` beside its target
``results/P/``, holding ``results/.P.lock`` for as long as it runs. Only when every notebook has
completed does the staging directory replace the target, in one atomic exchange of the two
directory entries (``renameat2(RENAME_EXCHANGE)`` on Linux; elsewhere two renames, undone on the
next start when a crash fell between them). Until then the previous run stays complete and readable,
whatever happens to the new one: an exception, Ctrl-C, ``kill``, a power cut.

The lock is an advisory ``flock`` held on the lock file: the kernel drops it when its process dies,
however it dies, so a lock file whose lock can be taken belongs to a run that is gone. A staging
directory whose ``run.json`` says ``running`` while nobody holds the lock is reported as
*interrupted*, with the fix.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import json
import os
import shutil
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from probedrift.core.errors import ProbedriftError

try:  # POSIX; on other systems a run is unlocked (the staging directory still protects the target)
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

_RENAME_EXCHANGE = 2  # linux/fs.h


def repo_root() -> Path:
    """The repository root (the directory holding ``params/`` and ``notebooks/``), found from this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "params").is_dir() and (parent / "notebooks").is_dir():
            return parent
    return Path.cwd()


def staging_dir(run_dir: Path) -> Path:
    """Where a run into ``run_dir`` writes until it completes: ``.<name>.partial`` beside it."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.partial"


def lock_file(run_dir: Path) -> Path:
    """The lock file of ``run_dir``: ``.<name>.lock`` beside it."""
    run_dir = Path(run_dir)
    return run_dir.parent / f".{run_dir.name}.lock"


def _previous_dir(run_dir: Path) -> Path:
    return run_dir.parent / f".{run_dir.name}.previous"


def read_json(path: Path) -> dict:
    """A JSON object from ``path`` (``{}`` when the file is missing or unreadable)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def write_json(path: Path, obj: dict) -> None:
    """Write ``obj`` as JSON atomically (a reader never sees half a file)."""
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=str))
    os.replace(tmp, path)


def read_state(directory: Path) -> dict:
    """``run.json`` of a run directory (``{}`` when there is none or it is unreadable)."""
    return read_json(Path(directory) / "run.json")


def write_state(directory: Path, state: dict) -> None:
    """Write ``run.json`` atomically."""
    write_json(Path(directory) / "run.json", state)


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _try_flock(f) -> dict | None:
    """Take the exclusive lock on the open lock file ``f``; when another open file holds it, return
    what that holder wrote (pid, host, start, command) instead."""
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise
        f.seek(0)
        try:
            return json.loads(f.read() or "{}")
        except ValueError:
            return {}
    return None


def lock_holder(run_dir: Path) -> dict | None:
    """Who holds the lock of ``run_dir`` (pid, start, host, command), or None when nobody does."""
    path = lock_file(run_dir)
    if fcntl is None or not path.is_file():
        return None
    with open(path, "a+") as f:
        holder = _try_flock(f)
        if holder is None:
            fcntl.flock(f, fcntl.LOCK_UN)
    return holder


def effective_state(directory: Path, run_dir: Path | None = None) -> dict:
    """The recorded state of a run directory, with ``running`` corrected to ``interrupted`` when the
    run that wrote it is gone (nobody holds the lock of ``run_dir``, or its process has exited)."""
    state = read_state(directory)
    if state.get("state") == "running":
        if fcntl is not None:
            alive = lock_holder(run_dir if run_dir is not None else directory) is not None
        else:  # pragma: no cover
            alive = _pid_alive(state.get("pid"))
        if not alive:
            state = {**state, "state": "interrupted"}
    return state


@contextmanager
def run_lock(run_dir: Path, command: str = ""):
    """Hold the lock of ``run_dir`` for the body; a clear error when another live run holds it."""
    path = lock_file(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        holder = _try_flock(f) if fcntl is not None else None
        if holder is not None:
            raise ProbedriftError(
                f"another run into {str(run_dir)!r} is in progress (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, started {holder.get('started', '?')})",
                f"wait for it to finish, or stop it (kill {holder.get('pid', 'PID')}) and run again",
            )
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": command}))
        f.flush()
        yield path
    finally:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def recover(run_dir: Path) -> str | None:
    """Undo a replacement cut short between its two renames (systems without an atomic exchange):
    the previous run is put back when the target is missing. Returns a note when something was done."""
    run_dir = Path(run_dir)
    previous = _previous_dir(run_dir)
    if previous.is_dir() and not run_dir.exists():
        os.rename(previous, run_dir)
        return f"restored the previous run of {run_dir} (a replacement was cut short)"
    if previous.is_dir():
        shutil.rmtree(previous, ignore_errors=True)
    return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries atomically (Linux ``renameat2``); False where unsupported."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # the kernel or file system cannot exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(a))


def promote(staging: Path, run_dir: Path) -> None:
    """Make the completed ``staging`` directory the run in ``run_dir``, replacing the previous run in
    one atomic step; the previous run is deleted only after it has been replaced."""
    staging, run_dir = Path(staging), Path(run_dir)
    if not run_dir.exists():
        os.rename(staging, run_dir)
        return
    if _exchange(staging, run_dir):
        shutil.rmtree(staging)  # now holds the previous run
        return
    previous = _previous_dir(run_dir)
    shutil.rmtree(previous, ignore_errors=True)
    os.rename(run_dir, previous)
    os.rename(staging, run_dir)  # a crash between the two renames is undone by recover()
    shutil.rmtree(previous)


def check_writable(run_dir: Path) -> None:
    """A clear error, before anything is written, when ``run_dir``'s results root cannot be written."""
    root = Path(run_dir).parent
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ProbedriftError(f"the results root {str(root)!r} cannot be created: {str(probe)!r} is a file",
                              "pass another --results directory, or move that file away")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ProbedriftError(f"the results root {str(root)!r} is not writable (no write permission on {str(probe)!r})",
                              "pass a writable --results directory, or fix its permissions")
