"""What the study knows of a model without loading its weights.

Its configuration (read in milliseconds), whether its tokenizer can be read and carries a chat template
(seconds: gemma-3's 262,144-token vocabulary takes about 5 s on one core, so what needs only the
configuration never reads the tokenizer), whether it is causal, and its block count. A small record per
model (keyed by its identity: configuration and weights) remembers the depth, causality and chat template
once they are known, so that cache look-ups (:func:`probedrift.inputs.embed.get_embeddings`) and a warm run's
checks read nothing else; the chat-template fact is also keyed by the tokenizer files' sizes and times.
"""
from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from probedrift.core.cache import atomic_write_text, cache_root
from probedrift.core.errors import ProbedriftError
from probedrift.inputs.models import LoadedModel, converted_dir, is_causal, location, spec, text_config
from probedrift.inputs.tokenizers import WEIGHT_SUFFIXES


def _read_error(name: str, exc: Exception, what: str = "configuration") -> ProbedriftError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    fix = "check the model name or directory"
    if what == "tokenizer":
        fix += " (a damaged tokenizer file: copy the model's tokenizer files again from where they came from)"
    return ProbedriftError(f"could not read the {what} of model {name!r}: {first}", fix)


@functools.lru_cache(maxsize=32)
def _config(name: str, revision: str | None = None):
    from transformers import AutoConfig  # heavy to import (seconds); only model work needs it

    where, kw = location(spec(name, revision))
    try:
        return AutoConfig.from_pretrained(where, **kw)
    except OSError as exc:
        raise _read_error(name, exc) from None


@functools.lru_cache(maxsize=32)
def _config_and_tokenizer(name: str, revision: str | None = None):
    from transformers import AutoTokenizer  # heavy to import (seconds); only model work needs it

    config = _config(name, revision)
    where, kw = location(spec(name, revision))
    try:
        return config, AutoTokenizer.from_pretrained(where, **kw)
    except (OSError, ValueError) as exc:  # a damaged tokenizer.json raises json's ValueError
        raise _read_error(name, exc, "tokenizer") from None


def check_readable(name: str, revision: str | None = None) -> None:
    """Read a model's configuration and tokenizer (no weights), raising :class:`ProbedriftError` if either fails.

    An embedded model's converted directory is checked against the hashes recorded when it was written
    (and converted again if damaged, :func:`~probedrift.inputs.models.converted_dir`). Its configuration and
    tokenizer were saved by transformers from objects it had just read, so they are not read again through
    it: the configuration is parsed as JSON, and transformers (with torch, about 3 s to import) and the
    tokenizer (about 5 s for gemma-3) stay out of every run's start.
    """
    if spec(name, revision).source == "embedded":
        config = converted_dir(name) / "config.json"
        try:
            json.loads(config.read_text())
        except (OSError, ValueError) as exc:
            raise _read_error(name, exc) from None
        return
    _config_and_tokenizer(name, revision)


def model_is_causal(name: str, revision: str | None = None) -> bool:
    """:func:`~probedrift.inputs.models.is_causal` of a model, from its configuration alone (no weights or
    tokenizer are read), remembered in the model's record."""
    identity = spec(name, revision).identity
    known = _record(identity).get("is_causal")
    if known is None:
        known = is_causal(_config(name, revision))
        _remember(identity, is_causal=known)
    return bool(known)


def config_num_layers(name: str, revision: str | None = None) -> int:
    """A model's block count from its configuration alone: the ``num_layers`` that
    :func:`~probedrift.inputs.models.load` reports, read the same way."""
    return int(text_config(_config(name, revision)).num_hidden_layers)


def _tokenizer_stamp(name: str, revision: str | None) -> str:
    """Names, sizes and modification times of a local model directory's files other than weights (what a
    tokenizer reads); empty for a hub id, whose identity already names an immutable commit."""
    where = Path(location(spec(name, revision))[0])
    if not where.is_dir():
        return ""
    files = [p for p in sorted(where.rglob("*")) if p.is_file() and p.suffix not in WEIGHT_SUFFIXES]
    return hashlib.sha256("\n".join(f"{p.relative_to(where)}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                                     for p in files).encode()).hexdigest()[:24]


def model_has_chat_template(name: str, revision: str | None = None) -> bool:
    """Whether a model's tokenizer carries a chat template (no weights are loaded). Read from the tokenizer
    once (seconds), then from the model's record while its tokenizer files stay the same."""
    identity, stamp = spec(name, revision).identity, _tokenizer_stamp(name, revision)
    record = _record(identity)
    if record.get("tokenizer_stamp") == stamp and "has_chat_template" in record:
        return bool(record["has_chat_template"])
    value = bool(getattr(_config_and_tokenizer(name, revision)[1], "chat_template", None))
    _remember(identity, has_chat_template=value, tokenizer_stamp=stamp)
    return value


# ------------------------------------------------------------------------------------------------ records


def _record_path(identity: str) -> Path:
    # One small file per model: concurrent processes never lose each other's records. (The folder keeps its
    # first name, from when the record held only the depth.)
    return cache_root() / "models" / "num-layers" / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.json"


def _record(identity: str) -> dict:
    """What is remembered of the model with this identity (empty when nothing is, or the file is damaged)."""
    try:
        record = json.loads(_record_path(identity).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) and record.get("identity") == identity else {}


def _remember(identity: str, **facts) -> None:
    """Add ``facts`` to the model's record. Two processes writing at once may each lose the other's new
    facts, never correctness: a missing fact is computed again."""
    record = _record(identity)
    if all(record.get(k) == v for k, v in facts.items()):
        return
    path = _record_path(identity)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({**record, "identity": identity, **facts}))
    except OSError:
        pass  # a read-only cache only loses the shortcut


def known_num_layers(identity: str) -> int | None:
    """A model's block count from its record (written when it was first loaded), or None."""
    return _record(identity).get("num_layers")


def remember_num_layers(model: LoadedModel) -> None:
    """Record a loaded model's block count and causality, so later cache look-ups and checks skip loading it."""
    _remember(model.identity, num_layers=model.num_layers, is_causal=bool(model.is_causal))
