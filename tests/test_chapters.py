"""Every chapter shows its science: a visible numpy/scikit-learn computation checked against the library,
exercises with their solutions, and numbers in the prose glued from the run rather than typed."""

from __future__ import annotations

import re

import nbformat
import pytest

from probedrift.run.params import repo_root

NOTEBOOKS = sorted((repo_root() / "notebooks").glob("0*.ipynb"))
HIDDEN = {"remove-cell", "remove-input", "hide-input", "hide-cell"}
#: Lines of a computation a student reads in one go (QuantEcon's cells are 5–15 lines).
MIN_LINES, MAX_LINES = 10, 25


def _cells(path, kind):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == kind]


def _visible(cell) -> bool:
    return not HIDDEN & set(cell.metadata.get("tags", []))


def _is_computation(source: str) -> bool:
    """10–25 lines, several numpy or scikit-learn calls, and a visible check against something else."""
    lines = source.splitlines()
    calls = len(re.findall(r"\bnp(?:\.\w+)+\(", source)) + len(re.findall(r"\b(?:StandardScaler|LogisticRegression|"
                                                                       r"roc_auc_score)\(", source))
    checks = [line for line in lines if re.match(r"\s*(assert\b|np\.testing\.assert_)", line)]
    return MIN_LINES <= len(lines) <= MAX_LINES and calls >= 3 and bool(checks)


def test_the_chapters_are_the_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_chapter_has_a_visible_computation_checked_against_the_library(path):
    found = [c.source for c in _cells(path, "code") if _visible(c) and _is_computation(c.source)]
    assert found, f"{path.name} has no visible {MIN_LINES}–{MAX_LINES}-line numpy/scikit-learn cell with an assert"
    # the check compares with the study's library or its tables, not with the cell's own numbers only
    assert any(re.search(r"S\.(probe|unit|table)|probedrift|\b(real|ft|sep|baseline)\b\.|drift\(|predicted_auc|"
                         r"metrics\.|separability\.|sphere\.", src) for src in found), path.name


def test_the_detector_for_computations_rejects_what_it_should():
    ok = "\n".join(["import numpy as np", "x = np.ones(3)", "y = np.zeros(3)", "z = np.sqrt(x)"]
                   + ["w = 1"] * 5 + ["np.testing.assert_allclose(x, z)"])
    assert _is_computation(ok)
    assert not _is_computation(ok.replace("np.testing.assert_allclose(x, z)", "print(x)"))  # no check
    assert not _is_computation("\n".join(ok.splitlines()[:4] + ok.splitlines()[-1:]))  # too short
    assert not _is_computation(ok + "\nw = 2" * 20)  # too long to read in one go


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_glued_name_in_the_prose_is_glued_by_a_code_cell(path):
    prose = "\n".join(c.source for c in _cells(path, "markdown"))
    code = "\n".join(c.source for c in _cells(path, "code"))
    wanted = set(re.findall(r"\{glue:\w*\}`(\w+)`", prose))
    glued = set(re.findall(r"glue\(\"(\w+)\"", code))
    assert wanted <= glued, f"{path.name}: {sorted(wanted - glued)} are read in the prose but never glued"
    if wanted:
        assert "from myst_nb import glue" in code, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_its_solution_block(path):
    prose = "\n".join(c.source for c in _cells(path, "markdown"))
    exercises = re.findall(r"::::\{exercise\}[^\n]*\n:label: ([\w-]+)", prose)
    solutions = re.findall(r"::::\{solution\} ([\w-]+)", prose)
    assert exercises, f"{path.name} has no exercise"
    assert sorted(exercises) == sorted(solutions), path.name


def test_no_exercise_quotes_a_typed_measured_angle():
    """Angles measured by a run (e.g. '23.0°') come from glue, not from the text; formula values such as
    arctan σ ≈ 1.15° are derivations and carry '≈'."""
    for path in NOTEBOOKS:
        for cell in _cells(path, "markdown"):
            for block in re.findall(r"::::\{(?:exercise|solution)\}.*?::::", cell.source, flags=re.S):
                typed = [m for m in re.findall(r"(\S*\s?\d+\.\d+°)", block) if "≈" not in m]
                assert not typed, f"{path.name}: typed angles {typed}"
