"""The first cell of every chapter installs the study where it is missing (Colab) and does nothing elsewhere.

The cell's text is the same in all seven notebooks. Its install path is exercised for real: a fresh
virtualenv without probedrift runs the cell against this checkout as ``PROBEDRIFT_SOURCE`` and must then
import the study in the same interpreter (as a kernel would, without a restart). The virtualenv sees the
heavy dependencies already installed in ``.venv`` through a ``.pth`` file pointing at a folder of links
to them (probedrift's own entries left out), so pip installs only probedrift itself, from the local path,
offline (``PIP_NO_INDEX``, no build isolation: setuptools comes from ``.venv`` too); a real download of
torch and transformers would take minutes and needs a network this test must not rely on.
"""

from __future__ import annotations

import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import nbformat
import pytest

from probedrift.run.params import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("0*.ipynb"))


def _first_cell(path: Path):
    return nbformat.read(path, as_version=4).cells[0]


def _install_cell() -> str:
    return _first_cell(NOTEBOOKS[0]).source


def test_every_chapter_opens_with_the_same_install_cell():
    assert len(NOTEBOOKS) == 7
    for path in NOTEBOOKS:
        cell = _first_cell(path)
        assert cell.cell_type == "code", path.name
        assert cell.source == _install_cell(), f"{path.name}'s first cell differs from {NOTEBOOKS[0].name}'s"
        assert "parameters" not in cell.metadata.get("tags", []), path.name
    source = _install_cell()
    assert "PROBEDRIFT_SOURCE" in source and 'find_spec("probedrift")' in source
    assert "import probedrift" not in source  # it must run before the study can be imported


def test_with_the_study_installed_the_cell_does_nothing(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"the install cell ran {args} although probedrift is installed")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setenv("PROBEDRIFT_SOURCE", "")
    exec(compile(_install_cell(), "install_cell", "exec"), {})


def _venv_seeing_dependencies(root: Path) -> Path:
    """A virtualenv whose only extra path entry is a folder of links to .venv's packages, probedrift left out."""
    venv.EnvBuilder(with_pip=False).create(root / "venv")
    python = root / "venv" / "bin" / "python"
    deps = root / "deps"
    deps.mkdir()
    ours = ("probedrift", "__editable__", "_probedrift")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(ours) and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)
    purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    (Path(purelib) / "dependencies.pth").write_text(f"{deps}\n")
    return python


@pytest.mark.slow
def test_the_cell_installs_the_study_into_a_fresh_virtualenv(tmp_path):
    python = _venv_seeing_dependencies(tmp_path)
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PYTHONNOUSERSITE": "1"}
    env.pop("PYTHONPATH", None)
    probe = "import importlib.util; print(importlib.util.find_spec('probedrift') is None)"
    missing = subprocess.run([python, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
    assert missing.stdout.strip() == "True", missing.stderr  # the dependencies are seen, the study is not

    without_source = subprocess.run([python, "-c", _install_cell()], env={**env, "PROBEDRIFT_SOURCE": ""},
                                    capture_output=True, text=True, timeout=60)
    assert without_source.returncode != 0 and "set PROBEDRIFT_SOURCE" in without_source.stderr

    then_import = "\nimport probedrift.run.study\nprint(probedrift.run.study.__file__)\n"
    done = subprocess.run([python, "-c", _install_cell() + then_import], cwd=tmp_path, capture_output=True, text=True,
                          env={**env, "PROBEDRIFT_SOURCE": str(repo_root())}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Path(done.stdout.strip().splitlines()[-1]) == repo_root() / "lib" / "probedrift" / "run" / "study.py"
    where = "import importlib.metadata as m; print(m.distribution('probedrift').locate_file(''))"
    installed = subprocess.run([python, "-c", where], env=env, capture_output=True, text=True, timeout=60)
    assert Path(installed.stdout.strip()).is_relative_to(tmp_path / "venv"), installed  # a new install, in the venv
