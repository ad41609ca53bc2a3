"""What the study knows of a model without loading its weights.

Its configuration (read in milliseconds), whether its tokenizer can be read (seconds: gemma-3's
262,144-token vocabulary takes about 5 s on one core, so what needs only the configuration never reads
the tokenizer), whether it is causal, its block count, and a per-model record of that count written when
the model is first loaded, so that cache look-ups (:func:`probedrift.inputs.embed.get_embeddings`) find
their keys without reading anything.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from probedrift.core.cache import atomic_write_text, cache_root
from probedrift.core.errors import ProbedriftError
from probedrift.inputs.models import LoadedModel, _location, _text_config, is_causal, spec


def _read_error(name: str, exc: Exception, what: str = "configuration") -> ProbedriftError:
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    fix = "check the model name or directory"
    if what == "tokenizer":
        fix += " (a damaged tokenizer file: copy the model's tokenizer files again from where they came from)"
    return ProbedriftError(f"could not read the {what} of model {name!r}: {first}", fix)


@functools.lru_cache(maxsize=32)
def _config(name: str, revision: str | None = None):
    from transformers import AutoConfig  # heavy to import (seconds); only model work needs it

    where, kw = _location(spec(name, revision))
    try:
        return AutoConfig.from_pretrained(where, **kw)
    except OSError as exc:
        raise _read_error(name, exc) from None


@functools.lru_cache(maxsize=32)
def _config_and_tokenizer(name: str, revision: str | None = None):
    from transformers import AutoTokenizer  # heavy to import (seconds); only model work needs it

    config = _config(name, revision)
    where, kw = _location(spec(name, revision))
    try:
        return config, AutoTokenizer.from_pretrained(where, **kw)
    except (OSError, ValueError) as exc:  # a damaged tokenizer.json raises json's ValueError
        raise _read_error(name, exc, "tokenizer") from None


def check_readable(name: str, revision: str | None = None) -> None:
    """Read a model's configuration and tokenizer (no weights), raising :class:`ProbedriftError` if either fails."""
    _config_and_tokenizer(name, revision)


def model_is_causal(name: str, revision: str | None = None) -> bool:
    """:func:`~probedrift.inputs.models.is_causal` of a model, from its configuration alone (no weights or
    tokenizer are read)."""
    return is_causal(_config(name, revision))


def config_num_layers(name: str, revision: str | None = None) -> int:
    """A model's block count from its configuration alone: the ``num_layers`` that
    :func:`~probedrift.inputs.models.load` reports, read the same way."""
    return int(_text_config(_config(name, revision)).num_hidden_layers)


def model_has_chat_template(name: str, revision: str | None = None) -> bool:
    """Whether a model's tokenizer carries a chat template (no weights are loaded)."""
    return bool(getattr(_config_and_tokenizer(name, revision)[1], "chat_template", None))


def _num_layers_path(identity: str) -> Path:
    # One small file per model: concurrent processes never lose each other's records.
    return cache_root() / "models" / "num-layers" / f"{hashlib.sha256(identity.encode()).hexdigest()[:24]}.json"


def known_num_layers(identity: str) -> int | None:
    """A model's block count from its record (written when it was first loaded), or None."""
    try:
        record = json.loads(_num_layers_path(identity).read_text())
    except (OSError, ValueError):
        return None
    return record.get("num_layers") if record.get("identity") == identity else None


def remember_num_layers(model: LoadedModel) -> None:
    """Record a model's block count so later cache look-ups can skip loading it."""
    if known_num_layers(model.identity) == model.num_layers:
        return
    path = _num_layers_path(model.identity)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"identity": model.identity, "num_layers": model.num_layers}))
    except OSError:
        pass  # only the shortcut is lost: the next look-up loads the model
