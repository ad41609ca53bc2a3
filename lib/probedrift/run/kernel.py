"""One Python kernel for every chapter of a run, returned to a fresh kernel's state between chapters.

A kernel per chapter paid, per chapter, a kernel start and the imports of the science stack (numpy,
pandas, scikit-learn, scipy, matplotlib, and torch where models are touched): about 3 s of a warm
chapter's 4 to 8 on two CPU cores (a warm smoke rerun took 50 s that way and 37 s with one kernel, the
command's own checks included). :class:`ChapterKernel` starts one kernel for the run, and before each
chapter :func:`start_chapter` runs in it: IPython's ``reset`` empties the namespace and restarts the
execution counter (a chapter sees no variable of the one before and numbers its cells from 1), the
library's memoised functions and the tokenizer kept for the next model load are emptied, open figures
closed and freed memory handed back, so a chapter starts with what a fresh kernel would hold but the
imported modules. A chapter that only works after another is still caught: nbval and
the chapter-alone test run every notebook in a kernel of its own, as the book's readers do.

This module is imported by the lean process that drives the kernels (:mod:`probedrift.run.execute`), so it
imports neither the study nor its science; :func:`start_chapter` runs inside the kernel.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from probedrift.core.errors import ProbedriftError
from probedrift.core.memory import release_memory
from probedrift.core.timing import NOTEBOOK_VARIABLE

#: The kernel logs errors only (its start-up warning about unencrypted loopback TCP says nothing new), and keeps
#: its input history in memory (as nbclient's own kernels do: runs side by side never share a history file).
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=ERROR", "--HistoryManager.hist_file=:memory:")
START_TIMEOUT_S = 60


def start_chapter(notebook: str) -> None:
    """Inside the kernel, before a chapter runs: reset IPython's namespace and execution counter, name the
    chapter in ``$PROBEDRIFT_NOTEBOOK``, empty every memoised function of the library (its ``functools``
    caches) and the tokenizer :mod:`probedrift.inputs.tokenizers` keeps, close open figures and return freed
    memory to the system (:func:`probedrift.core.memory.release_memory`) and, where CUDA is in use, to the GPU."""
    from IPython import get_ipython  # only a kernel has a shell

    shell = get_ipython()
    if shell is not None:
        shell.reset(new_session=True)
    os.environ[NOTEBOOK_VARIABLE] = notebook
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "probedrift" or name.startswith("probedrift.")):
            continue
        for value in list(vars(module).values()):
            if getattr(value, "__module__", None) == name and callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    tokenizers = sys.modules.get("probedrift.inputs.tokenizers")
    if tokenizers is not None:
        tokenizers.forget_tokenizer()
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    release_memory()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        # The caching allocator keeps the freed blocks of the chapter before reserved; a kernel of its own would
        # have started with none, and a large model of this chapter may need them in one piece.
        torch.cuda.empty_cache()


class ChapterKernel:
    """A Python kernel started once in ``cwd`` for a run's chapters (``with ChapterKernel(root) as kernel``).

    :meth:`start_chapter` prepares it for the next notebook; :attr:`manager` is handed to papermill
    (``km=``), which then executes in this kernel instead of starting one. Leaving the block shuts it down,
    whatever happened.
    """

    def __init__(self, cwd: Path, kernel_name: str = "python3"):
        self.cwd = Path(cwd)
        self.kernel_name = kernel_name
        self.manager = None
        self._client = None

    def __enter__(self) -> ChapterKernel:
        from jupyter_client import AsyncKernelManager, BlockingKernelClient  # only running notebooks needs it
        from jupyter_core.utils import run_sync  # as above

        self.manager = AsyncKernelManager(kernel_name=self.kernel_name)
        try:
            run_sync(self.manager.start_kernel)(cwd=str(self.cwd), extra_arguments=list(KERNEL_ARGUMENTS))
            self._client = BlockingKernelClient()
            self._client.load_connection_info(self.manager.get_connection_info())
            self._client.start_channels()
            self._client.wait_for_ready(timeout=START_TIMEOUT_S)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start_chapter(self, notebook: str) -> None:
        """Run :func:`start_chapter` for ``notebook`` in the kernel (not stored in its history)."""
        code = f"import probedrift.run.kernel as _kernel; _kernel.start_chapter({notebook!r})"
        reply = self._client.execute_interactive(code, store_history=False, timeout=START_TIMEOUT_S,
                                                 output_hook=lambda msg: None)
        if reply["content"]["status"] != "ok":
            content = reply["content"]
            raise ProbedriftError(
                f"the kernel could not be prepared for {notebook}: {content.get('ename')}: {content.get('evalue')}",
                "check that the kernel's Python has the study installed (`make setup`), then run again")

    def __exit__(self, *exc) -> None:
        from jupyter_core.utils import run_sync  # only running notebooks needs it

        if self._client is not None:
            self._client.stop_channels()
            self._client = None
        if self.manager is not None:
            try:
                if run_sync(self.manager.is_alive)():
                    run_sync(self.manager.shutdown_kernel)(now=True)
            finally:
                run_sync(self.manager.cleanup_resources)()
                self.manager = None
