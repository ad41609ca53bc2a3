"""Real drift: the same texts embedded before and after a concrete change of the deployed model.

The paper simulates drift with synthetic noise. Here every drift *source* is a change a deployment
actually makes, and gives a "before" and an "after" embedding of every text of the study's dataset
(rows in dataset order, so row i of both arrays is the same text). All extraction goes through
:meth:`probedrift.run.study.Study.embeddings`, so the cache and the one-forward-pass plan apply.

| source | model | before → after |
| --- | --- | --- |
| ``precision_bf16`` | ``models[0]`` | float32 → bfloat16 weights and activations (not on a CPU without bf16) |
| ``precision_int8`` | ``models[0]`` | float32 → int8 dynamic quantisation of every ``nn.Linear`` (CPU) |
| ``chat_template`` | instruct of the first pair | the profile's prompt format → the other one (raw ↔ chat template) |
| ``truncation`` | ``models[0]`` | ``max_length`` → :func:`truncated_length` (half of it, at most 64) |
| ``layer_shift`` | ``models[0]`` | the probed hidden state → the one before it (last layer → second-to-last) |
| ``pooling_change`` | ``models[0]`` | the profile's pooling → ``mean`` (or ``last_token`` if it is ``mean``) |
| ``model_swap`` | ``models[0]`` → instruct of the first pair | one model → another (widths may differ) |

Each source is a :class:`Source` registered in :data:`REGISTRY`: a function building the pair, a
check that says why the source does not apply to this run (no chat template, no partner model,
nothing before layer 0, bfloat16 on a CPU that only emulates it), and the extraction settings it reads
from the base model's own forward pass. A source that does not apply is skipped with its reason; the run
goes on. Sources read the run through the small :class:`UpdateContext` protocol (a
:class:`probedrift.run.study.Study` is one).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from probedrift.core.errors import ProbedriftError
from probedrift.core.registry import Registry
from probedrift.inputs.embed import ExtractionSettings, normalize_layer
from probedrift.inputs.model_facts import model_has_chat_template, model_is_causal
from probedrift.inputs.models import resolve_device

__all__ = ["BF16_CPU_FLAGS", "REGISTRY", "SOURCES", "Source", "UpdateContext", "UpdatePair", "base_model",
           "instruct_model", "planned_settings", "skip_reason", "truncated_length", "update_pair", "update_pairs"]


@dataclass(frozen=True)
class UpdatePair:
    """Embeddings of the same texts before and after one change; row i of both is text i of the dataset."""

    source: str
    model_before: str
    model_after: str
    before: np.ndarray  # (n, d_before)
    after: np.ndarray  # (n, d_after)
    change: str  # what changed, e.g. "float32 → bfloat16"
    notes: tuple[str, ...] = ()

    @property
    def same_width(self) -> bool:
        """Whether the frozen probe can read the after embeddings directly."""
        return self.before.shape[1] == self.after.shape[1]


class SourceParams(Protocol):
    """The parameters the sources read (fields of :class:`~probedrift.run.params.StudyParams`)."""

    real_drift_sources: tuple[str, ...]
    max_length: int
    layer: int
    pooling: str
    chat_template: bool
    device: str


class ModelPair(Protocol):
    """A base/instruct pair (:class:`~probedrift.run.params.Pair`)."""

    base: str
    instruct: str


class UpdateContext(Protocol):
    """What a drift source reads from the run: its parameters, models and pairs, and its embeddings."""

    params: SourceParams

    @property
    def models(self) -> list[str]:
        """The run's models, in profile order."""

    @property
    def pairs(self) -> list[ModelPair]:
        """The base/instruct pairs whose two models are both in the run."""

    def embeddings(self, model_or_settings, layer: int | None = None, **changes) -> np.ndarray:
        """Embeddings of every dataset text (rows in dataset order) for a model or extraction settings."""

    def settings(self, model: str, **changes) -> ExtractionSettings:
        """The run's extraction settings for ``model``, with ``changes``."""

    def num_layers(self, model: str) -> int:
        """Number of blocks of ``model``."""


@dataclass(frozen=True)
class Source:
    """One real drift source: how to build its pair, when it does not apply, what it reads from the base pass."""

    name: str
    build: Callable[[UpdateContext], UpdatePair]
    skip: Callable[[UpdateContext], str | None] = lambda S: None
    shared_settings: Callable[[UpdateContext], list] = field(default=lambda S: [])
    doc: str = ""
    default: bool = True


def base_model(S: UpdateContext) -> str:
    """The model most sources change: the first of ``models``."""
    if not S.models:
        raise ProbedriftError("the profile lists no models", "add at least one model to `models`")
    return S.models[0]


def instruct_model(S: UpdateContext) -> str | None:
    """The instruct model of the first base/instruct pair of this run (None without a pair)."""
    return S.pairs[0].instruct if S.pairs else None


def truncated_length(max_length: int) -> int:
    """The truncation source's token budget: half of the profile's ``max_length``, at most 64.

    256 → 64 (a quarter, the paper profile), 64 → 32 (the smoke profile).
    """
    max_length = int(max_length)
    if max_length < 2:
        raise ProbedriftError(f"max_length {max_length} leaves nothing to truncate",
                              "use max_length >= 2, or drop the truncation source")
    return min(64, max_length // 2)


def _other_pooling(pooling: str) -> str:
    return "last_token" if pooling == "mean" else "mean"


def _probe_layer(S: UpdateContext, model: str) -> int:
    return normalize_layer(S.params.layer, S.num_layers(model))


# ------------------------------------------------------------------------------------------------ sources


def _precision_bf16(S: UpdateContext) -> UpdatePair:
    m = base_model(S)
    return UpdatePair("precision_bf16", m, m, S.embeddings(m, dtype="float32"), S.embeddings(m, dtype="bfloat16"),
                      "float32 → bfloat16")


#: CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic: x86 AVX-512 BF16 and AMX BF16, Arm BF16.
#: Without one of them a CPU emulates bfloat16 in software, far slower than float32, so the
#: ``precision_bf16`` source is skipped there (with this reason in the run's ``real_drift`` table).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")


@functools.cache
def _cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset[str]:
    """The flags (x86) or features (Arm) of the first CPU in ``cpuinfo``; empty when it cannot be read."""
    try:
        lines = Path(cpuinfo).read_text().splitlines()
    except OSError:
        return frozenset()
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def _precision_bf16_skip(S: UpdateContext) -> str | None:
    if resolve_device(S.params.device).type != "cpu":
        return None
    if _cpu_flags() & set(BF16_CPU_FLAGS):
        return None
    return ("the run is on a CPU without native bfloat16 instructions (none of the CPU flags "
            f"{', '.join(BF16_CPU_FLAGS)}), where bfloat16 is emulated in software and far slower than float32; "
            "run it on a GPU (`device: cuda`) or a CPU with one of those flags")


def _precision_int8(S: UpdateContext) -> UpdatePair:
    m = base_model(S)
    after = S.embeddings(S.settings(m, dtype="float32", variant="int8-dynamic"))
    return UpdatePair("precision_int8", m, m, S.embeddings(m, dtype="float32"), after,
                      "float32 → int8 dynamic (Linear layers)")


def _chat_template(S: UpdateContext) -> UpdatePair:
    m = instruct_model(S)
    before = S.params.chat_template
    name = {False: "raw text", True: "chat template"}
    return UpdatePair("chat_template", m, m, S.embeddings(m), S.embeddings(m, chat_template=not before),
                      f"{name[before]} → {name[not before]}")


def _chat_template_skip(S: UpdateContext) -> str | None:
    m = instruct_model(S)
    if m is None:
        return "no base/instruct pair among this run's models"
    if not model_has_chat_template(m):
        return f"model {m!r} has no chat template"
    return None


def _truncation(S: UpdateContext) -> UpdatePair:
    m = base_model(S)
    n, short = S.params.max_length, truncated_length(S.params.max_length)
    notes = () if model_is_causal(m) else (
        "a bidirectional encoder: a prefix's states differ from the truncated forward's, so the truncated "
        "texts had a forward pass of their own",)
    return UpdatePair("truncation", m, m, S.embeddings(m), S.embeddings(m, max_length=short),
                      f"max_length {n} → {short}", notes)


def _layer_shift(S: UpdateContext) -> UpdatePair:
    m = base_model(S)
    layer = _probe_layer(S, m)
    return UpdatePair("layer_shift", m, m, S.embeddings(m), S.embeddings(m, layer - 1),
                      f"hidden state {layer} → {layer - 1}")


def _layer_shift_skip(S: UpdateContext) -> str | None:
    if _probe_layer(S, base_model(S)) == 0:
        return "the probe reads hidden state 0, so there is no earlier one to shift to"
    return None


def _pooling_change(S: UpdateContext) -> UpdatePair:
    m = base_model(S)
    before = S.params.pooling
    after = _other_pooling(before)
    return UpdatePair("pooling_change", m, m, S.embeddings(m), S.embeddings(m, pooling=after), f"{before} → {after}")


def _model_swap(S: UpdateContext) -> UpdatePair:
    before, after = base_model(S), instruct_model(S)
    return UpdatePair("model_swap", before, after, S.embeddings(before), S.embeddings(after), f"{before} → {after}")


def _model_swap_skip(S: UpdateContext) -> str | None:
    partner = instruct_model(S)
    if partner is None:
        return "no base/instruct pair among this run's models, so there is no partner to swap to"
    if partner == base_model(S):
        return f"the first pair's instruct model is {partner!r}, the base model itself"
    return None


def _truncation_settings(S: UpdateContext) -> list:
    return [S.settings(base_model(S), max_length=truncated_length(S.params.max_length))]


def _layer_shift_settings(S: UpdateContext) -> list:
    m = base_model(S)
    layer = _probe_layer(S, m)
    return [S.settings(m, layer=layer - 1)] if layer > 0 else []


def _pooling_settings(S: UpdateContext) -> list:
    return [S.settings(base_model(S), pooling=_other_pooling(S.params.pooling))]


#: Drift source name → :class:`Source`. Adding a source: one build function and one ``REGISTRY.add``.
REGISTRY: Registry[Source] = Registry("real drift source")
for _source in (
    Source("precision_bf16", _precision_bf16, _precision_bf16_skip, doc="float32 → bfloat16"),
    Source("precision_int8", _precision_int8, doc="float32 → int8 dynamic quantisation (CPU)"),
    Source("chat_template", _chat_template, _chat_template_skip, doc="raw text ↔ the chat template"),
    Source("truncation", _truncation, shared_settings=_truncation_settings, doc="max_length → at most 64"),
    Source("layer_shift", _layer_shift, _layer_shift_skip, _layer_shift_settings, doc="probed layer → one before"),
    Source("pooling_change", _pooling_change, shared_settings=_pooling_settings, doc="last-token ↔ mean pooling"),
    Source("model_swap", _model_swap, _model_swap_skip, doc="base model → the first pair's instruct model"),
):
    REGISTRY.add(_source)
SOURCES = REGISTRY.names()


def planned_settings(S: UpdateContext, model: str) -> list[ExtractionSettings]:
    """Settings the configured sources read from ``model``'s own forward pass (the base model only)."""
    if not S.models or model != base_model(S):
        return []
    out = []
    for name in S.params.real_drift_sources:
        out += REGISTRY.get(name).shared_settings(S)
    return out


def skip_reason(S: UpdateContext, source: str) -> str | None:
    """Why ``source`` does not apply to this run, or None when it does."""
    return REGISTRY.get(source).skip(S)


def update_pair(S: UpdateContext, source: str) -> UpdatePair:
    """Before/after embeddings of every dataset text for one drift ``source`` (see :data:`REGISTRY`)."""
    reason = skip_reason(S, source)
    if reason is not None:
        raise ProbedriftError(f"the {source} source does not apply to this run: {reason}",
                              f"drop {source} from real_drift_sources")
    pair = REGISTRY.get(source).build(S)
    if pair.before.shape[0] != pair.after.shape[0]:
        raise ProbedriftError(f"{source}: {pair.before.shape[0]} rows before but {pair.after.shape[0]} after",
                              "clear the embedding cache entry of this source and run again")
    return pair


def update_pairs(S: UpdateContext,
                 sources: Sequence[str] | None = None) -> tuple[dict[str, UpdatePair], dict[str, str]]:
    """The pairs of every source that applies (default ``real_drift_sources``) and the skipped ones' reasons."""
    sources = list(S.params.real_drift_sources if sources is None else sources)
    for s in sources:
        REGISTRY.get(s)  # an unknown name fails before any embedding is computed
    pairs, skipped = {}, {}
    for s in sources:
        reason = skip_reason(S, s)
        if reason is None:
            pairs[s] = update_pair(S, s)
        else:
            skipped[s] = reason
    return pairs, skipped
