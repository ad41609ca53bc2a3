"""The study's parameters: one frozen, typed definition, loaded from ``params/<profile>.yaml``.

Every parameter of every notebook is a field of :class:`StudyParams`, with its type, its default, its
valid range or choices and a one-line description. A profile YAML lists only what differs from the
defaults (an unknown key is an error); ``--set key=value`` overrides (``probedrift run``) and a
notebook's ``overrides`` mapping are parsed and checked against the same definition, so bad input
fails with one line naming the key and its valid range *before* any notebook runs. Adding a
parameter is one field here (and a YAML line only in the profiles that want another value).

The choices and defaults of ``drift_types``, ``detectors`` and ``real_drift_sources`` come from their
registries (:data:`REGISTRIES`), read when a parameter set is checked, so a new drift type, monitor
or source needs no edit here. The profiles are the YAML files of ``params/`` (:data:`PROFILES`):
``smoke`` the tiny CPU run that CI and nbval execute, ``classroom`` a lab session, ``default`` the
offline main run of ``make study``, ``paper`` the paper's Table 1 protocol on Qwen3 pairs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from probedrift.core.errors import ProbedriftError
from probedrift.experiments import updates
from probedrift.inputs import embed, finetune, models
from probedrift.run.rundir import repo_root  # noqa: F401  (re-exported: where params/ and notebooks/ are)
from probedrift.science import detectors, drift
from probedrift.science.drift import resolve_conventions

#: Where each registry-backed choice is read from: kind → its registry or tuple of names. A registry
#: (:class:`probedrift.core.registry.Registry`) also gives the defaults (its entries flagged ``default``).
REGISTRIES = {
    "pooling": embed.POOLINGS,
    "drift_type": drift.DRIFT_TYPES,
    "detector": detectors.DETECTORS,
    "real_drift_source": updates.REGISTRY,
    "finetune_method": finetune.METHODS,
    "dtype": models.DTYPES,
    "device": models.DEVICES,
}


class _RegistryDefaults:
    """Field default meaning "the entries the field's registry flags as default" (resolved on checking)."""

    def __repr__(self) -> str:
        return "the registry's defaults"


REGISTRY_DEFAULTS = _RegistryDefaults()


@dataclass(frozen=True)
class Pair:
    """A base/instruct pair compared in the separability chapter (paper Table 2)."""

    base: str
    instruct: str
    note: str = ""


@dataclass(frozen=True)
class Rule:
    """What a parameter may be: a numeric range (open or closed ends), a set of choices, a minimum length.

    For sequences the range and choices apply to every item.
    """

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] | None = None
    min_items: int = 0

    def describe(self) -> str:
        """The rule in words, e.g. ``a number in (0.5, 1)`` or ``one of: a, b``."""
        if self.choices is not None:
            return "one of: " + ", ".join(self.choices)
        if self.lo is not None and self.hi is not None:
            return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"
        if self.lo is not None:
            return f"{'>' if self.lo_open else '≥'} {self.lo:g}"
        if self.hi is not None:
            return f"{'<' if self.hi_open else '≤'} {self.hi:g}"
        return "any value"

    def admits(self, value: Any) -> bool:
        """Whether one (scalar) value satisfies the rule."""
        if self.choices is not None:
            return value in self.choices
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return False
        if self.hi is not None and (value > self.hi or (self.hi_open and value == self.hi)):
            return False
        return True


def _registry(kind: str):
    return REGISTRIES[kind]


def _choices(kind: str) -> tuple[str, ...]:
    """The valid names of a registry-backed parameter."""
    return tuple(_registry(kind))


def registry_defaults(kind: str) -> tuple[str, ...]:
    """The names a run uses unless told otherwise: the registry's entries flagged ``default``."""
    registry = _registry(kind)
    names = getattr(registry, "names", None)
    return tuple(names(default_only=True)) if callable(names) else tuple(registry)


def param(default: Any = dataclasses.MISSING, doc: str = "", *, choices_from: str | None = None, **rule: Any):
    """A :class:`StudyParams` field with its description and :class:`Rule` in the field metadata."""
    meta = {"doc": doc, "rule": Rule(**rule), "choices_from": choices_from}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: d, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class StudyParams:
    """Every parameter of the study (paper section in brackets where the paper fixes it)."""

    profile: str = param(doc="name of the run; results go to results/<profile>/")
    dataset: str = param(doc="embedded dataset (comments, prompts), civil_comments, or a CSV/JSONL/parquet path")
    data_files: str | None = param(None, doc="a local file for civil_comments instead of the hub")
    text_column: str = param("text", doc="the text column of a user's file")
    label_column: str = param("label", doc="the label column of a user's file (0/1, or a score with label_threshold)")
    label_threshold: float | None = param(None, doc="binarise a score column at this value (paper: toxicity ≥ 0.5)")
    n_per_class: int = param(doc="balanced sample size per class (paper §1.2: 5,000)", lo=1)
    length_matched: bool = param(False, doc="match the classes' length distributions when sampling")
    split_fractions: tuple[float, ...] = param((0.7, 0.1, 0.2), doc="train/val/test fractions (paper §1.2)",
                                               lo=0, hi=1, lo_open=True, hi_open=True, min_items=3)
    models: tuple[str, ...] = param(doc="embedded names, hub ids or local model directories", min_items=1)
    pairs: tuple[Pair, ...] = param((), doc="base/instruct pairs for the separability comparison (paper Table 2)")
    layer: int = param(-1, doc="hidden-state index the probe reads; -1 = last layer after the final norm")
    separability_layers: tuple[float, ...] = param((0.5, 1.0), doc="depths for separability, fractions of the depth",
                                                   lo=0, hi=1)
    pooling: str = param("last_token", doc="token pooling (paper §1.2: last token)", choices_from="pooling")
    max_length: int = param(256, doc="tokens per text after truncation", lo=2)
    chat_template: bool = param(False, doc="wrap every text as one user turn of the model's chat template")
    batch_size: int = param(32, doc="texts per forward batch", lo=1)
    dtype: str = param("auto", doc="auto = bfloat16 on CUDA, float32 on CPU", choices_from="dtype")
    device: str = param("auto", doc="auto = CUDA when present", choices_from="device")
    seed: int = param(42, doc="sampling, split and probe seed (paper: 42)", lo=0)
    drift_seeds: tuple[int, ...] = param((0, 1), doc="seeds of the drift draws", lo=0, min_items=1)
    sigma_max: float = param(0.15, doc="largest σ (paper Table 1: linspace(0, 0.15, 8))", lo=0)
    n_sigmas: int = param(8, doc="points of the linspace σ grid", lo=2)
    extra_sigmas: tuple[float, ...] = param((0.01, 0.02), doc="σ values added to the grid (the abstract's 0.02)", lo=0)
    drift_types: tuple[str, ...] = param(REGISTRY_DEFAULTS, doc="drift families (paper §2.1)",
                                         choices_from="drift_type", min_items=1)
    conventions: Any = param("all", doc="all | paper | {drift_type: [conventions]}")
    tau: float = param(0.8, doc="high-confidence threshold (paper)", lo=0.5, hi=1, lo_open=True, hi_open=True)
    ece_bins: int = param(5, doc="calibration bins (paper: 5; 15 are reported beside)", lo=1)
    n_boot: int = param(1000, doc="bootstrap resamples", lo=10)
    crossfit_folds: int = param(5, doc="folds of the cross-fitted drift sweep (every text is a test text once)", lo=2)
    crossfit_seeds: tuple[int, ...] = param((0, 1, 2), doc="split/probe seeds of the cross-fitted drift sweep",
                                            lo=0, min_items=1)
    crossfit_boot: int = param(200, doc="text resamples behind the cross-fitted standard errors (a standard error "
                               "needs fewer than a percentile interval)", lo=10)
    cliff_sigma_min: float = param(1e-4, doc="smallest nonzero σ of the log-spaced grid that locates the cliff "
                                   "(cliffs.csv)", lo=0, lo_open=True, hi=0.1)
    cliff_points: int = param(24, doc="log-spaced σ points of the cliff grid (consecutive angles differ by a "
                              "factor well below 2)", lo=4, hi=200)
    scale_floor_fraction: float = param(0.1, doc="variance floor of the floored probe (chapter 3): each scaler std "
                                        "s_j ≥ fraction × median_j s_j of the training split", lo=0, hi=1,
                                        lo_open=True)
    reliability_checkpoints: tuple[int, ...] = param((0, 2, 4, 7),
                                                     doc="indices into the linspace σ grid (paper Fig. 3)", lo=0)
    detectors: tuple[str, ...] = param(REGISTRY_DEFAULTS, doc="drift monitors", choices_from="detector")
    detector_sample_size: int = param(200, doc="embeddings per monitor test", lo=4)
    detector_permutations: int = param(200, doc="permutations of the permutation tests", lo=10)
    false_alarm_runs: int = param(200, doc="no-drift runs per detector in the false-alarm table", lo=10)
    alpha: float = param(0.05, doc="monitors' significance level", lo=0, hi=1, lo_open=True, hi_open=True)
    confidence_drop: float = param(0.10, doc="the confidence monitor alarms at this relative drop",
                                   lo=0, hi=1, lo_open=True, hi_open=True)
    anchor_sizes: tuple[int, ...] = param((16, 64, 256), doc="anchor texts for alignment", lo=2, min_items=1)
    real_drift_sources: tuple[str, ...] = param(REGISTRY_DEFAULTS, doc="real model changes of chapter 6",
                                                choices_from="real_drift_source")
    finetune_base: str | None = param(None, doc="the model chapter 7 fine-tunes; None = the first of models")
    finetune_method: str = param("lora", doc="lora (adapters merged into each checkpoint) or full fine-tuning",
                                 choices_from="finetune_method")
    finetune_learning_rates: tuple[float, ...] = param((2e-4, 1e-3), doc="one update strength per learning rate",
                                                       lo=0, lo_open=True, min_items=1)
    finetune_steps: tuple[int, ...] = param((0, 5, 10, 20), doc="checkpoints, in optimizer steps (0 = the base)",
                                            lo=0, min_items=2)
    finetune_rank: int = param(8, doc="LoRA rank", lo=1)
    finetune_batch_size: int = param(8, doc="instruction/response pairs per optimizer step", lo=1)
    finetune_max_length: int = param(128, doc="tokens per training example", lo=8)
    finetune_corpus_size: int = param(256, doc="instruction/response pairs in the training corpus", lo=4)
    finetune_recompute_activations: bool = param(
        False, doc="gradient checkpointing: less training memory, more compute, the same checkpoints")
    results_dir: str | None = param(None, doc="where the run writes; default results/<profile>")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _coerce(f, getattr(self, f.name)))
        self._check_relations()

    def _check_relations(self) -> None:
        if not math.isclose(sum(self.split_fractions), 1.0, abs_tol=1e-6) or len(self.split_fractions) != 3:
            raise _error("split_fractions", self.split_fractions, "three fractions (train, val, test) summing to 1")
        bad = [i for i in self.reliability_checkpoints if i >= self.n_sigmas]
        if bad:
            raise _error("reliability_checkpoints", list(self.reliability_checkpoints),
                         f"indices into the σ grid, each < n_sigmas = {self.n_sigmas}")
        steps = list(self.finetune_steps)
        if steps != sorted(set(steps)) or steps[0] != 0:
            raise _error("finetune_steps", steps, "increasing optimizer steps starting at 0 (the base model)")
        # Read when parameters are checked, so importing params does not pull in the drift machinery.

        resolve_conventions(self.drift_types, self.conventions)

    # ------------------------------------------------------------------ conveniences

    @property
    def run_dir(self) -> Path:
        """Absolute directory of the run's outputs: ``results_dir``, else ``<root>/<profile>`` where the root is
        ``$PROBEDRIFT_RESULTS_ROOT`` when set (a test session points its notebooks at a folder of its own with
        it) and ``results/`` of the repository otherwise."""
        path = Path(self.results_dir or Path(os.environ.get("PROBEDRIFT_RESULTS_ROOT") or "results") / self.profile)
        return path if path.is_absolute() else repo_root() / path

    def replace(self, **changes: Any) -> StudyParams:
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain YAML/JSON-ready values (tuples as lists, pairs as mappings)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, values: dict, *, source: str = "parameters") -> StudyParams:
        """Build from a mapping that names exactly the fields (missing or unknown keys are errors)."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ProbedriftError(f"{source}: unknown parameter(s) {', '.join(unknown)}",
                                  f"use only: {', '.join(names)}")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [n for n in required if n not in values]
        if missing:
            raise ProbedriftError(f"{source}: missing parameter(s) {', '.join(missing)}",
                                  "add them to the profile (every other parameter has a default)")
        return cls(**values)


def describe_parameters() -> list[dict]:
    """One row per parameter: name, type, default, whether a profile must give it, rule in words and
    description (the method page's parameter table, :func:`probedrift.run.book.parameter_table_markdown`)."""
    hints = _type_hints()
    rows = []
    for f in dataclasses.fields(StudyParams):
        rule = _rule(f)
        default = None if f.default is dataclasses.MISSING else f.default
        if default is REGISTRY_DEFAULTS:
            default = registry_defaults(f.metadata["choices_from"])
        rows.append({"parameter": f.name, "type": _type_name(hints[f.name]), "default": default,
                     "required": f.default is dataclasses.MISSING, "valid": rule.describe(),
                     "meaning": f.metadata["doc"]})
    return rows


# ------------------------------------------------------------------------------------ loading


def profile_names() -> tuple[str, ...]:
    """The named profiles: the stems of the YAML files in ``params/``."""
    return tuple(sorted(p.stem for p in (repo_root() / "params").glob("*.yaml")))


PROFILES = profile_names()


def profile_path(name_or_path: str) -> Path:
    """Path of a named profile in ``params/``, or the given YAML path."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"}:
        if not path.is_file():
            raise ProbedriftError(f"profile file {str(path)!r} does not exist", "check the path")
        return path
    candidate = repo_root() / "params" / f"{name_or_path}.yaml"
    if not candidate.is_file():
        raise ProbedriftError(f"unknown profile {name_or_path!r}",
                              f"use one of: {', '.join(profile_names())}, or the path to a YAML file of parameters")
    return candidate


def parse_overrides(items: list[str] | None) -> dict:
    """``["key=value", ...]`` (values parsed as YAML) → ``{key: value}``."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ProbedriftError(f"override {item!r} is not of the form key=value", "write e.g. --set seeds=[1,2,3]")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ProbedriftError(f"--set {key}: cannot parse {raw!r} ({exc})",
                                  "quote strings, write lists as [a, b]") from None
    return out


def load_params(profile: str, overrides: dict | None = None, *, results_dir: str | None = None) -> StudyParams:
    """The checked parameters of ``profile`` (a name in ``params/`` or a YAML path) with ``overrides``.

    The profile lists what differs from the :class:`StudyParams` defaults (its ``profile`` name defaults
    to the file's stem); profile and override keys must be parameters, and every value is checked
    against its type and range.
    """
    path = profile_path(profile)
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ProbedriftError(f"profile {str(path)!r} is not a mapping of key: value", "fix the YAML")
    values.setdefault("profile", path.stem)
    names = {f.name for f in dataclasses.fields(StudyParams)}
    for key in overrides or {}:
        if key not in names:
            raise ProbedriftError(f"--set {key}: there is no parameter {key!r}",
                                  f"use one of: {', '.join(sorted(names))}")
    values = {**values, **(overrides or {})}
    if results_dir is not None:
        values["results_dir"] = str(results_dir)
    return StudyParams.from_dict(values, source=f"profile {path.name}")


# ------------------------------------------------------------------------------------ checking


@functools.lru_cache(maxsize=1)
def _type_hints() -> dict:
    """The declared field types of :class:`StudyParams`, resolved once."""
    return typing.get_type_hints(StudyParams)


def _rule(f: dataclasses.Field) -> Rule:
    rule = f.metadata["rule"]
    if f.metadata.get("choices_from"):
        rule = dataclasses.replace(rule, choices=_choices(f.metadata["choices_from"]))
    return rule


def _error(name: str, value: Any, valid: str) -> ProbedriftError:
    return ProbedriftError(f"parameter {name} = {value!r} is invalid: it must be {valid}",
                           f"fix it in the profile or with --set {name}=...")


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is None and hasattr(tp, "__name__"):
        return tp.__name__
    return str(tp).replace("typing.", "").replace(f"{__name__}.", "")


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Bring a YAML value to the field's declared type and check it against the field's rule."""
    tp = _type_hints()[f.name]
    rule = _rule(f)
    if value is REGISTRY_DEFAULTS:
        value = registry_defaults(f.metadata["choices_from"])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    optional = origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args
    if optional:
        if value is None:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise _error(f.name, value, f"a list ({rule.describe()} each)")
        items = tuple(_scalar(f.name, v, args[0], rule) for v in value)
        if len(items) < rule.min_items:
            raise _error(f.name, list(value), f"a list of at least {rule.min_items} item(s)")
        return items
    return _scalar(f.name, value, tp, rule)


def _scalar(name: str, value: Any, tp: Any, rule: Rule) -> Any:
    if tp is Pair:
        if isinstance(value, Pair):
            return value
        if (not isinstance(value, dict) or not {"base", "instruct"} <= set(value)
                or set(value) - {"base", "instruct", "note"}):
            raise _error(name, value, "a list of {base: ..., instruct: ..., note: ...} mappings")
        return Pair(str(value["base"]), str(value["instruct"]), str(value.get("note", "")))
    if tp is bool:
        if not isinstance(value, bool):
            raise _error(name, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise _error(name, value, f"an integer {rule.describe()}")
        value = int(value)
    elif tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _error(name, value, f"a number {rule.describe()}")
        value = float(value)
    elif tp is str:
        if not isinstance(value, str) or not value:
            raise _error(name, value, f"a non-empty string{'' if rule.choices is None else ', ' + rule.describe()}")
    if not rule.admits(value):
        raise _error(name, value, rule.describe() if rule.choices is not None else f"a number {rule.describe()}")
    return value


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj
