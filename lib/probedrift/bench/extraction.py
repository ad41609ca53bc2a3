"""Extraction measurements: throughput against the baselines, truncation cost, hardware fraction,
the other dtype, and the cache (sections 1–4 of the benchmark)."""

from __future__ import annotations

import copy
import dataclasses
import gc
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from probedrift.core.cache import ArrayCache
from probedrift.inputs import datasets, embed, models
from probedrift.inputs.embed import find_blocks

from .baselines import compare_embeddings, embeddings_agree, load_causal_lm, naive_embed, sentence_transformer
from .config import BATCH_SIZES, MODEL, POOLING, Sizes
from .hardware import linear_shapes, matmul_rate, model_shape_matmul_rate, primary_dtype
from .timing import interleaved, log, median, timed

MATMUL_OPS = {"aten::mm", "aten::addmm", "aten::bmm", "aten::linear", "aten::matmul", "aten::baddbmm"}


def spread(order: np.ndarray, k: int) -> np.ndarray:
    """k indices evenly spaced along ``order`` (texts sorted by length): a subset with the same spread."""
    k = min(k, order.size)
    return order[np.unique(np.linspace(0, order.size - 1, k).round().astype(int))]


def around_median(order: np.ndarray, k: int) -> np.ndarray:
    """k indices contiguous along ``order`` (texts sorted by length), centred on the median."""
    start = max(0, min(order.size - k, order.size // 2 - k // 2))
    return order[start:start + k]


def padded_tokens(lengths: np.ndarray, batch_size: int) -> int:
    """Tokens a length-sorted batched forward computes: Σ over batches of max length × batch rows."""
    s = np.sort(np.asarray(lengths))[::-1]
    return int(sum(s[i] * len(s[i:i + batch_size]) for i in range(0, s.size, batch_size)))


def rows_per_batch(lengths: np.ndarray, batch_size: int) -> int:
    """Mean padded tokens of one length-sorted batch: the row count of the forward's matmuls."""
    n_batches = -(-np.asarray(lengths).size // batch_size)
    return max(1, round(padded_tokens(lengths, batch_size) / n_batches))


def _block_params(model, n_blocks: int) -> int:
    blocks = find_blocks(model.model)
    return int(sum(p.numel() for b in list(blocks)[:n_blocks] for p in b.parameters()))


@dataclass
class ExtractionRun:
    """What the extraction measurements share: the model in the primary dtype on the device, the
    texts, their token lengths and length order (longest first), and the block parameter counts."""

    model: object
    texts: list[str]
    lengths: np.ndarray
    order: np.ndarray
    sizes: Sizes
    device: str
    dtype: str
    params_full: int
    params_mid: int
    cpu_matmul_rates: list[dict] = field(default_factory=list)

    @property
    def mid(self) -> int:
        """The middle hidden state, the truncated extraction's target."""
        return self.model.num_layers // 2

    @property
    def on_cuda(self) -> bool:
        """Whether the extraction runs on the GPU."""
        return self.device == "cuda"

    def texts_at(self, idx) -> list[str]:
        """The texts at indices ``idx``."""
        return [self.texts[i] for i in idx]

    def extraction(self, texts: list[str], layer: int, batch_size: int | None = None, model=None,
                   cache=False) -> Callable[[], np.ndarray]:
        """A call of ``embed.extract`` on ``texts`` at one hidden state, ready to be timed."""

        m = model if model is not None else self.model
        bs = batch_size or self.sizes.batch_size
        return lambda: embed.extract(m, texts, [layer], POOLING, self.sizes.max_length, False, bs, cache=cache,
                                     progress=False)[layer]

    def throughput(self, seconds: list[float], idx, params: int | None = None) -> dict:
        """Texts/s, non-padding tokens/s and FLOP/s (2 · block parameters · tokens / t) of ``idx``."""
        t = median(seconds)
        tokens = int(self.lengths[idx].sum())
        flops_per_token = 2.0 * (params if params is not None else self.params_full)
        return {"seconds": seconds, "median_seconds": t, "n_texts": len(idx), "tokens": tokens,
                "texts_per_s": len(idx) / t, "tokens_per_s": tokens / t, "flops_per_s": flops_per_token * tokens / t}

    def shapes_rate(self, idx, batch_size: int, dtype: str) -> dict:
        """The device's matmul rate at this model's linear shapes for batches of ``idx``."""

        rows = rows_per_batch(self.lengths[idx], batch_size)
        shapes = linear_shapes(find_blocks(self.model.model))
        return model_shape_matmul_rate(shapes, rows, dtype, self.device, self.sizes.reps)


def _prepare(sz: Sizes, device: str) -> tuple[ExtractionRun, dict]:
    """Load the texts and the model; the run's shared state and its ``setup`` record."""

    texts = datasets.prepare("comments", sz.n_per_class, seed=0).texts
    dtype = primary_dtype(device)
    t_load, model = timed(lambda: models.load(MODEL, dtype=dtype, device=device))
    lengths = np.array([len(x) for x in embed.prepare_inputs(model, texts, sz.max_length, False)])
    run = ExtractionRun(model, texts, lengths, np.argsort(-lengths, kind="stable"), sz, device, dtype,
                        _block_params(model, model.num_layers), _block_params(model, model.num_layers // 2))
    setup = {
        "model": MODEL, "n_layers": model.num_layers, "hidden_size": model.hidden_size, "mid_layer": run.mid,
        "pooling": POOLING, "max_length": sz.max_length, "batch_size": sz.batch_size, "n_texts": len(texts),
        "tokens": int(lengths.sum()), "padded_tokens": padded_tokens(lengths, sz.batch_size),
        "block_params_full": run.params_full, "block_params_mid": run.params_mid, "load_seconds": t_load,
        "flops_formula": "2 * block_params * non_padding_tokens", "device": device, "dtype": dtype,
    }
    setup["padding_overhead"] = setup["padded_tokens"] / setup["tokens"] - 1.0
    # sentence-transformers sorts by character count, not token count: its batches carry more padding.
    by_chars = lengths[np.argsort([-len(t) for t in texts], kind="stable")]
    setup["padded_tokens_character_sort"] = int(sum(
        by_chars[i:i + sz.batch_size].max() * by_chars[i:i + sz.batch_size].size
        for i in range(0, by_chars.size, sz.batch_size)
    ))
    return run, {"setup": setup}


def _check(res: dict, key: str, dtype: str, failures: list[str], message: str | None = None) -> None:
    if not embeddings_agree(res[key], dtype):
        failures.append(f"{message or key}: {res[key]}")


def _versus_sentence_transformers(run: ExtractionRun, res: dict, failures: list[str]) -> dict:
    """Sections 1 + 2: extract at the last and the middle hidden state against sentence-transformers,
    all texts, interleaved; returns the first output of each variant."""

    sz = run.sizes
    log("loading sentence-transformers")
    st = sentence_transformer(str(models.converted_dir(MODEL)), sz.max_length, run.device, run.dtype)
    warm = run.texts_at(spread(run.order, sz.warmup_texts))

    def encode_warm():
        return st.encode(warm, batch_size=sz.batch_size)

    def encode_all():
        return st.encode(run.texts, batch_size=sz.batch_size, convert_to_numpy=True, show_progress_bar=False)

    for fn in (run.extraction(warm, -1), run.extraction(warm, run.mid), encode_warm):
        fn()
    log(f"extraction: {len(run.texts)} texts, {sz.reps} interleaved rounds")
    times, outs = interleaved({
        "probedrift_last": run.extraction(run.texts, -1),
        "sentence_transformers": encode_all,
        "probedrift_mid": run.extraction(run.texts, run.mid),
    }, sz.reps)
    everything = np.arange(len(run.texts))
    res["probedrift_last"] = run.throughput(times["probedrift_last"], everything)
    res["sentence_transformers"] = run.throughput(times["sentence_transformers"], everything)
    res["probedrift_mid"] = run.throughput(times["probedrift_mid"], everything, run.params_mid)
    res["st_vs_probedrift_last"] = compare_embeddings(outs["sentence_transformers"], outs["probedrift_last"])
    _check(res, "st_vs_probedrift_last", run.dtype, failures, "sentence-transformers embeddings differ")
    st = None  # drop the model before the next section loads one
    gc.collect()
    return outs


def _operator_group(name: str) -> str:
    low = name.lower()
    if name in MATMUL_OPS or any(k in low for k in ("gemm", "cutlass", "xmma")):
        return "matmul"
    if any(k in low for k in ("scaled_dot_product", "attention", "flash", "fmha")):
        return "attention"
    return "other"


def _profiled_times(prof, on_cuda: bool) -> list[tuple[str, float]]:
    """(name, time) of every profiled event with time: self CPU time of the operators on CPU; on CUDA
    the device time of the kernels only (an operator's device time repeats its kernels')."""
    from torch.autograd import DeviceType  # heavy to import (seconds); only model work needs it

    if on_cuda:
        events = [(e.key, e.self_device_time_total) for e in prof.key_averages() if e.device_type == DeviceType.CUDA]
    else:
        events = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    return [(k, t) for k, t in events if t > 0]


def _forward_profile(run: ExtractionRun, texts: list[str]) -> dict:
    """Share of forward time per operator group (matmul, attention, other) for one batch, from the
    torch profiler: self CPU time on CPU, kernel time on CUDA."""
    from torch.profiler import ProfilerActivity, profile  # heavy to import (seconds); only model work needs it

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if run.on_cuda else [])
    with profile(activities=activities) as prof:
        run.extraction(texts, -1, batch_size=len(texts))()
    events = _profiled_times(prof, run.on_cuda)
    total = sum(t for _, t in events) or 1.0
    groups = {"matmul": 0.0, "attention": 0.0, "other": 0.0}
    for key, t in events:
        groups[_operator_group(key)] += t
    top = sorted(events, key=lambda e: -e[1])[:8]
    return {
        "n_texts": len(texts),
        "time": "kernel time" if run.on_cuda else "self CPU time",
        "group_share": {k: v / total for k, v in groups.items()},
        "top_ops": {k: t / total for k, t in top},
    }


def _cpu_reference(run: ExtractionRun, res: dict) -> tuple[dict[int, float], float]:
    """The float32 square-matmul rate, median over every timing of the run: one rate for all batches."""
    mm32 = median([r["flops_per_s"] for r in run.cpu_matmul_rates])
    res["matmul_float32"] = {"n": run.cpu_matmul_rates[-1]["n"], "flops_per_s": mm32,
                             "all_flops_per_s": [r["flops_per_s"] for r in run.cpu_matmul_rates]}
    res["matmul_reference"] = {"kind": "square", "dtype": "float32", "flops_per_s": mm32}
    return dict.fromkeys(BATCH_SIZES, mm32), mm32


def _cuda_reference(run: ExtractionRun, res: dict, sidx) -> tuple[dict[int, float], float]:
    """The GPU's matmul rate at the model's linear shapes and each batch's row count, in the primary dtype."""
    everything = np.arange(len(run.texts))
    main = run.shapes_rate(everything, run.sizes.batch_size, run.dtype)
    per_batch = {bs: run.shapes_rate(sidx, bs, run.dtype) for bs in BATCH_SIZES}
    res["matmul_float32"] = run.shapes_rate(everything, run.sizes.batch_size, "float32")
    res["matmul_reference"] = {"kind": "model shapes", "dtype": run.dtype, "flops_per_s": main["flops_per_s"],
                               "main_run": main, "per_batch": {str(bs): r for bs, r in per_batch.items()}}
    return {bs: r["flops_per_s"] for bs, r in per_batch.items()}, main["flops_per_s"]


def _batch_sweep(run: ExtractionRun, res: dict) -> None:
    """Section 3: throughput per batch size on texts around the median length, and its fraction of the
    matmul rate. The texts are contiguous in length order, as in a length-sorted run, so a large batch
    is not charged for padding the full run would not have. On CPU the matmul rate is re-measured in
    every round (the load may change)."""
    sz = run.sizes
    sidx = around_median(run.order, sz.batch_sweep_texts)
    sub = run.texts_at(sidx)
    log(f"batch sizes {BATCH_SIZES} on {len(sub)} texts")
    for bs in BATCH_SIZES:
        run.extraction(sub[:2], -1, bs)()
    variants = {f"batch_{bs}": run.extraction(sub, -1, bs) for bs in BATCH_SIZES}
    if not run.on_cuda:
        variants["matmul"] = lambda: run.cpu_matmul_rates.append(matmul_rate("float32", sz.matmul_n, 3))
    bt, _ = interleaved(variants, sz.reps)
    rates, main_rate = _cuda_reference(run, res, sidx) if run.on_cuda else _cpu_reference(run, res)
    per_batch = {}
    for bs in BATCH_SIZES:
        th = run.throughput(bt[f"batch_{bs}"], sidx)
        th["padded_tokens"] = padded_tokens(run.lengths[sidx], bs)
        th["hardware_fraction"] = th["flops_per_s"] / rates[bs]
        per_batch[str(bs)] = th
    res["batch_sweep"] = per_batch
    res["hardware_fraction_main_run"] = res["probedrift_last"]["flops_per_s"] / main_rate


def _cache_speedup(run: ExtractionRun, res: dict, failures: list[str]) -> None:
    """Section 4: a repeated identical extraction against the first, a fresh temporary cache per round."""

    sz = run.sizes
    csub = run.texts_at(around_median(run.order, sz.cache_texts))
    log(f"cache on {len(csub)} texts")
    first_t, hit_t, hits = [], [], []
    for _ in range(sz.reps):
        with tempfile.TemporaryDirectory(prefix="probedrift-bench-cache-") as tmp:
            store = ArrayCache(tmp)
            t1, a1 = timed(run.extraction(csub, -1, cache=store))
            info = embed.ExtractionInfo()
            t2, a2 = timed(lambda store=store, info=info: embed.extract(
                run.model, csub, [-1], POOLING, sz.max_length, False,
                sz.batch_size, cache=store, progress=False, info=info)[-1])
            first_t.append(t1)
            hit_t.append(t2)
            hits.append(bool(info.cache_hit and np.array_equal(a1, a2)))
    res["cache"] = {"n_texts": len(csub), "first_seconds": first_t, "repeat_seconds": hit_t,
                    "speedup": median(first_t) / median(hit_t), "repeat_was_identical_hit": all(hits)}
    if not all(hits):
        failures.append("the repeated cached extraction was not an identical cache hit")


def _naive_loop(run: ExtractionRun, res: dict, failures: list[str], outs: dict) -> None:
    """Section 1 (naive): one text at a time through the causal LM, on a length-spread subset, with
    its embeddings checked against ``extract``'s at the last and the middle hidden state."""

    sz = run.sizes
    nidx = spread(run.order, sz.naive_texts)
    ntexts = run.texts_at(nidx)
    log(f"naive loop on {len(ntexts)} texts")
    lm = load_causal_lm(str(models.converted_dir(MODEL)), run.dtype, run.device)
    tokenizer = run.model.tokenizer  # the same tokenizer files; one text at a time needs no padding
    naive_embed(lm, tokenizer, ntexts[:1], sz.max_length, (-1,), run.device)
    def naive_all():
        return naive_embed(lm, tokenizer, ntexts, sz.max_length, (-1, run.mid), run.device)

    nt, nouts = interleaved({"naive": naive_all}, sz.reps)
    res["naive"] = run.throughput(nt["naive"], nidx)
    res["naive"]["subset"] = "texts evenly spaced in token-length order"
    res["naive_vs_probedrift_last"] = compare_embeddings(nouts["naive"][-1], outs["probedrift_last"][nidx])
    res["naive_vs_probedrift_mid"] = compare_embeddings(nouts["naive"][run.mid], outs["probedrift_mid"][nidx])
    for key in ("naive_vs_probedrift_last", "naive_vs_probedrift_mid"):
        _check(res, key, run.dtype, failures)
    lm = tokenizer = None  # drop the model before the next section loads one
    gc.collect()


def _model_in(run: ExtractionRun, dtype_name: str):
    """The benchmark model in ``dtype_name``: a bfloat16 cast of the float32 model (what loading in
    bfloat16 does), or a fresh float32 load."""
    import torch  # heavy to import (seconds); only model work needs it


    if dtype_name == run.dtype:
        return run.model
    if dtype_name == "bfloat16":
        return dataclasses.replace(run.model, model=copy.deepcopy(run.model.model).to(torch.bfloat16),
                                   dtype=torch.bfloat16)
    return models.load(MODEL, dtype=dtype_name, device=run.device)


def _dtype_comparison(run: ExtractionRun) -> dict:
    """bfloat16 against float32 on the same texts, interleaved: tokens/s of each, the speed-up, the
    bfloat16 fraction of the bfloat16 matmul rate and the embeddings' agreement. On CPU the texts are a
    few around the median length; on CUDA all of them."""
    sz = run.sizes
    bidx = np.arange(len(run.texts)) if run.on_cuda else around_median(run.order, sz.bf16_texts)
    btexts = run.texts_at(bidx)
    log(f"bfloat16 and float32 on {len(btexts)} texts")
    if run.on_cuda:
        rate16 = run.shapes_rate(bidx, sz.batch_size, "bfloat16")
    else:
        rate16 = matmul_rate("bfloat16", sz.matmul_n, sz.reps)
    by_dtype = {name: _model_in(run, name) for name in ("bfloat16", "float32")}
    for m in by_dtype.values():
        run.extraction(btexts[:1], -1, model=m)()
    bft, bouts = interleaved({name: run.extraction(btexts, -1, model=m) for name, m in by_dtype.items()}, sz.reps)
    b16, b32 = run.throughput(bft["bfloat16"], bidx), run.throughput(bft["float32"], bidx)
    del by_dtype
    gc.collect()
    return {
        "bfloat16": b16, "float32": b32, "speedup_vs_float32": b32["median_seconds"] / b16["median_seconds"],
        "matmul_bfloat16": rate16, "hardware_fraction": b16["flops_per_s"] / rate16["flops_per_s"],
        "vs_float32": compare_embeddings(bouts["bfloat16"], bouts["float32"]),
    }


def bench_extraction(sz: Sizes, device: str = "cpu") -> tuple[dict, list[str]]:
    """Sections 1–4 on ``device`` ("cpu" or "cuda"): throughput against sentence-transformers and a naive
    loop, truncation, hardware fraction per batch size, bfloat16 against float32, and the cache.

    The main measurements run in the study's default dtype for the device (float32 on CPU, bfloat16 on
    CUDA). Returns the nested results and the failed checks.
    """
    failures: list[str] = []
    run, res = _prepare(sz, device)
    if not run.on_cuda:
        log("matmul rate (float32)")
        run.cpu_matmul_rates.append(matmul_rate("float32", sz.matmul_n, sz.reps))
    outs = _versus_sentence_transformers(run, res, failures)
    log("forward profile")
    res["forward_profile"] = _forward_profile(run, run.texts_at(around_median(run.order, sz.profile_texts)))
    _batch_sweep(run, res)
    _cache_speedup(run, res, failures)
    _naive_loop(run, res, failures, outs)
    res["bfloat16"] = _dtype_comparison(run)
    del run
    gc.collect()
    return res, failures
