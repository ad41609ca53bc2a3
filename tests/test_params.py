"""Profiles: each lists only what differs from the typed defaults, and resolves to the parameters it always had."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.run.params import PROFILES, StudyParams, load_params, repo_root

FIXTURE = Path(__file__).parent / "fixtures" / "profile_params.json"
MACHINE_PATHS = ("results_dir", "data_files")


def test_profiles_are_the_yaml_files_of_the_params_folder():
    assert set(PROFILES) == {p.stem for p in (repo_root() / "params").glob("*.yaml")}
    assert {"smoke", "classroom", "default", "paper"} <= set(PROFILES)


@pytest.mark.parametrize("profile", sorted(json.loads(FIXTURE.read_text())))
def test_every_profile_resolves_to_the_recorded_parameters(profile):
    recorded = json.loads(FIXTURE.read_text())[profile]
    got = load_params(profile).to_dict()
    for key in MACHINE_PATHS:
        got.pop(key), recorded.pop(key)
    assert got == recorded


@pytest.mark.parametrize("profile", PROFILES)
def test_a_profile_lists_no_value_equal_to_its_default(profile):
    import yaml

    listed = yaml.safe_load((repo_root() / "params" / f"{profile}.yaml").read_text())
    values = load_params(profile).to_dict()
    required = {"profile", "dataset", "n_per_class", "models"}  # the fields without a default
    defaults = StudyParams.from_dict({k: values[k] for k in required}).to_dict()
    restated = [k for k in listed if k not in required and values[k] == defaults[k]]
    assert not restated, f"{profile}.yaml restates defaults: {restated}"
    assert "profile" not in listed or listed["profile"] != profile


def test_a_profile_naming_an_unknown_key_fails_with_the_key_and_the_valid_ones(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("dataset: comments\nn_per_class: 10\nmodels: [gemma-3-270m]\nsigma_maxx: 0.1\n")
    with pytest.raises(ProbedriftError) as err:
        load_params(str(path))
    assert "unknown parameter(s) sigma_maxx" in str(err.value) and "sigma_max" in str(err.value)


def test_a_profile_without_a_required_key_says_which():
    with pytest.raises(ProbedriftError, match="missing parameter.*models"):
        StudyParams.from_dict({"profile": "x", "dataset": "comments", "n_per_class": 3})


def test_list_defaults_are_the_registries_default_entries():
    from probedrift.experiments.updates import REGISTRY
    from probedrift.science.detectors import DETECTORS

    p = StudyParams.from_dict({"profile": "x", "dataset": "comments", "n_per_class": 3, "models": ["m"]})
    assert p.detectors == DETECTORS.names(default_only=True)
    assert p.real_drift_sources == REGISTRY.names(default_only=True)
    assert p.drift_types == ("gaussian", "directional", "rotation")


def test_a_run_goes_under_the_results_root_of_the_environment_unless_its_results_dir_is_given(tmp_path, monkeypatch):
    monkeypatch.delenv("PROBEDRIFT_RESULTS_ROOT", raising=False)
    assert load_params("smoke").run_dir == repo_root() / "results" / "smoke"
    monkeypatch.setenv("PROBEDRIFT_RESULTS_ROOT", str(tmp_path / "elsewhere"))
    assert load_params("smoke").run_dir == tmp_path / "elsewhere" / "smoke"
    chosen = tmp_path / "chosen"
    assert load_params("smoke", {"results_dir": str(chosen)}).run_dir == chosen
