"""The repository address: from GitHub Actions, from PROBEDRIFT_REPOSITORY_URL, or none, and the book
settings that follow (links and launch buttons only with an address, never a placeholder)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from probedrift.core.errors import ProbedriftError
from probedrift.run.publish import (
    BINDERHUB_URL,
    COLAB_URL,
    WIDGET_MIME,
    book_config,
    repository_url,
    strip_widget_state,
    strip_widget_state_file,
    write_book_config,
)

ROOT = Path(__file__).resolve().parents[1]
URL = "https://github.com/someone/probedrift"
ENV_KEYS = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "PROBEDRIFT_REPOSITORY_URL")


@pytest.fixture
def no_address(monkeypatch):
    """An environment with no repository address (also when the tests run in GitHub Actions)."""
    for key in ENV_KEYS:
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def in_ci(no_address):
    no_address.setenv("GITHUB_SERVER_URL", "https://github.com")
    no_address.setenv("GITHUB_REPOSITORY", "someone/probedrift")
    return no_address


def _base() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())


def test_the_address_comes_from_github_actions(in_ci):
    assert repository_url() == URL


def test_github_actions_wins_over_the_variable(in_ci):
    in_ci.setenv("PROBEDRIFT_REPOSITORY_URL", "https://gitlab.com/other/fork")
    assert repository_url() == URL


@pytest.mark.parametrize("given", [URL, URL + "/", URL + ".git", f"  {URL}  "])
def test_the_address_comes_from_the_variable_outside_ci(no_address, given):
    no_address.setenv("PROBEDRIFT_REPOSITORY_URL", given)
    assert repository_url() == URL


def test_no_address_without_ci_or_variable(no_address):
    assert repository_url() is None
    no_address.setenv("PROBEDRIFT_REPOSITORY_URL", "")
    assert repository_url() is None
    no_address.setenv("GITHUB_SERVER_URL", "https://github.com")  # half of the CI pair is not enough
    assert repository_url() is None


def test_an_explicit_environment_mapping_is_used_instead_of_os_environ(in_ci):
    assert repository_url({}) is None
    assert repository_url({"PROBEDRIFT_REPOSITORY_URL": URL}) == URL


@pytest.mark.parametrize("bad", ["git@github.com:someone/probedrift.git", "https://github.com/someone",
                                 "github.com/someone/probedrift", "https://example.org/someone/probedrift"])
def test_an_unusable_address_is_a_clear_error(no_address, bad):
    no_address.setenv("PROBEDRIFT_REPOSITORY_URL", bad)
    with pytest.raises(ProbedriftError, match="PROBEDRIFT_REPOSITORY_URL"):
        repository_url()


def test_with_an_address_the_book_links_to_the_repository_and_launches_notebooks():
    base = _base()
    before = copy.deepcopy(base)
    cfg = book_config(base, URL)
    assert base == before, "book_config must not modify its input"
    assert cfg["repository"]["url"] == URL and cfg["repository"]["branch"] == "main"
    assert cfg["html"]["use_repository_button"] is True and cfg["html"]["use_issues_button"] is True
    assert cfg["launch_buttons"] == {"notebook_interface": "classic", "binderhub_url": BINDERHUB_URL,
                                     "colab_url": COLAB_URL}
    # Everything else is kept.
    for key in set(base) - {"repository", "html", "launch_buttons"}:
        assert cfg[key] == base[key], key
    assert cfg["html"]["home_page_in_navbar"] == base["html"]["home_page_in_navbar"]


def test_launch_buttons_only_for_github_com():
    cfg = book_config(_base(), "https://gitlab.com/someone/probedrift")
    assert cfg["repository"]["url"] == "https://gitlab.com/someone/probedrift"
    assert cfg["html"]["use_repository_button"] is True
    assert "launch_buttons" not in cfg


def test_without_an_address_there_are_no_links_and_no_placeholder():
    base = _base()
    base["repository"] = {"url": "https://github.com/executablebooks/jupyter-book", "branch": "main"}
    base["html"].update(use_repository_button=True, use_issues_button=True, use_edit_page_button=True)
    base["launch_buttons"] = {"binderhub_url": BINDERHUB_URL, "colab_url": "https://colab.research.google.com",
                              "thebe": True}
    cfg = book_config(base, None)
    assert cfg["repository"]["url"] == ""
    assert not any(cfg["html"][b] for b in ("use_repository_button", "use_issues_button", "use_edit_page_button"))
    assert "launch_buttons" not in cfg
    assert "http" not in yaml.safe_dump(cfg)


def test_the_committed_config_carries_no_address():
    base = _base()
    assert base["repository"]["url"] == ""
    assert "http" not in (ROOT / "_config.yml").read_text()
    assert book_config(base, None) == base


def _theme_options(cfg: dict) -> dict:
    """The theme options Jupyter Book derives from ``cfg`` (its own defaults filled in)."""
    from jupyter_book.config import get_final_config

    final, _ = get_final_config(user_yaml=cfg, cli_config={"latex_individualpages": False},
                                sourcedir=ROOT, validate=True, raise_on_invalid=True)
    return final["html_theme_options"]


def test_jupyter_book_gets_no_default_address_without_one():
    opts = _theme_options(book_config(_base(), None))
    assert opts["repository_url"] == ""
    assert not opts["use_repository_button"] and not opts["use_issues_button"]
    assert not any(opts["launch_buttons"].get(k) for k in ("binderhub_url", "colab_url", "jupyterhub_url", "thebe"))


def test_jupyter_book_gets_the_address_and_buttons_with_one():
    opts = _theme_options(book_config(_base(), URL))
    assert opts["repository_url"] == URL and opts["repository_branch"] == "main"
    assert opts["use_repository_button"] and opts["use_issues_button"]
    assert opts["launch_buttons"]["binderhub_url"] == BINDERHUB_URL
    assert opts["launch_buttons"]["colab_url"] == COLAB_URL  # the notebook's first cell installs the study


def test_binder_installs_what_make_setup_installs():
    """Binder's config names the pinned requirements, the asset packages and the study itself."""
    req = (ROOT / "binder" / "requirements.txt").read_text()
    assert "-r ../requirements.txt" in req and (ROOT / "binder" / ".." / "requirements.txt").is_file()
    post = ROOT / "binder" / "postBuild"
    assert post.stat().st_mode & 0o111, "postBuild must be executable"
    text = post.read_text()
    assert "--no-deps -r requirements-assets.txt" in text and "-e ." in text
    make = (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-assets.txt" in make and "--no-deps -e ." in make


def test_write_book_config_in_ci(in_ci, tmp_path):
    staged = tmp_path / "_config.yml"
    staged.write_text((ROOT / "_config.yml").read_text())
    written = write_book_config(staged)
    assert yaml.safe_load(staged.read_text()) == written == book_config(_base(), URL)


def test_write_book_config_without_an_address(no_address, tmp_path):
    staged = tmp_path / "_config.yml"
    staged.write_text((ROOT / "_config.yml").read_text())
    written = write_book_config(staged)
    assert yaml.safe_load(staged.read_text()) == written == _base()
    assert "http" not in staged.read_text()


def _widget_notebook() -> dict:
    bar = {"output_type": "display_data", "metadata": {}, "data": {WIDGET_MIME: {"model_id": "abc"},
                                                                   "text/plain": ["  0%|          | 0/3"]}}
    text = {"output_type": "stream", "name": "stdout", "text": ["AUC 0.91\n"]}
    return {"nbformat": 4, "nbformat_minor": 5, "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# A chapter"},
        {"cell_type": "code", "metadata": {}, "source": "run()", "execution_count": 1, "outputs": [bar, text]}],
        "metadata": {"kernelspec": {"name": "python3"},
                     "widgets": {"application/vnd.jupyter.widget-state+json": {"state": {"abc": {}}}}}}


def test_published_notebooks_carry_no_widget_state_but_keep_their_other_outputs():
    nb = strip_widget_state(_widget_notebook())
    assert "widgets" not in nb["metadata"] and nb["metadata"]["kernelspec"] == {"name": "python3"}
    outputs = nb["cells"][1]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream"], "the progress bar goes, the printed AUC stays"
    assert "widget" not in json.dumps(nb)


def test_stripping_a_notebook_file_says_whether_it_changed(tmp_path):
    path = tmp_path / "ch.ipynb"
    path.write_text(json.dumps(_widget_notebook()))
    assert strip_widget_state_file(path) is True
    assert "widget" not in path.read_text()
    assert strip_widget_state_file(path) is False, "a clean notebook is left as it is"


def test_stripping_something_that_is_not_a_notebook_names_the_problem():
    with pytest.raises(ProbedriftError, match="not a notebook"):
        strip_widget_state({"metadata": {}})


def test_chapter_pages_load_no_widget_script():
    """The widget manager and require.js (myst-nb's defaults, from CDNs) are switched off in the config."""
    cfg = _base()
    assert cfg["sphinx"]["config"]["nb_ipywidgets_js"] == {}
