"""Real-browser check of the built book (``make browser-check``): headless Chromium, no network.

Serves ``_build/html`` on 127.0.0.1, opens the index (the intro), the method page, a chapter with
exercises and the discussion, takes screenshots into ``_build/screenshots/``, and fails on console
errors or on a formula that MathJax did not typeset. On the rendered pages it also checks that the
intro's key-findings box holds numbers, that every exercise and solution block renders and every
solution is a collapsed toggle, that no page shows a Python traceback; and, over every built page,
that glossary links resolve, every figure has alt text and (when the book was built with a
repository address) every launch button opens a notebook of this repository. Chromium runs with every
background-networking feature off and a fresh
profile, so it makes no outside connections.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from tests.html_cells import visible_computations

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--hide-scrollbars"]
PAGES = {
    "index": "index.html",
    "method": "book/method.html",
    "chapter_drift": "notebooks/03_drift.html",
    "paper_vs_study": "generated/paper_vs_study.html",
    "discussion": "book/discussion.html",
}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("Chromium is not installed: `make browser-check` installs the Debian package `chromium`")


@pytest.fixture(scope="module")
def server():
    if not (HTML / "index.html").is_file():
        pytest.fail("no built book in _build/html: run `make study` (or `probedrift book`) first")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _run_chromium(args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_without_console_errors_and_formulas_typeset(server, name):
    url = f"{server}/{PAGES[name]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    dom = _run_chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000", "--dump-dom", url])
    assert dom.returncode == 0, dom.stderr[-2000:]
    console_errors = [line for line in dom.stderr.splitlines()
                      if "CONSOLE" in line and re.search(r"error|Uncaught|Failed to load", line, re.I)]
    assert not console_errors, console_errors
    html = dom.stdout
    if name == "method":
        assert html.count("<mjx-container") >= 10, f"{name}: the formulas were not typeset by MathJax"
        assert "\\lVert" not in html, f"{name}: raw TeX left on the page"
    assert "<mjx-merror" not in html, f"{name}: a formula failed to render"
    shot = SHOTS / f"{name}.png"
    res = _run_chromium(["--window-size=1280,2000", "--virtual-time-budget=15000", f"--screenshot={shot}", url])
    assert res.returncode == 0 and shot.is_file() and shot.stat().st_size > 10_000, res.stderr[-2000:]


def _dom(server, page: str) -> str:
    dom = _run_chromium(["--virtual-time-budget=15000", "--dump-dom", f"{server}/{page}"])
    assert dom.returncode == 0, dom.stderr[-2000:]
    return dom.stdout


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _chapter_pages() -> list[Path]:
    return sorted((HTML / "notebooks").glob("*.html"))


def test_intro_key_findings_box_holds_numbers(server):
    html = _dom(server, "index.html")
    m = re.search(r'<div class="[^"]*key-findings[^"]*">(.*?)</div>', html, re.S)
    assert m, "the intro has no key-findings box"
    box = _text(m.group(1))
    assert "not in this run" not in box.split("Key findings")[1][:200], box[:400]
    assert len(re.findall(r"\d+(?:\.\d+)?°", box)) >= 4, box[:600]
    assert re.search(r"0\.\d\d \[0\.\d\d, 0\.\d\d\]", box), box[:600]


@pytest.mark.parametrize("chapter", [p.name for p in sorted((HTML / "notebooks").glob("*.html"))] or ["none"])
def test_exercises_and_solutions_render_and_solutions_toggle(server, chapter):
    if chapter == "none":
        pytest.fail("no chapter pages in _build/html/notebooks")
    html = _dom(server, f"notebooks/{chapter}")
    exercises = re.findall(r'<div class="exercise admonition"[^>]*>', html)
    solutions = re.findall(r'<div class="solution dropdown[^"]*"[^>]*>', html)
    assert 2 <= len(exercises) <= 4, (chapter, len(exercises))
    assert len(solutions) == len(exercises), (chapter, len(exercises), len(solutions))
    # sphinx-togglebutton turns each dropdown into a collapsed block with a toggle button once its script ran.
    assert all("toggle-hidden" in tag for tag in solutions), (chapter, solutions[:2])
    for tag in solutions:
        target = re.search(r'id="([^"]+)"', tag).group(1)
        button = re.search(rf'<button[^>]*data-target="{re.escape(target)}"[^>]*>', html)
        assert button and 'aria-expanded="false"' in button.group(0), (chapter, target)
    assert "Learning objectives" in html, chapter


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("chapter", [p.name for p in sorted((HTML / "notebooks").glob("*.html"))] or ["none"])
def test_every_chapter_shows_a_visible_computation_checked_against_the_library(server, chapter):
    if chapter == "none":
        pytest.fail("no chapter pages in _build/html/notebooks")
    assert visible_computations(_dom(server, f"notebooks/{chapter}")), chapter


def test_no_rendered_page_shows_a_traceback(server, name):
    html = _dom(server, PAGES[name])
    assert "Traceback (most recent call last)" not in _text(html), name
    assert "output_error" not in html and 'class="output traceback' not in html, name


def test_glossary_links_resolve():
    glossary = (HTML / "book" / "glossary.html").read_text()
    anchors = set(re.findall(r'id="(term-[^"]+)"', glossary))
    assert anchors, "the glossary has no terms"
    links = 0
    for page in HTML.rglob("*.html"):
        for target in re.findall(r'href="(?:[./]*book/)?glossary\.html#(term-[^"]+)"', page.read_text()):
            links += 1
            assert target in anchors, (page.relative_to(HTML), target)
    assert links >= 20, f"only {links} glossary links in the whole book"


def test_every_figure_has_alt_text():
    pages = _chapter_pages()
    assert pages
    for page in pages:
        for tag in re.findall(r"<img\b[^>]*>", page.read_text()):
            if "/_static/" in tag or "logo" in tag:
                continue
            alt = re.search(r'alt="([^"]*)"', tag)
            assert alt and len(alt.group(1).strip()) >= 10, (page.name, tag[:200])


def test_launch_buttons_point_to_notebooks_in_the_repository():
    """With a repository address set at build time, each Binder button opens a file of this repository."""
    pages = sorted((HTML / "notebooks").glob("*.html"))
    links = {page.name: re.findall(r"https://mybinder\.org/v2/gh/[^/\"]+/[^/\"]+/[^?\"]+\?(?:urlpath=tree/|filepath=)"
                                   r"([^\"&]+)", page.read_text()) for page in pages}
    if not any(links.values()):
        pytest.skip("built without a repository address: no launch buttons (set PROBEDRIFT_REPOSITORY_URL to check)")
    for name, paths in links.items():
        assert paths, f"{name} has no launch button although others do"
        for path in set(paths):
            assert (ROOT / path).is_file(), f"{name}: launch button opens {path}, which is not in the repository"
