"""Memory of fine-tuning: a LoRA checkpoint is written with one model in memory, and models are released after use.

A tiny random-weight Llama (tied embeddings, the embedded SmolLM2 tokenizer), never a download.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from probedrift.inputs import causal_lm as lm
from probedrift.inputs import finetune as ft
from probedrift.inputs.corpus import InstructionCorpus
from tests.test_finetune import PAIRS, _tiny_causal_lm_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(_tiny_causal_lm_dir(tmp_path_factory.mktemp("tiny-causal-lm")))


def test_a_lora_checkpoint_is_written_after_training_releases_its_model_as_base_plus_adapters(
        tiny, tmp_path, monkeypatch):
    import torch
    from safetensors.torch import load_file

    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(tmp_path))
    prepare, save = ft._prepare_model, ft._save_model_dir
    training, alive_at_save = [], []

    def spy_prepare(*args, **kwargs):
        model, causal_lm, tokenizer = prepare(*args, **kwargs)
        training.append(weakref.ref(model))
        return model, causal_lm, tokenizer

    def spy_save(*args, **kwargs):
        gc.collect()
        alive_at_save.append(any(ref() is not None for ref in training))
        return save(*args, **kwargs)

    monkeypatch.setattr(ft, "_prepare_model", spy_prepare)
    monkeypatch.setattr(ft, "_save_model_dir", spy_save)
    corpus = InstructionCorpus(tuple(PAIRS), name="toy")
    cps = ft.finetune(tiny, corpus, steps=[0, 2, 4], rank=4, alpha=8.0, seed=0, learning_rate=5e-2,
                      batch_size=4, max_length=48, device="cpu", progress=False)
    assert len(training) == 1 and alive_at_save == [False, False]  # never two models at once

    # The written weights are W + (alpha/r) B A of the step's saved adapters, computed here by hand.
    trained = torch.load(ft._state_path(ft.Path(cps[2].path).parent, 4), weights_only=True)["trainable"]
    base, written = load_file(f"{tiny}/model.safetensors"), load_file(f"{cps[2].path}/model.safetensors")
    merged_layers = 0
    for key, A in trained.items():
        if ".lora_A." not in key:
            continue
        B = trained[key.replace(".lora_A.", ".lora_B.")]
        name = key.removeprefix("base_model.model.").replace(".lora_A.default", "")
        assert B.abs().max() > 0  # trained away from its zero start, so a missing merge would show
        torch.testing.assert_close(written[name], base[name] + (8.0 / 4) * (B @ A), rtol=1e-6, atol=1e-7)
        merged_layers += 1
    assert merged_layers == 2 * 7  # q, k, v, o, gate, up, down in each of the two blocks
    untouched = [k for k in written if not any(k == n.removeprefix("base_model.model.").replace(
        ".lora_A.default", "") for n in trained)]
    assert untouched and all(torch.equal(written[k], base[k]) for k in untouched)


def test_sample_generations_releases_its_model(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("PROBEDRIFT_CACHE_DIR", str(tmp_path))
    loaded = []
    real = lm.load_causal_lm

    def spy(*args, **kwargs):
        model, tok = real(*args, **kwargs)
        loaded.append(weakref.ref(model))
        return model, tok

    monkeypatch.setattr(lm, "load_causal_lm", spy)
    answers = lm.sample_generations(tiny, ["Say hello."], max_new_tokens=3)
    gc.collect()
    assert len(answers) == 1 and len(loaded) == 1
    assert loaded[0]() is None, "the model is still referenced after its answers were written"


def test_fine_tuning_starts_only_after_the_study_drops_its_extraction_model(tiny, tmp_path, monkeypatch):
    """The run holds the last model it embedded with; training loads the base again with its head, so the
    held one must go first (otherwise both copies of the weights are resident while training)."""
    from probedrift.experiments import finetune_drift as fd
    from probedrift.run.study import Study

    S = Study.from_profile("smoke", {"models": [tiny], "pairs": [], "finetune_base": tiny}, str(tmp_path))
    held = weakref.ref(S.loaded_model(tiny).model)
    events = []

    def train(*args, **kwargs):
        gc.collect()
        events.append(("train", held() is None))
        return []

    monkeypatch.setattr(fd, "finetune", train)
    fd.checkpoints(S, corpus=None, progress=False)
    assert events == [("train", True)] * len(S.params.finetune_learning_rates)
