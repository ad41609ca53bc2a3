"""Fine-tune a base model into a chat model, saving a checkpoint at each requested step.

The study follows a frozen probe through a *real* model update. No same-family base/instruct pair of a
small model is available offline, so one is made: the base model (``gemma-3-270m`` by default) is
instruction-tuned on an :class:`~probedrift.inputs.corpus.InstructionCorpus` and saved at several steps.

Training recipe (:func:`finetune`):

- each pair is rendered as one user turn and one assistant turn in the tokenizer's chat template; a
  tokenizer without one gets Gemma's turn format (:data:`FALLBACK_CHAT_TEMPLATE`,
  ``<start_of_turn>user\\n{instruction}<end_of_turn>\\n<start_of_turn>model\\n{response}<end_of_turn>\\n``),
  which is also written into the saved checkpoints' tokenizer;
- the loss is the mean cross-entropy over the assistant tokens only (response and end-of-turn marker);
- LoRA (``peft``, all linear layers of the blocks, no dropout) or full fine-tuning, AdamW with a constant
  learning rate after an optional linear warm-up, gradients clipped at norm 1;
- batches follow a seeded permutation per epoch that depends only on ``(seed, step)``, so a resumed run
  sees exactly the batches an uninterrupted one would;
- ``recompute_activations=True`` (gradient checkpointing) keeps only each block's input during the forward
  pass and recomputes the rest during the backward pass: about a third more compute for the steps and
  ~0.2 GB less memory on a 135M-parameter model. The gradients are the same numbers (the forward is
  recomputed by the same operations; ``tests/test_finetune.py`` checks the checkpoints bit for bit), so
  the setting is not part of a run's key.

Checkpoints live in ``cache_root()/finetune/<key>/step-<n>/`` as ordinary float32 model directories
(LoRA adapters merged into the base weights), so ``probedrift.inputs.models.load(path)`` reads them through
its local-directory path and their identity is the hash of their weights. Under LoRA, training saves only
the adapters' state at each checkpoint step; the model directories are written once the training model is
released, each from a fresh load of the base plus that state (the same weights, bit for bit, without two
models in memory at once: what keeps the binder profile within 2 GB). ``<key>`` hashes the base
model's identity, the corpus fingerprint and every training setting. A step directory is written under
a temporary name and renamed, so it exists only when complete. Beside it, ``state/step-<n>.pt`` (written
atomically) holds the trainable weights, optimizer and RNG states; a killed run resumes from the last
step with a state (under full fine-tuning, with its directory too) and writes any missing LoRA
directory. ``losses.json`` records the loss of every optimizer step, ``runs.json`` each run's first and
last step. Step 0 is the base model itself (its own name and identity).

On CPU, the same seed gives bit-identical checkpoints for the same torch build and thread count.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import numbers
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from probedrift.core.cache import atomic_write_bytes, cache_root, canonical_key, read_json, write_json
from probedrift.core.errors import ProbedriftError, check_choice
from probedrift.core.memory import release_memory
from probedrift.inputs import models
from probedrift.inputs.causal_lm import FALLBACK_CHAT_TEMPLATE, IGNORE_INDEX, example_ids, load_causal_lm
from probedrift.inputs.corpus import InstructionCorpus, assert_disjoint  # noqa: F401  (re-exported)

METHODS = ("lora", "full")
RECIPE_VERSION = 1  # bump when the training recipe changes, so old checkpoints are not reused
LOSS_WINDOW = 10  # a checkpoint's train_loss is the mean loss of this many steps before it
MAX_GRAD_NORM = 1.0

@dataclass(frozen=True)
class Checkpoint:
    """One saved point of a fine-tuning run: ``path`` loads with ``probedrift.inputs.models.load``.

    ``train_loss`` is the mean training loss of the ``LOSS_WINDOW`` optimizer steps up to ``step``
    (None at step 0, the base model).
    """

    step: int
    path: str
    train_loss: float | None
    identity: str


# ------------------------------------------------------------------------------------------------
# Checks and keys
# ------------------------------------------------------------------------------------------------


def _check_inputs(corpus, steps, method, rank, alpha, learning_rate, batch_size, max_length, warmup_steps):
    if not isinstance(corpus, InstructionCorpus):
        raise ProbedriftError(
            f"corpus must be an InstructionCorpus, got {type(corpus).__name__}",
            "build one with probedrift.inputs.corpus.build_corpus() or InstructionCorpus(pairs)",
        )
    if len(corpus) == 0:
        raise ProbedriftError("the training corpus is empty", "pass a corpus with at least one pair")
    steps = list(steps)
    if not steps:
        raise ProbedriftError("no checkpoint steps given", "pass steps such as [0, 50, 100]")
    if any(not isinstance(s, numbers.Integral) or isinstance(s, bool) for s in steps):
        raise ProbedriftError(f"steps must be whole numbers, got {steps}", "pass integers such as [0, 50, 100]")
    steps = [int(s) for s in steps]
    if any(s < 0 for s in steps):
        raise ProbedriftError(f"steps must be >= 0, got {steps}", "step 0 is the base model; pass e.g. [0, 50, 100]")
    if any(b <= a for a, b in zip(steps, steps[1:])):
        raise ProbedriftError(f"steps must be strictly increasing, got {steps}", "sort them and drop repeats")
    check_choice("fine-tuning method", method, METHODS)
    if method == "lora" and (not isinstance(rank, numbers.Integral) or rank < 1):
        raise ProbedriftError(f"LoRA rank must be an integer >= 1, got {rank!r}", "pass rank=8 (or another r >= 1)")
    if method == "lora" and not alpha > 0:
        raise ProbedriftError(f"LoRA alpha must be > 0, got {alpha!r}", "pass alpha=16 (usually 2 x rank)")
    if not learning_rate > 0:
        raise ProbedriftError(f"learning rate must be > 0, got {learning_rate!r}", "pass e.g. learning_rate=2e-4")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ProbedriftError(f"batch_size must be an integer >= 1, got {batch_size!r}", "pass e.g. batch_size=8")
    if not isinstance(max_length, int) or max_length < 2:
        raise ProbedriftError(f"max_length must be an integer >= 2, got {max_length!r}", "pass e.g. max_length=128")
    if not isinstance(warmup_steps, int) or warmup_steps < 0:
        raise ProbedriftError(f"warmup_steps must be an integer >= 0, got {warmup_steps!r}", "pass e.g. 0 or 10")
    return steps


def run_components(
    base: str, corpus: InstructionCorpus, *, method: str, rank: int, alpha: float, learning_rate: float,
    batch_size: int, max_length: int, seed: int, warmup_steps: int = 0,
) -> dict:
    """Everything that determines a run's weights: the base model's identity, the corpus and the settings.

    ``rank`` and ``alpha`` are recorded as None for full fine-tuning, which does not use them.
    """
    lora = method == "lora"
    return {
        "base": models.spec(base).identity,
        "corpus": corpus.fingerprint,
        "method": method,
        "rank": int(rank) if lora else None,
        "alpha": float(alpha) if lora else None,
        "learning_rate": float(learning_rate),
        "batch_size": int(batch_size),
        "max_length": int(max_length),
        "seed": int(seed),
        "warmup_steps": int(warmup_steps),
        "recipe": RECIPE_VERSION,
    }


def run_dir(components: dict) -> Path:
    """Directory of the run with these :func:`run_components`: ``cache_root()/finetune/<key>``."""
    return cache_root() / "finetune" / canonical_key(components)[:24]


# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def _batch_indices(step: int, batch_size: int, n: int, seed: int) -> list[int]:
    """Examples of optimizer step ``step`` (1-based): consecutive slots of per-epoch seeded permutations."""
    out = []
    for slot in range((step - 1) * batch_size, step * batch_size):
        epoch, pos = divmod(slot, n)
        out.append(int(np.random.default_rng([seed, epoch]).permutation(n)[pos]))
    return out


def _collate(examples, pad_id: int):
    import torch  # heavy to import (seconds); only model work needs it

    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, lab) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(lab)] = torch.tensor(lab)
        mask[row, : len(ids)] = 1
    return input_ids, mask, labels


def assistant_loss(causal_lm, input_ids, attention_mask, labels):
    """Mean next-token cross-entropy over the labelled (assistant) positions only.

    The LM head runs only at those positions, which for a 262k vocabulary saves most of the memory.
    """
    import torch.nn.functional as F  # heavy to import (seconds); only model work needs it

    backbone = causal_lm.get_decoder() if hasattr(causal_lm, "get_decoder") else causal_lm.model
    # No key/value cache: training never reuses one, and it would conflict with recomputed activations.
    hidden = backbone(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    logits = causal_lm.get_output_embeddings()(hidden[:, :-1][keep])
    cap = getattr(causal_lm.config, "final_logit_softcapping", None)
    if cap:
        logits = (logits / cap).tanh() * cap
    return F.cross_entropy(logits.float(), targets[keep])


def _prepare_model(base: str, method: str, rank: int, alpha: float, seed: int, device: str,
                   recompute_activations: bool = False):
    """(trainable model, causal LM underneath, tokenizer); LoRA adapters are initialised under ``seed``;
    ``recompute_activations`` turns on gradient checkpointing (see the module docstring)."""
    import torch  # heavy to import (seconds); only model work needs it

    model, tokenizer = load_causal_lm(base, device=device)
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
    causal_lm = model
    if method == "lora":
        torch.manual_seed(seed)
        model = _with_lora(model, rank, alpha)
    if recompute_activations:
        # Non-reentrant checkpointing: the frozen base needs no input gradients for it to work under LoRA.
        causal_lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model, causal_lm, tokenizer


def _with_lora(causal_lm, rank: int, alpha: float):
    """``causal_lm`` with LoRA adapters on every linear layer of its blocks (initialised from torch's RNG)."""
    try:
        from peft import LoraConfig, get_peft_model  # heavy to import; only fine-tuning needs it
    except ImportError:
        raise ProbedriftError(
            "LoRA fine-tuning needs the package 'peft', which is not installed",
            "run `make setup` (peft is pinned in requirements.txt), or use method='full'",
        ) from None
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, bias="none",
                        target_modules="all-linear", task_type="CAUSAL_LM")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return get_peft_model(causal_lm, config)


def _trainable(model) -> dict:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def _lr_factor(step: int, warmup_steps: int) -> float:
    return min(1.0, step / warmup_steps) if warmup_steps else 1.0


def _save_model_dir(model, tokenizer, target: Path) -> None:
    """Write a plain causal LM's directory under a temporary name and rename it into place."""
    if target.is_dir():
        return  # a completed directory of the same key holds the same weights
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():
            raise


def _write_lora_checkpoints(base: str, key_dir: Path, steps: list[int], rank: int, alpha: float,
                            device: str, tokenizer=None) -> None:
    """``step-<n>/`` for every LoRA step whose adapter state is saved and whose directory is not.

    Each is the base loaded afresh, the step's adapter weights copied in and merged into the base
    weights (:meth:`peft.PeftModel.merge_and_unload`, in place: W + (α/r)·B·A), then saved: the same
    numbers a merge of the training model gives, with one model in memory at a time. ``tokenizer`` is the
    training's (chat template set), when there was a training: reading a large vocabulary again takes seconds.
    """
    import torch  # heavy to import (seconds); only model work needs it

    todo = [s for s in steps if s > 0 and not (key_dir / f"step-{s}").is_dir()
            and _state_path(key_dir, s).is_file()]
    for step in todo:
        causal_lm, loaded_tokenizer = load_causal_lm(base, device=device, with_tokenizer=tokenizer is None)
        if tokenizer is None:
            tokenizer = loaded_tokenizer
            if not getattr(tokenizer, "chat_template", None):
                tokenizer.chat_template = FALLBACK_CHAT_TEMPLATE
        with torch.random.fork_rng(devices=[]):  # the adapters' initial values are overwritten below
            model = _with_lora(causal_lm, rank, alpha)
        state_file = _state_path(key_dir, step)
        trained = torch.load(state_file, map_location="cpu", weights_only=True)["trainable"]
        with torch.no_grad():
            for name, p in _trainable(model).items():
                p.copy_(trained[name])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            merged = model.merge_and_unload()
        _save_model_dir(merged, tokenizer, key_dir / f"step-{step}")
        del causal_lm, model, merged, trained
        release_memory()


def _atomic_torch_save(obj, path: Path) -> None:
    import torch  # optional heavy dependency: only training writes torch state

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def _state_path(key_dir: Path, step: int) -> Path:
    return key_dir / "state" / f"step-{step}.pt"


@contextlib.contextmanager
def _run_lock(key_dir: Path):
    with open(key_dir / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def _deterministic():
    import torch  # heavy to import (seconds); only model work needs it

    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])


def _step_done(key_dir: Path, step: int, method: str) -> bool:
    """Whether training can skip ``step``: its model directory exists, or (LoRA) its adapter state, from
    which :func:`_write_lora_checkpoints` writes the directory without training."""
    return (key_dir / f"step-{step}").is_dir() or (method == "lora" and _state_path(key_dir, step).is_file())


def _resume_point(key_dir: Path, steps: list[int], method: str) -> int:
    """The last saved step (with its state, and under full fine-tuning its model directory) at or before
    the first checkpoint still to train."""
    missing = [s for s in steps if s > 0 and not _step_done(key_dir, s, method)]
    limit = missing[0] if missing else steps[-1]
    saved = [
        int(p.stem.split("-")[1]) for p in (key_dir / "state").glob("step-*.pt")
        if method == "lora" or (key_dir / p.stem).is_dir()
    ]
    usable = [s for s in saved if s <= limit]
    return max(usable, default=0)


def _checkpoint_loss(losses: list[float], step: int) -> float | None:
    recent = losses[max(0, step - LOSS_WINDOW): step]
    return float(sum(recent) / len(recent)) if recent else None


def finetune(
    base: str,
    corpus: InstructionCorpus,
    *,
    steps: Sequence[int],
    method: str = "lora",
    rank: int = 8,
    alpha: float = 16,
    learning_rate: float = 2e-4,
    batch_size: int = 8,
    max_length: int = 128,
    seed: int = 0,
    warmup_steps: int = 0,
    device: str = "auto",
    progress: bool = True,
    recompute_activations: bool = False,
) -> list[Checkpoint]:
    """Instruction-tune ``base`` on ``corpus`` and return a :class:`Checkpoint` for every step in ``steps``.

    Checkpoints already on disk are reused, and a run killed mid-way resumes from its last saved
    step; see the module docstring for the recipe, the layout and the determinism guarantee.
    """
    steps = _check_inputs(corpus, steps, method, rank, alpha, learning_rate, batch_size, max_length, warmup_steps)
    components = run_components(base, corpus, method=method, rank=rank, alpha=alpha,
                                learning_rate=learning_rate, batch_size=batch_size,
                                max_length=max_length, seed=seed, warmup_steps=warmup_steps)
    key_dir = run_dir(components)
    key_dir.mkdir(parents=True, exist_ok=True)
    with _run_lock(key_dir):
        if not (key_dir / "run.json").is_file():
            write_json(key_dir / "run.json", {**components, "base_name": base, "corpus_name": corpus.name,
                                               "corpus_size": len(corpus)})
        for stale in key_dir.glob(".step-*.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        tokenizer = None
        if any(s > 0 and not _step_done(key_dir, s, method) for s in steps):
            tokenizer = _train(base, corpus, key_dir, steps, method, rank, alpha, learning_rate, batch_size,
                               max_length, seed, warmup_steps, device, progress, recompute_activations)
            release_memory()  # the trained model is gone once _train returns
        if method == "lora":
            _write_lora_checkpoints(base, key_dir, steps, rank, alpha, device, tokenizer)
        losses = read_json(key_dir / "losses.json", {}).get("losses", [])
    checkpoints = []
    for s in steps:
        if s == 0:
            checkpoints.append(Checkpoint(0, base, None, models.spec(base).identity))
        else:
            path = key_dir / f"step-{s}"
            checkpoints.append(Checkpoint(s, str(path), _checkpoint_loss(losses, s), models.spec(str(path)).identity))
    return checkpoints


def _train(base, corpus, key_dir, steps, method, rank, alpha, learning_rate, batch_size, max_length,
           seed, warmup_steps, device, progress, recompute_activations=False):
    """Train from the last saved step to ``steps[-1]``, saving each checkpoint step; returns the tokenizer."""
    import torch  # heavy to import (seconds); only model work needs it

    with _deterministic():
        torch.manual_seed(seed)
        model, causal_lm, tokenizer = _prepare_model(base, method, rank, alpha, seed, device, recompute_activations)
        examples = [example_ids(tokenizer, i, r, max_length) for i, r in corpus.pairs]
        examples = [e for e in examples if any(t != IGNORE_INDEX for t in e[1][1:])]
        if not examples:
            raise ProbedriftError(
                f"no pair of the corpus has an assistant token within max_length={max_length}",
                "raise max_length or use shorter instructions",
            )
        params = _trainable(model)
        optimizer = torch.optim.AdamW(list(params.values()), lr=learning_rate, weight_decay=0.0, foreach=False)
        start = _resume_point(key_dir, steps, method)
        losses: list[float] = []
        if start > 0:
            saved = _state_path(key_dir, start)
            state = torch.load(saved, map_location="cpu", weights_only=True)
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(state["trainable"][name])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            losses = list(state["losses"])
        pad_id = tokenizer.pad_token_id
        last = steps[-1]
        bar = tqdm(total=last, initial=start, desc=f"fine-tune {method}", disable=not progress, leave=False)
        for step in range(start + 1, last + 1):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate * _lr_factor(step, warmup_steps)
            batch = [examples[i] for i in _batch_indices(step, batch_size, len(examples), seed)]
            input_ids, mask, labels = (t.to(causal_lm.device) for t in _collate(batch, pad_id))
            loss = assistant_loss(causal_lm, input_ids, mask, labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(list(params.values()), MAX_GRAD_NORM, foreach=False)
            optimizer.step()
            losses.append(float(loss.detach()))
            bar.update(1)
            bar.set_postfix(loss=f"{_checkpoint_loss(losses, step):.3f}")
            if step in steps:
                _save_checkpoint(model, tokenizer, params, optimizer, losses, key_dir, step, method)
        bar.close()
        runs = read_json(key_dir / "runs.json", [])
        runs.append({"resumed_from": start, "last_step": last, "optimizer_steps": last - start})
        write_json(key_dir / "runs.json", runs)
    return tokenizer


def _save_checkpoint(model, tokenizer, params, optimizer, losses, key_dir, step, method) -> None:
    import torch  # heavy to import (seconds); only model work needs it

    if method == "full":  # under LoRA the directory is written after training (_write_lora_checkpoints)
        _save_model_dir(model, tokenizer, key_dir / f"step-{step}")
    state = {
        "step": step,
        "trainable": {name: p.detach().cpu().clone() for name, p in params.items()},
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "losses": list(losses),
    }
    _atomic_torch_save(state, _state_path(key_dir, step))
    if method == "full":  # full states are as large as the model: keep only the newest
        for older in (key_dir / "state").glob("step-*.pt"):
            if int(older.stem.split("-")[1]) < step:
                older.unlink(missing_ok=True)
    stored = read_json(key_dir / "losses.json", {}).get("losses", [])
    # A rerun from an earlier step recomputes the same values, so later stored losses stay valid.
    merged = list(losses) + stored[len(losses):]
    write_json(key_dir / "losses.json", {"losses": merged, "window": LOSS_WINDOW})
