"""Content-addressed on-disk cache for arrays (embeddings), with checksums and atomic writes.

An entry is a directory ``<root>/<key[:2]>/<key>/`` holding ``array.npy`` and ``manifest.json``. The
key is the SHA-256 of the canonical JSON of everything that determines the array (model identity,
texts fingerprint, layer, pooling, ...), so any change of those is a miss, never a stale hit. The
manifest stores the array's SHA-256: an entry whose bytes were flipped or cut is reported, deleted
and recomputed, never loaded. Entries are written to a temporary directory and renamed into place,
so a killed or failed write leaves nothing half-written.

Long extractions also keep *chunks* under ``<root>/partial/<job>/`` so a run killed mid-way resumes
from the chunks it completed (:class:`ChunkStore`).

This is the ground floor every cached input stands on: :func:`cache_root` (the one cache directory),
the atomic writers, and the content fingerprints (:func:`texts_fingerprint`) that name cached work.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from probedrift import __version__
from probedrift.core.errors import CacheError, ProbedriftError

MANIFEST = "manifest.json"
ARRAY = "array.npy"


def cache_root() -> Path:
    """The study's cache directory: ``$PROBEDRIFT_CACHE_DIR``, else ``~/.cache/probedrift`` (created if missing).

    A directory that cannot be created is a :class:`ProbedriftError` naming it and the variable.
    """
    default = Path.home() / ".cache" / "probedrift"
    return _usable_dir(str(Path(os.environ.get("PROBEDRIFT_CACHE_DIR", default)).expanduser()))


@functools.lru_cache(maxsize=8)
def _usable_dir(path: str) -> Path:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProbedriftError(
            f"the cache directory {path!r} cannot be created ({exc.strerror or exc})",
            "set PROBEDRIFT_CACHE_DIR to a writable directory (or unset it to use ~/.cache/probedrift)",
        ) from None
    return Path(path)


def texts_fingerprint(texts: list[str]) -> str:
    """SHA-256 of the texts in order (length-prefixed, so concatenations cannot collide)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def canonical_key(components: dict) -> str:
    """SHA-256 hex digest of the canonical (sorted, compact) JSON of ``components``."""
    blob = json.dumps(components, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """SHA-256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def _cache_write_error(path: Path, exc: OSError) -> CacheError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        problem = f"the cache directory {str(path)!r} is full ({exc.strerror})"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        problem = f"the cache directory {str(path)!r} is not writable ({exc.strerror})"
    else:
        problem = f"could not write to the cache directory {str(path)!r}: {exc}"
    return CacheError(problem, "free space or fix permissions, or point PROBEDRIFT_CACHE_DIR at a writable directory")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON through :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


def read_json(path: Path, default):
    """The JSON value stored at ``path``, or ``default`` when the file is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _load_verified(array_path: Path, expected_sha: str) -> np.ndarray | None:
    data = array_path.read_bytes()
    if sha256_bytes(data) != expected_sha:
        return None
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError:
        return None


class ArrayCache:
    """Content-addressed array store; see the module docstring for the layout and guarantees."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()

    def key(self, components: dict) -> str:
        """Cache key of ``components`` (the library version is always part of it)."""
        return canonical_key({**components, "probedrift_version": __version__})

    def path(self, key: str) -> Path:
        """The entry directory of ``key``."""
        return self.root / key[:2] / key

    def get(self, key: str) -> np.ndarray | None:
        """The stored array, or None on a miss. A corrupted entry is reported, removed and missed."""
        entry = self.path(key)
        manifest_path = entry / MANIFEST
        if not manifest_path.is_file():
            return None
        try:
            manifest = json.loads(manifest_path.read_text())
            array = _load_verified(entry / ARRAY, manifest["sha256"])
        except (OSError, ValueError, KeyError):
            array = None
        if array is None:
            warnings.warn(
                f"cache entry {key[:12]} at {entry} failed its checksum (corrupted or truncated); "
                "it was removed and will be recomputed",
                stacklevel=2,
            )
            shutil.rmtree(entry, ignore_errors=True)
        return array

    def manifest(self, key: str) -> dict | None:
        """The stored manifest of ``key`` (None on a miss or an unreadable manifest)."""
        try:
            return json.loads((self.path(key) / MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, array: np.ndarray, components: dict | None = None, **info) -> Path:
        """Store ``array`` under ``key`` atomically; returns the entry directory."""
        entry = self.path(key)
        data = _npy_bytes(array)
        manifest = {
            "key": key,
            "sha256": sha256_bytes(data),
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "components": components or {},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "probedrift_version": __version__,
            **info,
        }
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{key[:12]}.tmp-"))
        except OSError as exc:
            raise _cache_write_error(self.root, exc) from None
        try:
            (tmp / ARRAY).write_bytes(data)
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
            if entry.exists():  # replace a stale or concurrent entry
                shutil.rmtree(entry, ignore_errors=True)
            os.replace(tmp, entry)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise _cache_write_error(self.root, exc) from None
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return entry


class ChunkStore:
    """Completed chunks of one long computation, so that a killed run resumes where it stopped.

    Each chunk is ``chunk-XXXXX.npy`` plus ``chunk-XXXXX.sha256``; a chunk whose checksum fails is
    recomputed. :meth:`clear` removes the job once its result is in the :class:`ArrayCache`.
    """

    def __init__(self, root: str | os.PathLike, job_key: str):
        self.dir = Path(root).expanduser() / "partial" / job_key

    def _paths(self, index: int) -> tuple[Path, Path]:
        stem = self.dir / f"chunk-{index:05d}"
        return stem.with_suffix(".npy"), stem.with_suffix(".sha256")

    def get(self, index: int) -> np.ndarray | None:
        """Chunk ``index`` if it was completed and passes its checksum, else None."""
        array_path, sha_path = self._paths(index)
        if not (array_path.is_file() and sha_path.is_file()):
            return None
        try:
            return _load_verified(array_path, sha_path.read_text().strip())
        except OSError:
            return None

    def put(self, index: int, array: np.ndarray) -> None:
        """Store chunk ``index`` (array first, checksum last)."""
        array_path, sha_path = self._paths(index)
        data = _npy_bytes(array)
        try:
            # Array first, checksum last: a chunk counts as done only once its checksum exists.
            atomic_write_bytes(array_path, data)
            atomic_write_bytes(sha_path, sha256_bytes(data).encode())
        except OSError as exc:
            raise _cache_write_error(self.dir, exc) from None

    def completed(self) -> list[int]:
        """Indices of the chunks whose checksum was written."""
        if not self.dir.is_dir():
            return []
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("chunk-*.sha256"))

    def clear(self) -> None:
        """Remove the job's chunks."""
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------------------------------------
# Directory manifests: the sha256 of every file of a cached directory (a converted model), so a
# damaged file is found before it is loaded.
# ------------------------------------------------------------------------------------------------


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


_verified: dict[str, tuple] = {}  # directory -> the (size, mtime) of its files when last verified


def _file_stats(directory: Path, manifest_name: str) -> dict[str, tuple[int, int]]:
    # Hidden files are the atomic writer's temporaries (of the manifest itself), never payload files.
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(directory.iterdir())
            if p.is_file() and p.name != manifest_name and not p.name.startswith(".")}


def write_directory_manifest(directory: Path, manifest_name: str) -> None:
    """Record the sha256 of every file of ``directory`` in ``manifest_name``, with the (size, mtime) it was
    hashed at."""
    stats = _file_stats(directory, manifest_name)
    manifest = {name: {"sha256": sha256_file(directory / name), "size": size, "mtime_ns": mtime}
                for name, (size, mtime) in stats.items()}
    atomic_write_text(directory / manifest_name, json.dumps(manifest, indent=1, sort_keys=True))


def damaged_files(directory: Path, manifest_name: str) -> list[str]:
    """Files of ``directory`` that differ from its manifest (missing, extra, or another sha256).

    A file is re-hashed only when its size or mtime differs from the manifest's record, and a
    directory is checked once per process while its files' stats stay the same; a directory written
    before manifests existed gets one now (its files are trusted once, as they were before).
    """
    stats = _file_stats(directory, manifest_name)
    key = str(directory)
    if _verified.get(key) == tuple(sorted(stats.items())):
        return []
    try:
        manifest = json.loads((directory / manifest_name).read_text())
    except FileNotFoundError:
        try:
            write_directory_manifest(directory, manifest_name)
        except OSError:
            pass  # a read-only cache: trusted as before manifests existed, and checked again next time
        _verified[key] = tuple(sorted(_file_stats(directory, manifest_name).items()))
        return []
    except (OSError, ValueError):
        return [manifest_name]
    damaged = sorted(set(manifest) ^ set(stats))
    touched = False
    for name in sorted(set(manifest) & set(stats)):
        record = manifest[name]
        if (record.get("size"), record.get("mtime_ns")) == stats[name]:
            continue
        if stats[name][0] != record.get("size") or sha256_file(directory / name) != record.get("sha256"):
            damaged.append(name)
        else:  # same bytes, new mtime (copied, touched): remember the new stat so it is not hashed again
            record["mtime_ns"], touched = stats[name][1], True
    if not damaged:
        if touched:
            try:
                atomic_write_text(directory / manifest_name, json.dumps(manifest, indent=1, sort_keys=True))
            except OSError:
                pass  # a read-only cache only loses the memo, never correctness
        _verified[key] = tuple(sorted(stats.items()))
    return damaged


# ------------------------------------------------------------------------------------------------
# Request memo: lets an identical command-line call be answered without importing torch or
# re-reading the dataset. The request names its inputs by content (package versions, file hashes),
# and its record only points at checksummed cache entries, so it can never serve stale arrays.
# ------------------------------------------------------------------------------------------------


def _request_path(request: dict) -> Path:
    return cache_root() / "requests" / f"{canonical_key(request)}.json"


def lookup_request(request: dict) -> tuple[dict[int, np.ndarray], dict] | None:
    """Arrays and record of a memoised request, if every entry it points to is still valid."""
    path = _request_path(request)  # an unusable cache directory is an error, not a miss
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    store = ArrayCache(cache_root() / "embeddings")
    out = {}
    for layer, key in record["keys"].items():
        arr = store.get(key)
        if arr is None:
            return None
        out[int(layer)] = arr
    return out, record


def remember_request(request: dict, keys: dict, record: dict) -> None:
    """Store a request's record (embedding keys plus what the caller wants to print later)."""
    path = _request_path(request)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({**record, "keys": {str(k): v for k, v in keys.items()}}))
    except OSError:
        pass  # only the shortcut is lost
