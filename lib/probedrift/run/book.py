"""Build the Jupyter Book from a completed run: ``probedrift book --profile P`` → ``_build/html``.

The book is built from a *repository*: the checkout that holds ``_config.yml`` and ``notebooks/``
(:func:`find_repository`; the command line uses the one containing the working directory). Its
sources are staged into ``_build/src``: ``_config.yml`` and ``_toc.yml`` from the repository root, the
prose pages of ``book/``, the executed notebooks of ``results/P/notebooks/``
as ``notebooks/`` — the path of each notebook in the repository, so a launch button opens the
notebook it shows — and generated pages (the paper-vs-study table, the status page, the method page's
parameter table, the classroom run's numbers for the teaching page) computed from the run's tables and
provenance and from the typed parameters. Staged notebooks carry no widget state
(:func:`probedrift.run.publish.strip_widget_state`). MathJax is copied into the book's static files, so
formulas render without network. Jupyter Book 1.x then builds ``_build/html`` (``-W`` in strict mode).

Two audiences (:data:`AUDIENCES`): the ``instructor`` build (the default) has every page, the
teaching page included, and the chapters' solutions (collapsed); the ``student`` build leaves out the
teaching page and the solutions themselves (sphinx-exercise's ``hide_solutions``), not just collapses
them. ``python -m probedrift.run.book --profile P --audience student`` builds one from the shell.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from probedrift.core.errors import ProbedriftError
from probedrift.core.timing import STAGES, stage_table
from probedrift.report.compare import paper_vs_study, to_markdown
from probedrift.report.findings import discussion_numbers_markdown, discussion_outcomes, key_findings_markdown
from probedrift.report.summaries import power_summary
from probedrift.report.teaching import classroom_numbers_markdown
from probedrift.run.params import StudyParams, describe_parameters, repo_root
from probedrift.run.publish import strip_widget_state_file, write_book_config
from probedrift.run.runner import require_complete


def is_repository(path: Path) -> bool:
    """Whether ``path`` is the root of a study checkout (it holds ``_config.yml`` and ``notebooks/``)."""
    return (path / "_config.yml").is_file() and (path / "notebooks").is_dir()


def find_repository(start: Path | str | None = None) -> Path:
    """The study checkout containing ``start`` (default: the working directory): the nearest folder,
    ``start`` itself or one above it, holding ``_config.yml`` and ``notebooks/``."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_repository(folder):
            return folder
    raise ProbedriftError(f"{here} is not inside a probedrift checkout (no folder from it upwards holds "
                          "_config.yml and notebooks/)",
                          "run the command inside your clone of the study, or name it with --repo PATH")


def parameter_table_markdown() -> str:
    """Every parameter as a Markdown table row (name, type, default, valid values, meaning), from the
    typed definition :class:`probedrift.run.params.StudyParams` (the method page includes it)."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|")

    rows = ["| parameter | type | default | valid | meaning |", "| --- | --- | --- | --- | --- |"]
    for r in describe_parameters():
        default = "*(the profile gives it)*" if r["required"] else f"`{json.dumps(r['default'])}`"
        rows.append(f"| `{r['parameter']}` | `{cell(r['type'])}` | {cell(default)} | {cell(r['valid'])} "
                    f"| {cell(r['meaning'])} |")
    return "\n".join(rows) + "\n"


def mathjax_dir() -> Path:
    """MathJax 3 (es5 build) shipped by the ``django-static-mathjax`` package."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise ProbedriftError("MathJax is not installed, so formulas could not render offline",
                              "run `make setup` (django-static-mathjax is in requirements-assets.txt)")
    return Path(spec.submodule_search_locations[0]) / "static" / "mathjax" / "es5"


def _copy_mathjax(static: Path) -> None:
    src = mathjax_dir()
    dst = static / "mathjax"
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "tex-chtml.js", dst / "tex-chtml.js")
    shutil.copytree(src / "output" / "chtml" / "fonts" / "woff-v2", dst / "output" / "chtml" / "fonts" / "woff-v2",
                    dirs_exist_ok=True)


#: What a run's results depend on: a change here since the run's commit may change its numbers.
RESULT_SOURCES = ("lib", "notebooks", "params", "requirements.txt", "requirements-assets.txt")
#: Library code that runs when the book is built, not during the run (the comparison with the paper,
#: the key findings, the book's configuration) or never for a run (the benchmark): rebuilding the book
#: applies a change to it, so it does not make a run stale.
BUILD_TIME_SOURCES = ("lib/probedrift/run/book.py", "lib/probedrift/report/compare.py",
                      "lib/probedrift/report/verdicts.py", "lib/probedrift/report/findings.py",
                      "lib/probedrift/report/claims.py", "lib/probedrift/report/claim_rows.py",
                      "lib/probedrift/report/conclusions.py", "lib/probedrift/report/outcomes.py",
                      "lib/probedrift/run/publish.py", "lib/probedrift/report/teaching.py", "lib/probedrift/bench")
#: Who a build is for: ``instructor`` (every page and solution) or ``student`` (no teaching page, no solutions).
AUDIENCES = ("instructor", "student")
#: The instructor's page: in the TOC of the instructor build only.
TEACHING_PAGE = "book/teaching"
#: The committed run whose numbers the teaching page quotes (relative to the repository).
CLASSROOM_RUN = Path("results") / "classroom"


def changes_since(commit: str | None, root: Path | None = None) -> list[str] | None:
    """Files of :data:`RESULT_SOURCES` (less :data:`BUILD_TIME_SOURCES`) that differ between ``commit``
    and the working tree.

    ``None`` when that cannot be told (no commit recorded, not a git checkout, or the commit is not
    in this clone's history, e.g. a shallow clone).
    """
    root = root or repo_root()
    if not commit:
        return None
    try:
        excluded = [f":(exclude){path}" for path in BUILD_TIME_SOURCES]
        res = subprocess.run(["git", "diff", "--name-only", commit, "--", *RESULT_SOURCES, *excluded], cwd=root,
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return [line for line in res.stdout.splitlines() if line.strip()]


def freshness_markdown(prov: dict, root: Path | None = None) -> str:
    """A sentence (and, when stale, a warning box) saying whether the code changed since the run."""
    git = prov.get("git", {})
    commit = git.get("commit")
    dirty = " with uncommitted changes" if git.get("dirty") else ""
    changed = changes_since(commit, root)
    if commit is None:
        return "The run did not record its commit, so whether the code changed since cannot be told.\n"
    made = f"These results were made at commit `{commit[:12]}`{dirty}."
    if changed is None:
        return f"{made} That commit is not in this checkout's history, so changes since cannot be listed.\n"
    if not changed and not git.get("dirty"):
        return f"{made} The library, notebooks, profiles and pinned requirements are unchanged since.\n"
    listed = ", ".join(f"`{f}`" for f in changed[:12]) + (f" and {len(changed) - 12} more" if len(changed) > 12 else "")
    why = (f"{len(changed)} file(s) that shape the results changed since: {listed}." if changed
           else "The run was made from a working tree with uncommitted changes.")
    return (f"{made}\n\n:::{{warning}}\nThe code has changed since this run. {why} The numbers in this book "
            f"are those of the run; rerun the profile (`probedrift run --profile {prov.get('profile', '')}`) "
            "to see what the current code gives.\n:::\n")


def status_markdown(run_dir: Path, root: Path | None = None) -> str:
    """The status page: profile, device, commit (and whether the code changed since in the checkout
    ``root``), timings, versions."""
    prov = json.loads((run_dir / "provenance.json").read_text())
    dev = prov["device"]
    git = prov["git"]
    timing_rows = "\n".join(f"| {name} | {secs:.1f} |" for name, secs in prov["timings_seconds"].items())
    pkg_rows = "\n".join(f"| {name} | {ver} |" for name, ver in prov["packages"].items())
    params = prov["parameters"]
    param_rows = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in params.items() if k != "results_dir")
    commit = git.get("commit") or "unknown"
    return f"""# Status of this run

{freshness_markdown(prov, root)}
| | |
| --- | --- |
| profile | `{prov['profile']}` |
| git commit | `{commit[:12]}`{' (with uncommitted changes)' if git.get('dirty') else ''} |
| device | {dev.get('gpu') or dev.get('cpu')} (`{dev['resolved']}`, {dev['cpu_count']} CPUs, \
{dev['torch_threads']} torch threads) |
| Python | {prov['python']} on {prov['platform']} |

## Execution

Each chapter was executed by papermill in this order; times in seconds (embeddings come from the
cache when a previous run extracted them).

| notebook | seconds |
| --- | --- |
{timing_rows}

## Parameters

| key | value |
| --- | --- |
{param_rows}

## Packages

| package | version |
| --- | --- |
{pkg_rows}

The cache keys of every embedding array used are listed in `provenance.json` next to the tables.
"""


def power_markdown(run_dir: Path) -> str:
    """The power statement of the run (``metrics/power.csv``, chapter 3), or why there is none."""
    path = run_dir / "metrics" / "power.csv"
    if not path.is_file():
        return "*This run wrote no power table (`metrics/power.csv`, chapter 3).*\n"
    return power_summary(pd.read_csv(path)) + "\n"


#: Stages that run models (forward passes, generation, training); the others are statistics on embeddings.
MODEL_STAGES = ("extraction", "corpus", "fine-tuning", "generation")


def _time_split(totals: dict) -> str:
    """One sentence: the run's seconds in model work (:data:`MODEL_STAGES`), statistics and the rest."""
    if totals.get("total", 0.0) <= 0:
        return ""
    model = sum(totals.get(s, 0.0) for s in MODEL_STAGES)
    stats = sum(totals.get(s, 0.0) for s in STAGES if s not in (*MODEL_STAGES, "figures"))
    rest = totals["total"] - model - stats
    return (f"Of this run's {totals['total']:,.0f} s, running models (extraction, corpus, fine-tuning, sample "
            f"generations) took "
            f"{model:.0f} s ({model / totals['total']:.0%}), the statistics on their embeddings {stats:.0f} s "
            f"({stats / totals['total']:.0%}), and figures with the rest {rest:.0f} s.")


def timings_markdown(run_dir: Path) -> str:
    """Where this run's time went: seconds per notebook and stage (from ``provenance.json``)."""
    prov = json.loads((run_dir / "provenance.json").read_text())
    per_notebook = prov.get("timings_seconds", {})
    rows = stage_table(prov.get("stage_seconds", {}), per_notebook)
    if not rows:
        return "*This run recorded no timings.*\n"
    stages = [s for s in STAGES if any(r[s] for r in rows)]
    cols = [*stages, "other", "total"]
    head = "| " + " | ".join(["notebook", *cols]) + " |"
    sep = "|" + " --- |" * (len(cols) + 1)
    body = ["| " + " | ".join([r["notebook"].removesuffix(".ipynb"), *(f"{r[c]:.0f}" for c in cols)]) + " |"
            for r in rows]
    totals = {c: sum(r[c] for r in rows) for c in cols}
    body.append("| " + " | ".join(["**all**", *(f"**{totals[c]:.0f}**" for c in cols)]) + " |")
    dev = prov.get("device", {})
    where = f"{dev.get('gpu') or dev.get('cpu', 'unknown CPU')}, {dev.get('cpu_count', '?')} CPUs"
    note = ("Seconds of wall time of the `" + prov.get("profile", "?") + "` run this book shows, on " + where
            + ". A stage counts the seconds of the library calls made for it, less those of the calls they "
            "make for another stage: a checkpoint embedded for a real-drift table counts as extraction (which "
            "includes loading the model), its training as fine-tuning, the teacher writing the instruction "
            "pairs as corpus, the checkpoints' sample answers as generation. *Other* is the rest of the "
            "notebook: plotting calls, tables, the kernel's "
            "start. Embeddings, corpora and fine-tuned checkpoints found in the cache cost no time, so a "
            "warm rerun is mostly the statistics.")
    note += " " + _time_split(totals)
    tuned = sum(r["fine-tuning"] for r in rows)
    if any(name.startswith("07") for name in per_notebook) and tuned < 1.0:
        note += (" In this run the fine-tuned checkpoints came from the cache (fine-tuning took "
                 f"{tuned:.1f} s).")
    return "\n".join([note, "", head, sep, *body, ""])


def check_audience(audience: str) -> str:
    """``audience`` if it is one of :data:`AUDIENCES`, else a :class:`ProbedriftError` naming them."""
    if audience not in AUDIENCES:
        raise ProbedriftError(f"unknown book audience {audience!r}", f"choose one of {', '.join(AUDIENCES)}")
    return audience


def _apply_audience(src: Path, audience: str) -> None:
    """The student build: ``hide_solutions`` on (solutions left out of the pages) and no teaching page."""
    cfg_path = src / "_config.yml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
    cfg.setdefault("sphinx", {}).setdefault("config", {})["hide_solutions"] = audience == "student"
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    if audience == "student":
        toc = src / "_toc.yml"
        toc.write_text("".join(line for line in toc.read_text().splitlines(keepends=True)
                               if line.split("file:")[-1].strip() != TEACHING_PAGE))
        (src / f"{TEACHING_PAGE}.md").unlink(missing_ok=True)


def stage(profile: str, results_root: str = "results", out_root: Path | None = None,
          repository: Path | None = None, audience: str = "instructor") -> Path:
    """Assemble the book's sources for ``profile`` in ``<out_root>/_build/src`` and return that directory.

    The pages, configuration and (relative) ``results_root`` are those of ``repository`` (default: the
    checkout of the installed package); ``out_root`` defaults to the repository. ``audience`` is one of
    :data:`AUDIENCES`.
    """
    check_audience(audience)
    root = Path(repository or repo_root())
    run_dir = Path(results_root) / profile
    if not run_dir.is_absolute():
        run_dir = root / run_dir
    require_complete(run_dir)
    src = Path(out_root or root) / "_build" / "src"
    shutil.rmtree(src, ignore_errors=True)
    (src / "notebooks").mkdir(parents=True)
    (src / "generated").mkdir()
    shutil.copy2(root / "_config.yml", src / "_config.yml")
    write_book_config(src / "_config.yml")  # repository buttons only when an address is known
    shutil.copy2(root / "_toc.yml", src / "_toc.yml")
    shutil.copytree(root / "book", src / "book", ignore=shutil.ignore_patterns("_build"))
    toc = (src / "_toc.yml").read_text()
    for nb in sorted((run_dir / "notebooks").glob("*.ipynb")):
        shutil.copy2(nb, src / "notebooks" / nb.name)
        strip_widget_state_file(src / "notebooks" / nb.name)  # progress bars' state loads a widget script
    # A chapter listed in the TOC but absent from this run is dropped from the staged TOC.
    kept = []
    for line in toc.splitlines():
        if "file: notebooks/" in line and not (src / (line.split("file:")[1].strip() + ".ipynb")).is_file():
            continue
        kept.append(line)
    (src / "_toc.yml").write_text("\n".join(kept) + "\n")
    _apply_audience(src, audience)
    prov = json.loads((run_dir / "provenance.json").read_text())
    params = StudyParams.from_dict(prov["parameters"], source=f"{run_dir / 'provenance.json'}")
    table = paper_vs_study(run_dir / "metrics", params)
    table.to_csv(run_dir / "metrics" / "paper_vs_study.csv", index=False)
    power = power_markdown(run_dir)
    (src / "generated" / "paper_vs_study.md").write_text(to_markdown(table) + "\n## What this run can resolve\n\n"
                                                         + power)
    (src / "generated" / "status.md").write_text(status_markdown(run_dir, root) + "\n## What this run can resolve\n\n"
                                                 + power)
    (src / "generated" / "parameters.md").write_text(parameter_table_markdown())
    (src / "generated" / "run_timings.md").write_text(timings_markdown(run_dir))
    (src / "generated" / "key_findings.md").write_text(key_findings_markdown(run_dir))
    (src / "generated" / "discussion_numbers.md").write_text(discussion_numbers_markdown(run_dir))
    for name, text in discussion_outcomes(run_dir).items():  # the Discussion's outcome sentences
        (src / "generated" / f"{name}.md").write_text(text)
    classroom = root / CLASSROOM_RUN
    (src / "generated" / "classroom_numbers.md").write_text(
        classroom_numbers_markdown(classroom if (classroom / "provenance.json").is_file() else None))
    bench_md = root / "results" / "bench" / "bench.md"
    (src / "generated" / "bench.md").write_text(
        bench_md.read_text() if bench_md.is_file()
        else "*No benchmark has been run on this machine yet: run `probedrift bench` (or `make bench`) and rebuild "
             "the book.*\n")
    _copy_mathjax(src / "_extra")
    return src


def build_book(profile: str = "default", results_root: str = "results", strict: bool = False,
               out_root: Path | None = None, repository: Path | None = None, audience: str = "instructor") -> int:
    """Stage and build the book of ``repository`` (default: the checkout of the installed package) into
    ``<out_root>/_build/html`` (default: the repository root), for ``audience`` (:data:`AUDIENCES`).

    Returns jupyter-book's exit code; ``strict`` adds ``-W -n --keep-going`` so a broken reference or
    any warning fails the build.
    """
    repository = Path(repository or repo_root())
    root = Path(out_root or repository)
    src = stage(profile, results_root, root, repository, audience)
    shutil.rmtree(root / "_build" / "html", ignore_errors=True)
    shutil.rmtree(root / "_build" / "jupyter_execute", ignore_errors=True)
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(src), "--path-output", str(root), "--builder", "html"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    res = subprocess.run(cmd, cwd=repository)
    if res.returncode == 0:
        print(f"[probedrift book] {root / '_build' / 'html' / 'index.html'}")
    return res.returncode


def main(argv: list[str] | None = None) -> int:
    """``python -m probedrift.run.book [--profile P] [--audience student|instructor] [--out DIR] [--strict]``."""
    parser = argparse.ArgumentParser(prog="python -m probedrift.run.book", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--results", default="results", help="root of the run outputs (relative: to the repository)")
    parser.add_argument("--audience", default="instructor", choices=AUDIENCES,
                        help="instructor: every page and solution; student: no teaching page, solutions left out")
    parser.add_argument("--out", default=None, help="folder to build into (<out>/_build/html); default: the checkout")
    parser.add_argument("--strict", action="store_true", help="turn warnings into errors (-W)")
    args = parser.parse_args(argv)
    repository = find_repository(Path.cwd())
    out = Path(args.out).resolve() if args.out else None
    return build_book(args.profile, results_root=args.results, strict=args.strict, out_root=out,
                      repository=repository, audience=args.audience)


if __name__ == "__main__":
    raise SystemExit(main())
