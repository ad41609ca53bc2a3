"""Performance benchmark: ``probedrift bench [--quick] [--end-to-end]``.

Everything is measured in one process, and every comparison is made within the same run: each
figure is the median of ``reps`` repetitions taken after a warm-up, and competing variants are
timed in interleaved rounds (A, B, C, A, B, C, ...) so that a change of background load hits all of
them alike. On a shared machine only these ratios are meaningful; absolute times are not.

Measured:

1. extraction throughput (texts/s, non-padding tokens/s) of :func:`probedrift.embed.extract` against
   a one-text-at-a-time causal-LM loop and against sentence-transformers, at the last and the middle
   hidden state, with an equality check of the embeddings;
2. the cost of layer truncation, t(hidden state L) / t(hidden state N);
3. achieved FLOP/s of the forward, ``2 · P_blocks · tokens / t`` (P_blocks = parameters of the
   blocks that run; the embedding lookup counts nothing; tokens = non-padding tokens), as a fraction
   of the dense matmul rate ``2n³ / t`` of an n × n ``torch.matmul`` at the same dtype and thread
   count, per batch size, and a bfloat16 row;
4. the cache: a repeated identical extraction against the first;
5. the drift sweep against a per-sample Python loop that computes the same numbers;
6. the drift detectors, time per test;
7. end-to-end study times, read from earlier runs (or measured with ``--end-to-end``).

Writes ``bench.json`` (flat headline keys plus nested detail) and ``bench.md`` to ``out_dir``.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .errors import ProbedriftError

MODEL = "gemma-3-270m"
POOLING = "mean"
BATCH_SIZES = (1, 8, 32)
MATMUL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
END_TO_END_KEYS = (
    "study_default_seconds_cold", "study_default_seconds_warm", "study_default_peak_rss_mb", "make_test_seconds",
)
HEADLINE_KEYS = (
    "ratio_vs_naive", "ratio_vs_sentence_transformers", "ratio_vs_sentence_transformers_mid_layer",
    "truncation_cost_ratio", "truncation_layer_fraction", "hardware_fraction", "cache_speedup",
    "drift_sweep_seconds", "drift_sweep_ratio_vs_loop", "study_default_seconds_cold", "study_default_seconds_warm",
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


_START = [time.perf_counter()]


def _log(msg: str) -> None:
    print(f"[bench {time.perf_counter() - _START[0]:6.1f} s] {msg}", flush=True)


def _median(xs) -> float:
    return float(statistics.median(xs))


def _timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleaved(variants: dict[str, Callable[[], object]], reps: int) -> tuple[dict[str, list[float]], dict]:
    """Seconds per call of each variant over ``reps`` interleaved rounds, and each variant's first output."""
    times: dict[str, list[float]] = {k: [] for k in variants}
    first: dict[str, object] = {}
    for r in range(reps):
        for name, fn in variants.items():
            dt, out = _timed(fn)
            times[name].append(dt)
            first.setdefault(name, out)
        _log(f"  round {r + 1}/{reps}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()))
    return times, first


# ------------------------------------------------------------------------------------------------ machine


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


def machine_info(dtype: str = "float32") -> dict:
    """Cores, CPU model, matmul-relevant CPU flags, GPU, library versions and the date."""
    import importlib.metadata

    import torch

    model, flags = _cpu_model_and_flags()
    try:
        import psutil

        physical = psutil.cpu_count(logical=False)
    except ImportError:  # pragma: no cover
        physical = None

    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "cpu_model": model,
        "logical_cores": os.cpu_count(),
        "physical_cores": physical,
        "cpu_flags": {f: f in flags for f in MATMUL_FLAGS},
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": "cpu",
        "dtype": dtype,
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": version("transformers"),
        "sentence_transformers": version("sentence-transformers"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": list(os.getloadavg()),
        "environment": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")},
    }


def matmul_rate(dtype_name: str, max_n: int, reps: int) -> dict:
    """Dense matmul rate ``2n³ / t`` (FLOP/s) of ``torch.matmul`` on n × n matrices, median of reps.

    Both layouts are timed, A·B and A·Bᵀ (a transposed view, the layout of ``nn.Linear`` weights),
    and the faster counts: for bfloat16 without hardware support the two differ several-fold. n is
    the largest power of two ≤ ``max_n`` whose product is predicted (from a 256 × 256 timing) to
    take at most about a second.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    gen = torch.Generator().manual_seed(0)

    def run(n: int, transposed: bool) -> float:
        a = torch.randn(n, n, generator=gen).to(dtype)
        b = torch.randn(n, n, generator=gen).to(dtype)
        b = b.t() if transposed else b
        torch.matmul(a, b)  # warm-up
        return _median([_timed(lambda: torch.matmul(a, b))[0] for _ in range(max(reps, 3))])

    n = start = min(256, max_n)
    t_start = min(run(n, False), run(n, True))
    while n * 2 <= max_n and t_start * (n * 2 / start) ** 3 <= 1.0:
        n *= 2
    layouts = {"A @ B": run(n, False), "A @ B.T": run(n, True)}
    best = min(layouts, key=layouts.get)
    return {"n": n, "dtype": dtype_name, "layout": best, "seconds": layouts[best],
            "flops_per_s": 2.0 * n**3 / layouts[best],
            "flops_per_s_by_layout": {k: 2.0 * n**3 / v for k, v in layouts.items()}}


# ------------------------------------------------------------------------------------------------ extraction


def _spread(order: np.ndarray, k: int) -> np.ndarray:
    """k indices evenly spaced along ``order`` (texts sorted by length): a subset with the same spread."""
    k = min(k, order.size)
    return order[np.unique(np.linspace(0, order.size - 1, k).round().astype(int))]


def _around_median(order: np.ndarray, k: int) -> np.ndarray:
    """k indices contiguous along ``order`` (texts sorted by length), centred on the median."""
    start = max(0, min(order.size - k, order.size // 2 - k // 2))
    return order[start:start + k]


def padded_tokens(lengths: np.ndarray, batch_size: int) -> int:
    """Tokens a length-sorted batched forward computes: Σ over batches of max length × batch rows."""
    s = np.sort(np.asarray(lengths))[::-1]
    return int(sum(s[i] * len(s[i:i + batch_size]) for i in range(0, s.size, batch_size)))


def _block_params(model, n_blocks: int) -> int:
    from .embed import find_blocks

    blocks = find_blocks(model.model)
    return int(sum(p.numel() for b in list(blocks)[:n_blocks] for p in b.parameters()))


def compare_embeddings(a: np.ndarray, b: np.ndarray) -> dict:
    """Max abs difference, the same relative to max |b|, and min / mean per-row cosine of a vs b."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-300)
    diff = float(np.abs(a - b).max())
    return {
        "max_abs_diff": diff,
        "max_rel_diff": diff / max(float(np.abs(b).max()), 1e-300),
        "min_cosine": float(cos.min()),
        "mean_cosine": float(cos.mean()),
    }


def _embeddings_agree(cmp: dict) -> bool:
    return cmp["min_cosine"] >= 0.9999 and cmp["max_rel_diff"] <= 1e-3


def _throughput(seconds: list[float], n_texts: int, n_tokens: int, flops_per_token: float | None = None) -> dict:
    t = _median(seconds)
    out = {
        "seconds": seconds, "median_seconds": t, "n_texts": n_texts, "tokens": n_tokens,
        "texts_per_s": n_texts / t, "tokens_per_s": n_tokens / t,
    }
    if flops_per_token is not None:
        out["flops_per_s"] = flops_per_token * n_tokens / t
    return out


def _sentence_transformer(path: str, max_length: int):
    # Plain mean pooling of raw text (the library's defaults for a causal LM are last-token pooling
    # and, for chat models, a chat-template wrapper).
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    tr = Transformer(
        path,
        modality_config={"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
        module_output_name="token_embeddings",
    )
    st = SentenceTransformer(modules=[tr, Pooling(tr.get_embedding_dimension(), pooling_mode="mean")], device="cpu")
    st.max_seq_length = max_length
    return st


def _naive_embed(lm, tokenizer, texts: list[str], max_length: int, layers: tuple[int, ...]) -> dict[int, np.ndarray]:
    """One text at a time through the causal LM (LM head included), mean of the requested hidden states."""
    import torch

    out: dict[int, list] = {layer: [] for layer in layers}
    with torch.inference_mode():
        for text in texts:
            enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
            hs = lm(**enc, output_hidden_states=True).hidden_states
            for layer in layers:
                out[layer].append(hs[layer][0].mean(0).float().numpy())
    return {layer: np.stack(v) for layer, v in out.items()}


def _forward_profile(model, texts: list[str], sz: Sizes) -> dict:
    """Share of forward time per operator group (torch profiler, self CPU time) for one batch."""
    from torch.profiler import ProfilerActivity, profile

    from .embed import extract

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        extract(model, texts, [-1], POOLING, sz.max_length, False, len(texts), cache=False, progress=False)
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    matmul_ops = {"aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul", "aten::baddbmm"}
    groups = {"matmul": 0.0, "attention": 0.0, "other": 0.0}
    for e in events:
        if e.key in matmul_ops:
            groups["matmul"] += e.self_cpu_time_total
        elif "scaled_dot_product" in e.key or "attention" in e.key:
            groups["attention"] += e.self_cpu_time_total
        else:
            groups["other"] += e.self_cpu_time_total
    top = sorted(events, key=lambda e: -e.self_cpu_time_total)[:8]
    return {
        "n_texts": len(texts),
        "group_share": {k: v / total for k, v in groups.items()},
        "top_ops": {e.key: e.self_cpu_time_total / total for e in top},
    }


def bench_extraction(sz: Sizes) -> tuple[dict, list[str]]:
    """Sections 1–4: extraction throughput, truncation, hardware fraction, bfloat16, cache."""
    import torch
    from transformers import AutoModelForCausalLM

    from . import data, embed, models
    from .cache import ArrayCache

    failures: list[str] = []
    res: dict = {}
    texts = data.prepare("comments", sz.n_per_class, seed=0).texts
    t_load, model = _timed(lambda: models.load(MODEL, dtype="float32", device="cpu"))
    n_layers, mid = model.num_layers, model.num_layers // 2
    lengths = np.array([len(x) for x in embed.prepare_inputs(model, texts, sz.max_length, False)])
    order = np.argsort(-lengths, kind="stable")
    p_full, p_mid = _block_params(model, n_layers), _block_params(model, mid)
    res["setup"] = {
        "model": MODEL, "n_layers": n_layers, "hidden_size": model.hidden_size, "mid_layer": mid,
        "pooling": POOLING, "max_length": sz.max_length, "batch_size": sz.batch_size, "n_texts": len(texts),
        "tokens": int(lengths.sum()), "padded_tokens": padded_tokens(lengths, sz.batch_size),
        "block_params_full": p_full, "block_params_mid": p_mid, "load_seconds": t_load,
        "flops_formula": "2 * block_params * non_padding_tokens",
    }
    res["setup"]["padding_overhead"] = res["setup"]["padded_tokens"] / res["setup"]["tokens"] - 1.0
    # sentence-transformers sorts by character count, not token count: its batches carry more padding.
    by_chars = lengths[np.argsort([-len(t) for t in texts], kind="stable")]
    res["setup"]["padded_tokens_character_sort"] = int(sum(
        by_chars[i:i + sz.batch_size].max() * by_chars[i:i + sz.batch_size].size
        for i in range(0, by_chars.size, sz.batch_size)
    ))

    def pd(subset, layer, bs=sz.batch_size, m=model, cache=False):
        return lambda: embed.extract(m, subset, [layer], POOLING, sz.max_length, False, bs, cache=cache,
                                     progress=False)[layer]

    _log("matmul rate (float32)")
    rate32 = [matmul_rate("float32", sz.matmul_n, sz.reps)]

    # 1 + 2: probedrift (last and middle hidden state) against sentence-transformers, interleaved.
    _log("loading sentence-transformers")
    st = _sentence_transformer(str(models.converted_dir(MODEL)), sz.max_length)
    warm = [texts[i] for i in _spread(order, sz.warmup_texts)]
    for fn in (pd(warm, -1), pd(warm, mid), lambda: st.encode(warm, batch_size=sz.batch_size)):
        fn()
    _log(f"extraction: {len(texts)} texts, {sz.reps} interleaved rounds")
    times, outs = interleaved({
        "probedrift_last": pd(texts, -1),
        "sentence_transformers": lambda: st.encode(texts, batch_size=sz.batch_size, convert_to_numpy=True,
                                                   show_progress_bar=False),
        "probedrift_mid": pd(texts, mid),
    }, sz.reps)
    n, tok = len(texts), int(lengths.sum())
    res["probedrift_last"] = _throughput(times["probedrift_last"], n, tok, 2.0 * p_full)
    res["sentence_transformers"] = _throughput(times["sentence_transformers"], n, tok, 2.0 * p_full)
    res["probedrift_mid"] = _throughput(times["probedrift_mid"], n, tok, 2.0 * p_mid)
    res["st_vs_probedrift_last"] = compare_embeddings(outs["sentence_transformers"], outs["probedrift_last"])
    if not _embeddings_agree(res["st_vs_probedrift_last"]):
        failures.append(f"sentence-transformers embeddings differ: {res['st_vs_probedrift_last']}")
    del st
    gc.collect()

    _log("forward profile")
    res["forward_profile"] = _forward_profile(model, [texts[i] for i in _around_median(order, sz.profile_texts)], sz)

    # 3: batch sizes, with the matmul rate re-measured in every round (the load may change). The
    # texts are contiguous in length order around the median, as in a length-sorted run, so that a
    # large batch is not charged for padding that the full run would not have.
    sidx = _around_median(order, sz.batch_sweep_texts)
    sub = [texts[i] for i in sidx]
    sub_tok = int(lengths[sidx].sum())
    _log(f"batch sizes {BATCH_SIZES} on {len(sub)} texts")
    for bs in BATCH_SIZES:
        pd(sub[:2], -1, bs)()
    variants = {f"batch_{bs}": pd(sub, -1, bs) for bs in BATCH_SIZES}
    variants["matmul"] = lambda: rate32.append(matmul_rate("float32", sz.matmul_n, 3))
    bt, _ = interleaved(variants, sz.reps)
    mm32 = _median([r["flops_per_s"] for r in rate32])
    per_batch = {}
    for bs in BATCH_SIZES:
        th = _throughput(bt[f"batch_{bs}"], len(sub), sub_tok, 2.0 * p_full)
        th["padded_tokens"] = padded_tokens(lengths[sidx], bs)
        th["hardware_fraction"] = th["flops_per_s"] / mm32
        per_batch[str(bs)] = th
    res["matmul_float32"] = {"n": rate32[-1]["n"], "flops_per_s": mm32, "all_flops_per_s": [r["flops_per_s"] for r in rate32]}
    res["batch_sweep"] = per_batch
    res["hardware_fraction_main_run"] = res["probedrift_last"]["flops_per_s"] / mm32

    # 4: cache, a fresh temporary cache per round.
    csub_idx = _around_median(order, sz.cache_texts)
    csub = [texts[i] for i in csub_idx]
    _log(f"cache on {len(csub)} texts")
    first_t, hit_t, hits = [], [], []
    for _ in range(sz.reps):
        with tempfile.TemporaryDirectory(prefix="probedrift-bench-cache-") as tmp:
            store = ArrayCache(tmp)
            t1, a1 = _timed(pd(csub, -1, cache=store))
            info = embed.ExtractionInfo()
            t2, a2 = _timed(lambda: embed.extract(model, csub, [-1], POOLING, sz.max_length, False, sz.batch_size,
                                                  cache=store, progress=False, info=info)[-1])
            first_t.append(t1)
            hit_t.append(t2)
            hits.append(bool(info.cache_hit and np.array_equal(a1, a2)))
    res["cache"] = {"n_texts": len(csub), "first_seconds": first_t, "repeat_seconds": hit_t,
                    "speedup": _median(first_t) / _median(hit_t), "repeat_was_identical_hit": all(hits)}
    if not all(hits):
        failures.append("the repeated cached extraction was not an identical cache hit")

    # 1 (naive): one text at a time through the causal LM, on a length-spread subset.
    nidx = _spread(order, sz.naive_texts)
    ntexts = [texts[i] for i in nidx]
    _log(f"naive loop on {len(ntexts)} texts")
    path = models.converted_dir(MODEL)
    lm = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    tokenizer = model.tokenizer  # the same tokenizer files; one text at a time needs no padding
    _naive_embed(lm, tokenizer, ntexts[:1], sz.max_length, (-1,))
    nt, nouts = interleaved({"naive": lambda: _naive_embed(lm, tokenizer, ntexts, sz.max_length, (-1, mid))}, sz.reps)
    res["naive"] = _throughput(nt["naive"], len(ntexts), int(lengths[nidx].sum()), 2.0 * p_full)
    res["naive"]["subset"] = "texts evenly spaced in token-length order"
    res["naive_vs_probedrift_last"] = compare_embeddings(nouts["naive"][-1], outs["probedrift_last"][nidx])
    res["naive_vs_probedrift_mid"] = compare_embeddings(nouts["naive"][mid], outs["probedrift_mid"][nidx])
    for key in ("naive_vs_probedrift_last", "naive_vs_probedrift_mid"):
        if not _embeddings_agree(res[key]):
            failures.append(f"{key}: {res[key]}")
    del lm, tokenizer
    gc.collect()

    # 3 (bfloat16): same texts in both dtypes, interleaved.
    bidx = _around_median(order, sz.bf16_texts)
    btexts = [texts[i] for i in bidx]
    _log(f"bfloat16 on {len(btexts)} texts")
    rate16 = matmul_rate("bfloat16", sz.matmul_n, sz.reps)
    # load(dtype="bfloat16") casts the float32 weights with .to(); casting a copy gives the same
    # weights without a second load.
    model16 = dataclasses.replace(model, model=copy.deepcopy(model.model).to(torch.bfloat16), dtype=torch.bfloat16)
    pd(btexts[:1], -1, m=model16)()
    bft, bouts = interleaved({"bfloat16": pd(btexts, -1, m=model16), "float32": pd(btexts, -1)}, sz.reps)
    btok = int(lengths[bidx].sum())
    b16 = _throughput(bft["bfloat16"], len(btexts), btok, 2.0 * p_full)
    b32 = _throughput(bft["float32"], len(btexts), btok, 2.0 * p_full)
    res["bfloat16"] = {
        "bfloat16": b16, "float32": b32, "speedup_vs_float32": b32["median_seconds"] / b16["median_seconds"],
        "matmul_bfloat16": rate16, "hardware_fraction": b16["flops_per_s"] / rate16["flops_per_s"],
        "vs_float32": compare_embeddings(bouts["bfloat16"], bouts["float32"]),
    }
    del model16, model
    gc.collect()
    return res, failures


# ------------------------------------------------------------------------------------------------ drift sweep


def synthetic_probe_data(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train and test sets of unit embeddings, Normalize(offset + (y − ½)·δ·u + N(0, I/d)), δ = 1.7/√d."""
    from .drift import normalize

    rng = np.random.default_rng(seed)
    u, offset = normalize(rng.standard_normal(d)), 2.0 * normalize(rng.standard_normal(d))

    def draw(m):
        y = rng.permutation(np.arange(m) % 2)
        x = offset + (y[:, None] - 0.5) * (1.7 / np.sqrt(d)) * u + rng.standard_normal((m, d)) / np.sqrt(d)
        return normalize(x.astype(np.float32)), y

    x_tr, y_tr = draw(n)
    x_te, y_te = draw(n)
    return x_tr, y_tr, x_te, y_te


def loop_sweep_reference(z, y, probe, drift_type: str, convention: str, sigmas, seed: int, reference,
                         reference_labels) -> dict[str, np.ndarray]:
    """The sweep's numbers for one (type, convention, seed), computed one sample and one σ at a time.

    Same random draw as :func:`probedrift.drift.drift`; for each sample i and σ: z' = Normalize(a z_i
    + b Y_i), p = probe(z'), angle = 2·atan2(‖z' − z_i‖, ‖z' + z_i‖); metrics per σ with the scalar
    :func:`probedrift.metrics.probe_metrics`.
    """
    from . import drift as dr
    from .metrics import probe_metrics

    n, d = z.shape
    sig = np.asarray(sigmas, dtype=np.float64)
    a, b = np.ones_like(sig), sig
    if drift_type == "gaussian":
        noise = np.random.default_rng(seed).standard_normal((n, d), dtype=np.float32)
    elif drift_type == "directional":
        v = dr.drift_direction(convention, reference, reference_labels, seed if convention == "random" else 0, d=d)
    else:
        if convention == "true" and d % 2:
            raise ProbedriftError("the loop reference of the true rotation needs an even width", "use an even d")
        theta = sig * np.pi / 2
        a, b = np.cos(theta), np.sin(theta)
        Q32 = dr._haar_from_seed(d, seed).astype(np.float32)
    P = np.empty((sig.size, n))
    angles = np.empty((sig.size, n), dtype=np.float32)
    for i in range(n):
        zi = z[i]
        if drift_type == "gaussian":
            yi = noise[i] / np.sqrt(noise[i] @ noise[i]) if convention == "relative" else noise[i]
        elif drift_type == "directional":
            yi = v
        elif convention == "paper_literal":
            yi = zi @ Q32.T
        else:
            yi = dr._apply_complex_structure(zi, Q32)
        for k in range(sig.size):
            if sig[k] == 0:
                x = zi
            else:
                x = yi * np.float32(b[k])
                x += np.float32(a[k]) * zi
                x = x / np.sqrt(x @ x)
            chord = np.sqrt((x - zi) @ (x - zi))
            angles[k, i] = np.degrees(2.0 * np.arctan2(chord, np.sqrt(max(4.0 - chord * chord, 0.0))))
            P[k, i] = probe.predict_proba(x[None])[0]
    rows = [probe_metrics(y, P[k]) for k in range(sig.size)]
    out = {m: np.array([r[m] for r in rows]) for m in ("auc", "accuracy", "f1", "mean_confidence",
                                                      "silent_failure_share", "silent_failure_rate", "ece")}
    out["angle_deg_mean"] = angles.mean(axis=1, dtype=np.float64)
    out["angle_deg_median"] = np.median(angles, axis=1)
    return out


def bench_drift_sweep(sz: Sizes) -> tuple[dict, list[str]]:
    """Section 5: the vectorised drift sweep against the per-sample loop reference."""
    from . import drift as dr
    from .probes import LinearProbe

    failures: list[str] = []
    x_tr, y_tr, x_te, y_te = synthetic_probe_data(sz.sweep_n, sz.sweep_d)
    probe = LinearProbe().fit(x_tr, y_tr)
    sigmas = np.linspace(0.0, 0.15, sz.n_sigmas)
    seeds = list(range(sz.sweep_seeds))
    n_pairs = sum(len(c) for c in dr.CONVENTIONS.values())

    def full_sweep(seed_list=seeds):
        dr._haar_from_seed.cache_clear()  # every repetition draws its rotations afresh
        return dr.sweep(x_te, y_te, probe.predict_proba, drift_types=dr.DRIFT_TYPES, conventions="all",
                        sigmas=sigmas, seeds=seed_list, reference=x_tr, reference_labels=y_tr, progress=False)

    _log(f"drift sweep: {n_pairs} type/conventions x {sz.n_sigmas} sigmas x {len(seeds)} seeds "
         f"on {sz.sweep_n} x {sz.sweep_d}")
    full_sweep([0])
    times, outs = interleaved({"sweep": full_sweep}, sz.reps)
    table = outs["sweep"]
    res = {
        "n": sz.sweep_n, "d": sz.sweep_d, "n_sigmas": sz.n_sigmas, "n_seeds": len(seeds),
        "type_conventions": n_pairs, "configurations": n_pairs * len(seeds), "seconds": times["sweep"],
        "median_seconds": _median(times["sweep"]), "includes": "drift, angles, predictions and metrics",
    }

    loop_configs = list(dr.PAPER_CONVENTIONS.items())
    _log(f"loop reference on {len(loop_configs)} configurations x {sz.n_sigmas} sigmas x 1 seed")
    per_config, max_diff, extrapolated = {}, {}, 0.0
    for t, c in loop_configs:
        ref_fn = lambda t=t, c=c: loop_sweep_reference(x_te, y_te, probe, t, c, sigmas, 0, x_tr, y_tr)  # noqa: E731
        vec_fn = lambda t=t, c=c: dr.sweep(x_te, y_te, probe.predict_proba, drift_types=t,  # noqa: E731
                                           conventions={t: [c]}, sigmas=sigmas, seeds=[0], reference=x_tr,
                                           reference_labels=y_tr, progress=False)
        vec_fn()
        ct, couts = interleaved({"loop": ref_fn, "vectorised": vec_fn}, sz.reps)
        rows = table[(table.drift_type == t) & (table.convention == c) & (table.seed == 0)]
        diffs = {}
        for col, values in couts["loop"].items():
            vec = rows[col].to_numpy(dtype=np.float64)
            both_nan = np.isnan(vec) & np.isnan(values)
            diffs[col] = float(np.nanmax(np.where(both_nan, 0.0, np.abs(vec - values)), initial=0.0))
            if np.isnan(vec).sum() != np.isnan(values).sum():
                diffs[col] = float("inf")
        max_diff[f"{t}/{c}"] = diffs
        tol_ok = all(v <= (1e-3 if col.startswith("angle") else 1e-5) for col, v in diffs.items())
        if not tol_ok:
            failures.append(f"loop reference differs from the sweep for {t}/{c}: {diffs}")
        t_loop = _median(ct["loop"])
        per_config[f"{t}/{c}"] = {"loop_seconds": t_loop, "vectorised_seconds": _median(ct["vectorised"]),
                                  "ratio": t_loop / _median(ct["vectorised"]), "numbers_equal": tol_ok}
        extrapolated += t_loop * len(dr.CONVENTIONS[t]) * len(seeds)
    res["loop_reference"] = {
        "configurations_timed": [f"{t}/{c} seed 0" for t, c in loop_configs],
        "per_configuration": per_config,
        "extrapolated_seconds": extrapolated,
        "extrapolation": "loop seconds per configuration of each type x (conventions of that type x seeds)",
        "max_abs_diff": max_diff,
    }
    res["ratio_vs_loop"] = extrapolated / res["median_seconds"]
    return res, failures


# ------------------------------------------------------------------------------------------------ detectors


def bench_detectors(sz: Sizes) -> dict:
    """Section 6: seconds per ``test`` of every detector, reference n × d against a drifted n × d sample."""
    from .detectors import DETECTORS, make_detector
    from .drift import drift
    from .probes import LinearProbe

    x_tr, y_tr, x_te, _ = synthetic_probe_data(sz.detector_n, sz.detector_d, seed=1)
    probe = LinearProbe().fit(x_tr, y_tr)
    sample = drift(x_te, "gaussian", "relative", [0.02], seed=0).embeddings[0]
    kwargs = {
        "confidence": {"predict_proba": probe.predict_proba},
        "mmd": {"n_permutations": sz.permutations},
        "mean_cosine": {"n_permutations": sz.permutations},
    }
    out = {}
    _log(f"detectors on {sz.detector_n} vs {sz.detector_n} x {sz.detector_d}")
    for name in DETECTORS:
        t_fit, det = _timed(lambda name=name: make_detector(name, **kwargs.get(name, {})).fit(x_tr))
        det.test(sample)
        times, outs = interleaved({name: lambda det=det: det.test(sample)}, sz.reps)
        out[name] = {
            "seconds_per_test": _median(times[name]), "seconds": times[name], "fit_seconds": t_fit,
            "permutations": getattr(det, "n_permutations", None), "alarm": bool(outs[name].alarm),
            "n_reference": sz.detector_n, "n_sample": sz.detector_n, "d": sz.detector_d,
        }
    return out


# ------------------------------------------------------------------------------------------------ end to end


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None, interval: float = 0.2) -> dict:
    """Wall seconds, exit code and peak RSS (MB) of a command's whole process tree.

    The tree's RSS (the process plus all its descendants, summed) is sampled every ``interval`` s.
    """
    import psutil

    with tempfile.TemporaryFile() as log:
        t0 = time.perf_counter()
        proc = psutil.Popen(cmd, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
        peak = 0
        while proc.poll() is None:
            rss = 0
            with contextlib.suppress(psutil.Error):
                tree = [proc, *proc.children(recursive=True)]
                for p in tree:
                    with contextlib.suppress(psutil.Error):
                        rss += p.memory_info().rss
            peak = max(peak, rss)
            time.sleep(interval)
        seconds = time.perf_counter() - t0
        log.seek(0)
        tail = log.read()[-3000:].decode("utf-8", "replace")
    return {"seconds": seconds, "returncode": proc.returncode, "peak_rss_mb": peak / 2**20, "output_tail": tail}


def measure_end_to_end(out_dir: Path, profile: str = "default") -> dict:
    """Run ``probedrift run --profile <profile>`` cold, then warm, into temporary results and cache.

    Cold = an empty cache directory whose ``models/`` links to the shared converted models, so the
    one-off model conversions are not part of the figure. Warm = the same command again on that
    cache. Merges the figures into ``out_dir/end_to_end.json`` (other keys there are kept).
    """
    from .models import cache_root
    from .profiles import repo_root

    shared_models = cache_root() / "models"
    shared_models.mkdir(parents=True, exist_ok=True)
    record: dict = {}
    with tempfile.TemporaryDirectory(prefix="probedrift-e2e-") as tmp:
        cache = Path(tmp) / "cache"
        cache.mkdir()
        (cache / "models").symlink_to(shared_models, target_is_directory=True)
        env = {**os.environ, "PROBEDRIFT_CACHE_DIR": str(cache)}
        for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
            env.setdefault(key, "1")
        cmd = [sys.executable, "-m", "probedrift.cli", "run", "--profile", profile, "--results", str(Path(tmp) / "results")]
        for phase in ("cold", "warm"):
            _log(f"end to end: probedrift run --profile {profile} ({phase})")
            r = run_measured(cmd, env=env, cwd=str(repo_root()))
            if r["returncode"] != 0:
                raise ProbedriftError(
                    f"probedrift run --profile {profile} ({phase}) failed with exit code {r['returncode']}:\n"
                    f"{r['output_tail']}",
                    "run the profile on its own to see the full error, then rerun the benchmark",
                )
            record[f"study_{profile}_seconds_{phase}"] = r["seconds"]
            record[f"study_{profile}_peak_rss_mb_{phase}"] = r["peak_rss_mb"]
    record[f"study_{profile}_peak_rss_mb"] = max(record[f"study_{profile}_peak_rss_mb_cold"],
                                                 record[f"study_{profile}_peak_rss_mb_warm"])
    path = Path(out_dir) / "end_to_end.json"
    old = _read_json(path) or {}
    merged = {**old, **record, "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(merged, indent=1))
    return merged


def _read_json(path: Path) -> dict | None:
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def _seconds_of(record) -> float | None:
    if isinstance(record, (int, float)) and not isinstance(record, bool):
        return float(record)
    if isinstance(record, dict):
        for key in ("total", "seconds", "wall_seconds"):
            if isinstance(record.get(key), (int, float)):
                return float(record[key])
    return None


def end_to_end_figures(out_dir: Path, results_root: Path) -> dict:
    """Study and test wall times from ``end_to_end.json`` and ``default/provenance.json`` (None if absent)."""
    measured = _read_json(Path(out_dir) / "end_to_end.json") or {}
    prov = _read_json(Path(results_root) / "default" / "provenance.json") or {}
    timings = prov.get("timings_seconds") if isinstance(prov.get("timings_seconds"), dict) else {}
    out = {key: _seconds_of(measured.get(key)) for key in END_TO_END_KEYS}
    for phase in ("cold", "warm"):
        key = f"study_default_seconds_{phase}"
        if out[key] is None:
            out[key] = _seconds_of(prov.get(phase)) or _seconds_of(timings.get(phase))
    detail = {
        "end_to_end_json": str(Path(out_dir) / "end_to_end.json") if measured else None,
        "provenance_json": str(Path(results_root) / "default" / "provenance.json") if prov else None,
        "last_default_run_seconds": _seconds_of(timings.get("total")),
    }
    return {**out, "detail": detail}


# ------------------------------------------------------------------------------------------------ report


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python numbers, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _fmt(x, spec: str = ".3g", unit: str = "") -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "not measured in this run"
    return f"{x:{spec}}{unit}"


def render_markdown(report: dict) -> str:
    """``bench.md``: the machine, then tables of the headline figures, extraction and detectors."""
    m, ex, sw, det = report["machine"], report["extraction"], report["drift_sweep"], report["detectors"]
    setup = ex["setup"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    env = ", ".join(f"{k}={v}" for k, v in m["environment"].items() if v is not None)
    lines = [
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores ({m['physical_cores']} physical), "
        f"torch threads {m['torch_threads']}",
        f"- CPU flags for matmul: {flags}",
        f"- GPU: {m['gpu'] or 'none (all figures on CPU)'}",
        f"- dtype: {m['dtype']} unless stated; torch {m['torch']}, transformers {m['transformers']}, "
        f"sentence-transformers {m['sentence_transformers']}, Python {m['python']}",
        f"- thread environment: {env or 'no OMP_/MKL_ variables set'}",
        f"- date: {m['date']}; load average at start / end: "
        f"{m['load_average_start'][0]:.2f} / {m['load_average_end'][0]:.2f}",
        f"- run: {'quick (tiny sizes: checks the code, not the speed)' if report['quick'] else 'full'}, "
        f"median of {report['sizes']['reps']} repetition(s) after a warm-up, variants timed in interleaved rounds",
        "",
        "## Headline figures",
        "",
        "| figure | value | target | how it is measured |",
        "|---|---|---|---|",
    ]

    def target(key):
        if key not in TARGETS:
            return "—"
        v = report[key]
        met = v is not None and v >= TARGETS[key]
        return f"≥ {TARGETS[key]:g}× ({'met' if met else 'missed'})"

    n_texts = setup["n_texts"]
    rows = [
        ("ratio_vs_naive", _fmt(report["ratio_vs_naive"], ".2f", "×"),
         f"texts/s of `extract` (batch {setup['batch_size']}, {n_texts} texts) / texts/s of a one-text causal-LM "
         f"loop with `output_hidden_states=True` ({ex['naive']['n_texts']} texts evenly spaced in length)"),
        ("ratio_vs_sentence_transformers", _fmt(report["ratio_vs_sentence_transformers"], ".2f", "×"),
         "texts/s of `extract` / sentence-transformers `encode`, last layer, same texts, batch size and max length"),
        ("ratio_vs_sentence_transformers_mid_layer", _fmt(report["ratio_vs_sentence_transformers_mid_layer"], ".2f", "×"),
         f"`extract` of hidden state {setup['mid_layer']} (truncated) / sentence-transformers, which always runs "
         "all blocks"),
        ("truncation_cost_ratio", _fmt(report["truncation_cost_ratio"], ".3f"),
         f"t(hidden state {setup['mid_layer']}) / t(hidden state {setup['n_layers']})"),
        ("truncation_layer_fraction", _fmt(report["truncation_layer_fraction"], ".3f"),
         f"{setup['mid_layer']} / {setup['n_layers']} blocks: the cost ratio if only blocks cost time"),
        ("hardware_fraction", _fmt(report["hardware_fraction"], ".3f"),
         "best over batch sizes ≥ 8 of 2·P_blocks·tokens/t ÷ float32 matmul FLOP/s"),
        ("cache_speedup", _fmt(report["cache_speedup"], ".3g", "×"),
         f"first `extract` with the cache on / identical repeat ({ex['cache']['n_texts']} texts of median length)"),
        ("drift_sweep_seconds", _fmt(report["drift_sweep_seconds"], ".2f", " s"),
         f"{sw['type_conventions']} type/conventions × {sw['n_sigmas']} σ × {sw['n_seeds']} seeds on "
         f"{sw['n']} × {sw['d']}, predictions and metrics included"),
        ("drift_sweep_ratio_vs_loop", _fmt(report["drift_sweep_ratio_vs_loop"], ".3g", "×"),
         "per-sample loop (timed on one seed of one convention per type, extrapolated) / vectorised sweep"),
        ("study_default_seconds_cold", _fmt(report["study_default_seconds_cold"], ".0f", " s"),
         "`probedrift run --profile default`, empty embedding cache"),
        ("study_default_seconds_warm", _fmt(report["study_default_seconds_warm"], ".0f", " s"),
         "the same, second run on the filled cache"),
        ("study_default_peak_rss_mb", _fmt(report["study_default_peak_rss_mb"], ".0f", " MB"),
         "peak resident memory of the run's process tree"),
        ("make_test_seconds", _fmt(report["make_test_seconds"], ".0f", " s"), "wall time of `make test`"),
    ]
    for key, value, how in rows:
        lines.append(f"| `{key}` | {value} | {target(key)} | {how} |")
    last = report["end_to_end_detail"].get("last_default_run_seconds")
    if last is not None and report["study_default_seconds_cold"] is None:
        lines += ["", f"The last recorded default run took {last:.0f} s (cache state not recorded)."]

    lines += [
        "",
        "## Extraction",
        "",
        f"{setup['model']}, mean pooling, max length {setup['max_length']}, {setup['n_texts']} comments texts "
        f"({setup['tokens']} tokens; length-sorted batches of {setup['batch_size']} compute {setup['padded_tokens']}, "
        f"{100 * setup['padding_overhead']:.0f}% padding; sorted by character count, as sentence-transformers sorts, "
        f"the same batches would compute {setup['padded_tokens_character_sort']}). "
        "FLOP/s = 2 × block parameters run × non-padding tokens / t "
        f"({setup['block_params_full'] / 1e6:.1f} M parameters in {setup['n_layers']} blocks; the attention "
        "scores and the embedding lookup are not counted).",
        "",
        "| variant | texts | texts/s | tokens/s | GFLOP/s | fraction of matmul rate |",
        "|---|---|---|---|---|---|",
    ]
    mm = ex["matmul_float32"]["flops_per_s"]

    def row(name, th, rate=mm):
        frac = th["flops_per_s"] / rate if th.get("flops_per_s") else None
        lines.append(f"| {name} | {th['n_texts']} | {th['texts_per_s']:.3g} | {th['tokens_per_s']:.4g} | "
                     f"{th['flops_per_s'] / 1e9:.3g} | {_fmt(frac, '.3f')} |")

    row(f"probedrift, hidden state {setup['n_layers']} (last)", ex["probedrift_last"])
    row("sentence-transformers, last layer", ex["sentence_transformers"])
    row(f"probedrift, hidden state {setup['mid_layer']} (truncated)", ex["probedrift_mid"])
    row("naive loop, one text at a time (LM head included, not counted)", ex["naive"])
    for bs, th in ex["batch_sweep"].items():
        row(f"probedrift, batch {bs} ({th['n_texts']} texts around the median length)", th)
    b = ex["bfloat16"]
    row(f"probedrift, bfloat16 ({b['bfloat16']['n_texts']} texts around the median length)", b["bfloat16"],
        b["matmul_bfloat16"]["flops_per_s"])
    row("probedrift, float32 on the same texts", b["float32"])
    lines += [
        "",
        f"Dense matmul rate (`torch.matmul`, faster of A·B and A·Bᵀ, median): float32 {mm / 1e9:.3g} GFLOP/s "
        f"({ex['matmul_float32']['n']}² matrices), bfloat16 {b['matmul_bfloat16']['flops_per_s'] / 1e9:.3g} GFLOP/s "
        f"({b['matmul_bfloat16']['n']}², {b['matmul_bfloat16']['layout']}); the bfloat16 row's fraction is "
        "relative to the bfloat16 rate.",
        "",
        "| agreement | max abs diff | max rel diff | min cosine |",
        "|---|---|---|---|",
    ]
    for label, key in (("sentence-transformers vs probedrift, last layer", "st_vs_probedrift_last"),
                       ("naive loop vs probedrift, last layer", "naive_vs_probedrift_last"),
                       (f"naive loop vs probedrift, hidden state {setup['mid_layer']}", "naive_vs_probedrift_mid")):
        c = ex[key]
        lines.append(f"| {label} | {c['max_abs_diff']:.2g} | {c['max_rel_diff']:.2g} | {c['min_cosine']:.7f} |")
    c = b["vs_float32"]
    lines.append(f"| bfloat16 vs float32 | {c['max_abs_diff']:.2g} | {c['max_rel_diff']:.2g} | {c['min_cosine']:.5f} |")
    shares = ex["forward_profile"]["group_share"]
    lines += [
        "",
        f"Forward time by operator (profiler, one batch of {ex['forward_profile']['n_texts']} texts of median "
        f"length): matmul {100 * shares['matmul']:.0f}%, attention {100 * shares['attention']:.0f}%, "
        f"other (norms, activations, rotary embedding, copies) {100 * shares['other']:.0f}%.",
        "",
        "## Drift sweep and detectors",
        "",
        "| configuration (seed 0, all σ) | per-sample loop | vectorised | ratio | numbers equal |",
        "|---|---|---|---|---|",
    ]
    for cfg, v in sw["loop_reference"]["per_configuration"].items():
        lines.append(f"| {cfg} | {v['loop_seconds']:.3g} s | {v['vectorised_seconds']:.3g} s | "
                     f"{v['ratio']:.3g}× | {'yes' if v['numbers_equal'] else 'NO'} |")
    lines += [
        "",
        "| detector | seconds per test | permutations | fit seconds |",
        "|---|---|---|---|",
    ]
    for name, v in det.items():
        lines.append(f"| {name} ({v['n_reference']} vs {v['n_sample']} × {v['d']}) | {v['seconds_per_test']:.3g} | "
                     f"{v['permutations'] if v['permutations'] is not None else '—'} | {v['fit_seconds']:.3g} |")
    if report["failures"]:
        lines += ["", "## Failed checks", ""] + [f"- {f}" for f in report["failures"]]
    return "\n".join(lines) + "\n"


def run_bench(quick: bool = False, out_dir: str | os.PathLike = os.path.join("results", "bench"),
              end_to_end: bool = False) -> int:
    """Run the benchmark, write ``bench.json`` and ``bench.md`` to ``out_dir``; 0 if every check passed.

    ``end_to_end`` first runs the default study cold and warm (about half an hour) and records it in
    ``end_to_end.json``.
    """
    from .profiles import repo_root

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProbedriftError(f"cannot create the output directory {str(out)!r}: {exc}",
                              "pass a writable directory with --out") from None
    for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(key, "1")
    sz = QUICK if quick else FULL
    t0 = _START[0] = time.perf_counter()
    if end_to_end:
        measure_end_to_end(out)
    machine = machine_info("float32")
    sections = {}
    sections["extraction"], (extraction, failures) = _timed(lambda: bench_extraction(sz))
    sections["drift_sweep"], (sweep_res, sweep_failures) = _timed(lambda: bench_drift_sweep(sz))
    failures += sweep_failures
    sections["detectors"], detectors = _timed(lambda: bench_detectors(sz))
    e2e = end_to_end_figures(out, repo_root() / "results")
    machine["load_average_end"] = list(os.getloadavg())
    setup = extraction["setup"]
    pd_last, pd_mid = extraction["probedrift_last"], extraction["probedrift_mid"]
    st = extraction["sentence_transformers"]
    report = {
        "ratio_vs_naive": pd_last["texts_per_s"] / extraction["naive"]["texts_per_s"],
        "ratio_vs_sentence_transformers": pd_last["texts_per_s"] / st["texts_per_s"],
        "ratio_vs_sentence_transformers_mid_layer": pd_mid["texts_per_s"] / st["texts_per_s"],
        "truncation_cost_ratio": pd_mid["median_seconds"] / pd_last["median_seconds"],
        "truncation_layer_fraction": setup["mid_layer"] / setup["n_layers"],
        "hardware_fraction": max(v["hardware_fraction"] for k, v in extraction["batch_sweep"].items() if int(k) >= 8),
        "hardware_fraction_per_batch": {k: v["hardware_fraction"] for k, v in extraction["batch_sweep"].items()},
        "cache_speedup": extraction["cache"]["speedup"],
        "drift_sweep_seconds": sweep_res["median_seconds"],
        "drift_sweep_ratio_vs_loop": sweep_res["ratio_vs_loop"],
        **{k: e2e[k] for k in END_TO_END_KEYS},
        "ratio_vs_naive_tokens": pd_last["tokens_per_s"] / extraction["naive"]["tokens_per_s"],
        "bfloat16_speedup_vs_float32": extraction["bfloat16"]["speedup_vs_float32"],
        "quick": quick,
        "sizes": asdict(sz),
        "machine": machine,
        "extraction": extraction,
        "drift_sweep": sweep_res,
        "detectors": detectors,
        "end_to_end_detail": e2e["detail"],
        "failures": failures,
        "section_seconds": sections,
        "bench_seconds": time.perf_counter() - t0,
    }
    report = _clean(report)
    (out / "bench.json").write_text(json.dumps(report, indent=1, allow_nan=False))
    (out / "bench.md").write_text(render_markdown(report))
    _log(f"wrote {out / 'bench.json'} and {out / 'bench.md'} in {report['bench_seconds']:.0f} s")
    for key in HEADLINE_KEYS:
        target = f"  (target >= {TARGETS[key]:g})" if key in TARGETS else ""
        _log(f"{key}: {_fmt(report[key], '.4g')}{target}")
    for f in failures:
        print(f"probedrift bench: check failed: {f}", file=sys.stderr)
    return 1 if failures else 0
