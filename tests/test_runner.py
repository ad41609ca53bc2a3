"""The papermill runner and the smoke profile, end to end (runs every notebook once per test session)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
import yaml

from probedrift.core.errors import ProbedriftError
from probedrift.run import rundir, runner
from probedrift.run.params import StudyParams, load_params, parse_overrides, repo_root

pytestmark = pytest.mark.slow

TABLE_COLUMNS = {
    "probe_baseline": ["model", "metric", "value", "ci_low", "ci_high"],
    "drift_sweep": ["model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "auc", "accuracy", "f1",
                    "mean_confidence", "silent_failure_share", "silent_failure_rate", "ece"],
    "detectors": ["model", "drift_type", "convention", "sigma", "detector", "statistic", "p_value", "alarm"],
    "separability": ["model", "layer", "metric", "value", "ci_low", "ci_high"],
    "drift_sweep_summary": ["model", "drift_type", "convention", "sigma", "auc_mean", "auc_ci_low", "auc_ci_high",
                            "auc_se_texts", "auc_se_draws", "interval"],
    "drift_budget": ["model", "layer", "pooling", "angle_half_predicted_deg", "angle_half_simulated_deg",
                     "std_min", "std_p1", "std_median", "norm_w_over_s", "max_curve_gap"],
    "finetune_drift": ["model", "method", "learning_rate", "step", "train_loss", "angle_deg_mean", "angle_deg_median",
                       "auc", "auc_ci_low", "auc_ci_high", "accuracy", "mean_confidence", "silent_failure_share",
                       "silent_failure_rate", "ece", "retrain_auc"],
    "finetune_separability": ["base", "checkpoint", "learning_rate", "step", "metric", "relative_change"],
}


def _parameters_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", runner.notebook_paths(), ids=lambda p: p.name)
def test_each_notebook_has_one_short_parameters_cell_naming_a_profile(path):
    import papermill as pm

    cells = _parameters_cells(path)
    assert len(cells) == 1, f"{path.name} has {len(cells)} parameters cells"
    assert len(cells[0].source.splitlines()) <= 8
    defaults = {k: v["default"] for k, v in pm.inspect_notebook(str(path)).items()}
    assert set(defaults) == {"profile", "overrides", "results_dir"}
    assert eval(defaults["profile"]) == "smoke" and eval(defaults["overrides"]) == {}


def test_every_profile_names_exactly_the_typed_parameters():
    import dataclasses

    names = {f.name for f in dataclasses.fields(StudyParams)}
    for path in sorted((repo_root() / "params").glob("*.yaml")):
        keys = set(yaml.safe_load(path.read_text()))
        assert keys <= names, (path.name, keys - names)
        load_params(path.stem)  # every profile passes its own checks


@pytest.mark.parametrize("override, words", [
    ("tau=2.5", r"tau = 2.5 is invalid: it must be a number in \(0.5, 1\)"),
    ("sigma_max=-1", r"sigma_max = -1.0 is invalid: it must be a number ≥ 0"),
    ("pooling=max", "pooling = 'max' is invalid: it must be one of: last_token, mean, mean_skip_first"),
    ("drift_types=[gaussian, shear]", "one of: gaussian, directional, rotation"),
    ("n_per_class=2.5", "n_per_class = 2.5 is invalid: it must be an integer ≥ 1"),
    ("split_fractions=[0.5, 0.6, 0.1]", "summing to 1"),
    ("reliability_checkpoints=[0, 9]", "each < n_sigmas = 4"),
    ("models=[]", "at least 1 item"),
    ("sigmaa=1", "there is no parameter 'sigmaa'"),
])
def test_bad_overrides_name_the_key_and_its_valid_range(override, words):
    with pytest.raises(ProbedriftError, match=words):
        load_params("smoke", parse_overrides([override]))


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ProbedriftError, match="default, paper, smoke"):
        load_params("nope")
    assert parse_overrides(["seeds=[3, 4]"]) == {"seeds": [3, 4]}


def test_bad_override_exits_2_before_touching_the_previous_run(tmp_path):
    run_dir = tmp_path / "smoke"
    (run_dir / "metrics").mkdir(parents=True)
    (run_dir / "metrics" / "probe_baseline.csv").write_text("kept\n")
    (run_dir / "run.json").write_text('{"state": "complete"}')
    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", "run", "--profile", "smoke", "--set", "tau=2.5",
                          "--results", str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.splitlines()[0] == ("probedrift: error: parameter tau = 2.5 is invalid: it must be a number "
                                          "in (0.5, 1)")
    assert (run_dir / "metrics" / "probe_baseline.csv").read_text() == "kept\n"
    assert runner.run_state(run_dir) == {"state": "complete"}


def test_smoke_run_writes_every_table_notebook_and_provenance(smoke_run):
    run_dir = smoke_run
    assert runner.run_state(run_dir)["state"] == "complete"
    for path in runner.notebook_paths():
        out = run_dir / "notebooks" / path.name
        nb = nbformat.read(out, as_version=4)
        assert nb.metadata["mystnb"] == {"execution_mode": "off"}
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1 and "hide-input" in injected[0].metadata["tags"]
        assert all("papermill" not in c.metadata and "execution" not in c.metadata for c in nb.cells)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors
    for name, columns in TABLE_COLUMNS.items():
        df = pd.read_csv(run_dir / "metrics" / f"{name}.csv")
        assert len(df) > 0, name
        assert set(columns) <= set(df.columns), (name, set(columns) - set(df.columns))
    prov = json.loads((run_dir / "provenance.json").read_text())
    for key in ("parameters", "packages", "git", "device", "timings_seconds", "cache_keys", "forward_passes"):
        assert prov[key], key
    assert set(prov["timings_seconds"]) >= {p.name for p in runner.notebook_paths()}
    # One forward pass of the unchanged base model serves the probe, separability, truncation, layer shift
    # and pooling change; every other pass is a different model, dtype, variant or prompt format.
    params = load_params("smoke")
    base = f"{params.models[0]}|dtype=float32|chat_template={params.chat_template}|"
    base_passes = {k: v for k, v in prov["forward_passes"].items() if k.startswith(base) and "variant" not in k}
    assert base_passes == {f"{base}max_length={params.max_length}": 1}, prov["forward_passes"]
    assert all(v == 1 for v in prov["forward_passes"].values()), prov["forward_passes"]
    assert "HF_TOKEN" not in json.dumps(prov)
    # The smoke fixture writes to a temporary directory with its own cache: none of those paths is kept.
    from probedrift.core.cache import cache_root

    for path in [*run_dir.glob("*.json"), *(run_dir / "metrics").glob("*.csv"), *(run_dir / "notebooks").glob("*")]:
        text = path.read_text()
        assert str(run_dir.parents[1]) not in text and str(cache_root()) not in text, path.name
    stages = prov["stage_seconds"]
    assert set(stages) <= {p.name for p in runner.notebook_paths()} and stages["01_embeddings.ipynb"]["extraction"] > 0


def test_sweep_summary_intervals_cover_test_sampling(smoke_run):
    summary = pd.read_csv(smoke_run / "metrics" / "drift_sweep_summary.csv")
    clean = summary[summary.sigma == 0]
    assert len(clean) and ((clean.auc_ci_high - clean.auc_ci_low) > 0).all()
    assert (clean.auc_se_texts > 0).all() and (clean.auc_se_draws.abs() < 1e-12).all()  # σ = 0 moves nothing


def test_finetune_step_zero_reproduces_the_baseline(smoke_run):
    params = load_params("smoke")
    ft = pd.read_csv(smoke_run / "metrics" / "finetune_drift.csv")
    base = pd.read_csv(smoke_run / "metrics" / "probe_baseline.csv")
    auc = base[(base.model == params.models[0]) & (base.metric == "auc")].value.iloc[0]
    zero = ft[ft.step == 0]
    assert len(zero) == len(params.finetune_learning_rates)
    assert (zero.auc == auc).all() and (zero.angle_deg_mean.abs() < 1e-6).all()
    for _, g in ft.groupby("learning_rate"):
        assert sorted(g.step) == sorted(params.finetune_steps) and len(g) >= 3  # the base and two checkpoints
    assert (ft[ft.step > 0].angle_deg_mean > 0).all()


def test_sweep_covers_every_type_convention_sigma_and_seed(smoke_run):
    from probedrift.science import drift

    params = load_params("smoke")
    df = pd.read_csv(smoke_run / "metrics" / "drift_sweep.csv")
    pairs = {(t, c) for t in params.drift_types for c in drift.convention_names(t)}
    assert set(map(tuple, df[["drift_type", "convention"]].drop_duplicates().to_numpy())) == pairs
    assert set(df.seed) == set(params.drift_seeds)
    assert df.groupby(["model", "drift_type", "convention", "seed"]).size().nunique() == 1
    # sigma = 0 leaves every embedding where it was.
    assert (df[df.sigma == 0].angle_deg_mean.abs() < 1e-3).all()


def test_failing_notebook_stops_the_run_names_it_and_keeps_the_partial_output(tmp_path):
    bad = tmp_path / "01_bad.ipynb"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print('before')"),
        nbformat.v4.new_code_cell("raise RuntimeError('boom')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, bad)
    code = runner.run_profile("smoke", results_root=str(tmp_path / "results"), notebooks=[bad])
    assert code == 1
    run_dir = tmp_path / "results" / "smoke"
    staging = rundir.staging_dir(run_dir)  # a failed run never becomes the run: it stays staged
    state = runner.run_state(staging)
    assert state["state"] == "failed" and state["notebook"] == "01_bad.ipynb" and "boom" in state["error"]
    assert (staging / "notebooks" / "01_bad.ipynb").is_file() and not run_dir.exists()
    with pytest.raises(ProbedriftError, match=f"the last run into it is failed, with partial outputs in '{staging}'"):
        runner.require_complete(run_dir)


def test_cli_run_exit_code_on_unknown_profile():
    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", "run", "--profile", "nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "unknown profile" in res.stderr


def test_finalized_notebook_keeps_no_progress_warning_or_machine_path(tmp_path):
    """Stderr streams, progress widgets and their saved state are dropped, figures shrink, machine paths become
    portable."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from probedrift.core.cache import cache_root

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(50), [i ** 0.5 for i in range(50)], label="a curve")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    png = buf.getvalue()
    run_dir = repo_root() / "results" / "somerun"
    cell = nbformat.v4.new_code_cell("x", metadata={"tags": ["injected-parameters"]})
    cell.source = f'results_dir = "{run_dir}"'
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text="drift sweep:  40%|████      | 2/5\r"),
        nbformat.v4.new_output("stream", name="stdout", text=f"saved to {run_dir}/metrics and {cache_root()}/x\n"),
        nbformat.v4.new_output("display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": "1"}}),
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()}),
    ]
    path = tmp_path / "nb.ipynb"
    widget_state = {"application/vnd.jupyter.widget-state+json": {"state": {"1": {}}, "version_major": 2}}
    nbformat.write(nbformat.v4.new_notebook(cells=[cell], metadata={"widgets": widget_state}), path)

    runner.finalize_notebook(path, run_dir)
    text = path.read_text()
    assert "widgets" not in nbformat.read(path, as_version=4).metadata  # no widget state to publish
    out = nbformat.read(path, as_version=4).cells[0]
    assert [o.output_type for o in out.outputs] == ["stream", "display_data"]
    assert out.outputs[0].text == "saved to results/somerun/metrics and $PROBEDRIFT_CACHE_DIR/x\n"
    assert str(repo_root()) not in text and str(cache_root()) not in text and "%|" not in text
    assert 'results_dir = "results/somerun"' in out.source
    small = base64.b64decode(out.outputs[1].data["image/png"])
    assert len(small) < 0.7 * len(png)
    a = Image.open(io.BytesIO(png)).convert("RGBA")
    b = Image.open(io.BytesIO(small)).convert("RGBA")
    assert a.size == b.size
    diff = sum(abs(x - y) for p, q in zip(a.getdata(), b.getdata()) for x, y in zip(p, q)) / (a.size[0] * a.size[1] * 4)
    assert diff < 3  # mean absolute difference per channel, out of 255


def test_a_chapter_runs_alone_in_an_empty_results_directory(tmp_path):
    """Chapter 5 alone: it computes chapter 3's sweep summary from the cached embeddings."""
    import papermill as pm

    out = tmp_path / "05.ipynb"
    pm.execute_notebook(str(repo_root() / "notebooks" / "05_separability.ipynb"), str(out), kernel_name=runner.KERNEL,
                        parameters={"profile": "smoke", "overrides": {"drift_types": ["gaussian"]},
                                    "results_dir": str(tmp_path / "run")},
                        cwd=str(repo_root()), progress_bar=False)
    metrics = tmp_path / "run" / "metrics"
    assert {"separability.csv", "pairs.csv", "drift_sweep.csv", "drift_sweep_summary.csv"} <= {
        p.name for p in metrics.glob("*.csv")}
    assert set(pd.read_csv(metrics / "drift_sweep_summary.csv").drift_type) == {"gaussian"}


def test_the_device_facts_are_asked_of_another_process_so_the_runner_never_imports_torch():
    code = ("import os, sys\n"
            "from probedrift.run.runner import device_description\n"
            "info = device_description('cpu')\n"
            "assert 'torch' not in sys.modules, 'the runner imported torch'\n"
            "import torch\n"
            "assert info['resolved'] == 'cpu' and info['cpu_count'] == os.cpu_count()\n"
            "assert info['torch_threads'] == torch.get_num_threads()\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_a_device_that_is_not_there_is_named_with_the_fix():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    with pytest.raises(ProbedriftError, match="cannot use the device 'cuda'.*no CUDA GPU is visible"):
        runner.device_description("cuda")


def test_preflight_reads_the_models_in_a_child_so_the_runner_never_imports_transformers():
    code = ("import sys\nfrom probedrift.run import runner\nfrom probedrift.run.params import load_params\n"
            "runner.preflight(load_params('smoke'))\n"
            "assert 'transformers' not in sys.modules and 'torch' not in sys.modules, 'the runner imported them'\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_preflight_names_a_model_it_cannot_read(tmp_path):
    import dataclasses

    from probedrift.run.params import load_params

    params = dataclasses.replace(load_params("smoke"), models=(str(tmp_path / "no-such-model"),))
    with pytest.raises(ProbedriftError, match="unknown model"):
        runner.preflight(params)
