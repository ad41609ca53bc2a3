"""The repository's address, kept in one place, and the book settings that follow from it.

The address is never written into the sources. In GitHub Actions it is the run's own repository
(``GITHUB_SERVER_URL`` + ``GITHUB_REPOSITORY``); elsewhere it is the optional
``PROBEDRIFT_REPOSITORY_URL``; otherwise there is none. With an address the book links to the
repository and its issues, and notebook pages get a Binder launch button; without one, all
of these are off and ``repository.url`` is blank, so Jupyter Book's own default address never
reaches the pages.

``book_config`` is the pure rule; ``write_book_config`` applies it to the staged ``_config.yml``
(``probedrift.run.book.stage``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from probedrift.core.errors import ProbedriftError

__all__ = ["BINDERHUB_URL", "book_config", "repository_url", "write_book_config"]

BINDERHUB_URL = "https://mybinder.org"
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
    issues buttons are on and, for a repository on github.com (the host Binder's links serve),
    ``launch_buttons`` has Binder (which installs the study from ``binder/``) with the classic
    notebook interface.
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
            # Binder builds the repository's own environment (binder/). Colab would open a notebook
            # without the study installed, so it gets no button.
            cfg["launch_buttons"] = {**launch, "notebook_interface": "classic", "binderhub_url": BINDERHUB_URL}
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
