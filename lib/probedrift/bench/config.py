"""Fixed choices and problem sizes of the benchmark, and the keys ``bench.json`` writes at top level."""

from __future__ import annotations

from dataclasses import dataclass

MODEL = "gemma-3-270m"
POOLING = "mean"
BATCH_SIZES = (1, 8, 32)
DEVICES = ("cpu", "cuda", "auto")
MATMUL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
#: The loop's wall times (``python -m probedrift.bench.times``), each with the 1-minute load average
#: it was measured at (``<figure>_load1``): a time taken on a busy machine is not a quiet machine's.
LOOP_TIMES = ("make_test", "classroom_cold", "classroom_warm", "default_cold", "default_warm", "binder_cold",
              "binder_warm")
END_TO_END_KEYS = (
    "study_default_seconds_cold_before", "study_default_seconds_cold", "study_default_seconds_warm",
    "study_default_peak_rss_mb", "make_test_seconds", "forward_passes_default", "finetune_seconds",
    *(f"{t}_{what}" for t in LOOP_TIMES[1:] for what in ("seconds",)),
    *(f"{t}_{what}" for t in LOOP_TIMES for what in ("load1", "peak_rss_mb")),
)
HEADLINE_KEYS = (
    "ratio_vs_naive", "ratio_vs_sentence_transformers", "ratio_vs_sentence_transformers_mid_layer",
    "truncation_cost_ratio", "truncation_layer_fraction", "hardware_fraction", "cache_speedup",
    "drift_sweep_seconds", "drift_sweep_ratio_vs_loop", "study_default_seconds_cold_before",
    "study_default_seconds_cold", "study_default_seconds_warm", "forward_passes_default", "finetune_seconds",
)
TARGETS = {
    "ratio_vs_naive": 4.0,
    "ratio_vs_sentence_transformers": 1.0,
    "ratio_vs_sentence_transformers_mid_layer": 1.5,
}


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of one benchmark run (full or quick)."""

    n_per_class: int  # extraction texts = 2 · n_per_class (balanced comments sample, seed 0)
    max_length: int
    batch_size: int
    reps: int
    warmup_texts: int
    naive_texts: int  # subset timed with the one-text-at-a-time loop
    batch_sweep_texts: int
    bf16_texts: int
    cache_texts: int
    profile_texts: int
    matmul_n: int
    sweep_n: int
    sweep_d: int
    sweep_seeds: int
    n_sigmas: int
    detector_n: int
    detector_d: int
    permutations: int


FULL = Sizes(
    n_per_class=256, max_length=256, batch_size=32, reps=3, warmup_texts=4, naive_texts=16,
    batch_sweep_texts=64, bf16_texts=16, cache_texts=64, profile_texts=32, matmul_n=2048,
    sweep_n=2000, sweep_d=1024, sweep_seeds=10, n_sigmas=8, detector_n=500, detector_d=1024, permutations=200,
)
QUICK = Sizes(
    n_per_class=12, max_length=32, batch_size=8, reps=1, warmup_texts=1, naive_texts=2,
    batch_sweep_texts=4, bf16_texts=2, cache_texts=4, profile_texts=2, matmul_n=1024,
    sweep_n=200, sweep_d=64, sweep_seeds=2, n_sigmas=8, detector_n=50, detector_d=16, permutations=50,
)
