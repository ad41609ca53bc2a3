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

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from .cache import ArrayCache, ChunkStore
from .errors import ProbedriftError, check_choice, check_positive
from .models import LoadedModel, cache_root

POOLINGS = ("last_token", "mean", "mean_skip_first")


class _StopForward(Exception):
    """Raised from a hook once the deepest requested hidden state is captured."""


def texts_fingerprint(texts: list[str]) -> str:
    """SHA-256 of the texts in order (length-prefixed, so concatenations cannot collide)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


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


def find_blocks(model) -> "torch.nn.ModuleList":  # noqa: F821
    """The ModuleList of transformer blocks (``model.layers``, ``encoder.layer``, ``h``, ...)."""
    import torch

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


def _pool(hidden, mask, pooling: str):
    import torch

    if pooling == "last_token":
        last = mask.sum(1) - 1
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    m = mask.clone()
    if pooling == "mean_skip_first":
        m[mask.sum(1) > 1, 0] = 0
    m = m.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


@dataclass
class ExtractionInfo:
    """What an extraction did: cache hits per layer, keys, seconds, tokens."""

    cache_hit: bool = False
    keys: dict = field(default_factory=dict)
    seconds: float = 0.0
    n_texts: int = 0
    n_tokens: int = 0
    resumed_chunks: int = 0


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
                f"model {model.name!r} has no chat template", "set chat_template=False for base models"
            )
        rendered = [
            tok.apply_chat_template([{"role": "user", "content": t}], tokenize=False, add_generation_prompt=True)
            for t in texts
        ]
        enc = tok(rendered, add_special_tokens=False, truncation=True, max_length=max_length)
    else:
        enc = tok(list(texts), truncation=True, max_length=max_length)
    return enc["input_ids"]


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
    """Pooled hidden states ``{layer: (n, d) float32}`` for the requested hidden-state indices.

    Texts are tokenised once, sorted by length (long first) and run in batches of ``batch_size`` with
    right padding; the network runs only up to the deepest requested layer. With ``cache`` the
    result is stored per layer, keyed by :func:`cache_components`; completed chunks of
    ``chunk_size`` texts survive a killed run and are reused by the next call.
    """
    import torch
    from tqdm.auto import tqdm

    layers = _check_args(layers, pooling, max_length, batch_size)
    texts = list(texts)
    if not texts:
        raise ProbedriftError("no texts to embed", "pass a non-empty list of texts")
    info = info if info is not None else ExtractionInfo()
    info.n_texts = len(texts)
    t0 = time.perf_counter()
    targets = [normalize_layer(layer, model.num_layers) for layer in layers]
    store = (ArrayCache(cache_root() / "embeddings") if cache is True else cache) or None
    dtype_name = _dtype_name(model.dtype)
    fp = texts_fingerprint(texts)
    keys = {}
    if store is not None:
        for layer, target in zip(layers, targets):
            keys[layer] = store.key(
                cache_components(model.identity, fp, target, pooling, max_length, dtype_name, chat_template)
            )
        found = {layer: store.get(k) for layer, k in keys.items()}
        info.keys = keys
        if all(v is not None for v in found.values()):
            info.cache_hit = True
            info.seconds = time.perf_counter() - t0
            return found

    unique_targets = sorted(set(targets))
    ids = prepare_inputs(model, texts, max_length, chat_template)
    lengths = np.array([len(x) for x in ids])
    info.n_tokens = int(lengths.sum())
    order = np.argsort(-lengths, kind="stable")
    chunks = None
    if store is not None:
        job = store.key({"job": sorted(keys.values()), "batch_size": batch_size, "chunk_size": chunk_size})
        chunks = ChunkStore(store.root, job)
    n_chunks = -(-len(texts) // chunk_size)
    pooled = np.empty((len(unique_targets), len(texts), model.hidden_size), dtype=np.float32)
    net = model.model
    blocks = find_blocks(net) if min(unique_targets) < model.num_layers else None
    deepest = max(unique_targets)
    captured: dict[int, object] = {}
    handles = []

    def make_hook(index: int):
        def hook(module, args, kwargs):
            captured[index] = args[0] if args else kwargs["hidden_states"]
            if index == deepest:
                raise _StopForward

        return hook

    for t in unique_targets:
        if t < model.num_layers:
            handles.append(blocks[t].register_forward_pre_hook(make_hook(t), with_kwargs=True))
    bar = tqdm(total=len(texts), desc=f"embed {model.name}", disable=not progress, unit="text")
    try:
        with torch.inference_mode():
            for c in range(n_chunks):
                idx = order[c * chunk_size:(c + 1) * chunk_size]
                done = chunks.get(c) if chunks is not None else None
                if done is not None and done.shape == (len(unique_targets), len(idx), model.hidden_size):
                    pooled[:, idx] = done
                    info.resumed_chunks += 1
                    bar.update(len(idx))
                    continue
                out = np.empty((len(unique_targets), len(idx), model.hidden_size), dtype=np.float32)
                for b in range(0, len(idx), batch_size):
                    bidx = idx[b:b + batch_size]
                    batch = model.tokenizer.pad(
                        {"input_ids": [ids[i] for i in bidx]}, padding=True, return_tensors="pt"
                    )
                    batch = {k: v.to(model.device) for k, v in batch.items()}
                    captured.clear()
                    try:
                        result = net(**batch, use_cache=False)
                        captured[model.num_layers] = result.last_hidden_state
                    except _StopForward:
                        pass
                    mask = batch["attention_mask"]
                    for j, t in enumerate(unique_targets):
                        vec = _pool(captured[t], mask, pooling).float().cpu().numpy()
                        out[j, b:b + len(bidx)] = vec
                    bar.update(len(bidx))
                if not np.isfinite(out).all():
                    raise ProbedriftError(
                        f"model {model.name!r} produced NaN or inf hidden states in dtype {dtype_name} "
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
    result = {layer: pooled[unique_targets.index(t)] for layer, t in zip(layers, targets)}
    info.seconds = time.perf_counter() - t0
    if store is not None:
        for layer, target in zip(layers, targets):
            comps = cache_components(model.identity, fp, target, pooling, max_length, dtype_name, chat_template)
            store.put(keys[layer], result[layer], comps, seconds=info.seconds, n_texts=len(texts))
        chunks.clear()
    return result


def cached_or_none(model_name: str, texts: list[str], layers, pooling: str, max_length: int,
                   dtype: str, chat_template: bool, *, revision=None,
                   keys: dict | None = None) -> dict[int, np.ndarray] | None:
    """All requested layers from the cache without loading the model, or None if any is missing.

    Needs the layer count, which is only known after loading, for negative indices; it comes from the
    model's layer-count record, so a cold cache simply returns None. On a hit the cache key of each
    layer is written into ``keys`` when a dict is given (for provenance).
    """
    from .models import spec

    s = spec(model_name, revision)
    num_layers = _known_num_layers(s.identity)
    if num_layers is None:
        return None
    store = ArrayCache(cache_root() / "embeddings")
    fp = texts_fingerprint(list(texts))
    found, found_keys = {}, {}
    for layer in ([layers] if isinstance(layers, int) else layers):
        target = normalize_layer(layer, num_layers)
        key = store.key(cache_components(s.identity, fp, target, pooling, max_length, dtype, chat_template))
        arr = store.get(key)
        if arr is None:
            return None
        found[layer], found_keys[layer] = arr, key
    if keys is not None:
        keys.update(found_keys)
    return found


def _num_layers_path(identity: str):
    # One small file per model: concurrent processes never lose each other's records.
    return cache_root() / "models" / "num-layers" / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.json"


def _known_num_layers(identity: str) -> int | None:
    import json

    try:
        record = json.loads(_num_layers_path(identity).read_text())
    except (OSError, ValueError):
        return None
    return record.get("num_layers") if record.get("identity") == identity else None


def remember_num_layers(model: LoadedModel) -> None:
    """Record a model's block count so later cache look-ups can skip loading it."""
    import json

    from .models import _atomic_write_text

    if _known_num_layers(model.identity) == model.num_layers:
        return
    path = _num_layers_path(model.identity)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(path, json.dumps({"identity": model.identity, "num_layers": model.num_layers}))
    except OSError:
        pass


def embed_texts(
    model_name: str,
    texts: list[str],
    layers=(-1,),
    pooling: str = "last_token",
    max_length: int = 256,
    chat_template: bool = False,
    batch_size: int = 32,
    *,
    dtype: str = "auto",
    device: str = "auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = True,
    info: ExtractionInfo | None = None,
) -> dict[int, np.ndarray]:
    """Embeddings by model *name*: served from the cache without loading the model when possible."""
    from .models import load, resolve_device, resolve_dtype

    layers = _check_args(layers, pooling, max_length, batch_size)
    info = info if info is not None else ExtractionInfo()
    t0 = time.perf_counter()
    dtype_name = _dtype_name(resolve_dtype(dtype, resolve_device(device)))
    keys: dict = {}
    hit = cached_or_none(model_name, texts, layers, pooling, max_length, dtype_name, chat_template,
                         revision=revision, keys=keys)
    if hit is not None:
        info.cache_hit, info.seconds, info.n_texts = True, time.perf_counter() - t0, len(texts)
        info.keys = keys
        return hit
    model = load(model_name, dtype=dtype, device=device, revision=revision, trust_remote_code=trust_remote_code)
    remember_num_layers(model)
    return extract(model, texts, layers, pooling, max_length, chat_template, batch_size, progress=progress, info=info)


# ------------------------------------------------------------------------------------------------
# Request memo: lets an identical command-line call be answered without importing torch or
# re-reading the dataset. The request names its inputs by content (package versions, file hashes),
# and its record only points at checksummed cache entries, so it can never serve stale arrays.
# ------------------------------------------------------------------------------------------------


def dataset_source_identity(name_or_path: str) -> str:
    """Content identity of a dataset source: package versions for embedded data, a file hash otherwise."""
    import importlib.metadata

    from . import __version__

    packages = {"comments": "insults", "prompts": "ollama-forge"}
    if name_or_path in packages:
        return f"{name_or_path}@{packages[name_or_path]}=={importlib.metadata.version(packages[name_or_path])}"
    from pathlib import Path

    path = Path(name_or_path)
    if path.is_file():
        h = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return f"file:{h}@probedrift=={__version__}"
    return f"{name_or_path}@unversioned"


def _request_path(request: dict):
    from .cache import canonical_key

    return cache_root() / "requests" / f"{canonical_key(request)}.json"


def cheap_dtype_name(dtype: str, device: str) -> str:
    """The dtype ``auto`` resolves to, decided without importing torch (GPU = NVIDIA device node)."""
    import os

    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "float32"
    return "bfloat16" if os.path.exists("/dev/nvidiactl") else "float32"


def lookup_request(request: dict) -> tuple[dict[int, np.ndarray], dict] | None:
    """Arrays and record of a memoised request, if every entry it points to is still valid."""
    import json

    try:
        record = json.loads(_request_path(request).read_text())
    except (OSError, ValueError):
        return None
    store = ArrayCache(cache_root() / "embeddings")
    out = {}
    for layer, key in record["keys"].items():
        arr = store.get(key)
        if arr is None:
            return None
        out[int(layer)] = arr
    return out, record


def remember_request(request: dict, keys: dict, record: dict) -> None:
    """Store a request's record (embedding keys plus what the caller wants to print later)."""
    import json

    from .models import _atomic_write_text

    path = _request_path(request)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_text(path, json.dumps({**record, "keys": {str(k): v for k, v in keys.items()}}))
    except OSError:
        pass  # only the shortcut is lost
