"""The code cells of a built chapter page, read from its HTML (shared by the static book tests and the
browser check): what a reader sees of each cell's source."""

from __future__ import annotations

import html as html_lib
import re

_CELL_SOURCE = re.compile(r'<div class="cell_input[^"]*".*?<pre>(.*?)</pre>', re.S)


def code_cells(page_html: str) -> list[str]:
    """The visible source of every code cell of a rendered notebook page, as plain text."""
    return [html_lib.unescape(re.sub(r"<[^>]+>", "", block)) for block in _CELL_SOURCE.findall(page_html)]


def visible_computations(page_html: str, low: int = 10, high: int = 25) -> list[str]:
    """Code cells of ``low``–``high`` non-blank lines that compute with numpy or scikit-learn and check the
    result against the library in the same cell (an ``assert`` or ``np.testing`` line)."""
    found = []
    for src in code_cells(page_html):
        lines = [line for line in src.splitlines() if line.strip()]
        computes = "np." in src or "sklearn" in src or "LogisticRegression" in src
        checks = any(line.lstrip().startswith("assert") or "np.testing." in line for line in lines)
        if low <= len(lines) <= high and computes and checks:
            found.append(src)
    return found
