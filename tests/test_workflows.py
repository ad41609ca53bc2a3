"""The GitHub Actions workflows: actionlint (with shellcheck on every ``run:`` script) finds nothing,
it does catch broken workflows, and the publishing and rerun workflows have the shape they rely on.

actionlint and shellcheck come from their wheels (requirements.txt), which carry the binaries:
nothing is downloaded when the tests run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_DIR = ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOW_DIR.glob("*.yml")) + sorted(WORKFLOW_DIR.glob("*.yaml"))


def _tool(name: str) -> str:
    """The executable installed next to this Python (the venv), else the one on PATH."""
    exe = Path(sys.executable).with_name(name)
    if exe.is_file():
        return str(exe)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `make setup` (it is pinned in requirements.txt)")
    return found


def _actionlint(*files: Path) -> subprocess.CompletedProcess:
    cmd = [_tool("actionlint"), "-no-color", "-oneline", "-shellcheck", _tool("shellcheck"), "-pyflakes=",
           *map(str, files)]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def _load(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOW_DIR / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean True.
    wf["on"] = wf.pop(True, wf.get("on"))
    return wf


def _steps(wf: dict):
    for job_id, job in wf["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def _uses(wf: dict, action: str) -> list[tuple[str, dict]]:
    """Steps whose ``uses`` is ``action`` (or a sub-action of it) at some version."""
    return [(job_id, s) for job_id, s in _steps(wf)
            if s.get("uses", "").split("@")[0] == action or s.get("uses", "").startswith(action + "/")]


def _runs(wf: dict) -> str:
    return "\n".join(s.get("run", "") for _, s in _steps(wf))


def test_the_publishing_and_rerun_workflows_exist():
    assert {p.name for p in WORKFLOWS} >= {"book.yml", "rerun.yml"}


def test_actionlint_finds_nothing_in_the_workflows():
    res = _actionlint(*WORKFLOWS)
    assert res.returncode == 0 and res.stdout.strip() == "", res.stdout + res.stderr


BROKEN = {
    "a job without runs-on": (
        "on: push\njobs:\n  build:\n    steps:\n      - run: echo hello\n",
        '"runs-on" section is missing',
    ),
    "a misspelled input": (
        "on:\n  workflow_dispatch:\n    inputs:\n      profile:\n        type: string\n        default: default\n"
        "jobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo \"$P\"\n        env:\n          P: ${{ inputs.profle }}\n",
        'property "profle" is not defined',
    ),
    "an unquoted variable in a script": (
        "on: push\njobs:\n  run:\n    runs-on: ubuntu-latest\n    steps:\n      - run: cp $SRC out\n",
        "SC2086",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_actionlint_catches_a_broken_workflow(tmp_path, case):
    text, finding = BROKEN[case]
    wf = tmp_path / "broken.yml"
    wf.write_text(text)
    res = _actionlint(wf)
    assert res.returncode != 0, res.stdout
    assert finding in res.stdout, res.stdout


def test_book_workflow_builds_the_reference_run_and_deploys_it_to_pages():
    wf = _load("book.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in wf["on"]
    assert wf["concurrency"]["group"]
    runs = _runs(wf)
    assert "make setup" in runs and ".venv/bin/probedrift book --profile default" in runs
    assert "probedrift run" not in runs

    (build_job, upload), = _uses(wf, "actions/upload-pages-artifact")
    assert upload["with"]["path"] == "_build/html"
    assert _uses(wf, "actions/configure-pages") and _uses(wf, "actions/checkout")
    (deploy_job, _), = _uses(wf, "actions/deploy-pages")
    assert deploy_job == "deploy" != build_job
    deploy = wf["jobs"]["deploy"]
    assert deploy["needs"] == build_job or build_job in deploy["needs"]
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write", "contents": "read"}
    # Only the deploy job can write to Pages.
    assert wf["permissions"] == {"contents": "read"}
    assert "write" not in wf["jobs"][build_job].get("permissions", {}).values()


def test_rerun_workflow_is_manual_caches_embeddings_and_opens_a_pull_request():
    wf = _load("rerun.yml")
    assert set(wf["on"]) == {"workflow_dispatch"}
    profile = wf["on"]["workflow_dispatch"]["inputs"]["profile"]
    assert profile["default"] == "default"
    assert sorted(profile["options"]) == sorted(p.stem for p in (ROOT / "params").glob("*.yaml"))

    (job_id, job), = wf["jobs"].items()
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert job["env"]["PROFILE"] == "${{ inputs.profile }}"
    runs = _runs(wf)
    assert "make setup" in runs
    assert '.venv/bin/probedrift run --profile "$PROFILE"' in runs
    assert '.venv/bin/probedrift book --profile "$PROFILE"' in runs
    assert "gh pr create" in runs and 'git add --force -- "results/${PROFILE}"' in runs

    caches = _uses(wf, "actions/cache")
    assert caches
    cache_dir = job["env"]["PROBEDRIFT_CACHE_DIR"].replace("${{ github.workspace }}/", "")
    for _, step in caches:
        assert cache_dir in step["with"]["path"].split()
        assert "hashFiles('requirements.txt', 'requirements-assets.txt')" in step["with"]["key"]
    # The cache is restored before the run and saved after it.
    names = [s.get("uses", s.get("run", "")) for _, s in _steps(wf)]
    restore = next(i for i, n in enumerate(names) if n.startswith("actions/cache/restore@"))
    run = next(i for i, n in enumerate(names) if "probedrift run" in n)
    save = next(i for i, n in enumerate(names) if n.startswith("actions/cache/save@"))
    assert restore < run < save
