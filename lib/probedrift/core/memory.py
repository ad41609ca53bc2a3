"""Returning a process's freed memory to the system (after a model is released, and between chapters)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc


def release_memory() -> None:
    """Collect garbage and hand the C heap's free pages back to the system (glibc ``malloc_trim(0)``).

    A model freed in Python leaves its weights' and activations' memory in the C allocator, which keeps
    it for reuse: the process's resident memory stays at its peak. Trimming after a model is released
    lets the next model (the fine-tuned checkpoints, the next chapter's) reuse that memory. No-op where the
    C library has no ``malloc_trim`` (musl, macOS).
    """
    gc.collect()
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    if trim is not None:
        trim(0)
