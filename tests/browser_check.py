"""Real-browser check of the built book (``make browser-check``): headless Chromium, no network.

Serves ``_build/html`` on 127.0.0.1, opens the index and one notebook chapter and the method page,
takes screenshots into ``_build/screenshots/``, and fails on console errors or on a formula that
MathJax did not typeset. Chromium runs with every background-networking feature off and a fresh
profile, so it makes no outside connections.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-default-apps", "--disable-extensions", "--hide-scrollbars"]
PAGES = {
    "index": "index.html",
    "method": "book/method.html",
    "chapter_drift": "chapters/03_drift.html",
    "paper_vs_study": "generated/paper_vs_study.html",
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
