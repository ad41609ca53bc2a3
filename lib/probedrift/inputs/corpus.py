"""Instruction/response pairs for turning the embedded base model into a chat model.

Why this corpus. No PyPI package in reach ships a small instruction-tuning set (the candidates found,
such as ``alpaca-eval``, ship code and leaderboards and fetch their data from a hub at run time), so
the corpus is built offline from what the study already has:

- **instructions**: the harmless side of the embedded ``prompts`` data (``ollama-forge``'s
  Alpaca-style tasks, about 34,000 of them). The harmful side is never used: the update should be an
  ordinary helpfulness update, not one that teaches anything about harmful requests.
- **responses**: written once by the embedded instruct model ``smollm2-135m-instruct`` (greedy decoding,
  its own chat template), and cached on disk under a key of the teacher's identity, the instructions'
  fingerprint and every generation setting; an interrupted generation resumes from its completed
  chunks.

Fine-tuning ``gemma-3-270m`` on these pairs is what an instruction update does to a base model (chat
template, assistant turns, loss on the answers), without any download. The probe's own texts (the
``comments`` data) must stay out of the corpus: :func:`build_corpus` checks it with
:func:`assert_disjoint`, which compares normalised texts and looks for each probe text inside every
instruction and response.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from probedrift.core.cache import atomic_write_bytes, cache_root, canonical_key, texts_fingerprint
from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.core.memory import release_memory
from probedrift.inputs import datasets, models
from probedrift.inputs.causal_lm import generate_greedy, load_causal_lm

DEFAULT_TEACHER = "smollm2-135m-instruct"
GENERATION_VERSION = 1  # bump when the generation recipe changes, so cached responses are redone
MIN_CONTAINED_CHARS = 20  # probe texts at least this long are also searched inside corpus texts


@dataclass(frozen=True, eq=False)
class InstructionCorpus:
    """Ordered (instruction, response) pairs with a content fingerprint; ``notes`` records provenance."""

    pairs: tuple[tuple[str, str], ...]
    name: str = "instructions"
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        pairs = tuple((str(i), str(r)) for i, r in self.pairs)
        object.__setattr__(self, "pairs", pairs)
        empty = [k for k, (i, r) in enumerate(pairs) if not i.strip() or not r.strip()]
        if empty:
            raise ProbedriftError(
                f"corpus {self.name!r} has {len(empty)} pair(s) with an empty instruction or response "
                f"(first at index {empty[0]})",
                "drop pairs whose instruction or response is empty before building the corpus",
            )

    def __len__(self) -> int:
        return len(self.pairs)

    def __repr__(self) -> str:
        return f"InstructionCorpus({self.name!r}, n={len(self)}, fingerprint={self.fingerprint[:12]})"

    @property
    def instructions(self) -> list[str]:
        """The instructions, in order."""
        return [i for i, _ in self.pairs]

    @property
    def responses(self) -> list[str]:
        """The responses, in order."""
        return [r for _, r in self.pairs]

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the pairs in order, each string length-prefixed so no two corpora collide."""
        h = hashlib.sha256()
        for instruction, response in self.pairs:
            for text in (instruction, response):
                raw = text.encode("utf-8")
                h.update(len(raw).to_bytes(8, "little"))
                h.update(raw)
        return h.hexdigest()

    def head(self, n: int) -> InstructionCorpus:
        """The first ``n`` pairs as a new corpus."""
        return InstructionCorpus(self.pairs[: int(n)], self.name, {**self.notes, "head": int(n)})


def _normalise(text: str) -> str:
    return " ".join(str(text).casefold().split())


def overlaps(corpus: InstructionCorpus, texts: Iterable[str]) -> list[tuple[int, str]]:
    """(pair index, text) for every one of ``texts`` that occurs in a pair of the corpus.

    A text occurs when it equals the pair's instruction or response after case folding and whitespace
    collapsing, or, for texts of at least ``MIN_CONTAINED_CHARS`` characters, when it appears inside one.
    """
    corpus_texts = [_normalise(t) for pair in corpus.pairs for t in pair]
    starts, offset = [], 0
    for t in corpus_texts:
        starts.append(offset)
        offset += len(t) + 1
    joined = "\x00".join(corpus_texts)
    exact: dict[str, list[int]] = {}
    for k, t in enumerate(corpus_texts):
        exact.setdefault(t, []).append(k // 2)
    found = []
    for text in dict.fromkeys(texts):
        norm = _normalise(text)
        if not norm:
            continue
        pairs = set(exact.get(norm, ()))
        if len(norm) >= MIN_CONTAINED_CHARS:
            at = joined.find(norm)
            while at >= 0:
                pairs.add((bisect.bisect_right(starts, at) - 1) // 2)
                at = joined.find(norm, at + 1)
        found += [(p, text) for p in sorted(pairs)]
    return found


def assert_disjoint(corpus: InstructionCorpus, texts: Iterable[str], *, what: str = "the probe's texts") -> None:
    """Raise :class:`ProbedriftError` if any of ``texts`` occurs in the corpus (see :func:`overlaps`)."""
    hits = list(dict.fromkeys(text for _, text in overlaps(corpus, texts)))
    if hits:
        shown = "; ".join(repr(t[:60]) for t in hits[:3])
        raise ProbedriftError(
            f"{len(hits)} of {what} occur in the training corpus {corpus.name!r} (e.g. {shown})",
            "remove those texts from the corpus (build_corpus(exclude=...)) or use other probe data; "
            "a probe must never be evaluated on texts the model was fine-tuned on",
        )


def harmless_instructions() -> list[str]:
    """The harmless instructions of the embedded ``prompts`` data, in file order."""
    ds = datasets.load("prompts")
    return ds.frame.loc[ds.frame["label"] == 0, "text"].tolist()


def split_instructions(
    n_train: int, n_held_out: int, *, seed: int = 0, exclude: Iterable[str] = ()
) -> tuple[list[str], list[str]]:
    """Disjoint (training, held-out) instruction lists drawn by a seeded permutation.

    The held-out instructions come first in the permutation, so they do not change with ``n_train``.
    Instructions equal to an ``exclude`` text (after normalisation) are never drawn.
    """
    check_positive("n_train", n_train)
    check_positive("n_held_out", n_held_out, allow_zero=True)
    excluded = {_normalise(t) for t in exclude}
    pool = [t for t in harmless_instructions() if _normalise(t) not in excluded]
    if n_train + n_held_out > len(pool):
        raise ProbedriftError(
            f"asked for {n_train} training and {n_held_out} held-out instructions, "
            f"but only {len(pool)} harmless instructions are available",
            f"ask for at most {len(pool)} in total",
        )
    order = np.random.default_rng(seed).permutation(len(pool))
    held_out = [pool[i] for i in order[:n_held_out]]
    train = [pool[i] for i in order[n_held_out : n_held_out + n_train]]
    return train, held_out


_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


def _trim_unfinished(text: str) -> str:
    """Cut a response that hit the token limit back to its last complete sentence, when there is one."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if ends and ends[-1] >= len(text) // 3:
        return text[: ends[-1]].strip()
    return text.strip()


def generate_responses(
    instructions: Sequence[str],
    *,
    teacher: str = DEFAULT_TEACHER,
    max_new_tokens: int = 64,
    repetition_penalty: float = 1.1,
    batch_size: int = 32,
    chunk_size: int = 64,
    device: str = "cpu",
    progress: bool = True,
) -> list[str]:
    """Greedy responses of ``teacher`` to ``instructions`` in its chat template, cached on disk.

    The cache key holds the teacher's identity, the instructions' fingerprint and every generation
    setting; chunks of ``chunk_size`` instructions are stored as they finish, so a killed run resumes.
    """
    instructions = [str(t) for t in instructions]
    if not instructions:
        raise ProbedriftError("no instructions to answer", "pass at least one instruction")
    check_positive("max_new_tokens", max_new_tokens)
    check_positive("batch_size", batch_size)
    check_positive("chunk_size", chunk_size)
    teacher_spec = models.spec(teacher)
    key = canonical_key({
        "teacher": teacher_spec.identity,
        "instructions": texts_fingerprint(instructions),
        "max_new_tokens": int(max_new_tokens),
        "repetition_penalty": float(repetition_penalty),
        "batch_size": int(batch_size),
        "chunk_size": int(chunk_size),
        "decoding": "greedy",
        "recipe": GENERATION_VERSION,
    })
    root = cache_root() / "corpora"
    final = root / f"responses-{key[:32]}.json"
    if final.is_file():
        try:
            stored = json.loads(final.read_text())
            if stored.get("key") == key and len(stored["responses"]) == len(instructions):
                return list(stored["responses"])
        except (OSError, ValueError, KeyError):
            pass
    partial = root / "partial" / key[:32]
    partial.mkdir(parents=True, exist_ok=True)
    # Chunks run over instructions sorted by length, so batches pad little; results go back in order.
    order = sorted(range(len(instructions)), key=lambda i: (len(instructions[i]), i))
    chunks = [order[s : s + chunk_size] for s in range(0, len(order), chunk_size)]
    responses: list[str | None] = [None] * len(instructions)
    todo = []
    for c, rows in enumerate(chunks):
        got = _read_chunk(partial / f"chunk-{c:05d}.json", [instructions[i] for i in rows])
        if got is None:
            todo.append(c)
        else:
            for i, r in zip(rows, got):
                responses[i] = r
    if todo:
        model, tokenizer = _load_generator(teacher, device)
        bar = _progress_bar(sum(len(chunks[c]) for c in todo), f"responses by {teacher}", progress)
        for c in todo:
            rows = chunks[c]
            texts = [instructions[i] for i in rows]
            out = []
            for s in range(0, len(texts), batch_size):
                batch = texts[s : s + batch_size]
                out += _generate(model, tokenizer, batch, max_new_tokens, repetition_penalty)
                bar.update(len(batch))
            atomic_write_bytes(
                partial / f"chunk-{c:05d}.json",
                json.dumps({"instructions": texts, "responses": out}).encode(),
            )
            for i, r in zip(rows, out):
                responses[i] = r
        bar.close()
        del model, tokenizer
        release_memory()  # the teacher is not needed again: free its weights before fine-tuning loads a model
    record = {"key": key, "teacher": teacher_spec.identity, "instructions": instructions, "responses": responses}
    atomic_write_bytes(final, json.dumps(record).encode())
    shutil.rmtree(partial, ignore_errors=True)
    return list(responses)  # type: ignore[arg-type]


def _read_chunk(path: Path, instructions: list[str]) -> list[str] | None:
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if stored.get("instructions") != instructions or len(stored.get("responses", ())) != len(instructions):
        return None
    return list(stored["responses"])


def _progress_bar(total: int, desc: str, enabled: bool):
    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def _load_generator(name: str, device: str):
    model, tokenizer = load_causal_lm(name, device=device)
    model.eval()
    return model, tokenizer


def _generate(model, tokenizer, instructions, max_new_tokens, repetition_penalty) -> list[str]:
    """Greedy teacher answers; an answer cut off by the token limit is trimmed to its last full sentence."""
    answers = generate_greedy(model, tokenizer, instructions, max_new_tokens=max_new_tokens,
                              repetition_penalty=repetition_penalty, return_finished=True)
    return [text if finished else _trim_unfinished(text) for text, finished in answers]


def build_corpus(
    n: int = 256,
    *,
    n_held_out: int = 16,
    seed: int = 0,
    teacher: str = DEFAULT_TEACHER,
    max_new_tokens: int = 64,
    exclude: Iterable[str] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[InstructionCorpus, list[str]]:
    """The training corpus of ``n`` (instruction, teacher response) pairs and ``n_held_out`` unseen instructions.

    ``exclude`` defaults to every text of the ``comments`` data (the probe's texts): instructions equal
    to one are never drawn, pairs whose response contains one are dropped, and the result is checked
    against them with :func:`assert_disjoint`. Pairs whose response came back empty are dropped too.
    """
    probe_texts = datasets.load("comments").texts if exclude is None else list(exclude)
    train, held_out = split_instructions(n, n_held_out, seed=seed, exclude=probe_texts)
    responses = generate_responses(train, teacher=teacher, max_new_tokens=max_new_tokens,
                                   device=device, progress=progress)
    answered = [(i, r) for i, r in zip(train, responses) if r.strip()]
    if not answered:
        raise ProbedriftError("every teacher response came back empty", "raise max_new_tokens or use another teacher")
    name = f"prompts-harmless+{teacher}"
    touching = {k for k, _ in overlaps(InstructionCorpus(tuple(answered), name), probe_texts)}
    corpus = InstructionCorpus(
        tuple(pair for k, pair in enumerate(answered) if k not in touching),
        name=name,
        notes={"teacher": teacher, "seed": seed, "max_new_tokens": max_new_tokens, "n_requested": n,
               "n_empty_responses": len(train) - len(answered), "n_dropped_probe_overlap": len(touching)},
    )
    assert_disjoint(corpus, probe_texts, what="the excluded (probe) texts")
    seen = {_normalise(t) for t in corpus.instructions}
    if any(_normalise(t) in seen for t in held_out):
        raise AssertionError("a held-out instruction is also a training instruction")
    return corpus, held_out
