"""The machine the benchmark runs on: device choice, a description of the hardware, matmul rates."""

from __future__ import annotations

import datetime
import importlib.metadata
import os
import platform
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

from probedrift.core.errors import ProbedriftError, check_choice

from .config import DEVICES, MATMUL_FLAGS
from .timing import median, timed


def resolve_device(device: str) -> str:
    """``"cpu"`` or ``"cuda"`` for a requested ``cpu`` / ``cuda`` / ``auto``; ``cuda`` needs a visible GPU."""
    import torch  # heavy to import (seconds); only model work needs it

    check_choice("benchmark device", device, DEVICES)
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ProbedriftError(
            f"no CUDA device is visible to torch {torch.__version__} (probedrift bench --device cuda)",
            "run on a machine with an NVIDIA GPU and a CUDA build of torch, or use --device cpu (or auto)",
        )
    return device


def primary_dtype(device: str) -> str:
    """The dtype the study extracts in by default on ``device``: float32 on CPU, bfloat16 on CUDA."""
    return "bfloat16" if device == "cuda" else "float32"


def synchronize(device: str) -> None:
    """Wait for queued GPU work on ``device`` (nothing to wait for on CPU)."""
    if device == "cuda":
        import torch  # heavy to import (seconds); only model work needs it

        torch.cuda.synchronize()


def _cpu_model_and_flags() -> tuple[str, set[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model, flags


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _physical_cores() -> int | None:
    return psutil.cpu_count(logical=False)


def machine_info(dtype: str = "float32", device: str = "cpu") -> dict:
    """Cores, CPU model, matmul-relevant CPU flags, GPU, device and dtype, library versions and the date."""
    import torch  # heavy to import (seconds); only model work needs it

    model, flags = _cpu_model_and_flags()
    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "cpu_flags": {f: f in flags for f in MATMUL_FLAGS},
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": device,
        "dtype": dtype,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "transformers": _version("transformers"),
        "sentence_transformers": _version("sentence-transformers"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": list(os.getloadavg()),
        "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")},
    }


def matmul_rate(dtype_name: str, max_n: int, reps: int) -> dict:
    """Dense CPU matmul rate ``2n³ / t`` (FLOP/s) of ``torch.matmul`` on n × n matrices, median of reps.

    Both layouts are timed, A·B and A·Bᵀ (a transposed view, the layout of ``nn.Linear`` weights),
    and the faster counts: for bfloat16 without hardware support the two differ several-fold. n is
    the largest power of two ≤ ``max_n`` whose product is predicted (from a 256 × 256 timing) to
    take at most about a second.
    """
    import torch  # heavy to import (seconds); only model work needs it

    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)

    def run(n: int, transposed: bool) -> float:
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        b = b.t() if transposed else b
        torch.matmul(a, b)  # warm-up
        return median([timed(lambda: torch.matmul(a, b))[0] for _ in range(max(reps, 3))])

    n = start = min(256, max_n)
    t_start = min(run(n, False), run(n, True))
    while n * 2 <= max_n and t_start * (n * 2 / start) ** 3 <= 1.0:
        n *= 2
    layouts = {"A @ B": run(n, False), "A @ B.T": run(n, True)}
    best = min(layouts, key=layouts.get)
    return {"n": n, "dtype": dtype_name, "layout": best, "seconds": layouts[best],
            "flops_per_s": 2.0 * n**3 / layouts[best],
            "flops_per_s_by_layout": {k: 2.0 * n**3 / v for k, v in layouts.items()}}


def linear_shapes(blocks) -> list[tuple[int, int]]:
    """(in_features, out_features) of every ``nn.Linear`` in ``blocks``, one entry per layer."""
    import torch  # heavy to import (seconds); only model work needs it

    return [(m.in_features, m.out_features) for b in blocks for m in b.modules() if isinstance(m, torch.nn.Linear)]


def _seconds_per_matmul(a, w_t, device: str, reps: int, calls: int) -> float:
    import torch  # heavy to import (seconds); only model work needs it

    torch.matmul(a, w_t)  # warm-up
    synchronize(device)

    def run() -> None:
        for _ in range(calls):
            torch.matmul(a, w_t)
        synchronize(device)

    return median([timed(run)[0] for _ in range(max(reps, 3))]) / calls


def model_shape_matmul_rate(shapes: list[tuple[int, int]], rows: int, dtype_name: str, device: str,
                            reps: int) -> dict:
    """Matmul rate (FLOP/s) of ``torch.matmul`` at the forward's own shapes on ``device``.

    For each distinct linear-layer shape (in, out) a (rows × in) activation is multiplied by a
    transposed (out × in) weight, as ``nn.Linear`` does, and timed between ``torch.cuda.synchronize``
    calls (median of reps; on CUDA each timing covers 50 back-to-back products, so the launch
    overhead is shared). The rate is Σ 2·rows·in·out·count / Σ t·count over the shapes, with count
    the number of layers of that shape: the best a forward made only of these products could do.
    """
    import torch  # heavy to import (seconds); only model work needs it

    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)
    calls = 50 if device == "cuda" else 1
    per_shape, flops, seconds = {}, 0.0, 0.0
    for (k, n), count in sorted(Counter(shapes).items()):
        a = torch.randn(rows, k, generator=gen).to(device=device, dtype=dtype)
        w_t = torch.randn(n, k, generator=gen).to(device=device, dtype=dtype).t()
        t = _seconds_per_matmul(a, w_t, device, reps, calls)
        per_shape[f"{rows}x{k} @ {k}x{n}"] = {"count": count, "seconds": t, "flops_per_s": 2.0 * rows * k * n / t}
        flops += 2.0 * rows * k * n * count
        seconds += t * count
    return {"n": rows, "dtype": dtype_name, "layout": "x @ W.T at the model's linear shapes", "device": device,
            "seconds": seconds, "flops_per_s": flops / seconds, "per_shape": per_shape}
