"""``bench.json`` and ``bench.md``: JSON-safe values and the markdown report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import LOOP_TIMES, TARGETS


def clean(obj):
    """JSON-safe copy: numpy scalars to Python numbers, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def fmt(x, spec: str = ".3g", unit: str = "") -> str:
    """``x`` formatted with ``spec`` and ``unit``, or "not measured in this run" for None / NaN."""
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "not measured in this run"
    return f"{x:{spec}}{unit}"


def _gpu_line(m: dict) -> str:
    if m["device"] == "cuda":
        return f"{m['gpu']} (extraction measured on it, CUDA {m.get('cuda')})"
    if m["gpu"]:
        return f"{m['gpu']} (not used: --device cpu)"
    return "none (all figures on CPU)"


def _machine_lines(report: dict) -> list[str]:
    m = report["machine"]
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in m["cpu_flags"].items())
    env = ", ".join(f"{k}={v}" for k, v in m["environment"].items() if v is not None)
    return [
        "## Machine",
        "",
        f"- CPU: {m['cpu_model']}, {m['logical_cores']} logical cores ({m['physical_cores']} physical), "
        f"torch threads {m['torch_threads']}",
        f"- CPU flags for matmul: {flags}",
        f"- GPU: {_gpu_line(m)}",
        f"- device: {m['device']}; dtype: {m['dtype']} unless stated; torch {m['torch']}, "
        f"transformers {m['transformers']}, sentence-transformers {m['sentence_transformers']}, Python {m['python']}",
        f"- thread environment: {env or 'no OMP_/MKL_ variables set'}",
        f"- date: {m['date']}; load average at start / end: "
        f"{m['load_average_start'][0]:.2f} / {m['load_average_end'][0]:.2f}",
        f"- run: {'quick (tiny sizes: checks the code, not the speed)' if report['quick'] else 'full'}, "
        f"median of {report['sizes']['reps']} repetition(s) after a warm-up, variants timed in interleaved rounds",
        "",
    ]


def _target(report: dict, key: str) -> str:
    if key not in TARGETS:
        return "—"
    v = report[key]
    met = v is not None and v >= TARGETS[key]
    return f"≥ {TARGETS[key]:g}× ({'met' if met else 'missed'})"


def _extraction_rows(report: dict) -> list[tuple[str, str, str]]:
    ex = report["extraction"]
    setup, ref = ex["setup"], ex["matmul_reference"]
    if ref["kind"] == "square":
        rate = "float32 matmul FLOP/s"
    else:
        rate = f"the GPU's {ref['dtype']} matmul FLOP/s at the model's linear shapes and the batch's row count"
    return [
        ("ratio_vs_naive", fmt(report["ratio_vs_naive"], ".2f", "×"),
         f"texts/s of `extract` (batch {setup['batch_size']}, {setup['n_texts']} texts) / texts/s of a one-text "
         f"causal-LM loop with `output_hidden_states=True` ({ex['naive']['n_texts']} texts evenly spaced in length)"),
        ("ratio_vs_sentence_transformers", fmt(report["ratio_vs_sentence_transformers"], ".2f", "×"),
         "texts/s of `extract` / sentence-transformers `encode`, last layer, same texts, batch size and max length"),
        ("ratio_vs_sentence_transformers_mid_layer",
         fmt(report["ratio_vs_sentence_transformers_mid_layer"], ".2f", "×"),
         f"`extract` of hidden state {setup['mid_layer']} (truncated) / sentence-transformers, which always runs "
         "all blocks"),
        ("truncation_cost_ratio", fmt(report["truncation_cost_ratio"], ".3f"),
         f"t(hidden state {setup['mid_layer']}) / t(hidden state {setup['n_layers']})"),
        ("truncation_layer_fraction", fmt(report["truncation_layer_fraction"], ".3f"),
         f"{setup['mid_layer']} / {setup['n_layers']} blocks: the cost ratio if only blocks cost time"),
        ("hardware_fraction", fmt(report["hardware_fraction"], ".3f"),
         f"best over batch sizes ≥ 8 of 2·P_blocks·tokens/t ÷ {rate}"),
        ("cache_speedup", fmt(report["cache_speedup"], ".3g", "×"),
         f"first `extract` with the cache on / identical repeat ({ex['cache']['n_texts']} texts of median length)"),
    ]


def _study_rows(report: dict) -> list[tuple[str, str, str]]:
    sw = report["drift_sweep"]
    return [
        ("drift_sweep_seconds", fmt(report["drift_sweep_seconds"], ".2f", " s"),
         f"{sw['type_conventions']} type/conventions × {sw['n_sigmas']} σ × {sw['n_seeds']} seeds on "
         f"{sw['n']} × {sw['d']}, predictions and metrics included"),
        ("drift_sweep_ratio_vs_loop", fmt(report["drift_sweep_ratio_vs_loop"], ".3g", "×"),
         "per-sample loop (timed on one seed of one convention per type, extrapolated) / vectorised sweep"),
        ("study_default_seconds_cold_before", fmt(report["study_default_seconds_cold_before"], ".0f", " s"),
         "the cold default run recorded before the latest change to the study, for comparison"),
        ("study_default_seconds_cold", fmt(report["study_default_seconds_cold"], ".0f", " s"),
         "`probedrift run --profile default`, empty embedding cache"),
        ("study_default_seconds_warm", fmt(report["study_default_seconds_warm"], ".0f", " s"),
         "the same, second run on the filled cache"),
        ("study_default_peak_rss_mb", fmt(report["study_default_peak_rss_mb"], ".0f", " MB"),
         "peak resident memory of the run's process tree"),
        ("forward_passes_default", fmt(report["forward_passes_default"], ".0f"),
         "model forward passes of the default study, as recorded in `end_to_end.json`"),
        ("finetune_seconds", fmt(report["finetune_seconds"], ".0f", " s"),
         "wall time of the default study's fine-tuning, as recorded in `end_to_end.json`"),
        ("make_test_seconds", fmt(report["make_test_seconds"], ".0f", " s"),
         f"wall time of `make test` in a fresh clone, install and empty cache included "
         f"(load average {fmt(report.get('make_test_load1'), '.2f')})"),
        *[(f"{t}_seconds", fmt(report.get(f"{t}_seconds"), ".0f", " s"),
           f"`probedrift run --profile {t.split('_')[0]}`, {t.split('_')[1]} cache; peak "
           f"{fmt(report.get(f'{t}_peak_rss_mb'), '.0f', ' MB')}, load average {fmt(report.get(f'{t}_load1'), '.2f')}")
          for t in LOOP_TIMES[1:]],
    ]


def _headline_lines(report: dict) -> list[str]:
    lines = ["## Headline figures", "", "| figure | value | target | how it is measured |", "|---|---|---|---|"]
    for key, value, how in _extraction_rows(report) + _study_rows(report):
        lines.append(f"| `{key}` | {value} | {_target(report, key)} | {how} |")
    last = report["end_to_end_detail"].get("last_default_run_seconds")
    if last is not None and report["study_default_seconds_cold"] is None:
        lines += ["", f"The last recorded default run took {last:.0f} s (cache state not recorded)."]
    return lines


def _throughput_row(name: str, th: dict, rate: float) -> str:
    frac = th.get("hardware_fraction", th["flops_per_s"] / rate if th.get("flops_per_s") else None)
    return (f"| {name} | {th['n_texts']} | {th['texts_per_s']:.3g} | {th['tokens_per_s']:.4g} | "
            f"{th['flops_per_s'] / 1e9:.3g} | {fmt(frac, '.3f')} |")


def _matmul_sentence(ex: dict) -> str:
    b, ref = ex["bfloat16"], ex["matmul_reference"]
    mm32, mm16 = ex["matmul_float32"], b["matmul_bfloat16"]
    if ref["kind"] == "square":
        return (f"Dense matmul rate (`torch.matmul`, faster of A·B and A·Bᵀ, median): float32 "
                f"{mm32['flops_per_s'] / 1e9:.3g} GFLOP/s ({mm32['n']}² matrices), bfloat16 "
                f"{mm16['flops_per_s'] / 1e9:.3g} GFLOP/s ({mm16['n']}², {mm16['layout']}); the bfloat16 row's "
                "fraction is relative to the bfloat16 rate.")
    return (f"GPU matmul rate (`torch.matmul` of x·Wᵀ at the model's linear shapes, timed between "
            f"`torch.cuda.synchronize()` calls, median) at {mm32['n']} rows, the mean padded batch of the main "
            f"run: {ref['dtype']} {ref['flops_per_s'] / 1e9:.4g} GFLOP/s, float32 {mm32['flops_per_s'] / 1e9:.4g} "
            f"GFLOP/s (bfloat16 of the dtype comparison: {mm16['flops_per_s'] / 1e9:.4g} GFLOP/s at {mm16['n']} "
            "rows). Each row's fraction is relative to the rate of its dtype, the batch rows' to the rate at "
            "their own row count.")


def _throughput_table(ex: dict) -> list[str]:
    setup, b = ex["setup"], ex["bfloat16"]
    ref = ex["matmul_reference"]["flops_per_s"]
    lines = ["| variant | texts | texts/s | tokens/s | GFLOP/s | fraction of matmul rate |",
             "|---|---|---|---|---|---|",
             _throughput_row(f"probedrift, hidden state {setup['n_layers']} (last)", ex["probedrift_last"], ref),
             _throughput_row("sentence-transformers, last layer", ex["sentence_transformers"], ref),
             _throughput_row(f"probedrift, hidden state {setup['mid_layer']} (truncated)", ex["probedrift_mid"], ref),
             _throughput_row("naive loop, one text at a time (LM head included, not counted)", ex["naive"], ref)]
    for bs, th in ex["batch_sweep"].items():
        lines.append(_throughput_row(f"probedrift, batch {bs} ({th['n_texts']} texts around the median length)",
                                     th, ref))
    n16 = b["bfloat16"]["n_texts"]
    which = f"all {n16} texts" if n16 == setup["n_texts"] else f"{n16} texts around the median length"
    lines.append(_throughput_row(f"probedrift, bfloat16 ({which})", b["bfloat16"],
                                 b["matmul_bfloat16"]["flops_per_s"]))
    lines.append(_throughput_row("probedrift, float32 on the same texts", b["float32"],
                                 ex["matmul_float32"]["flops_per_s"]))
    return lines


def _agreement_table(ex: dict) -> list[str]:
    setup = ex["setup"]
    lines = ["| agreement | max abs diff | max rel diff | min cosine |", "|---|---|---|---|"]
    for label, key in (("sentence-transformers vs probedrift, last layer", "st_vs_probedrift_last"),
                       ("naive loop vs probedrift, last layer", "naive_vs_probedrift_last"),
                       (f"naive loop vs probedrift, hidden state {setup['mid_layer']}", "naive_vs_probedrift_mid")):
        c = ex[key]
        lines.append(f"| {label} | {c['max_abs_diff']:.2g} | {c['max_rel_diff']:.2g} | {c['min_cosine']:.7f} |")
    c = ex["bfloat16"]["vs_float32"]
    lines.append(f"| bfloat16 vs float32 | {c['max_abs_diff']:.2g} | {c['max_rel_diff']:.2g} | {c['min_cosine']:.5f} |")
    return lines


def _extraction_lines(ex: dict) -> list[str]:
    setup = ex["setup"]
    profile = ex["forward_profile"]
    shares = profile["group_share"]
    intro = (
        f"{setup['model']}, mean pooling, max length {setup['max_length']}, {setup['n_texts']} comments texts "
        f"({setup['tokens']} tokens; length-sorted batches of {setup['batch_size']} compute {setup['padded_tokens']}, "
        f"{100 * setup['padding_overhead']:.0f}% padding; sorted by character count, as sentence-transformers sorts, "
        f"the same batches would compute {setup['padded_tokens_character_sort']}). "
        "FLOP/s = 2 × block parameters run × non-padding tokens / t "
        f"({setup['block_params_full'] / 1e6:.1f} M parameters in {setup['n_layers']} blocks; the attention "
        "scores and the embedding lookup are not counted)."
    )
    return ["", "## Extraction", "", intro, "", *_throughput_table(ex), "", _matmul_sentence(ex), "",
            *_agreement_table(ex), "",
            f"Forward time by operator (profiler, {profile.get('time', 'self CPU time')}, one batch of "
            f"{profile['n_texts']} texts of median length): matmul {100 * shares['matmul']:.0f}%, attention "
            f"{100 * shares['attention']:.0f}%, other (norms, activations, rotary embedding, copies) "
            f"{100 * shares['other']:.0f}%."]


def _sweep_and_detector_lines(report: dict) -> list[str]:
    lines = ["", "## Drift sweep and detectors", "",
             "| configuration (seed 0, all σ) | per-sample loop | vectorised | ratio | numbers equal |",
             "|---|---|---|---|---|"]
    for cfg, v in report["drift_sweep"]["loop_reference"]["per_configuration"].items():
        lines.append(f"| {cfg} | {v['loop_seconds']:.3g} s | {v['vectorised_seconds']:.3g} s | "
                     f"{v['ratio']:.3g}× | {'yes' if v['numbers_equal'] else 'NO'} |")
    lines += ["", "| detector | seconds per test | permutations | fit seconds |", "|---|---|---|---|"]
    for name, v in report["detectors"].items():
        lines.append(f"| {name} ({v['n_reference']} vs {v['n_sample']} × {v['d']}) | {v['seconds_per_test']:.3g} | "
                     f"{v['permutations'] if v['permutations'] is not None else '—'} | {v['fit_seconds']:.3g} |")
    return lines


def render_markdown(report: dict) -> str:
    """``bench.md``: the machine, then tables of the headline figures, extraction, sweep and detectors."""
    lines = [*_machine_lines(report), *_headline_lines(report), *_extraction_lines(report["extraction"]),
             *_sweep_and_detector_lines(report)]
    if report["failures"]:
        lines += ["", "## Failed checks", ""] + [f"- {f}" for f in report["failures"]]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out: Path) -> dict:
    """Write ``bench.json`` (JSON-safe, no NaN) and ``bench.md`` to ``out``; returns the cleaned report."""
    report = clean(report)
    (out / "bench.json").write_text(json.dumps(report, indent=1, allow_nan=False))
    (out / "bench.md").write_text(render_markdown(report))
    return report
