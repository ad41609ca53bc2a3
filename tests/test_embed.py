"""Extraction with the real embedded models: truncation, pooling, cache behaviour, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from probedrift.core.errors import ProbedriftError
from probedrift.inputs import embed

pytestmark = pytest.mark.slow

PARAPHRASES = [
    ("The cat sat on the mat.", "A cat was sitting on the mat."),
    ("I love programming in Python.", "Writing Python code is something I enjoy."),
    ("The weather is cold and rainy today.", "Today it is rainy and cold outside."),
    ("He bought a new car last week.", "Last week he purchased a new automobile."),
]
UNRELATED = [
    "Quantum computers use qubits.", "The recipe needs two eggs and flour.",
    "Mount Everest is the highest mountain.", "She plays the violin in an orchestra.",
    "Stock markets fell sharply on Monday.", "Photosynthesis converts light into energy.",
]


def _full_hidden_states(model, texts, max_length=64):
    tok = model.tokenizer
    tok.padding_side = "right"
    batch = tok(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)
    with torch.inference_mode():
        out = model.model(**batch, output_hidden_states=True)
    return out.hidden_states, batch["attention_mask"]


@pytest.mark.parametrize("fixture", ["gemma", "smollm"])
def test_truncated_extraction_matches_full_forward(fixture, request):
    model = request.getfixturevalue(fixture)
    texts = [p for pair in PARAPHRASES for p in pair]
    mid = model.num_layers // 2
    got = embed.extract(model, texts, layers=[0, mid, -1], pooling="last_token", max_length=64,
                        batch_size=3, cache=False, progress=False)
    hs, mask = _full_hidden_states(model, texts)
    last = mask.sum(1) - 1
    for layer in (0, mid, -1):
        ref = hs[layer][torch.arange(len(texts)), last].float().numpy()
        scale = np.abs(ref).max()
        np.testing.assert_allclose(got[layer], ref, atol=2e-4 * scale, rtol=1e-3)


def test_last_token_pooling_picks_last_real_token_under_padding(gemma):
    short, long_ = "Hi there.", "This sentence is considerably longer than the short one, by far."
    together = embed.extract(gemma, [short, long_], layers=[-1], cache=False, progress=False, batch_size=2)[-1]
    alone = embed.extract(gemma, [short], layers=[-1], cache=False, progress=False)[-1]
    np.testing.assert_allclose(together[0], alone[0], atol=1e-3 * np.abs(alone).max())


def test_mean_skip_first_differs_from_mean_and_drops_position_zero(smollm):
    texts = ["A short text about the sea.", "Another one about the mountains and rivers."]
    mid = smollm.num_layers // 2
    m = embed.extract(smollm, texts, [mid], "mean", 64, cache=False, progress=False)[mid]
    s = embed.extract(smollm, texts, [mid], "mean_skip_first", 64, cache=False, progress=False)[mid]
    # Position 0 carries massive activations in mid layers: skipping it shrinks the norm a lot.
    assert (np.linalg.norm(s, axis=1) < 0.5 * np.linalg.norm(m, axis=1)).all()


@pytest.mark.parametrize("fixture", ["gemma", "smollm"])
def test_embeddings_are_sensible_paraphrase_closer_than_unrelated(fixture, request):
    model = request.getfixturevalue(fixture)
    texts = [p for pair in PARAPHRASES for p in pair] + UNRELATED
    z = embed.extract(model, texts, [-1], "mean", 64, cache=False, progress=False)[-1]
    z = z - z.mean(0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sims = z @ z.T
    para = np.mean([sims[2 * i, 2 * i + 1] for i in range(len(PARAPHRASES))])
    n = 2 * len(PARAPHRASES)
    unrel = sims[:n, n:].mean()
    assert para > unrel + 0.2


def test_layer_out_of_range_names_valid_range(gemma):
    with pytest.raises(ProbedriftError, match=r"0 to 18"):
        embed.extract(gemma, ["x"], layers=[40], cache=False, progress=False)


@pytest.mark.parametrize("kw,word", [({"pooling": "max"}, "pooling"), ({"batch_size": 0}, "batch_size"),
                                      ({"max_length": 0}, "max_length")])
def test_bad_extraction_parameters(gemma, kw, word):
    with pytest.raises(ProbedriftError, match=word):
        embed.extract(gemma, ["x"], cache=False, progress=False, **kw)


def test_chat_template_changes_input_ids(smollm, gemma):
    raw = embed.prepare_inputs(smollm, ["Tell me a joke."], 256, chat_template=False)[0]
    chat = embed.prepare_inputs(smollm, ["Tell me a joke."], 256, chat_template=True)[0]
    assert len(chat) > len(raw) and chat != raw
    with pytest.raises(ProbedriftError, match="chat template"):
        embed.prepare_inputs(gemma, ["x"], 256, chat_template=True)


def test_cache_hit_miss_and_resume_after_kill(gemma, isolated_embedding_cache, monkeypatch):
    texts = [f"Comment number {i} says something {'nice' if i % 2 else 'rude'}." for i in range(12)]
    info = embed.ExtractionInfo()
    first = embed.extract(gemma, texts, [-1, 6], chunk_size=4, batch_size=4, progress=False, info=info)
    assert not info.cache_hit
    info2 = embed.ExtractionInfo()
    again = embed.extract(gemma, texts, [-1, 6], chunk_size=4, batch_size=4, progress=False, info=info2)
    assert info2.cache_hit
    np.testing.assert_array_equal(first[-1], again[-1])
    # A different pooling is a miss.
    info3 = embed.ExtractionInfo()
    embed.extract(gemma, texts, [-1], "mean", chunk_size=4, batch_size=4, progress=False, info=info3)
    assert not info3.cache_hit

    # Simulate a run killed after its second chunk: the next call resumes from the stored chunks.
    other = texts[::-1]
    calls = {"n": 0}
    real_put = embed.ChunkStore.put

    def put_then_die(self, index, array):
        real_put(self, index, array)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(embed.ChunkStore, "put", put_then_die)
    with pytest.raises(KeyboardInterrupt):
        embed.extract(gemma, other, [-1], chunk_size=4, batch_size=4, progress=False)
    monkeypatch.setattr(embed.ChunkStore, "put", real_put)
    info4 = embed.ExtractionInfo()
    resumed = embed.extract(gemma, other, [-1], chunk_size=4, batch_size=4, progress=False, info=info4)
    assert info4.resumed_chunks == 2
    fresh = embed.extract(gemma, other, [-1], chunk_size=4, batch_size=4, progress=False, cache=False)
    np.testing.assert_array_equal(resumed[-1], fresh[-1])


def test_cli_embed_second_identical_call_is_a_cache_hit(isolated_embedding_cache):
    import os
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "probedrift.run.cli", "embed", "--model", "gemma-3-270m", "--dataset", "comments",
           "--n", "10", "--layers", "-1", "9", "--pooling", "last_token", "--max-length", "32", "--quiet"]
    env = {**os.environ, "PROBEDRIFT_CACHE_DIR": str(isolated_embedding_cache)}
    first = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "computed" in first.stdout and "shape (20, 640)" in first.stdout
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0 and "cache hit" in second.stdout
    # Same cache entries both times.
    def entries(out):
        return sorted(line.split("cache entry")[1].strip() for line in out.splitlines() if "cache entry" in line)

    assert entries(first.stdout) == entries(second.stdout) and all(entries(first.stdout))
