"""The array cache: keys, hits and misses, checksums, atomic writes, resumable chunks."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from probedrift.core.cache import ArrayCache, ChunkStore
from probedrift.core.errors import CacheError
from probedrift.inputs.embed import cache_components

BASE = dict(model_identity="m@1", texts_fp="abc", layer=18, pooling="last_token", max_length=256,
            dtype="float32", chat_template=False)


def test_put_then_get_roundtrips(tmp_path):
    cache = ArrayCache(tmp_path)
    arr = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    key = cache.key(cache_components(**BASE))
    assert cache.get(key) is None
    cache.put(key, arr, {"x": 1})
    np.testing.assert_array_equal(cache.get(key), arr)
    assert cache.manifest(key)["shape"] == [7, 5]


@pytest.mark.parametrize("field,value", [
    ("model_identity", "m@2"), ("texts_fp", "abd"), ("layer", 9), ("pooling", "mean"),
    ("max_length", 64), ("dtype", "bfloat16"), ("chat_template", True),
])
def test_every_key_component_changes_the_key(tmp_path, field, value):
    cache = ArrayCache(tmp_path)
    assert cache.key(cache_components(**BASE)) != cache.key(cache_components(**{**BASE, field: value}))


def test_library_version_is_part_of_the_key(tmp_path, monkeypatch):
    import probedrift.core.cache as cache_mod

    cache = ArrayCache(tmp_path)
    k1 = cache.key(cache_components(**BASE))
    monkeypatch.setattr(cache_mod, "__version__", "999")
    assert cache.key(cache_components(**BASE)) != k1


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupted_entry_is_reported_removed_and_missed(tmp_path, damage):
    cache = ArrayCache(tmp_path)
    arr = np.arange(1000, dtype=np.float32).reshape(100, 10)
    key = cache.key({"k": 1})
    entry = cache.put(key, arr)
    path = entry / "array.npy"
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-7] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="checksum"):
        assert cache.get(key) is None
    assert not entry.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_cache_gives_clear_error(tmp_path):  # pragma: no cover - exercised as non-root
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    with pytest.raises(CacheError, match="not writable"):
        ArrayCache(ro).put("ab" * 32, np.zeros(3))


def test_unwritable_cache_gives_clear_error_and_leaves_nothing(tmp_path):
    # A regular file where the cache directory should be: fails for root too.
    blocker = tmp_path / "cache"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="PROBEDRIFT_CACHE_DIR"):
        ArrayCache(blocker).put("cd" * 32, np.zeros(3))
    assert blocker.read_text() == "not a directory"


def test_failed_write_leaves_no_half_entry(tmp_path, monkeypatch):
    cache = ArrayCache(tmp_path)
    key = cache.key({"k": 2})

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(CacheError, match="full"):
        cache.put(key, np.zeros((4, 4), np.float32))
    monkeypatch.undo()
    assert cache.get(key) is None
    leftovers = [p for p in tmp_path.rglob("*") if p.is_dir() and ".tmp-" in p.name]
    assert leftovers == []


def test_chunk_store_resumes_and_rejects_bad_chunks(tmp_path):
    store = ChunkStore(tmp_path, "job1")
    a = np.ones((2, 3, 4), np.float32)
    store.put(0, a)
    store.put(3, 2 * a)
    assert store.completed() == [0, 3]
    np.testing.assert_array_equal(store.get(3), 2 * a)
    (store.dir / "chunk-00000.npy").write_bytes(b"garbage")
    assert store.get(0) is None
    store.clear()
    assert store.completed() == []


def test_directory_manifest_finds_a_changed_missing_or_extra_file(tmp_path):
    import hashlib

    from probedrift.core.cache import damaged_files, write_directory_manifest

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\x00\x01" * 1000)
    (folder / "config.json").write_text("{}")
    write_directory_manifest(folder, "manifest.json")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["weights.bin"]["sha256"] == hashlib.sha256(b"\x00\x01" * 1000).hexdigest()
    assert damaged_files(folder, "manifest.json") == []
    (folder / "weights.bin").write_bytes(b"\x00\x02" * 1000)  # same size, other bytes
    (folder / "config.json").unlink()
    (folder / "extra.txt").write_text("x")
    assert damaged_files(folder, "manifest.json") == ["config.json", "extra.txt", "weights.bin"]


def test_texts_fingerprint_separates_texts_that_concatenate_alike():
    import hashlib

    from probedrift.core.cache import texts_fingerprint

    assert texts_fingerprint(["ab", "c"]) != texts_fingerprint(["a", "bc"])
    expected = hashlib.sha256((2).to_bytes(8, "little") + b"ab" + (1).to_bytes(8, "little") + b"c").hexdigest()
    assert texts_fingerprint(["ab", "c"]) == expected
