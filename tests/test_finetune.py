"""Fine-tuning into checkpoints: loss, determinism, resume, identities, merged LoRA, corpus checks.

Every run uses a tiny random-weight Llama built here (with the embedded SmolLM2 tokenizer), never a download.
"""

from __future__ import annotations

import copy
import json

import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.inputs import causal_lm as lm
from probedrift.inputs import finetune as ft
from probedrift.inputs import models
from probedrift.inputs.corpus import InstructionCorpus, assert_disjoint, generate_responses

PAIRS = [
    ("Name a colour.", "Blue is a colour."),
    ("Say hello.", "Hello there!"),
    ("Count to three.", "One, two, three."),
    ("Name a fruit.", "An apple is a fruit."),
    ("What is two plus two?", "Two plus two is four."),
    ("Name an animal.", "A cat is an animal."),
    ("Give a greeting.", "Good morning to you."),
    ("Name a day of the week.", "Monday is a day of the week."),
]
FAST = dict(learning_rate=1e-2, batch_size=4, max_length=48, device="cpu", progress=False)


def _tiny_causal_lm_dir(path, seed=0):
    """A random-weight Llama causal LM directory (tied embeddings, like gemma) with the SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(models.converted_dir("smollm2-135m-instruct")))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(_tiny_causal_lm_dir(tmp_path_factory.mktemp("tiny-causal-lm")))


@pytest.fixture(scope="module")
def corpus():
    return InstructionCorpus(tuple(PAIRS), name="toy")


@pytest.fixture
def use_cache(tmp_path, monkeypatch):
    """Point PROBEDRIFT_CACHE_DIR at a fresh directory (call with a name: one isolated cache per name)."""

    def switch(name):
        root = tmp_path / name
        root.mkdir(exist_ok=True)
        monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(root))
        return root

    return switch


def _weights(path):
    from safetensors.torch import load_file

    return load_file(f"{path}/model.safetensors")


def _same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(wa[k].equal(wb[k]) for k in wa)


def test_a_few_steps_lower_the_training_loss(tiny, corpus, use_cache):
    use_cache("loss")
    cps = ft.finetune(tiny, corpus, steps=[0, 8], seed=0, **FAST)
    key_dir = ft.run_dir(ft.run_components(tiny, corpus, method="lora", rank=8, alpha=16, learning_rate=1e-2,
                                           batch_size=4, max_length=48, seed=0))
    losses = json.loads((key_dir / "losses.json").read_text())["losses"]
    assert len(losses) == 8
    assert sum(losses[-2:]) / 2 < sum(losses[:2]) / 2 - 0.05
    assert cps[1].train_loss == pytest.approx(sum(losses) / 8)


def test_full_fine_tuning_lowers_the_loss_too(tiny, corpus, use_cache):
    use_cache("full")
    cps = ft.finetune(tiny, corpus, steps=[0, 1, 6], method="full", seed=0, **{**FAST, "learning_rate": 3e-3})
    assert cps[2].train_loss < cps[1].train_loss
    assert not _same_weights(cps[1].path, cps[2].path)


def test_same_seed_is_bit_identical_and_a_killed_run_resumes(tiny, corpus, use_cache):
    use_cache("interrupted")
    first = ft.finetune(tiny, corpus, steps=[0, 2], seed=3, **FAST)
    resumed = ft.finetune(tiny, corpus, steps=[0, 2, 4], seed=3, **FAST)
    key_dir = ft.run_dir(ft.run_components(tiny, corpus, method="lora", rank=8, alpha=16, learning_rate=1e-2,
                                           batch_size=4, max_length=48, seed=3))
    runs = json.loads((key_dir / "runs.json").read_text())
    assert runs == [{"resumed_from": 0, "last_step": 2, "optimizer_steps": 2},
                    {"resumed_from": 2, "last_step": 4, "optimizer_steps": 2}]
    assert resumed[1] == first[1]

    use_cache("uninterrupted")
    straight = ft.finetune(tiny, corpus, steps=[0, 2, 4], seed=3, **FAST)
    assert straight[1].path != first[1].path
    assert _same_weights(first[1].path, straight[1].path)
    assert _same_weights(resumed[2].path, straight[2].path)
    assert [c.identity for c in straight] == [c.identity for c in resumed]
    assert straight[2].train_loss == resumed[2].train_loss


def test_recomputed_activations_give_the_same_checkpoints_bit_for_bit(tiny, corpus, use_cache, monkeypatch):
    # Gradient checkpointing is left out of a run's key, which is only sound if it changes no number.
    prepare, recomputing = ft._prepare_model, []

    def spy(*args, **kwargs):
        model, causal_lm, tokenizer = prepare(*args, **kwargs)
        recomputing.append(causal_lm.is_activation_checkpointing)
        return model, causal_lm, tokenizer

    monkeypatch.setattr(ft, "_prepare_model", spy)
    use_cache("stored-activations")
    stored = ft.finetune(tiny, corpus, steps=[0, 3], seed=1, **FAST)
    use_cache("recomputed-activations")
    recomputed = ft.finetune(tiny, corpus, steps=[0, 3], seed=1, recompute_activations=True, **FAST)
    assert recomputing == [False, True]
    assert recomputed[1].path != stored[1].path
    assert _same_weights(stored[1].path, recomputed[1].path)
    assert recomputed[1].train_loss == stored[1].train_loss and recomputed[1].identity == stored[1].identity


def test_done_checkpoints_are_reused_without_training(tiny, corpus, use_cache, monkeypatch):
    use_cache("reuse")
    before = ft.finetune(tiny, corpus, steps=[0, 2, 3], seed=0, **FAST)
    monkeypatch.setattr(ft, "_train", lambda *a, **k: pytest.fail("trained again"))
    assert ft.finetune(tiny, corpus, steps=[0, 3], seed=0, **FAST) == [before[0], before[2]]


def test_an_incomplete_step_directory_is_never_taken_for_done(tiny, corpus, use_cache):
    root = use_cache("partial")
    ft.finetune(tiny, corpus, steps=[0, 1], seed=0, **FAST)
    key_dir = next((root / "finetune").iterdir())
    (key_dir / ".step-2.tmp-killed").mkdir()
    (key_dir / ".step-2.tmp-killed" / "config.json").write_text("{}")
    cps = ft.finetune(tiny, corpus, steps=[0, 1, 2], seed=0, **FAST)
    assert models.spec(cps[2].path).source == "local"
    assert not list(key_dir.glob(".step-*"))


def test_identity_changes_with_each_key_component(tiny, corpus, use_cache):
    use_cache("identity")
    other_corpus = InstructionCorpus(tuple((i, r.upper()) for i, r in PAIRS), name="toy-upper")
    variants = {
        "reference": {},
        "seed": {"seed": 1},
        "learning_rate": {"learning_rate": 2e-2},
        "method": {"method": "full"},
        "rank": {"rank": 4},
        "corpus": {"corpus": other_corpus},
    }
    identities, dirs = {}, {}
    for name, change in variants.items():
        settings = {**FAST, "seed": 0, **change}
        data = settings.pop("corpus", corpus)
        cp = ft.finetune(tiny, data, steps=[0, 1], **settings)[1]
        identities[name] = cp.identity
        dirs[name] = cp.path.rsplit("/", 1)[0]
        assert cp.identity == models.spec(cp.path).identity and cp.identity.startswith("local:")
    assert len(set(identities.values())) == len(variants), identities
    assert len(set(dirs.values())) == len(variants)


def test_step_zero_is_the_base_model(tiny, corpus, use_cache):
    use_cache("zero")
    cps = ft.finetune(tiny, corpus, steps=[0, 1], seed=0, **FAST)
    assert cps[0] == ft.Checkpoint(0, tiny, None, models.spec(tiny).identity)
    assert cps[1].identity != cps[0].identity


def test_merged_lora_checkpoint_reloads_with_the_same_hidden_states(tiny, corpus, use_cache):
    import torch

    use_cache("merged")
    cp = ft.finetune(tiny, corpus, steps=[0, 3], seed=0, **FAST)[1]
    model, causal_lm, tok = ft._prepare_model(tiny, "lora", 8, 16, 0, "cpu")
    state = torch.load(ft._state_path(ft.Path(cp.path).parent, 3), weights_only=False)
    with torch.no_grad():
        for name, p in ft._trainable(model).items():
            p.copy_(state["trainable"][name])
    merged = copy.deepcopy(model).merge_and_unload().eval()  # the training model, merged in memory
    loaded = models.load(cp.path, dtype="float32", device="cpu")
    batch = tok(["Name a colour.", "Something else entirely, and longer."], return_tensors="pt", padding=True)
    with torch.no_grad():
        in_memory = merged.get_decoder()(**batch).last_hidden_state
        reloaded = loaded.model(**batch).last_hidden_state
        base = models.load(tiny, dtype="float32", device="cpu").model(**batch).last_hidden_state
    assert torch.allclose(in_memory, reloaded, atol=1e-5, rtol=0)
    assert not torch.allclose(base, reloaded, atol=1e-3)
    assert "lora" not in " ".join(_weights(cp.path))


def test_chat_formatting_masks_the_prompt(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    prompt, answer = lm.chat_parts(tok, "Say hello.", "Hello!")
    assert prompt.endswith("<|im_start|>assistant\n") and answer.startswith("Hello!<|im_end|>")
    tok.chat_template = None
    prompt, answer = lm.chat_parts(tok, "Say hello.", "Hello!")
    assert prompt == f"{tok.bos_token}<start_of_turn>user\nSay hello.<end_of_turn>\n<start_of_turn>model\n"
    assert answer == "Hello!<end_of_turn>\n"
    ids, labels = lm.example_ids(tok, "Say hello.", "Hello!", max_length=64)
    n_prompt = len(lm.prompt_ids(tok, "Say hello."))
    assert len(ids) == len(labels) and ids[:n_prompt] == lm.prompt_ids(tok, "Say hello.")
    assert set(labels[:n_prompt]) == {lm.IGNORE_INDEX} and labels[n_prompt:] == ids[n_prompt:]
    tok.chat_template = lm.FALLBACK_CHAT_TEMPLATE
    rendered = tok.apply_chat_template([{"role": "user", "content": "Say hello."}, {"role": "assistant",
                                        "content": "Hello!"}], tokenize=False)
    assert rendered == prompt + answer


def test_sample_generations_before_and_after(tiny, corpus, use_cache, monkeypatch):
    cache = use_cache("samples")
    cps = ft.finetune(tiny, corpus, steps=[0, 2], seed=0, **FAST)
    asked = ["Name a colour.", "Say hello."]
    first = [lm.sample_generations(cp.path, asked, max_new_tokens=4) for cp in cps]
    assert all(len(out) == 2 and all(isinstance(t, str) for t in out) for out in first)
    # greedy answers are remembered: a rerun loads no model and gives the same strings
    monkeypatch.setattr(lm, "load_causal_lm", lambda *a, **k: pytest.fail("loaded a model for remembered answers"))
    assert [lm.sample_generations(cp.path, asked, max_new_tokens=4) for cp in cps] == first
    # a damaged record is recomputed, never returned
    remembered = sorted((cache / "generations").glob("*.json"))
    assert len(remembered) == len(cps)
    remembered[0].write_text("{not json")
    monkeypatch.undo()
    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(cache))
    again = [lm.sample_generations(cp.path, asked, max_new_tokens=4) for cp in cps]
    assert again == first and json.loads(remembered[0].read_text())["answers"] in first


def test_teacher_responses_are_cached_and_resume(tiny, use_cache, monkeypatch):
    from probedrift.inputs import corpus as corpus_mod

    use_cache("responses")
    instructions = [f"Name thing number {i}." for i in range(5)]
    settings = dict(teacher=tiny, max_new_tokens=3, chunk_size=2, progress=False)
    real = corpus_mod._generate
    calls = []

    def killed_after_one_chunk(model, tok, batch, *rest):
        if calls:
            raise KeyboardInterrupt
        calls.append(batch)
        return real(model, tok, batch, *rest)

    monkeypatch.setattr(corpus_mod, "_generate", killed_after_one_chunk)
    with pytest.raises(KeyboardInterrupt):
        generate_responses(instructions, **settings)
    monkeypatch.setattr(corpus_mod, "_generate", lambda m, t, batch, *a: calls.append(batch) or real(m, t, batch, *a))
    first = generate_responses(instructions, **settings)
    assert len(first) == 5 and len(calls) == 3  # chunks of 2, 2, 1; the first was not redone
    monkeypatch.setattr(corpus_mod, "_load_generator", lambda *a: pytest.fail("generated again"))
    assert generate_responses(instructions, **settings) == first
    with pytest.raises(pytest.fail.Exception):  # another setting is another cache entry
        generate_responses(instructions, **{**settings, "max_new_tokens": 4})


def test_assert_disjoint_catches_an_overlap(corpus):
    assert_disjoint(corpus, ["You are an idiot.", "totally unrelated comment text here"])
    with pytest.raises(ProbedriftError, match="1 of the probe's texts"):
        assert_disjoint(corpus, ["  SAY   hello. ", "fine"])
    with pytest.raises(ProbedriftError, match="occur in the training corpus"):
        assert_disjoint(corpus, ["Two plus two is four"])  # inside a response


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"steps": [0, 2, 2]}, "strictly increasing"),
        ({"steps": [3, 1]}, "strictly increasing"),
        ({"steps": [-1, 2]}, ">= 0"),
        ({"steps": []}, "no checkpoint steps"),
        ({"method": "qlora"}, "unknown fine-tuning method"),
        ({"rank": 0}, "rank must be"),
        ({"learning_rate": 0.0}, "learning rate must be > 0"),
        ({"learning_rate": -1e-4}, "learning rate must be > 0"),
        ({"corpus": InstructionCorpus(())}, "corpus is empty"),
        ({"corpus": [("a", "b")]}, "must be an InstructionCorpus"),
    ],
)
def test_bad_input_gives_a_clear_error(tiny, corpus, change, match):
    settings = {"steps": [0, 1], **FAST, **change}
    data = settings.pop("corpus", corpus)
    with pytest.raises(ProbedriftError, match=match) as exc:
        ft.finetune(tiny, data, **settings)
    assert exc.value.fix


def test_corpus_fingerprint_and_validation():
    a = InstructionCorpus((("x", "y"), ("z", "w")))
    assert a.fingerprint == InstructionCorpus([["x", "y"], ["z", "w"]]).fingerprint
    assert a.fingerprint != InstructionCorpus((("z", "w"), ("x", "y"))).fingerprint
    assert InstructionCorpus((("x", "yz"),)).fingerprint != InstructionCorpus((("xy", "z"),)).fingerprint
    with pytest.raises(ProbedriftError, match="empty instruction or response"):
        InstructionCorpus((("x", " "),))
