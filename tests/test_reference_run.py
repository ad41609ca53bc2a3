"""The committed reference run (results/default/): complete, portable, small, and in step with the code.

The book is published from this run without executing a cell, so these tests fail when the code
writes tables the committed run does not have (rerun the default profile and commit it), or when
the run carries something that must not be published.
"""

from __future__ import annotations

import json
import re
import subprocess

import nbformat
import pandas as pd

from probedrift.run import book, catalogue, runner
from probedrift.run.params import repo_root

REFERENCE = repo_root() / "results" / "default"
MAX_MEGABYTES = 8


def test_the_reference_run_is_committed_and_complete():
    assert runner.run_state(REFERENCE).get("state") == "complete", "commit a complete default run"
    names = {p.name for p in (REFERENCE / "notebooks").glob("*.ipynb")}
    assert names == {p.name for p in runner.notebook_paths()}
    tracked = subprocess.run(["git", "ls-files", "results/default"], cwd=repo_root(), capture_output=True,
                             text=True).stdout.split()
    assert "results/default/run.json" in tracked and "results/default/provenance.json" in tracked


# Tables the book writes into the run when it builds (not produced by a run, so not in the catalogue).
BOOK_TABLES = {"paper_vs_study"}


def test_committed_tables_have_the_columns_the_catalogue_declares():
    """Every table of the catalogue is in the reference run with its declared columns (columns named after a
    profile's own values, one per monitor, anchor size or checkpoint, match the table's pattern), and the
    run has no table the catalogue does not declare."""
    committed = {p.stem: list(pd.read_csv(p, nrows=0).columns) for p in (REFERENCE / "metrics").glob("*.csv")}
    missing = sorted(set(catalogue.names()) - set(committed))
    assert not missing, f"declared tables the reference run lacks: {missing}; rerun the default profile"
    undeclared = sorted(set(committed) - set(catalogue.names()) - BOOK_TABLES)
    assert not undeclared, f"tables of the reference run the catalogue does not declare: {undeclared}"
    problems = [p for name in catalogue.names() for p in catalogue.column_problems(name, committed[name])]
    assert not problems, f"rerun the default profile and commit it, or fix the declaration: {problems}"


def test_the_smoke_run_writes_the_declared_tables_with_their_columns(smoke_run):
    """The smoke run is made by this code in this test session: each table it writes is declared, with the
    columns the catalogue says (a book built from the run in this session may have added its own tables)."""
    written = {p.stem: list(pd.read_csv(p, nrows=0).columns) for p in (smoke_run / "metrics").glob("*.csv")
               if p.stem not in BOOK_TABLES}
    assert set(written) == set(catalogue.names())
    problems = [p for name, cols in written.items() for p in catalogue.column_problems(name, cols)]
    assert not problems, problems


def test_the_reference_run_is_portable_small_and_free_of_residue():
    home_like = ("/root/", "/home/", "/tmp/", "/work/", "/Users/")
    total = 0
    for path in REFERENCE.rglob("*"):
        if not path.is_file():
            continue
        total += path.stat().st_size
        assert path.suffix not in {".npy", ".npz", ".pt", ".bin"}, f"{path.name}: no embeddings or weights"
        if path.suffix in {".ipynb", ".json", ".csv", ".md"}:
            text = path.read_text()
            found = [p for p in home_like if p in text]
            assert not found, f"{path.relative_to(repo_root())} shows a machine path ({found})"
    assert total < MAX_MEGABYTES * 2 ** 20, f"reference run is {total / 2 ** 20:.1f} MB"
    for nb_path in (REFERENCE / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        assert nb.metadata.get("mystnb", {}).get("execution_mode") == "off"
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
        assert outputs, f"{nb_path.name} has no stored outputs"
        for o in outputs:
            assert not (o.output_type == "stream" and o.name == "stderr"), f"{nb_path.name}: stderr residue"
            assert o.output_type != "error", f"{nb_path.name} stores an error"
            assert "%|" not in str(o.get("text", "")), f"{nb_path.name}: progress-bar residue"


def test_provenance_of_the_reference_run_names_its_commit():
    prov = json.loads((REFERENCE / "provenance.json").read_text())
    assert len(prov["git"]["commit"] or "") == 40


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def test_status_page_says_whether_the_code_changed_since_the_run(tmp_path):
    (tmp_path / "lib" / "probedrift" / "report").mkdir(parents=True)
    (tmp_path / "lib" / "probe.py").write_text("w = 1\n")
    (tmp_path / "lib" / "probedrift" / "report" / "compare.py").write_text("band = 0.1\n")
    (tmp_path / "README.md").write_text("prose\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "run")
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    prov = {"profile": "default", "git": {"commit": commit, "dirty": False}}
    assert "unchanged since" in book.freshness_markdown(prov, tmp_path)
    (tmp_path / "README.md").write_text("more prose\n")  # not a source of results
    (tmp_path / "lib" / "probedrift" / "report" / "compare.py").write_text("band = 0.2\n")  # runs at book build time
    assert book.changes_since(commit, tmp_path) == []
    (tmp_path / "lib" / "probe.py").write_text("w = 2\n")
    text = book.freshness_markdown(prov, tmp_path)
    assert ":::{warning}" in text and "`lib/probe.py`" in text
    unknown = {"profile": "default", "git": {"commit": "0" * 40, "dirty": False}}
    assert "not in this checkout's history" in book.freshness_markdown(unknown, tmp_path)
    assert book.changes_since(None, tmp_path) is None


def test_the_book_stages_the_reference_run_without_executing(tmp_path):
    import shutil

    shutil.copytree(REFERENCE, tmp_path / "results" / "default")  # staging writes paper_vs_study.csv
    src = book.stage("default", results_root=str(tmp_path / "results"), out_root=tmp_path)
    staged = sorted((src / "notebooks").glob("*.ipynb"))
    assert len(staged) == len(runner.notebook_paths())
    status = (src / "generated" / "status.md").read_text()
    assert "These results were made at commit" in status


def _displayed_table_problems(notebook_dir) -> list[str]:
    """Tables shown in executed notebooks that carry a pandas index column (a body row opening with a header
    cell) or a missing value printed as NaN/None/<NA>."""
    problems = []
    for path in sorted(notebook_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for i, cell in enumerate(nb.cells):
            for out in cell.get("outputs", []):
                page = "".join(out.get("data", {}).get("text/html", ""))
                if "<table" not in page:
                    continue
                body = page.split("<tbody>", 1)[-1]
                if re.search(r"<tr>\s*<th", body):
                    problems.append(f"{path.name} cell {i}: an index column")
                if re.search(r">\s*(NaN|nan|None|&lt;NA&gt;)\s*<", page):
                    problems.append(f"{path.name} cell {i}: a missing value printed as NaN")
    return problems


def test_no_displayed_table_has_an_index_column_or_nan(smoke_run):
    assert not _displayed_table_problems(smoke_run / "notebooks")


def test_the_table_check_sees_a_pandas_index_and_a_nan(tmp_path):
    df = pd.DataFrame({"auc": [0.7, float("nan")]}, index=["a", "b"])
    cell = nbformat.v4.new_code_cell("df")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": df.to_html()})]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), tmp_path / "x.ipynb")
    assert len(_displayed_table_problems(tmp_path)) == 2
