"""The licence, citation and release metadata agree with each other and with the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    """The licence and version of pyproject.toml (read by pattern: tomllib is not in Python 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    licence = re.search(r'^license\s*=\s*\{\s*text\s*=\s*"([^"]+)"', text, flags=re.M).group(1)
    version = re.search(r'^version\s*=\s*"([^"]+)"', text, flags=re.M).group(1)
    return {"license": {"text": licence}, "version": version}


def test_one_licence_named_everywhere():
    declared = _pyproject()["license"]["text"]
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    assert citation["license"] == zenodo["license"] == declared
    first = (ROOT / "LICENSE").read_text().splitlines()[0]
    assert declared in first, f"LICENSE is not the {declared} licence the package declares: {first!r}"
    assert "the probedrift authors" in (ROOT / "LICENSE").read_text()


def test_citation_and_release_name_the_authors_and_the_package_version():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    zenodo = json.loads((ROOT / ".zenodo.json").read_text())
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert citation["authors"] == [{"name": "the probedrift authors"}]
    assert zenodo["creators"] == [{"name": "the probedrift authors"}]
    assert citation["version"] == zenodo["version"] == _pyproject()["version"]
    assert any("2603.01297" in str(ref) for ref in citation["references"]), "the reproduced paper is cited"


def test_the_asset_licences_are_stated_beside_the_code_licence():
    notice = (ROOT / "NOTICE.md").read_text()
    assets = [line.split("==")[0].strip() for line in (ROOT / "requirements-assets.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    main = [a for a in assets if "-part" not in a]  # the chunk packages are covered by their meta-package's row
    assert main and all(f"`{a}`" in notice for a in main), [a for a in main if f"`{a}`" not in notice]
