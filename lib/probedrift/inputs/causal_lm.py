"""Causal language models *with* their head: loading, chat formatting and greedy generation.

The study's embeddings come from backbones without a head (:mod:`probedrift.inputs.models`); generating text
needs the head. The instruction corpus (:mod:`probedrift.inputs.corpus`) has a teacher model answer
instructions greedily, and the fine-tuning (:mod:`probedrift.inputs.finetune`) trains on the same chat format:
one user turn and one assistant turn in the tokenizer's chat template, or Gemma's turn format
(:data:`FALLBACK_CHAT_TEMPLATE`) for a tokenizer without one.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from probedrift.core.cache import cache_root, canonical_key, read_json, write_json
from probedrift.core.errors import ProbedriftError
from probedrift.core.memory import release_memory
from probedrift.inputs import models
from probedrift.inputs.tokenizers import shared_tokenizer

IGNORE_INDEX = -100  # label of the prompt tokens, which the loss skips
FALLBACK_USER_PREFIX = "<start_of_turn>user\n"
FALLBACK_MODEL_PREFIX = "<start_of_turn>model\n"
FALLBACK_TURN_END = "<end_of_turn>\n"
FALLBACK_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def _model_location(name: str) -> str:
    return models.location(models.spec(name))[0]


def load_causal_lm(name: str, *, device: str = "cpu", dtype: str = "float32", with_tokenizer: bool = True,
                   share_tokenizer: bool = False):
    """A causal LM *with* its head, and its tokenizer (None when not ``with_tokenizer``: a large vocabulary
    takes seconds to read), from an embedded name, local directory or hub id.

    ``share_tokenizer``: the tokenizer read last from the same files
    (:func:`probedrift.inputs.tokenizers.shared_tokenizer`, which :func:`probedrift.inputs.models.load` uses
    too) instead of a read of its own, for a caller that changes nothing on it (generation reads the pad token
    only, and pads by hand): the checkpoints of one fine-tuning run all carry the same tokenizer files, and
    gemma-3's takes seconds to read.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer  # heavy to import (seconds); only model work needs it

    where = _model_location(name)
    dev = models.resolve_device(device)
    torch_dtype = models.resolve_dtype(dtype, dev)
    try:
        read = lambda: AutoTokenizer.from_pretrained(where)  # noqa: E731
        tokenizer = (None if not with_tokenizer else shared_tokenizer(where, False, read) if share_tokenizer
                     else read())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModelForCausalLM.from_pretrained(where, dtype=torch_dtype)
    except (OSError, ValueError) as exc:
        raise ProbedriftError(
            f"could not load {name!r} as a causal language model: {str(exc).splitlines()[0]}",
            "pass a decoder-only model (embedded name, local directory or cached hub id)",
        ) from None
    if tokenizer is not None and tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model.to(dev)
    return model, tokenizer


def chat_parts(tokenizer, instruction: str, response: str = "") -> tuple[str, str]:
    """(prompt text up to the assistant's turn, response text with its end-of-turn marker).

    Uses the tokenizer's chat template when it has one, else Gemma's turn format.
    """
    if getattr(tokenizer, "chat_template", None):
        user = [{"role": "user", "content": instruction}]
        prompt = tokenizer.apply_chat_template(user, add_generation_prompt=True, tokenize=False)
        full = tokenizer.apply_chat_template(
            user + [{"role": "assistant", "content": response}], tokenize=False
        )
        if full.startswith(prompt):
            return prompt, full[len(prompt):]
    bos = tokenizer.bos_token or ""
    prompt = f"{bos}{FALLBACK_USER_PREFIX}{instruction.strip()}{FALLBACK_TURN_END}{FALLBACK_MODEL_PREFIX}"
    return prompt, f"{response.strip()}{FALLBACK_TURN_END}"


def _encode(tokenizer, text: str) -> list[int]:
    bos = tokenizer.bos_token
    if bos and text.startswith(bos):
        return [tokenizer.bos_token_id] + tokenizer(text[len(bos):], add_special_tokens=False)["input_ids"]
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prompt_ids(tokenizer, instruction: str) -> list[int]:
    """Token ids of the chat prompt that asks the model to answer ``instruction``."""
    return _encode(tokenizer, chat_parts(tokenizer, instruction)[0])


def example_ids(tokenizer, instruction: str, response: str, max_length: int) -> tuple[list[int], list[int]]:
    """(input ids, labels) of one training pair, cut to ``max_length``; labels mask the prompt with -100."""
    prompt, answer = chat_parts(tokenizer, instruction, response)
    p = _encode(tokenizer, prompt)
    a = tokenizer(answer, add_special_tokens=False)["input_ids"]
    ids = (p + a)[:max_length]
    labels = ([IGNORE_INDEX] * len(p) + a)[:max_length]
    return ids, labels


def stop_token_ids(tokenizer, model) -> list[int]:
    """Token ids that end an assistant turn: the EOS ids and any end-of-turn marker of the vocabulary."""
    ids = set()
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in (eos, tokenizer.eos_token_id):
        if value is not None:
            ids.update(value if isinstance(value, (list, tuple)) else [value])
    vocab = tokenizer.get_vocab()
    for marker in ("<end_of_turn>", "<|im_end|>", "<|eot_id|>"):
        if marker in vocab:
            ids.add(vocab[marker])
    return sorted(ids)


def generate_greedy(
    model, tokenizer, instructions: Sequence[str], *, max_new_tokens: int = 64,
    repetition_penalty: float = 1.0, return_finished: bool = False,
) -> list:
    """Greedy answers of a loaded causal LM to chat prompts, one string per instruction.

    With ``return_finished`` each answer is ``(text, finished)``, ``finished`` telling whether the model
    ended its turn before ``max_new_tokens``.
    """
    import torch  # heavy to import (seconds); only model work needs it

    stops = stop_token_ids(tokenizer, model)
    prompts = [prompt_ids(tokenizer, t) for t in instructions]
    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):  # left padding, so every prompt ends at the same column
        input_ids[row, width - len(ids):] = torch.tensor(ids)
        mask[row, width - len(ids):] = 1
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = model.generate(
            input_ids=input_ids.to(model.device), attention_mask=mask.to(model.device),
            max_new_tokens=int(max_new_tokens), do_sample=False, num_beams=1,
            repetition_penalty=float(repetition_penalty), eos_token_id=stops, pad_token_id=pad,
            temperature=None, top_p=None, top_k=None,
        )
    answers = []
    for row in out[:, width:].tolist():
        ends = [row.index(t) for t in stops if t in row]
        text = tokenizer.decode(row[: min(ends)] if ends else row, skip_special_tokens=True).strip()
        answers.append((text, bool(ends)) if return_finished else text)
    return answers


def _generation_cache_path(components: dict) -> Path:
    return cache_root() / "generations" / f"{canonical_key(components)[:24]}.json"


def _directory_stamp(where: str) -> list:
    """Names, sizes and modification times of a model directory's files: a re-converted or retrained
    model gets a new stamp, so answers remembered for the old files are not reused."""
    root = Path(where)
    if not root.is_dir():
        return [where]
    return sorted([str(f.relative_to(root)), f.stat().st_size, f.stat().st_mtime_ns]
                  for f in root.rglob("*") if f.is_file())


def sample_generations(
    model_dir: str, instructions: Sequence[str], *, max_new_tokens: int = 64, batch_size: int = 8,
    device: str = "cpu",
) -> list[str]:
    """Greedy answers of a model (a checkpoint path or the base name) to held-out instructions.

    Run it on step 0 and on a later checkpoint to see that the update changed the model's behaviour.
    Greedy decoding is deterministic, so the answers are remembered under ``cache_root()/generations``
    (keyed by the model directory's files, the instructions, the lengths and the device) and a rerun
    loads no model.
    """
    instructions = [str(t) for t in instructions]
    if not instructions:
        raise ProbedriftError("no instructions to answer", "pass at least one held-out instruction")
    dev = models.resolve_device(device)
    where = _model_location(str(model_dir))
    components = {"kind": "greedy_generations", "model": where, "files": _directory_stamp(where),
                  "instructions": instructions, "max_new_tokens": int(max_new_tokens),
                  "batch_size": int(batch_size), "device": dev.type}
    path = _generation_cache_path(components)
    remembered = read_json(path, {})
    if isinstance(remembered, dict) and remembered.get("components") == json.loads(json.dumps(components)) \
            and isinstance(remembered.get("answers"), list) and len(remembered["answers"]) == len(instructions):
        return [str(a) for a in remembered["answers"]]
    model, tokenizer = load_causal_lm(str(model_dir), device=device, share_tokenizer=True)
    model.eval()
    answers: list[str] = []
    for start in range(0, len(instructions), batch_size):
        answers += generate_greedy(model, tokenizer, instructions[start:start + batch_size],
                                   max_new_tokens=max_new_tokens)
    del model, tokenizer
    release_memory()
    write_json(path, {"components": components, "answers": answers})
    return answers
