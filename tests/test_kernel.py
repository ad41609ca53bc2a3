"""One kernel for a run's chapters: each chapter starts from what a fresh kernel would hold but the imports."""

from __future__ import annotations

import functools
import os
import sys
import types

import nbformat
import papermill as pm
import pytest

from probedrift.inputs import tokenizers
from probedrift.run import kernel as chapter_kernel
from probedrift.run.rundir import repo_root


def test_start_chapter_names_the_chapter_and_empties_the_librarys_caches(monkeypatch):
    calls = []
    module = types.ModuleType("probedrift._cached_for_test")

    @functools.lru_cache(maxsize=4)
    def memoised(x):
        calls.append(x)
        return x

    memoised.__module__ = module.__name__
    module.memoised = memoised
    monkeypatch.setitem(sys.modules, module.__name__, module)
    outside = functools.lru_cache(maxsize=4)(lambda x: x)  # a cache outside the library is left alone
    outside(1)
    memoised(1)
    memoised(1)
    assert calls == [1]
    monkeypatch.setitem(tokenizers._last_tokenizer, "digest:False", object())
    monkeypatch.setenv(chapter_kernel.NOTEBOOK_VARIABLE, "earlier.ipynb")

    chapter_kernel.start_chapter("03_drift.ipynb")

    assert os.environ[chapter_kernel.NOTEBOOK_VARIABLE] == "03_drift.ipynb"
    memoised(1)
    assert calls == [1, 1]  # computed again: the cache was emptied
    assert outside.cache_info().currsize == 1
    assert tokenizers._last_tokenizer == {}


def test_start_chapter_hands_cached_gpu_memory_back_only_where_cuda_is_in_use(monkeypatch):
    emptied = []

    def fake_torch(initialized: bool):
        cuda = types.SimpleNamespace(is_initialized=lambda: initialized, empty_cache=lambda: emptied.append(1))
        return types.SimpleNamespace(cuda=cuda)

    monkeypatch.setitem(sys.modules, "torch", fake_torch(False))
    chapter_kernel.start_chapter("01_embeddings.ipynb")
    assert emptied == []  # a CPU run never initialises CUDA
    monkeypatch.setitem(sys.modules, "torch", fake_torch(True))
    chapter_kernel.start_chapter("02_probes.ipynb")
    assert emptied == [1]


def _notebook(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_chapters_share_one_kernel_and_none_sees_the_one_before(tmp_path):
    first = tmp_path / "first.ipynb"
    second = tmp_path / "second.ipynb"
    nbformat.write(_notebook("import os, json\nleft_behind = 41\nprint(os.getpid())"), first)
    nbformat.write(_notebook(
        "import os\nprint(os.getpid())",
        "print('left_behind' in globals(), 'json' in globals(), os.environ['PROBEDRIFT_NOTEBOOK'])",
        "import sys\nprint('json' in sys.modules)",
    ), second)
    with chapter_kernel.ChapterKernel(repo_root()) as kernel:
        pid = kernel.manager.provisioner.process.pid
        for nb in (first, second):
            kernel.start_chapter(nb.name)
            pm.execute_notebook(str(nb), str(tmp_path / f"out-{nb.name}"), kernel_name="python3", progress_bar=False,
                                km=kernel.manager, cwd=str(tmp_path))
    outputs = [[c.outputs[0].text.strip() for c in nbformat.read(tmp_path / f"out-{nb.name}", as_version=4).cells]
               for nb in (first, second)]
    assert outputs[0][0] == outputs[1][0] == str(pid)  # the same kernel process ran both
    assert outputs[1][1] == "False False second.ipynb"  # nothing of the first chapter's namespace is left
    assert outputs[1][2] == "True"  # but its imports are
    counts = [c.execution_count for c in nbformat.read(tmp_path / "out-second.ipynb", as_version=4).cells]
    assert counts == [1, 2, 3]  # numbered from 1, as in a fresh kernel
    with pytest.raises(ProcessLookupError):  # leaving the block shut the kernel down
        os.kill(pid, 0)
