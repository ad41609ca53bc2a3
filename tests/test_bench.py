"""The performance benchmark: output keys and types, the markdown report, the end-to-end helpers.

Speed is never asserted: on a shared machine only the structure of the report is stable.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from probedrift import bench
from probedrift.run.cli import main
from probedrift.science.drift import DRIFT_TYPES, convention_names
from probedrift.science.probes import paper_probe
from probedrift.science.sweep import sweep

NUMERIC_KEYS = [k for k in bench.HEADLINE_KEYS if k not in bench.END_TO_END_KEYS]


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


@pytest.mark.slow
def test_quick_bench_writes_json_and_markdown(tmp_path, isolated_embedding_cache):
    rc = bench.run_bench(quick=True, out_dir=tmp_path)
    report = json.loads((tmp_path / "bench.json").read_text())
    assert rc == 0, report["failures"]
    for key in NUMERIC_KEYS:
        assert _is_number(report[key]), key
    for key in bench.END_TO_END_KEYS:
        assert key in report and (report[key] is None or _is_number(report[key])), key
    assert report["quick"] is True
    assert report["device"] == "cpu" and report["machine"]["device"] == "cpu"
    assert report["truncation_layer_fraction"] == pytest.approx(0.5)
    assert set(report["hardware_fraction_per_batch"]) == {str(b) for b in bench.BATCH_SIZES}
    assert all(_is_number(v) for v in report["hardware_fraction_per_batch"].values())
    assert set(report["detectors"]) == {"confidence", "mmd", "ks", "domain_classifier", "mean_cosine"}
    assert report["detectors"]["mmd"]["permutations"] == bench.QUICK.permutations
    for cfg in report["drift_sweep"]["loop_reference"]["per_configuration"].values():
        assert cfg["numbers_equal"]
    assert report["extraction"]["st_vs_probedrift_last"]["min_cosine"] > 0.9999
    assert report["extraction"]["cache"]["repeat_was_identical_hit"]

    md = (tmp_path / "bench.md").read_text()
    assert "## Machine" in md and "avx512f" in md and "torch" in md
    assert "| figure | value | target |" in md
    for key in ("ratio_vs_naive", "hardware_fraction", "drift_sweep_ratio_vs_loop"):
        assert f"`{key}`" in md
    if report["study_default_seconds_cold"] is None:
        assert "not measured in this run" in md


def test_end_to_end_figures_read_measurements_and_provenance(tmp_path):
    out, results = tmp_path / "bench", tmp_path / "results"
    assert all(v is None for k, v in bench.end_to_end_figures(out, results).items() if k != "detail")

    (results / "default").mkdir(parents=True)
    (results / "default" / "provenance.json").write_text(json.dumps(
        {"timings_seconds": {"total": 900.0}, "warm": {"total": 120.5}}
    ))
    got = bench.end_to_end_figures(out, results)
    assert got["study_default_seconds_warm"] == 120.5
    assert got["study_default_seconds_cold"] is None
    assert got["detail"]["last_default_run_seconds"] == 900.0

    out.mkdir()
    (out / "end_to_end.json").write_text(json.dumps(
        {"study_default_seconds_cold": 950.0, "study_default_seconds_warm": 110.0,
         "study_default_peak_rss_mb": 2500.0, "make_test_seconds": 1300.0}
    ))
    got = bench.end_to_end_figures(out, results)
    assert (got["study_default_seconds_cold"], got["study_default_seconds_warm"]) == (950.0, 110.0)
    assert got["study_default_peak_rss_mb"] == 2500.0 and got["make_test_seconds"] == 1300.0
    assert got["study_default_seconds_cold_before"] is None and got["finetune_seconds"] is None


def test_end_to_end_figures_fall_back_to_the_recorded_results(tmp_path):
    out, results = tmp_path / "elsewhere", tmp_path / "results"
    (results / "bench").mkdir(parents=True)
    recorded = {"study_default_seconds_cold_before": 1761, "study_default_seconds_cold": 900,
                "study_default_seconds_warm": 120, "forward_passes_default": 42, "finetune_seconds": 35.5}
    (results / "bench" / "end_to_end.json").write_text(json.dumps(recorded))
    got = bench.end_to_end_figures(out, results)
    assert {k: got[k] for k in recorded} == {k: float(v) for k, v in recorded.items()}
    assert got["make_test_seconds"] is None
    assert got["detail"]["end_to_end_json"] == str(results / "bench" / "end_to_end.json")
    loop = {f"{t}_{w}" for t in bench.config.LOOP_TIMES for w in ("seconds", "load1", "peak_rss_mb")}
    assert set(recorded) <= set(bench.END_TO_END_KEYS) <= set(bench.HEADLINE_KEYS) | {
        "study_default_peak_rss_mb"} | loop


def test_run_measured_counts_the_whole_process_tree():
    # The parent holds ~40 MB and starts a child that holds ~120 MB: the tree peak must see both.
    child = "import time; b = bytearray(120 * 2**20); time.sleep(1.5)"
    parent = (
        "import subprocess, sys, time; a = bytearray(40 * 2**20); "
        f"subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    )
    r = bench.run_measured([sys.executable, "-c", parent], interval=0.05)
    assert r["returncode"] == 0
    assert r["peak_rss_mb"] > 160
    assert r["seconds"] >= 1.5


def test_padded_tokens_and_spread():
    assert bench.padded_tokens(np.array([5, 3, 2, 1]), 2) == 5 * 2 + 2 * 2
    assert bench.padded_tokens(np.array([4, 4, 4]), 1) == 12
    order = np.arange(10)
    assert bench.spread(order, 3).tolist() == [0, 4, 9] or bench.spread(order, 3).tolist() == [0, 5, 9]
    assert bench.spread(order, 50).tolist() == list(range(10))


def test_compare_embeddings_reports_cosine_and_relative_difference():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    c = bench.compare_embeddings(a, a)
    assert c["max_abs_diff"] == 0 and c["min_cosine"] == pytest.approx(1.0)
    c = bench.compare_embeddings(a + [[0.0, 0.02], [0.0, 0.0]], a)
    assert c["max_abs_diff"] == pytest.approx(0.02) and c["max_rel_diff"] == pytest.approx(0.01)
    assert c["min_cosine"] < 1.0


def test_loop_reference_matches_the_vectorised_sweep():
    x_tr, y_tr, x_te, y_te = bench.train_and_test_sets(120, 16)
    probe = paper_probe(0).fit(x_tr, y_tr)
    sigmas = np.linspace(0, 0.15, 4)
    for t in DRIFT_TYPES:
        for c in convention_names(t):
            ref = bench.loop_sweep_reference(x_te, y_te, probe, t, c, sigmas, 3, x_tr, y_tr)
            vec = sweep(x_te, y_te, probe.predict_proba, drift_types=t, conventions={t: [c]}, sigmas=sigmas,
                        seeds=[3], reference=x_tr, reference_labels=y_tr, progress=False)
            for col, values in ref.items():
                np.testing.assert_allclose(values, vec[col].to_numpy(dtype=float),
                                           atol=1e-4 if "angle" in col else 1e-6, err_msg=f"{t}/{c} {col}")


def test_bad_output_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(bench.ProbedriftError, match="output directory"):
        bench.run_bench(quick=True, out_dir=blocker / "sub")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_is_one_clear_error(tmp_path, capsys):
    out = tmp_path / "bench"
    with pytest.raises(bench.ProbedriftError, match=r"no CUDA device[^\n]*\n  fix: .*--device cpu"):
        bench.run_bench(quick=True, out_dir=out, device="cuda")
    assert not out.exists()  # refused before anything is written
    assert main(["bench", "--quick", "--device", "cuda", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("probedrift: error: no CUDA device") and "fix:" in err
    assert bench.resolve_device("auto") == "cpu"
    with pytest.raises(bench.ProbedriftError, match="cpu, cuda, auto"):
        bench.resolve_device("tpu")


def test_model_shape_matmul_rate_counts_every_layer_shape():
    shapes = [(16, 32), (32, 16), (16, 32)]
    r = bench.model_shape_matmul_rate(shapes, rows=8, dtype_name="float32", device="cpu", reps=1)
    assert r["n"] == 8 and set(r["per_shape"]) == {"8x16 @ 16x32", "8x32 @ 32x16"}
    assert r["per_shape"]["8x16 @ 16x32"]["count"] == 2
    flops = 3 * 2.0 * 8 * 16 * 32
    assert r["flops_per_s"] == pytest.approx(flops / r["seconds"])


def test_forward_passes_and_finetune_seconds_come_from_the_default_runs_own_records(tmp_path):
    out, results = tmp_path / "bench", tmp_path / "results"
    (results / "default").mkdir(parents=True)
    (results / "default" / "provenance.json").write_text(json.dumps({
        "timings_seconds": {"total": 900.0},
        "forward_passes": {"gemma|fp32": 1, "smollm|fp32": 1, "smollm|chat": 1, "gemma|int8": 1},
        "stage_seconds": {"07_finetune_drift.ipynb": {"fine-tuning": 300.5, "extraction": 90.0},
                          "01_embeddings.ipynb": {"extraction": 160.0}}}))
    got = bench.end_to_end_figures(out, results)
    assert got["forward_passes_default"] == 4.0 and got["finetune_seconds"] == 300.5


def test_run_measured_records_the_load_average_it_ran_at(monkeypatch):
    from probedrift.bench import end_to_end

    monkeypatch.setattr(end_to_end.os, "getloadavg", lambda: (3.25, 2.0, 1.0))
    r = bench.run_measured([sys.executable, "-c", "pass"], interval=0.05)
    assert r["load1_start"] == 3.25 and r["load1_mean"] == 3.25


def test_every_loop_time_reaches_bench_json_with_its_load_average():
    from probedrift.bench import times

    fake = {"seconds": 12.34, "load1_mean": 1.5, "load1_start": 1.0, "peak_rss_mb": 900.4}
    written = {}
    for t in bench.config.LOOP_TIMES:
        written.update(times._figures(t, fake))
    copied = set(bench.END_TO_END_KEYS)
    for t in bench.config.LOOP_TIMES:
        assert {f"{t}_seconds", f"{t}_load1", f"{t}_peak_rss_mb"} <= copied, t
        assert written[f"{t}_load1"] == 1.5 and written[f"{t}_seconds"] == 12.3
    assert set(times.TIME_KEYS) == {f"{t}_seconds" for t in bench.config.LOOP_TIMES}


def test_measuring_an_unknown_figure_is_refused(tmp_path):
    from probedrift.bench import times
    from probedrift.core.errors import ProbedriftError

    with pytest.raises(ProbedriftError, match="nothing to measure called paper"):
        times.measure_times(tmp_path, ("paper",))
    assert not (tmp_path / "end_to_end.json").exists()


def test_refreshing_the_loop_times_updates_bench_json_and_keeps_the_benchmarks_own_figures(tmp_path):
    from probedrift.bench.run import refresh_loop_times

    out = tmp_path / "bench"
    out.mkdir()
    assert refresh_loop_times(out) is None and not (out / "bench.json").exists()  # no benchmark yet
    committed = json.loads((Path(__file__).resolve().parents[1] / "results" / "bench" / "bench.json").read_text())
    (out / "bench.json").write_text(json.dumps({**committed, "make_test_seconds": 1.0, "classroom_warm_seconds": None}))
    (out / "end_to_end.json").write_text(json.dumps({"make_test_seconds": 555.5, "make_test_load1": 2.25,
                                                      "classroom_warm_seconds": 99.0, "classroom_warm_load1": 1.5}))
    refresh_loop_times(out)
    got = json.loads((out / "bench.json").read_text())
    assert got["make_test_seconds"] == 555.5 and got["make_test_load1"] == 2.25
    assert got["classroom_warm_seconds"] == 99.0 and got["classroom_warm_load1"] == 1.5
    assert got["ratio_vs_naive"] == committed["ratio_vs_naive"] and got["extraction"] == committed["extraction"]
    markdown = (out / "bench.md").read_text()
    assert "| `make_test_seconds` | 556 s |" in markdown and "load average 2.25" in markdown
    assert "| `classroom_warm_seconds` | 99 s |" in markdown
