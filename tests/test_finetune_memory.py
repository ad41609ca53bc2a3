"""Memory of fine-tuning: the merged checkpoint copies only the LoRA layers, and models are released after use.

A tiny random-weight Llama (tied embeddings, the embedded SmolLM2 tokenizer), never a download.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from probedrift.inputs import causal_lm as lm
from probedrift.inputs import finetune as ft
from tests.test_finetune import _tiny_causal_lm_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(_tiny_causal_lm_dir(tmp_path_factory.mktemp("tiny-causal-lm")))


def test_merged_copy_merges_lora_leaves_the_trained_model_and_shares_the_rest(tiny):
    import torch
    from peft.tuners.lora import LoraLayer

    model, causal_lm, _ = ft._prepare_model(tiny, "lora", 4, 8.0, 0, "cpu")
    gen = torch.Generator().manual_seed(1)
    layers = {name: m for name, m in model.named_modules() if isinstance(m, LoraLayer)}
    with torch.no_grad():  # B starts at zero, which would make any merge look right
        for m in layers.values():
            m.lora_B["default"].weight.copy_(torch.randn(m.lora_B["default"].weight.shape, generator=gen))
    before = {name: m.base_layer.weight.detach().clone() for name, m in layers.items()}
    expected = {name: before[name] + m.scaling["default"] * (m.lora_B["default"].weight @ m.lora_A["default"].weight)
                for name, m in layers.items()}

    merged = ft._merged_copy(model, "lora")
    merged_modules = dict(merged.named_modules())
    for name, m in layers.items():
        assert torch.equal(m.base_layer.weight, before[name]), f"merging wrote into the trained model's {name}"
        short = name.removeprefix("base_model.model.")
        torch.testing.assert_close(merged_modules[short].weight, expected[name], rtol=1e-5, atol=1e-6)
    # the embedding (tied to the head) is not LoRA-wrapped: shared with the trained model, not duplicated
    assert merged.get_input_embeddings().weight.data_ptr() == causal_lm.get_input_embeddings().weight.data_ptr()
    assert not any(isinstance(m, LoraLayer) for m in merged.modules())


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
