"""One tokenizer read for many models: the models a study loads in turn often carry the same tokenizer files.

:func:`probedrift.inputs.models.load` asks :func:`shared_tokenizer` for its tokenizer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from probedrift.core.cache import sha256_file

#: Files the study writes beside a model's own (its conversion manifest): no tokenizer reads them.
STUDY_FILE_PREFIX = "probedrift-"

#: Files a tokenizer never reads.
WEIGHT_SUFFIXES = {".safetensors", ".bin", ".gguf", ".pt", ".pth", ".ckpt", ".h5", ".msgpack"}

#: The tokenizer read last, under the digest of the files it was read from (one entry at most).
_last_tokenizer: dict[str, object] = {}


def tokenizer_files_digest(where: str) -> str | None:
    """sha256 over the names and contents of the files at the top of a local model directory, weights left
    out: what a tokenizer reads from it, configuration included (hidden files and the study's own
    ``probedrift-*`` records are left out too). None for a hub id. Two directories with the same digest
    give the same tokenizer."""
    directory = Path(where)
    if not directory.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if (path.is_file() and path.suffix not in WEIGHT_SUFFIXES and not path.name.startswith(STUDY_FILE_PREFIX)
                and not path.name.startswith(".")):
            digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
            digest.update(sha256_file(path).encode())
    return digest.hexdigest()


def shared_tokenizer(where: str, trust_remote_code: bool, read):
    """The tokenizer of ``where``: the one read last when the files are the same (the base model and its
    int8 and bfloat16 variants; a fine-tuning run's checkpoints, which all carry one copy of the same
    tokenizer), else ``read()``. gemma-3's 262,144-token vocabulary takes seconds to read, and a cold study
    read it about thirty times. :func:`probedrift.inputs.models.load` leaves every tokenizer in the same
    state (pad token, right padding) and nothing later changes it, so the models it loads can share one.
    One is kept, and dropped before another is read, so that two tokenizers are never held because of this;
    :func:`forget_tokenizer` drops it (before a fine-tuning run loads its own)."""
    digest = tokenizer_files_digest(where)
    key = None if digest is None else f"{digest}:{bool(trust_remote_code)}"
    if key is not None and key in _last_tokenizer:
        return _last_tokenizer[key]
    forget_tokenizer()
    tokenizer = read()
    if key is not None:
        _last_tokenizer[key] = tokenizer
    return tokenizer


def forget_tokenizer() -> None:
    """Drop the tokenizer kept for the next load (:func:`shared_tokenizer`)."""
    _last_tokenizer.clear()
