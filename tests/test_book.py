"""The Jupyter Book built from the smoke run: pages, figures, no errors, the paper-vs-study table."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from probedrift.run import book
from tests.html_cells import visible_computations

pytestmark = pytest.mark.slow

HEADLINE_CLAIMS = [
    "clean ROC-AUC",
    "AUC at σ = 0.02 (the paper's formula)",
    "AUC at σ = 0.02 (the abstract's ≈1° reading)",
    "σ = 0.02 is ≈ 1° of angle",
    "the cliff",
    "mean confidence drops only 14%",
    "72% of errors made with confidence ≥ 0.8",
    "ECE rises from 1.2% to 22.6%",
    "all drift types fail alike",
    "instruct models separate ~20% worse",
    "silhouette: base → instruct",
    "fisher: base → instruct",
]


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.classes, self.rows, self._row, self._cell = [], [], [], None, None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        self.classes += (a.get("class") or "").split()
        if tag == "tr":
            self._row = []
        if tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data.replace("\u2019", "'")  # Sphinx's smart quotes


def _parse(path: Path) -> _Collector:
    c = _Collector()
    c.feed(path.read_text())
    return c


#: A repository address for the test build only, so the launch buttons are rendered and checked.
EXAMPLE_REPOSITORY = "https://github.com/example-owner/probedrift"


@pytest.fixture(scope="module")
def built_book(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    with pytest.MonkeyPatch.context() as mp:
        for key in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY"):
            mp.delenv(key, raising=False)
        mp.setenv("PROBEDRIFT_REPOSITORY_URL", EXAMPLE_REPOSITORY)
        rc = book.build_book("smoke", results_root=str(smoke_run.parent), strict=True, out_root=out)
    assert rc == 0, "jupyter-book build -W failed"
    return out / "_build"


def test_launch_buttons_open_notebooks_that_exist_in_the_repository(built_book):
    """Every Binder link of a chapter names the repository path of that chapter's notebook."""
    from probedrift.run.params import repo_root

    pages = sorted((built_book / "html" / "notebooks").glob("*.html"))
    assert pages
    for page in pages:
        links = re.findall(r"https://mybinder\.org/v2/gh/example-owner/probedrift/main\?(?:urlpath=tree/|filepath=)"
                           r"([^\"&]+)", page.read_text())
        assert links, f"{page.name} has no Binder button"
        for path in set(links):
            assert path == f"notebooks/{page.stem}.ipynb" and (repo_root() / path).is_file(), path


def _toc_files(src: Path) -> list[str]:
    toc = yaml.safe_load((src / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files


def test_every_toc_page_exists_in_the_html(built_book):
    files = _toc_files(built_book / "src")
    assert any(f.startswith("notebooks/") for f in files)
    for f in files:
        assert (built_book / "html" / f"{f}.html").is_file(), f
    assert (built_book / "html" / "index.html").is_file()


def test_every_chapter_shows_figures_that_exist(built_book):
    for f in _toc_files(built_book / "src"):
        if not f.startswith("notebooks/"):
            continue
        page = built_book / "html" / f"{f}.html"
        imgs = [s for s in _parse(page).imgs if not s.startswith("data:")]
        if f.endswith(("01_embeddings", "02_probes", "03_drift", "04_silent_failures", "05_separability")):
            assert imgs, f"{f} has no figure"
        for src in imgs:
            assert (page.parent / src).resolve().is_file(), (f, src)


def test_no_page_shows_a_traceback_or_error_output(built_book):
    for page in (built_book / "html").rglob("*.html"):
        text = page.read_text()
        assert "Traceback (most recent call last)" not in text, page
        c = _parse(page)
        assert "output_error" not in c.classes and "traceback" not in " ".join(c.classes).lower(), page


def test_paper_vs_study_has_a_row_with_a_number_for_each_headline_claim(built_book):
    rows = _parse(built_book / "html" / "generated" / "paper_vs_study.html").rows
    body = [r for r in rows if len(r) >= 7 and r[0] != "claim"]
    for claim in HEADLINE_CLAIMS:
        match = [r for r in body if r[0].startswith(claim)]
        assert match, f"no row for {claim!r}"
        for r in match:
            assert re.search(r"\d", r[2]), (claim, r[2])  # the paper's number
            assert r[5] in {"agrees", "disagrees", "unresolved", "context"}, r[5]
        assert any(re.search(r"\d", r[3]) for r in match), (claim, [r[3] for r in match])  # the study's number


def test_formulas_are_served_from_the_books_own_static_files(built_book):
    html = built_book / "html"
    assert (html / "mathjax" / "tex-chtml.js").is_file()
    assert list((html / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    method = (html / "book" / "method.html").read_text()
    assert method.count("mathjax/tex-chtml.js") == 1 and "cdn.jsdelivr" not in method
    assert method.count("const THEBE_JS_URL") <= 1


def test_the_book_refuses_a_run_that_did_not_complete(tmp_path):
    from probedrift.core.errors import ProbedriftError

    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "run.json").write_text('{"state": "failed", "notebook": "03_drift.ipynb", "cell": 4}')
    with pytest.raises(ProbedriftError, match="failed.*03_drift"):
        book.stage("smoke", results_root=str(tmp_path), out_root=tmp_path)


def test_intro_opens_with_a_key_findings_box_holding_numbers(built_book):
    html = (built_book / "html" / "book" / "intro.html").read_text()
    m = re.search(r'<div class="[^"]*key-findings[^"]*">(.*?)</div>', html, re.S)
    assert m, "no key-findings box on the intro page"
    box = re.sub(r"<[^>]+>", "", m.group(1))
    assert "Key findings" in box
    assert re.search(r"\d+(\.\d+)?°", box), box[:500]  # measured angles
    assert re.search(r"0\.\d\d \[0\.\d\d, 0\.\d\d\]", box), box[:500]  # an AUC with its interval
    assert html.index("key-findings") < html.index('id="what-this-study-does"')


def test_every_chapter_has_objectives_and_exercises_with_hidden_solutions(built_book):
    src = built_book / "src"
    chapters = [f for f in _toc_files(src) if f.startswith("notebooks/")]
    assert chapters
    for f in chapters:
        html = (built_book / "html" / f"{f}.html").read_text()
        assert "learning-objectives" in html and "Learning objectives" in html, f
        n_ex = len(re.findall(r'class="exercise admonition"', html))
        n_sol = len(re.findall(r'class="solution dropdown admonition"', html))
        assert 2 <= n_ex <= 4 and n_sol == n_ex, (f, n_ex, n_sol)
        assert html.index("learning-objectives") < html.index('id="exercises"') < html.index('id="what-this-shows"'), f


def test_discussion_page_has_run_numbers_and_glossary_links(built_book):
    html = (built_book / "html" / "book" / "discussion.html").read_text()
    assert "{include}" not in html and "d ≈ " in html
    assert re.search(r"tan θ / σ = \d", html)
    assert "glossary.html#term-" in html


# ---------------------------------------------------------------------------------------------------------------
# Which checkout `probedrift book` builds (no book is built here)


def _skeleton(root: Path) -> Path:
    """The minimal files of a study checkout: book configuration, table of contents, pages, notebooks/."""
    from probedrift.run.params import repo_root

    root.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        (root / name).write_text((repo_root() / name).read_text())
    (root / "book").mkdir()
    (root / "book" / "intro.md").write_text("# A second clone\n")
    (root / "notebooks").mkdir()
    return root


@pytest.fixture
def captured_build(monkeypatch):
    """Runs of `probedrift book` record where they would stage and build, instead of building."""
    import subprocess

    calls = {}

    def fake_stage(profile, results_root, out_root, repository, audience="instructor"):
        calls["stage"] = {"out_root": Path(out_root), "repository": Path(repository), "results_root": results_root,
                          "audience": audience}
        return Path(out_root) / "_build" / "src"

    def fake_run(cmd, cwd=None, **kw):
        calls["build"] = {"cmd": cmd, "cwd": Path(cwd)}
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(book, "stage", fake_stage)
    monkeypatch.setattr(book.subprocess, "run", fake_run)
    return calls


def test_book_builds_the_checkout_containing_the_working_directory(tmp_path, monkeypatch, captured_build):
    from probedrift.run import cli

    clone = _skeleton(tmp_path / "second-clone")
    monkeypatch.chdir(clone / "book")
    assert cli.main(["book", "--profile", "smoke"]) == 0
    assert captured_build["stage"]["repository"] == clone.resolve()
    assert captured_build["stage"]["out_root"] == clone.resolve()
    cmd = captured_build["build"]["cmd"]
    assert cmd[cmd.index("--path-output") + 1] == str(clone.resolve())
    assert captured_build["build"]["cwd"] == clone.resolve()


def test_book_takes_the_repository_and_output_folder_from_options(tmp_path, monkeypatch, captured_build):
    from probedrift.run import cli

    clone = _skeleton(tmp_path / "clone")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["book", "--repo", str(clone), "--out", str(tmp_path / "site")]) == 0
    assert captured_build["stage"]["repository"] == clone.resolve()
    assert captured_build["stage"]["out_root"] == (tmp_path / "site").resolve()


def test_book_outside_a_checkout_says_so(tmp_path, monkeypatch, capsys, captured_build):
    from probedrift.run import cli

    monkeypatch.chdir(tmp_path)
    assert cli.main(["book"]) == 2
    err = capsys.readouterr().err
    assert "not inside a probedrift checkout" in err and "--repo" in err
    assert cli.main(["book", "--repo", str(tmp_path)]) == 2 and "holds no _config.yml" in capsys.readouterr().err
    assert not captured_build


def test_method_page_lists_every_parameter_with_its_default():
    import dataclasses

    from probedrift.run.params import StudyParams, repo_root

    table = book.parameter_table_markdown().splitlines()
    fields = dataclasses.fields(StudyParams)
    rows = {line.split("|")[1].strip().strip("`"): line for line in table[2:]}
    assert list(rows) == [f.name for f in fields]
    assert "`0.8`" in rows["tau"] and "`256`" in rows["max_length"] and "profile gives it" in rows["models"]
    assert '"confidence", "mmd"' in rows["detectors"]
    assert "../generated/parameters.md" in (repo_root() / "book" / "method.md").read_text()


def test_every_chapter_page_shows_a_visible_computation_checked_against_the_library(built_book):
    """What a student reads: each chapter page shows a 10–25-line numpy/scikit-learn cell with its own check."""
    src = built_book / "src"
    chapters = [f for f in _toc_files(src) if f.startswith("notebooks/")]
    assert len(chapters) == 7
    for f in chapters:
        html = (built_book / "html" / f"{f}.html").read_text()
        assert visible_computations(html), f"{f}: no visible computation checked against the library"
