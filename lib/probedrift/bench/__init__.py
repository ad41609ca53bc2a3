"""Performance benchmark: ``probedrift bench [--quick] [--end-to-end] [--device cpu|cuda|auto]``.

Everything is measured in one process, and every comparison is made within the same run: each
figure is the median of ``reps`` repetitions taken after a warm-up, and competing variants are
timed in interleaved rounds (A, B, C, A, B, C, ...) so that a change of background load hits all of
them alike. On a shared machine only these ratios are meaningful; absolute times are not.

Measured (modules in brackets):

1. extraction throughput (texts/s, non-padding tokens/s) of :func:`probedrift.inputs.embed.extract` against
   a one-text-at-a-time causal-LM loop and against sentence-transformers, at the last and the middle
   hidden state, with an equality check of the embeddings [extraction, baselines];
2. the cost of layer truncation, t(hidden state L) / t(hidden state N) [extraction];
3. achieved FLOP/s of the forward, ``2 · P_blocks · tokens / t`` (P_blocks = parameters of the
   blocks that run; the embedding lookup counts nothing; tokens = non-padding tokens), as a fraction
   of a matmul rate measured in the same run, per batch size, and bfloat16 against float32: on CPU
   the rate ``2n³ / t`` of an n × n ``torch.matmul`` at the same dtype and thread count; on CUDA the
   GPU's rate at the model's own linear shapes [extraction, hardware];
4. the cache: a repeated identical extraction against the first [extraction];
5. the drift sweep against a per-sample Python loop that computes the same numbers [sweep];
6. the drift detectors, time per test [detectors];
7. end-to-end study times, read from earlier runs (or measured with ``--end-to-end``) [end_to_end].

Writes ``bench.json`` (flat headline keys plus nested detail) and ``bench.md`` to ``out_dir`` [report].
"""

from __future__ import annotations

from probedrift.core.errors import ProbedriftError

from .baselines import compare_embeddings
from .config import BATCH_SIZES, END_TO_END_KEYS, FULL, HEADLINE_KEYS, QUICK, TARGETS, Sizes
from .detectors import bench_detectors
from .end_to_end import end_to_end_figures, measure_end_to_end, run_measured
from .extraction import bench_extraction, padded_tokens, spread
from .hardware import machine_info, matmul_rate, model_shape_matmul_rate, resolve_device
from .report import render_markdown
from .run import run_bench
from .sweep import bench_drift_sweep, loop_sweep_reference, train_and_test_sets

__all__ = [
    "BATCH_SIZES", "END_TO_END_KEYS", "FULL", "HEADLINE_KEYS", "QUICK", "TARGETS", "ProbedriftError", "Sizes",
    "bench_detectors", "bench_drift_sweep", "bench_extraction", "compare_embeddings", "end_to_end_figures",
    "loop_sweep_reference", "machine_info", "matmul_rate", "measure_end_to_end", "model_shape_matmul_rate",
    "padded_tokens", "render_markdown", "resolve_device", "run_bench", "run_measured", "spread",
    "train_and_test_sets",
]
