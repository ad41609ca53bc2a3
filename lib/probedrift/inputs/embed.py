"""Hidden-state embeddings of texts, layer-truncated, batched by length and cached on disk.

Layer indexing follows ``transformers``' ``hidden_states``: index 0 is the embedding output, index
``i`` (1 ≤ i < N) is the output of decoder block ``i`` (the input of block ``i+1``), and index ``N``
(= ``-1``) is the final hidden state *after* the final norm. Negative indices count from ``N``.

To get hidden state ``i < N`` only blocks ``1..i`` run: a forward pre-hook on block ``i+1`` captures
its input and stops the forward pass. No LM head is ever run (the backbone is loaded with
``AutoModel``).

Pooling (paper §1.2 uses ``last_token``):

- ``last_token``: the state of the last real token (right padding, so its index is ``mask.sum()-1``);
- ``mean``: mean over real tokens;
- ``mean_skip_first``: mean over real tokens except position 0, the attention-sink token that carries
  massive activations in mid layers (kept for one-token texts).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from probedrift.core.cache import ArrayCache, ChunkStore, cache_root, texts_fingerprint
from probedrift.core.errors import ProbedriftError, check_choice, check_positive
from probedrift.inputs.model_facts import known_num_layers, remember_num_layers
from probedrift.inputs.models import LoadedModel, cheap_dtype_name, spec
from probedrift.inputs.variants import VARIANTS, load_variant, variant_identity

POOLINGS = ("last_token", "mean", "mean_skip_first")


class _StopForward(Exception):
    """Raised from a hook once the deepest requested hidden state is captured."""


def normalize_layer(layer: int, num_layers: int) -> int:
    """Map a hidden-state index (negative allowed) to ``0..num_layers``; clear error when out of range."""
    n_states = num_layers + 1
    if not -n_states <= int(layer) <= num_layers:
        raise ProbedriftError(
            f"layer {layer} does not exist: this model has {num_layers} blocks, so hidden-state indices "
            f"run from 0 to {num_layers} (or {-n_states} to -1)",
            f"pick a layer in [{-n_states}, {num_layers}]; -1 is the last layer, {num_layers // 2} the middle",
        )
    return int(layer) % n_states


def find_blocks(model) -> torch.nn.ModuleList:  # noqa: F821
    """The ModuleList of transformer blocks (``model.layers``, ``encoder.layer``, ``h``, ...)."""
    import torch  # heavy to import (seconds); only model work needs it

    n = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if hasattr(model.config, "get_text_config"):
        n = model.config.get_text_config().num_hidden_layers
    candidates = [
        (name, m) for name, m in model.named_modules()
        if isinstance(m, torch.nn.ModuleList) and len(m) == n
    ]
    if not candidates:
        raise ProbedriftError(
            f"could not find the {n} transformer blocks of {type(model).__name__}",
            "use the last layer (-1), which needs no block lookup, or a standard Hugging Face architecture",
        )
    return candidates[0][1]


@dataclass
class ExtractionInfo:
    """What an extraction did: cache hits, keys, seconds, tokens, resumed chunks, forward passes."""

    cache_hit: bool = False
    keys: dict = field(default_factory=dict)
    seconds: float = 0.0
    n_texts: int = 0
    n_tokens: int = 0
    resumed_chunks: int = 0
    forward_passes: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ExtractionSettings:
    """Everything that decides one embedding array of a list of texts (bar the texts themselves).

    ``layer`` is a hidden-state index as the user wrote it (negative counts from the end);
    ``dtype`` is the requested dtype (``auto`` resolves per device); ``variant`` names a transformed
    copy of the weights (``int8-dynamic``, see :data:`probedrift.inputs.variants.VARIANTS`) or is empty.
    The settings build the cache key (:meth:`cache_components`) and the provenance label (:attr:`label`).
    """

    model: str
    layer: int = -1
    pooling: str = "last_token"
    max_length: int = 256
    chat_template: bool = False
    dtype: str = "auto"
    variant: str = ""
    revision: str | None = None

    def __post_init__(self) -> None:
        check_choice("pooling", self.pooling, POOLINGS)
        check_positive("max_length", self.max_length)

    def replace(self, **changes) -> ExtractionSettings:
        """A copy with some settings changed."""
        return dataclasses.replace(self, **changes)

    @property
    def label(self) -> str:
        """``model|layer=…|pooling=…|max_length=…|chat_template=…|dtype=…[|variant=…]`` for provenance."""
        out = (f"{self.model}|layer={self.layer}|pooling={self.pooling}|max_length={self.max_length}"
               f"|chat_template={self.chat_template}|dtype={self.dtype}")
        return out + (f"|variant={self.variant}" if self.variant else "")

    @property
    def forward_group(self) -> tuple:
        """Settings that share one forward pass: same weights, dtype and prompt format."""
        return (self.model, self.revision, self.dtype, self.variant, self.chat_template)

    def identity(self) -> str:
        """The model's content identity (:func:`probedrift.inputs.models.spec`), with the variant's suffix."""
        return variant_identity(spec(self.model, self.revision).identity, self.variant)

    def cache_components(self, identity: str, texts_fp: str, num_layers: int, dtype_name: str) -> dict:
        """The cache key's components (:func:`cache_components`) for these settings."""
        return cache_components(identity, texts_fp, normalize_layer(self.layer, num_layers), self.pooling,
                                self.max_length, dtype_name, self.chat_template)


@dataclass(frozen=True)
class _Output:
    target: int  # hidden-state index in 0..num_layers
    pooling: str
    max_length: int


def cache_components(
    model_identity: str, texts_fp: str, layer: int, pooling: str, max_length: int, dtype: str, chat_template: bool
) -> dict:
    """Everything that determines one cached embedding array (the library version is added by the cache)."""
    return {
        "kind": "embeddings",
        "model": model_identity,
        "texts": texts_fp,
        "layer": int(layer),
        "pooling": pooling,
        "max_length": int(max_length),
        "dtype": dtype,
        "chat_template": bool(chat_template),
    }


def _dtype_name(dtype) -> str:
    return str(dtype).replace("torch.", "")


def _check_args(layers, pooling, max_length, batch_size) -> list[int]:
    check_choice("pooling", pooling, POOLINGS)
    check_positive("max_length", max_length)
    check_positive("batch_size", batch_size)
    layers = [layers] if isinstance(layers, int) else list(layers)
    if not layers:
        raise ProbedriftError("no layers requested", "pass at least one hidden-state index, e.g. -1")
    return layers


def prepare_inputs(model: LoadedModel, texts: list[str], max_length: int, chat_template: bool) -> list[list[int]]:
    """Token ids per text (no padding). With ``chat_template`` each text becomes one user turn."""
    tok = model.tokenizer
    if chat_template:
        if not model.has_chat_template:
            raise ProbedriftError(
                f"model {model.name!r} has no chat template",
                "extract it without a chat template (chat_template: false), or drop the chat_template drift source",
            )
        rendered = [
            tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True)
            for t in texts
        ]
        enc = tok(rendered, add_special_tokens=False, truncation=True, max_length=max_length)
    else:
        enc = tok(list(texts), truncation=True, max_length=max_length)
    return enc["input_ids"]


def _store(cache) -> ArrayCache | None:
    return (ArrayCache(cache_root() / "embeddings") if cache is True else cache) or None


def _plan_passes(model: LoadedModel, texts: list[str], outputs: list[_Output], chat_template: bool):
    """Which forward passes serve ``outputs``: ``{pass_length: (ids, {output: effective lengths})}``.

    A causal model's state at position k does not depend on later tokens, so an output truncated to
    L tokens is read from the forward pass of the longest length, at each text's own L-token
    prefix — provided the tokenizer's truncation really gives a prefix of the longer tokenisation
    (checked text by text). Otherwise (a bidirectional encoder, or a tokenizer that appends an
    end token) every length gets its own pass.
    """
    lengths = sorted({o.max_length for o in outputs}, reverse=True)
    ids_at = {L: prepare_inputs(model, texts, L, chat_template) for L in lengths}
    passes: dict[int, tuple[list, dict]] = {}
    longest = lengths[0]
    for L in lengths:
        shared = model.is_causal and all(
            list(short) == list(full[:len(short)]) for short, full in zip(ids_at[L], ids_at[longest]))
        host = longest if shared else L
        ids, members = passes.setdefault(host, (ids_at[host], {}))
        for o in outputs:
            if o.max_length == L:
                members[o] = np.array([len(x) for x in ids_at[L]])
    return passes


def _pool(hidden, lengths, pooling: str):
    """Pool each row's first ``lengths[i]`` positions (right padding): last token, mean, or mean without position 0."""
    import torch  # heavy to import (seconds); only model work needs it

    positions = torch.arange(hidden.shape[1], device=hidden.device)
    mask = (positions[None, :] < lengths[:, None]).to(hidden.dtype)
    if pooling == "last_token":
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), lengths - 1]
    if pooling == "mean_skip_first":
        mask[lengths > 1, 0] = 0
    mask = mask.unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)


def _forward_pass(model: LoadedModel, ids: list, members: dict, batch_size: int, chunks, chunk_size: int,
                  info: ExtractionInfo, desc: str, progress: bool) -> dict:
    """One forward pass over every text (length-sorted batches, right padding, stopped at the
    deepest needed block) pooling every member output; completed chunks go to ``chunks``."""
    import torch  # heavy to import (seconds); only model work needs it

    outs = list(members)
    targets = sorted({o.target for o in outs})
    deepest = max(targets)
    full = np.array([len(x) for x in ids])
    info.n_tokens += int(full.sum())
    order = np.argsort(-full, kind="stable")
    n = len(ids)
    pooled = np.empty((len(outs), n, model.hidden_size), dtype=np.float32)
    blocks = find_blocks(model.model) if min(targets) < model.num_layers else None
    captured: dict[int, object] = {}

    def make_hook(index: int):
        def hook(module, args, kwargs):
            captured[index] = args[0] if args else kwargs["hidden_states"]
            if index == deepest:
                raise _StopForward

        return hook

    handles = [blocks[t].register_forward_pre_hook(make_hook(t), with_kwargs=True)
               for t in targets if t < model.num_layers]
    bar = tqdm(total=n, desc=desc, disable=not progress, unit="text")
    computed = False
    try:
        with torch.inference_mode():
            for c in range(-(-n // chunk_size)):
                idx = order[c * chunk_size:(c + 1) * chunk_size]
                done = chunks.get(c) if chunks is not None else None
                if done is not None and done.shape == (len(outs), len(idx), model.hidden_size):
                    pooled[:, idx] = done
                    info.resumed_chunks += 1
                    bar.update(len(idx))
                    continue
                computed = True
                out = np.empty((len(outs), len(idx), model.hidden_size), dtype=np.float32)
                for b in range(0, len(idx), batch_size):
                    bidx = idx[b:b + batch_size]
                    batch = model.tokenizer.pad({"input_ids": [ids[i] for i in bidx]}, padding=True,
                                                return_tensors="pt")
                    batch = {k: v.to(model.device) for k, v in batch.items()}
                    captured.clear()
                    try:
                        captured[model.num_layers] = model.model(**batch, use_cache=False).last_hidden_state
                    except _StopForward:
                        pass
                    for j, o in enumerate(outs):
                        lengths = torch.as_tensor(members[o][bidx], device=model.device)
                        out[j, b:b + len(bidx)] = _pool(captured[o.target], lengths, o.pooling).float().cpu().numpy()
                    bar.update(len(bidx))
                if not np.isfinite(out).all():
                    raise ProbedriftError(
                        f"model {model.name!r} produced NaN or inf hidden states in dtype {_dtype_name(model.dtype)} "
                        "(typically a float16 overflow)",
                        "use dtype bfloat16 or float32",
                    )
                if chunks is not None:
                    chunks.put(c, out)
                pooled[:, idx] = out
    finally:
        for h in handles:
            h.remove()
        bar.close()
    if computed:
        info.forward_passes[desc] = info.forward_passes.get(desc, 0) + 1
    return {o: pooled[j] for j, o in enumerate(outs)}


def extract_outputs(model: LoadedModel, texts: list[str], outputs: list[_Output], chat_template: bool,
                    batch_size: int, *, cache: bool | ArrayCache = True, chunk_size: int = 256,
                    progress: bool = True, info: ExtractionInfo | None = None) -> dict:
    """Every requested (hidden state, pooling, max length) of ``texts`` in as few forward passes as possible.

    Cached outputs are read; the rest come from :func:`_plan_passes`'s passes (one per model and
    prompt format when the model is causal), and are stored in the cache, keyed by
    :func:`cache_components`. Completed chunks of ``chunk_size`` texts survive a killed run.
    """
    info = info if info is not None else ExtractionInfo()
    store = _store(cache)
    fp = texts_fingerprint(texts)
    dtype_name = _dtype_name(model.dtype)

    def key(o: _Output) -> str:
        return store.key(cache_components(model.identity, fp, o.target, o.pooling, o.max_length, dtype_name,
                                          chat_template))

    result, todo = {}, []
    for o in dict.fromkeys(outputs):
        arr = store.get(key(o)) if store is not None else None
        if arr is not None:
            result[o] = arr
        else:
            todo.append(o)
    if not todo:
        info.cache_hit = True
        return result
    t0 = time.perf_counter()
    for length, (ids, members) in _plan_passes(model, texts, todo, chat_template).items():
        chunks = None
        if store is not None:
            job = store.key({"job": sorted(key(o) for o in members), "batch_size": batch_size,
                             "chunk_size": chunk_size, "pass_length": length})
            chunks = ChunkStore(store.root, job)
        desc = (f"{model.name}|dtype={dtype_name}|chat_template={chat_template}|max_length={length}"
                + (f"|variant={model.variant}" if getattr(model, "variant", "") else ""))
        got = _forward_pass(model, ids, members, batch_size, chunks, chunk_size, info, desc, progress)
        seconds = time.perf_counter() - t0
        for o, arr in got.items():
            if store is not None:
                comps = cache_components(model.identity, fp, o.target, o.pooling, o.max_length, dtype_name,
                                         chat_template)
                store.put(key(o), arr, comps, seconds=seconds, n_texts=len(texts))
        if chunks is not None:
            chunks.clear()
        result.update(got)
    return result


def extract(
    model: LoadedModel,
    texts: list[str],
    layers=(-1,),
    pooling: str = "last_token",
    max_length: int = 256,
    chat_template: bool = False,
    batch_size: int = 32,
    *,
    cache: bool | ArrayCache = True,
    chunk_size: int = 256,
    progress: bool = True,
    info: ExtractionInfo | None = None,
) -> dict[int, np.ndarray]:
    """Pooled hidden states ``{layer: (n, d) float32}`` of a loaded model for the requested indices.

    Texts are tokenised once, sorted by length (long first) and run in batches of ``batch_size`` with
    right padding; the network runs only up to the deepest requested layer. With ``cache`` the
    result is stored per layer, keyed by :func:`cache_components`; completed chunks of
    ``chunk_size`` texts survive a killed run and are reused by the next call.
    """
    layers = _check_args(layers, pooling, max_length, batch_size)
    texts = list(texts)
    if not texts:
        raise ProbedriftError("no texts to embed", "pass a non-empty list of texts")
    info = info if info is not None else ExtractionInfo()
    info.n_texts = len(texts)
    t0 = time.perf_counter()
    wanted = {layer: _Output(normalize_layer(layer, model.num_layers), pooling, int(max_length)) for layer in layers}
    got = extract_outputs(model, texts, list(wanted.values()), chat_template, batch_size, cache=cache,
                          chunk_size=chunk_size, progress=progress, info=info)
    store = _store(cache)
    if store is not None:
        fp, dtype_name = texts_fingerprint(texts), _dtype_name(model.dtype)
        info.keys = {layer: store.key(cache_components(model.identity, fp, o.target, o.pooling, o.max_length,
                                                       dtype_name, chat_template)) for layer, o in wanted.items()}
    info.seconds = time.perf_counter() - t0
    return {layer: got[o] for layer, o in wanted.items()}


def get_embeddings(
    requests,
    texts: list[str],
    *,
    device: str = "auto",
    batch_size: int = 32,
    loader=None,
    progress: bool = True,
    info: ExtractionInfo | None = None,
) -> dict[ExtractionSettings, np.ndarray]:
    """The one path to embeddings: ``{settings: (n, d) float32}`` for every requested
    :class:`ExtractionSettings`, rows in the order of ``texts``.

    Cache hits are served without loading any model (the model's layer count comes from its
    record). The misses are grouped by :attr:`ExtractionSettings.forward_group`; each group loads
    its model once (``loader(name, dtype, variant)``, default :func:`probedrift.inputs.variants.load_variant`)
    and runs one forward pass for all its layers, poolings and (for causal models) truncation
    lengths. ``info.keys`` maps each settings' label to its cache key, ``info.forward_passes`` counts
    the passes run, by model and setting.
    """
    texts = list(texts)
    if not texts:
        raise ProbedriftError("no texts to embed", "pass a non-empty list of texts")
    check_positive("batch_size", batch_size)
    info = info if info is not None else ExtractionInfo()
    info.n_texts = len(texts)
    t0 = time.perf_counter()
    requests = list(dict.fromkeys(requests))
    store = ArrayCache(cache_root() / "embeddings")
    fp = texts_fingerprint(texts)
    result: dict[ExtractionSettings, np.ndarray] = {}
    missing: dict[tuple, list[ExtractionSettings]] = {}
    for s in requests:
        identity = s.identity()
        n_layers = known_num_layers(identity)
        if n_layers is not None:
            key = store.key(s.cache_components(identity, fp, n_layers, requested_dtype_name(s, device)))
            arr = store.get(key)
            if arr is not None:
                result[s], info.keys[s.label] = arr, key
                continue
        missing.setdefault(s.forward_group, []).append(s)
    loader = loader or (lambda name, dtype, variant: load_variant(name, dtype=dtype, device=device, variant=variant))
    for group in missing.values():
        first = group[0]
        model = loader(first.model, first.dtype, first.variant)
        remember_num_layers(model)
        outputs = {s: _Output(normalize_layer(s.layer, model.num_layers), s.pooling, s.max_length) for s in group}
        got = extract_outputs(model, texts, list(outputs.values()), first.chat_template, batch_size,
                              progress=progress, info=info)
        dtype_name = _dtype_name(model.dtype)
        for s, o in outputs.items():
            result[s] = got[o]
            info.keys[s.label] = store.key(cache_components(model.identity, fp, o.target, o.pooling, o.max_length,
                                                            dtype_name, first.chat_template))
    info.cache_hit = not missing
    info.seconds = time.perf_counter() - t0
    return {s: result[s] for s in requests}


def requested_dtype_name(settings: ExtractionSettings, device: str) -> str:
    """The dtype name the settings resolve to on ``device`` (a weight variant fixes its own)."""
    if settings.variant:
        return VARIANTS[settings.variant].dtype
    return cheap_dtype_name(settings.dtype, device)
