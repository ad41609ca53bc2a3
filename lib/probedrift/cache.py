"""Content-addressed on-disk cache for arrays (embeddings), with checksums and atomic writes.

An entry is a directory ``<root>/<key[:2]>/<key>/`` holding ``array.npy`` and ``manifest.json``. The
key is the SHA-256 of the canonical JSON of everything that determines the array (model identity,
texts fingerprint, layer, pooling, ...), so any change of those is a miss, never a stale hit. The
manifest stores the array's SHA-256: an entry whose bytes were flipped or cut is reported, deleted
and recomputed, never loaded. Entries are written to a temporary directory and renamed into place,
so a killed or failed write leaves nothing half-written.

Long extractions also keep *chunks* under ``<root>/partial/<job>/`` so a run killed mid-way resumes
from the chunks it completed (:class:`ChunkStore`).
"""

from __future__ import annotations

import errno
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

from . import __version__
from .errors import CacheError

MANIFEST = "manifest.json"
ARRAY = "array.npy"


def canonical_key(components: dict) -> str:
    """SHA-256 hex digest of the canonical (sorted, compact) JSON of ``components``."""
    blob = json.dumps(components, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def sha256_bytes(data: bytes) -> str:
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
        array_path, sha_path = self._paths(index)
        if not (array_path.is_file() and sha_path.is_file()):
            return None
        try:
            return _load_verified(array_path, sha_path.read_text().strip())
        except OSError:
            return None

    def put(self, index: int, array: np.ndarray) -> None:
        array_path, sha_path = self._paths(index)
        data = _npy_bytes(array)
        try:
            # Array first, checksum last: a chunk counts as done only once its checksum exists.
            atomic_write_bytes(array_path, data)
            atomic_write_bytes(sha_path, sha256_bytes(data).encode())
        except OSError as exc:
            raise _cache_write_error(self.dir, exc) from None

    def completed(self) -> list[int]:
        if not self.dir.is_dir():
            return []
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("chunk-*.sha256"))

    def clear(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
