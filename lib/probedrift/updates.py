"""Real drift: the same texts embedded before and after a concrete change of the deployed model.

The paper simulates drift with synthetic noise. Here every drift *source* is a change a deployment
actually makes, and gives a "before" and an "after" embedding of every text of the study's dataset
(rows in dataset order, so row i of both arrays is the same text). All extraction goes through the
study's cache.

| source | model | before → after |
| --- | --- | --- |
| ``precision_bf16`` | ``models[0]`` | float32 → bfloat16 weights and activations |
| ``precision_int8`` | ``models[0]`` | float32 → int8 dynamic quantisation of every ``nn.Linear`` (CPU) |
| ``chat_template`` | instruct of ``pairs[0]`` | the profile's prompt format → the other one (raw ↔ chat template) |
| ``truncation`` | ``models[0]`` | ``max_length`` → :func:`truncated_length` (half of it, at most 64) |
| ``layer_shift`` | ``models[0]`` | the probed hidden state → the one before it (last layer → second-to-last) |
| ``pooling_change`` | ``models[0]`` | the profile's pooling → ``mean`` (or ``last_token`` if it is ``mean``) |
| ``model_swap`` | ``models[0]`` → instruct of ``pairs[0]`` | one model → another (widths may differ) |

The probe layer is ``params["layer"]`` throughout; only ``layer_shift`` reads another one.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import ProbedriftError, check_choice

SOURCES = ("precision_bf16", "precision_int8", "chat_template", "truncation", "layer_shift", "pooling_change",
           "model_swap")

INT8_SUFFIX = "+int8-dynamic"

__all__ = ["INT8_SUFFIX", "REGISTRY", "SOURCES", "UpdatePair", "base_model", "instruct_model", "int8_embeddings",
           "quantize_int8", "truncated_length", "update_pair", "update_pairs"]


@dataclass(frozen=True)
class UpdatePair:
    """Embeddings of the same texts before and after one change; row i of both is text i of the dataset."""

    source: str
    model_before: str
    model_after: str
    before: np.ndarray  # (n, d_before)
    after: np.ndarray  # (n, d_after)
    change: str  # what changed, e.g. "float32 → bfloat16"

    @property
    def same_width(self) -> bool:
        """Whether the frozen probe can read the after embeddings directly."""
        return self.before.shape[1] == self.after.shape[1]


def base_model(S) -> str:
    """The model most sources change: the first of ``params["models"]``."""
    if not S.models:
        raise ProbedriftError("the profile lists no models", "add at least one model to `models`")
    return S.models[0]


def instruct_model(S) -> str:
    """The instruct model of the first base/instruct pair (the chat-template and model-swap target)."""
    pairs = S.params.get("pairs") or []
    if not pairs or "instruct" not in pairs[0]:
        raise ProbedriftError("the chat_template and model_swap sources need a base/instruct pair",
                              "add `pairs: [{base: ..., instruct: ...}]` to the profile, or drop those sources")
    return pairs[0]["instruct"]


def truncated_length(max_length: int) -> int:
    """The truncation source's token budget: half of the profile's ``max_length``, at most 64.

    256 → 64 (a quarter, the paper profile), 64 → 32 (the smoke profile).
    """
    max_length = int(max_length)
    if max_length < 2:
        raise ProbedriftError(f"max_length {max_length} leaves nothing to truncate",
                              "use max_length >= 2, or drop the truncation source")
    return min(64, max_length // 2)


# ------------------------------------------------------------------------------------------------ int8


def quantize_int8(model):
    """A copy of a float32 :class:`~probedrift.models.LoadedModel` with every ``nn.Linear`` int8-quantised.

    ``torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)``: weights are stored
    as int8 (per-tensor scale), activations are quantised on the fly per batch, and the matmuls run
    in int8 on CPU. Everything else (embeddings, norms) stays float32 and is shared with the original
    rather than copied. The copy's identity gets the suffix ``+int8-dynamic-<engine>`` so its cache
    entries never mix with the float model's.
    """
    import warnings

    import torch

    if model.dtype != torch.float32 or torch.device(model.device).type != "cpu":
        raise ProbedriftError(
            f"int8 dynamic quantisation needs the float32 model on CPU, got {model.dtype} on {model.device}",
            "load the model with dtype='float32', device='cpu'",
        )
    net = model.model
    # Sharing the non-Linear parameters (the 262k-row embedding of gemma above all) makes the copy
    # cheap; quantize_dynamic replaces the Linear modules and never writes to the others.
    memo = {id(t): t for m in net.modules() if not isinstance(m, torch.nn.Linear)
            for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))}
    net_copy = copy.deepcopy(net, memo)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        quantized = torch.ao.quantization.quantize_dynamic(net_copy, {torch.nn.Linear}, dtype=torch.qint8,
                                                           inplace=True)
    identity = f"{model.identity}{INT8_SUFFIX}-{torch.backends.quantized.engine}"
    return dataclasses.replace(model, model=quantized, spec=dataclasses.replace(model.spec, identity=identity))


def _float32_cpu_model(S, name: str):
    import torch

    from .models import load, resolve_device, resolve_dtype

    dev = resolve_device(S.params["device"])
    if dev.type == "cpu":
        key = S.params["dtype"] if resolve_dtype(S.params["dtype"], dev) == torch.float32 else "float32"
        return S.loaded_model(name, key)
    return load(name, dtype="float32", device="cpu")


def int8_embeddings(S, name: str, layer: int | None = None) -> np.ndarray:
    """Pooled states of every dataset text from the int8-quantised copy of ``name`` (cached).

    Runs on CPU whatever the profile's device (dynamic int8 kernels are CPU-only). The cache is
    looked up before any model is loaded.
    """
    import torch

    from .cache import ArrayCache
    from .embed import (ExtractionInfo, _known_num_layers, cache_components, extract, normalize_layer,
                        texts_fingerprint)
    from .models import cache_root, spec

    p = S.params
    layer = int(p["layer"] if layer is None else layer)
    texts = S.dataset.texts
    args = (p["pooling"], int(p["max_length"]), bool(p["chat_template"]))
    identity = f"{spec(name).identity}{INT8_SUFFIX}-{torch.backends.quantized.engine}"
    n_layers = _known_num_layers(spec(name).identity)
    if n_layers is not None:
        store = ArrayCache(cache_root() / "embeddings")
        key = store.key(cache_components(identity, texts_fingerprint(texts), normalize_layer(layer, n_layers),
                                         p["pooling"], int(p["max_length"]), "float32", bool(p["chat_template"])))
        hit = store.get(key)
        if hit is not None:
            S._record_cache_keys(f"{name}{INT8_SUFFIX}", {layer: key}, p)
            return hit
    quantized = quantize_int8(_float32_cpu_model(S, name))
    info = ExtractionInfo()
    out = extract(quantized, texts, [layer], *args, int(p["batch_size"]), info=info)[layer]
    S._record_cache_keys(f"{name}{INT8_SUFFIX}", info.keys, p)
    return out


# ------------------------------------------------------------------------------------------------ sources


def _precision_bf16(S) -> UpdatePair:
    m = base_model(S)
    return UpdatePair("precision_bf16", m, m, S.embeddings(m, dtype="float32"), S.embeddings(m, dtype="bfloat16"),
                      "float32 → bfloat16")


def _precision_int8(S) -> UpdatePair:
    m = base_model(S)
    return UpdatePair("precision_int8", m, m, S.embeddings(m, dtype="float32"), int8_embeddings(S, m),
                      "float32 → int8 dynamic (Linear layers)")


def _chat_template(S) -> UpdatePair:
    m = instruct_model(S)
    before = bool(S.params["chat_template"])
    name = {False: "raw text", True: "chat template"}
    return UpdatePair("chat_template", m, m, S.embeddings(m), S.embeddings(m, chat_template=not before),
                      f"{name[before]} → {name[not before]}")


def _truncation(S) -> UpdatePair:
    m = base_model(S)
    n = int(S.params["max_length"])
    short = truncated_length(n)
    return UpdatePair("truncation", m, m, S.embeddings(m), S.embeddings(m, max_length=short),
                      f"max_length {n} → {short}")


def _layer_shift(S) -> UpdatePair:
    from .embed import normalize_layer

    m = base_model(S)
    layer = normalize_layer(int(S.params["layer"]), S.num_layers(m))
    if layer == 0:
        raise ProbedriftError("layer_shift needs a hidden state before the probed one, but the probe reads layer 0",
                              "probe a later layer, or drop the layer_shift source")
    return UpdatePair("layer_shift", m, m, S.embeddings(m), S.embeddings(m, layer - 1),
                      f"hidden state {layer} → {layer - 1}")


def _pooling_change(S) -> UpdatePair:
    m = base_model(S)
    before = S.params["pooling"]
    after = "last_token" if before == "mean" else "mean"
    return UpdatePair("pooling_change", m, m, S.embeddings(m), S.embeddings(m, pooling=after), f"{before} → {after}")


def _model_swap(S) -> UpdatePair:
    before, after = base_model(S), instruct_model(S)
    if before == after:
        raise ProbedriftError(f"model_swap would swap {before!r} for itself",
                              "make models[0] differ from the instruct model of pairs[0]")
    return UpdatePair("model_swap", before, after, S.embeddings(before), S.embeddings(after), f"{before} → {after}")


#: Drift source name → function of a :class:`~probedrift.study.Study` returning an :class:`UpdatePair`.
REGISTRY: dict[str, Callable[..., UpdatePair]] = {
    "precision_bf16": _precision_bf16,
    "precision_int8": _precision_int8,
    "chat_template": _chat_template,
    "truncation": _truncation,
    "layer_shift": _layer_shift,
    "pooling_change": _pooling_change,
    "model_swap": _model_swap,
}


def update_pair(S, source: str) -> UpdatePair:
    """Before/after embeddings of every dataset text for one drift ``source`` (see :data:`REGISTRY`)."""
    check_choice("real drift source", source, REGISTRY)
    pair = REGISTRY[source](S)
    if pair.before.shape[0] != pair.after.shape[0]:
        raise ProbedriftError(f"{source}: {pair.before.shape[0]} rows before but {pair.after.shape[0]} after",
                              "clear the embedding cache entry of this source and run again")
    return pair


def update_pairs(S, sources: Sequence[str] | None = None) -> dict[str, UpdatePair]:
    """:func:`update_pair` for each source (default ``params["real_drift_sources"]``), in order."""
    sources = list(S.params.get("real_drift_sources") or SOURCES) if sources is None else list(sources)
    for s in sources:
        check_choice("real drift source", s, REGISTRY)
    return {s: update_pair(S, s) for s in sources}
