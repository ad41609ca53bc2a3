"""Run profiles: the YAML files in ``params/`` that parameterize every notebook.

A profile is a flat mapping whose keys are exactly the notebooks' ``parameters`` cell keys.
``smoke`` is the tiny CPU run that CI and nbval execute, ``default`` the offline main run of
``make study``, ``paper`` the paper's Table 1 protocol on Qwen3 pairs (GPU and hub access).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ProbedriftError

PROFILES = ("smoke", "default", "paper")


def repo_root() -> Path:
    """The repository root (the directory holding ``params/``), found from this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "params").is_dir() and (parent / "notebooks").is_dir():
            return parent
    return Path.cwd()


def profile_path(name_or_path: str) -> Path:
    """Path of a named profile in ``params/``, or the given YAML path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_file():
            raise ProbedriftError(f"profile file {str(path)!r} does not exist", "check the path")
        return path
    candidate = repo_root() / "params" / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ProbedriftError(
            f"unknown profile {name_or_path!r}",
            f"use one of: {', '.join(PROFILES)}, or the path to a YAML file with the same keys",
        )
    return candidate


def load_profile(name_or_path: str) -> dict:
    """The profile's parameters as a dict (``profile`` key included)."""
    path = profile_path(name_or_path)
    params = yaml.safe_load(path.read_text()) or {}
    if not isinstance(params, dict):
        raise ProbedriftError(f"profile {str(path)!r} is not a mapping of key: value", "fix the YAML")
    return params


def apply_overrides(params: dict, overrides: list[str]) -> dict:
    """Apply ``key=value`` overrides (values parsed as YAML); unknown keys are an error."""
    out = dict(params)
    for item in overrides or []:
        if "=" not in item:
            raise ProbedriftError(f"override {item!r} is not of the form key=value", "write e.g. --set seeds=[1,2,3]")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in out:
            raise ProbedriftError(
                f"--set {key}: the profile has no key {key!r}",
                f"use one of: {', '.join(sorted(out))}",
            )
        try:
            out[key] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ProbedriftError(f"--set {key}: cannot parse {raw!r} ({exc})", "quote strings, write lists as [a, b]") from None
    return out
