"""The papermill runner and the smoke profile, end to end (runs every notebook once per test session)."""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest
import yaml

from probedrift import profiles, runner
from probedrift.errors import ProbedriftError
from probedrift.study import PARAMETER_KEYS

pytestmark = pytest.mark.slow

TABLE_COLUMNS = {
    "probe_baseline": ["model", "metric", "value", "ci_low", "ci_high"],
    "drift_sweep": ["model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "auc", "accuracy", "f1",
                    "mean_confidence", "silent_failure_share", "silent_failure_rate", "ece"],
    "detectors": ["model", "drift_type", "convention", "sigma", "detector", "statistic", "p_value", "alarm"],
    "separability": ["model", "layer", "metric", "value", "ci_low", "ci_high"],
}


def _parameters_cells(path):
    nb = nbformat.read(path, as_version=4)
    return [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", runner.notebook_paths(), ids=lambda p: p.name)
def test_each_notebook_has_one_parameters_cell_with_the_profile_keys(path):
    import papermill as pm

    cells = _parameters_cells(path)
    assert len(cells) == 1, f"{path.name} has {len(cells)} parameters cells"
    inferred = set(pm.inspect_notebook(str(path)))
    for name in profiles.PROFILES:
        keys = set(profiles.load_profile(name))
        assert inferred == keys, f"{path.name} vs {name}: {sorted(inferred ^ keys)}"
    assert inferred == set(PARAMETER_KEYS)


def test_notebook_defaults_are_the_smoke_profile():
    import papermill as pm

    smoke = profiles.load_profile("smoke")
    for path in runner.notebook_paths():
        defaults = {k: v["default"] for k, v in pm.inspect_notebook(str(path)).items()}
        for key, value in smoke.items():
            assert yaml.safe_load(defaults[key]) == value or eval(defaults[key]) == value, (path.name, key)


def test_unknown_override_key_and_unknown_profile_are_clear_errors():
    with pytest.raises(ProbedriftError, match="no key 'sigmaa'"):
        profiles.apply_overrides(profiles.load_profile("smoke"), ["sigmaa=1"])
    with pytest.raises(ProbedriftError, match="smoke, default, paper"):
        profiles.load_profile("nope")
    assert profiles.apply_overrides({"seeds": [1]}, ["seeds=[3, 4]"]) == {"seeds": [3, 4]}


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
    for key in ("parameters", "packages", "git", "device", "timings_seconds", "cache_keys"):
        assert prov[key], key
    assert set(prov["timings_seconds"]) >= {p.name for p in runner.notebook_paths()}
    assert "HF_TOKEN" not in json.dumps(prov)


def test_sweep_covers_every_type_convention_sigma_and_seed(smoke_run):
    from probedrift import drift

    params = profiles.load_profile("smoke")
    df = pd.read_csv(smoke_run / "metrics" / "drift_sweep.csv")
    pairs = {(t, c) for t in params["drift_types"] for c in drift.CONVENTIONS[t]}
    assert set(map(tuple, df[["drift_type", "convention"]].drop_duplicates().to_numpy())) == pairs
    assert set(df.seed) == set(params["drift_seeds"])
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
    state = runner.run_state(run_dir)
    assert state["state"] == "failed" and state["notebook"] == "01_bad.ipynb" and "boom" in state["error"]
    assert (run_dir / "notebooks" / "01_bad.ipynb").is_file()
    with pytest.raises(ProbedriftError, match="failed"):
        runner.require_complete(run_dir)


def test_cli_run_exit_code_on_unknown_profile():
    res = subprocess.run([sys.executable, "-m", "probedrift.cli", "run", "--profile", "nope"],
                         capture_output=True, text=True)
    assert res.returncode == 2 and "unknown profile" in res.stderr
