"""The repository's address, kept in one place, and the book settings that follow from it.

The address is never written into the sources. In GitHub Actions it is the run's own repository
(``GITHUB_SERVER_URL`` + ``GITHUB_REPOSITORY``); elsewhere it is the optional
``PROBEDRIFT_REPOSITORY_URL``; otherwise there is none. With an address the book links to the
repository and its issues, and notebook pages get Binder and Colab launch buttons; without one,
all of these are off and ``repository.url`` is blank, so Jupyter Book's own default address never
reaches the pages.

``book_config`` is the pure rule; ``write_book_config`` applies it to the staged ``_config.yml``
(``probedrift.run.book.stage``). ``strip_widget_state`` makes an executed notebook fit to publish:
no ipywidgets state (progress bars of the run), so its page loads no widget script.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from probedrift.core.errors import ProbedriftError

__all__ = ["BINDERHUB_URL", "COLAB_URL", "WIDGET_MIME", "WIDGET_STATE_MIME", "book_config", "repository_url",
           "strip_widget_state", "strip_widget_state_file", "write_book_config"]

BINDERHUB_URL = "https://mybinder.org"
#: Colab opens a GitHub notebook by address; the notebook's first cell installs the study.
COLAB_URL = "https://colab.research.google.com"
#: Notebook-level metadata key of ipywidgets' saved state, and the output type of a widget view.
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: Hosts whose repository and issue links the book theme can build.
_PROVIDERS = ("github", "gitlab", "bitbucket")
_BUTTONS = ("use_repository_button", "use_issues_button")


def _clean(url: str, source: str) -> str:
    url = url.strip().rstrip("/")
    if url.endswith(".git"):
        url = url[: -len(".git")]
    parts = urlsplit(url)
    path = [p for p in parts.path.split("/") if p]
    if parts.scheme not in ("http", "https") or not parts.netloc or len(path) < 2:
        raise ProbedriftError(
            f"{source} is {url!r}, not a repository address",
            "give the web address of the repository, e.g. https://github.com/<owner>/<name>",
        )
    if not any(p in parts.netloc.lower() for p in _PROVIDERS):
        raise ProbedriftError(
            f"{source} is {url!r}: the book can only link to repositories on GitHub, GitLab or Bitbucket",
            "unset it to build the book without repository links",
        )
    return url


def repository_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The repository's web address, or ``None`` when it is not known.

    In GitHub Actions: ``$GITHUB_SERVER_URL/$GITHUB_REPOSITORY``; else ``$PROBEDRIFT_REPOSITORY_URL``
    (a trailing ``/`` or ``.git`` is dropped); else ``None``. ``environ`` defaults to ``os.environ``.
    An address that is not an http(s) repository address on GitHub, GitLab or Bitbucket is a
    :class:`~probedrift.core.errors.ProbedriftError`.
    """
    env = os.environ if environ is None else environ
    server = env.get("GITHUB_SERVER_URL", "").strip().rstrip("/")
    repo = env.get("GITHUB_REPOSITORY", "").strip().strip("/")
    if server and repo:
        return _clean(f"{server}/{repo}", "GITHUB_SERVER_URL/GITHUB_REPOSITORY")
    explicit = env.get("PROBEDRIFT_REPOSITORY_URL", "").strip()
    return _clean(explicit, "PROBEDRIFT_REPOSITORY_URL") if explicit else None


def book_config(base: dict[str, Any], url: str | None) -> dict[str, Any]:
    """``base`` (a Jupyter Book ``_config.yml`` as a dict) with the repository settings for ``url``.

    With ``url``: ``repository.url`` is set (``branch`` defaults to ``main``), the repository and
    issues buttons are on and, for a repository on github.com (the host Binder's and Colab's links
    serve), ``launch_buttons`` has Binder (which installs the study from ``binder/``) with the classic
    notebook interface, and Colab (each notebook's first cell installs the study there).
    Without: ``repository.url`` is blank, every repository button is off and there are no launch
    buttons. Everything else in ``base`` is kept; ``base`` itself is not modified.
    """
    cfg = copy.deepcopy(base)
    repository = dict(cfg.get("repository") or {})
    html = dict(cfg.get("html") or {})
    launch = {k: v for k, v in dict(cfg.get("launch_buttons") or {}).items()
              if k not in ("binderhub_url", "colab_url", "jupyterhub_url", "thebe")}
    cfg.pop("launch_buttons", None)
    if url:
        repository["url"] = url
        repository.setdefault("branch", "main")
        for button in _BUTTONS:
            html[button] = True
        if urlsplit(url).netloc.lower() == "github.com":
            # Binder builds the repository's own environment (binder/); on Colab the notebook's
            # first cell installs the study.
            cfg["launch_buttons"] = {**launch, "notebook_interface": "classic", "binderhub_url": BINDERHUB_URL,
                                     "colab_url": COLAB_URL}
    else:
        repository["url"] = ""
        for button in (*_BUTTONS, "use_edit_page_button"):
            html[button] = False
    cfg["repository"] = repository
    cfg["html"] = html
    return cfg


def write_book_config(src_config_path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Rewrite the staged ``_config.yml`` at ``src_config_path`` in place with :func:`book_config`.

    The address comes from :func:`repository_url` (``environ`` defaults to ``os.environ``). Returns
    the configuration written.
    """
    path = Path(src_config_path)
    base = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    cfg = book_config(base, repository_url(environ))
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8")
    return cfg


def strip_widget_state(nb: dict) -> dict:
    """``nb`` (a notebook as a dict or ``nbformat`` node) without ipywidgets state, changed in place.

    Drops the notebook-level ``metadata.widgets`` (the saved state of the run's progress bars, which
    makes myst-nb load the widget manager from a CDN on the chapter's page) and every output whose
    data is a widget view (the bar itself, which a static page cannot draw). Returns ``nb``.
    """
    if not isinstance(nb, Mapping) or "cells" not in nb:
        raise ProbedriftError("strip_widget_state was given something that is not a notebook (no 'cells')",
                              "pass the notebook read with nbformat.read or json.load")
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", []) if WIDGET_MIME not in o.get("data", {})]
    return nb


def strip_widget_state_file(path: Path) -> bool:
    """Apply :func:`strip_widget_state` to the notebook file at ``path``; ``True`` when it changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    before = json.dumps(nb, sort_keys=True)
    strip_widget_state(nb)
    if json.dumps(nb, sort_keys=True) == before:
        return False
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return True
