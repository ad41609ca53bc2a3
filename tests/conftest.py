"""Shared fixtures. Tests run offline: models and data come from installed packages or tmp files."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402


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


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """``probedrift run --profile smoke`` into a temporary results root; returns the run directory."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("results")
    # A cold embedding cache, so the run's provenance counts every forward pass a whole smoke run makes.
    cache = tmp_path_factory.mktemp("smoke-cache")
    from probedrift.core.cache import cache_root

    for shared in ("models", "finetune"):  # converted models and fine-tuned checkpoints are deterministic
        (cache_root() / shared).mkdir(parents=True, exist_ok=True)
        (cache / shared).symlink_to(cache_root() / shared, target_is_directory=True)
    # A marker token: tests check that it never reaches any output of the run.
    os.environ["PROBEDRIFT_TEST_TOKEN_VALUE"] = "hf_probedriftMarkerToken0123456789"
    env = {**os.environ, "HF_TOKEN": os.environ["PROBEDRIFT_TEST_TOKEN_VALUE"], "PROBEDRIFT_CACHE_DIR": str(cache)}
    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", "run", "--profile", "smoke",
                          "--results", str(root)],
                         capture_output=True, text=True, timeout=1800, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return root / "smoke"
