"""The student and the instructor build: solutions left out of one and all present in the other, the
teaching page only for the instructor, and no widget state or widget script on a chapter page.

Built from a small copy of the committed reference run that keeps one chapter, so two builds stay quick.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.run import book

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "default"
CHAPTER = "01_embeddings"  # has solutions, and widget state in the reference run


def _words(markdown: str) -> str:
    """The longest run of plain words (no math, code or markup) of a solution, as the page shows it."""
    runs = re.findall(r"(?:[A-Za-z][a-z]+[ ,]+){5,}[A-Za-z][a-z]+", markdown)
    return max(runs, key=len).strip(" ,") if runs else ""


def _solutions(notebook: Path) -> list[str]:
    """A plain-text fragment of every solution block of ``notebook``'s source."""
    nb = json.loads(notebook.read_text())
    fragments = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        for body in re.findall(r"::::\{solution\}[^\n]*\n(.*?)\n::::", source, flags=re.S):
            fragments.append(_words(body.split("\n\n", 1)[-1]))
    return fragments


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    if not (REFERENCE / "notebooks" / f"{CHAPTER}.ipynb").is_file():
        pytest.skip("no committed reference run")
    root = tmp_path_factory.mktemp("audiences")
    run = root / "results" / "small"
    shutil.copytree(REFERENCE, run, ignore=shutil.ignore_patterns("figures", "probes"))
    for nb in (run / "notebooks").glob("*.ipynb"):
        if nb.stem != CHAPTER:
            nb.unlink()
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        for key in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "PROBEDRIFT_REPOSITORY_URL"):
            mp.delenv(key, raising=False)
        for audience in book.AUDIENCES:
            rc = book.build_book("small", results_root=str(root / "results"), out_root=root / audience,
                                 audience=audience)
            assert rc == 0, f"the {audience} build failed"
            out[audience] = root / audience / "_build"
    return out


def test_the_student_build_leaves_every_solution_out(builds):
    fragments = _solutions(ROOT / "notebooks" / f"{CHAPTER}.ipynb")
    assert len(fragments) >= 2 and all(fragments)
    student = (builds["student"] / "html" / "notebooks" / f"{CHAPTER}.html").read_text()
    assert 'class="exercise' in student, "the exercises stay"
    assert 'class="solution' not in student
    for fragment in fragments:
        assert fragment not in student, f"solution text in the student build: {fragment!r}"


def test_the_instructor_build_has_every_solution(builds):
    instructor = (builds["instructor"] / "html" / "notebooks" / f"{CHAPTER}.html").read_text()
    fragments = _solutions(ROOT / "notebooks" / f"{CHAPTER}.ipynb")
    assert len(re.findall(r'class="solution', instructor)) == len(fragments)
    for fragment in fragments:
        assert fragment in instructor, f"solution missing from the instructor build: {fragment!r}"


def test_the_teaching_page_is_for_the_instructor_only(builds):
    assert not (builds["student"] / "html" / "book" / "teaching.html").exists()
    assert "book/teaching" not in (builds["student"] / "src" / "_toc.yml").read_text()
    page = (builds["instructor"] / "html" / "book" / "teaching.html").read_text()
    assert "Teaching with this book" in page and "Instructor notes per chapter" in page
    classroom = ROOT / "results" / "classroom" / "metrics" / "probe_baseline.csv"
    if classroom.is_file():
        assert "clean ROC-AUC" in page, "the classroom run's numbers are on the page"
    else:
        assert "make classroom" in page


def test_chapter_pages_carry_no_widget_state_and_load_no_widget_script(builds):
    for audience, built in builds.items():
        staged = json.loads((built / "src" / "notebooks" / f"{CHAPTER}.ipynb").read_text())
        assert "widgets" not in staged["metadata"], audience
        html = (built / "html" / "notebooks" / f"{CHAPTER}.html").read_text()
        assert "widget-state+json" not in html and "html-manager" not in html and "require.min.js" not in html


def test_an_unknown_audience_is_refused_with_the_choices():
    with pytest.raises(ProbedriftError, match="instructor, student"):
        book.check_audience("teacher")
