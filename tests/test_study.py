"""The study's structure: one path to embeddings, one forward pass per model and prompt format, prefix
truncation for causal models only, and the whole study's code path on a tiny local encoder and a CSV
of one's own (no notebook kernel)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.experiments import baseline, monitors, realdrift, separation, synthetic_drift, updates
from probedrift.inputs import embed, model_facts, models
from probedrift.inputs.embed import ExtractionInfo, ExtractionSettings, _Output, extract_outputs
from probedrift.report import tables
from probedrift.run import catalogue
from probedrift.run.study import Study

TEXTS = [
    "you are a complete fool and everyone here knows it",
    "thanks, that was a helpful answer",
    "ok",
    "a much longer sentence that keeps going for quite a few more tokens than the others in this small list",
    "what a lovely day",
    "nobody asked for your opinion, idiot",
]


def _tiny_bert_dir(path, seed=0):
    """A real (random-weight) BERT encoder directory with a small WordPiece vocabulary: no chat template,
    bidirectional attention, and a tokenizer that appends [SEP] (so truncation is not a prefix)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    words = sorted({w.strip(",.!?").lower() for t in TEXTS for w in t.split()} | {"the", "a", "is", "this", "text"})
    path.mkdir(parents=True, exist_ok=True)
    # the vocabulary as a mapping: transformers 5 ignores a vocab_file here and would read every word as [UNK]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])})
    assert tok.unk_token not in tok.tokenize(TEXTS[0]), "the tiny encoder must read its own words"
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                     num_attention_heads=4, max_position_embeddings=128)
    BertModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    from tests.test_models import _tiny_llama_dir

    return models.load(str(_tiny_llama_dir(tmp_path_factory.mktemp("llama"))), device="cpu")


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory):
    return _tiny_bert_dir(tmp_path_factory.mktemp("bert"))


def test_causal_and_encoder_models_are_told_apart(tiny_llama, tiny_bert_dir):
    assert tiny_llama.is_causal
    bert = models.load(str(tiny_bert_dir), device="cpu")
    assert not bert.is_causal and not bert.has_chat_template
    assert model_facts.model_is_causal(str(tiny_bert_dir)) is False


def test_prefix_of_one_causal_pass_equals_a_separately_truncated_forward(tiny_llama):
    """Hidden state at position k of the full forward = last position of the forward truncated to k+1 tokens."""
    outputs = [_Output(t, p, L) for t in (1, 3) for p in embed.POOLINGS for L in (64, 5, 3)]
    info = ExtractionInfo()
    together = extract_outputs(tiny_llama, TEXTS, outputs, False, 4, cache=False, progress=False, info=info)
    assert sum(info.forward_passes.values()) == 1
    for o in outputs:
        alone = embed.extract(tiny_llama, TEXTS, [o.target], o.pooling, o.max_length, cache=False,
                              progress=False)[o.target]
        np.testing.assert_allclose(together[o], alone, rtol=1e-4, atol=1e-5, err_msg=str(o))
    # truncation really changed the long texts
    assert not np.allclose(together[_Output(3, "mean", 64)], together[_Output(3, "mean", 3)])


def test_an_encoder_gets_one_pass_per_truncation_length(tiny_bert_dir):
    bert = models.load(str(tiny_bert_dir), device="cpu")
    outputs = [_Output(3, "mean", 64), _Output(3, "mean", 4), _Output(2, "last_token", 4)]
    info = ExtractionInfo()
    together = extract_outputs(bert, TEXTS, outputs, False, 4, cache=False, progress=False, info=info)
    assert sum(info.forward_passes.values()) == 2  # lengths 64 and 4, each with every layer and pooling
    alone = embed.extract(bert, TEXTS, [3], "mean", 4, cache=False, progress=False)[3]
    np.testing.assert_allclose(together[_Output(3, "mean", 4)], alone, rtol=1e-5, atol=1e-6)


def test_get_embeddings_serves_a_second_call_from_the_cache_without_loading(tiny_llama, isolated_embedding_cache):
    name = tiny_llama.spec.path
    requests = [ExtractionSettings(name, layer=-1, max_length=64), ExtractionSettings(name, layer=1, max_length=3,
                                                                                     pooling="mean")]
    info = ExtractionInfo()
    first = embed.get_embeddings(requests, TEXTS, device="cpu", batch_size=4, progress=False, info=info)
    assert sum(info.forward_passes.values()) == 1 and set(info.keys) == {s.label for s in requests}

    def no_loading(*args):
        raise AssertionError("the model was loaded for a cache hit")

    again_info = ExtractionInfo()
    again = embed.get_embeddings(requests, TEXTS, device="cpu", loader=no_loading, progress=False, info=again_info)
    assert again_info.cache_hit and not again_info.forward_passes
    for s in requests:
        np.testing.assert_array_equal(first[s], again[s])


def test_unusable_cache_directory_is_one_clear_error(monkeypatch):
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", "embed", "--n", "20"], capture_output=True,
                         text=True, env={**__import__("os").environ, "PROBEDRIFT_CACHE_DIR": "/proc/no/such/dir"})
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("probedrift: error: the cache directory '/proc/no/such/dir' cannot be created")


@pytest.fixture(scope="module")
def encoder_study(tiny_bert_dir, tmp_path_factory):
    """A smoke study of a user's own CSV (own column names) on the tiny local encoder, with no pair."""
    root = tmp_path_factory.mktemp("encoder-study")
    rng = np.random.default_rng(0)
    rude, kind = ["fool", "idiot", "nobody asked", "complete fool"], ["thanks", "lovely day", "helpful answer", "ok"]
    rows = [{"comment": f"{rng.choice(rude if y else kind)} {i} {rng.choice(['this', 'text', 'is', 'a'])}",
             "is_toxic": y} for i in range(60) for y in (0, 1)]
    csv = root / "mine.csv"
    pd.DataFrame(rows).to_csv(csv, index=False)
    overrides = dict(models=[str(tiny_bert_dir)], pairs=[], dataset=str(csv), text_column="comment",
                     label_column="is_toxic", n_per_class=30, max_length=16, device="cpu", n_boot=20,
                     detector_permutations=20, detector_sample_size=12, anchor_sizes=[4, 8])
    with pytest.MonkeyPatch.context() as mp:
        (root / "cache").mkdir()
        (root / "cache" / "models").symlink_to(models.cache_root() / "models", target_is_directory=True)
        mp.setenv("PROBEDRIFT_CACHE_DIR", str(root / "cache"))
        yield Study.from_profile("smoke", overrides, results_dir=str(root / "results"))


@pytest.mark.slow
def test_the_whole_study_runs_on_a_local_encoder_and_a_csv_of_ones_own(encoder_study):
    S = encoder_study
    m = S.models[0]
    assert S.dataset.frame.label.value_counts().tolist() == [30, 30]
    clean = baseline.baseline(S, m)
    assert clean.set_index("metric").value["auc"] > 0.5
    sweep = synthetic_drift.drift_sweep(S, m, progress=False)
    assert set(sweep.drift_type) == set(S.params.drift_types)
    assert len(monitors.detector_table(S, m, progress=False)) and len(separation.separability(S, m))
    pairs, skipped = updates.update_pairs(S)
    # precision_bf16 is skipped too on a CPU without bfloat16 instructions (tested in test_updates.py)
    assert set(skipped) - {"precision_bf16"} == {"chat_template", "model_swap"}
    assert "no base/instruct pair" in skipped["chat_template"] and "no partner" in skipped["model_swap"]
    assert "bidirectional encoder" in " ".join(pairs["truncation"].notes)
    real = realdrift.real_drift_table(S, pairs=pairs, skipped=skipped)
    assert real.note[real.source == "model_swap"].iloc[0].startswith("skipped: ")
    assert real.dropna(subset=["auc"]).source.tolist() == list(pairs)
    mit = realdrift.mitigations_table(S, pairs=pairs)
    assert set(mit.source) == set(pairs)
    from probedrift.experiments import finetune_drift

    assert "bidirectional encoder, not a causal language model" in finetune_drift.skip_reason(S)
    # The encoder's truncation needed its own pass; everything else of the fp32 model shared one.
    import json

    passes = json.loads((S.run_dir / "forward_passes.json").read_text())
    fp32 = {k: v for k, v in passes.items() if "dtype=float32" in k and "variant" not in k}
    assert sorted(k.rsplit("=", 1)[1] for k in fp32) == ["16", "8"] and all(v == 1 for v in fp32.values())


def test_row_at_sigma_matches_the_grid_only():
    agg = pd.DataFrame({"model": ["a", "a", "b"], "sigma": [0.0, 0.0200000001, 0.02], "auc": [0.9, 0.6, 0.7]})
    assert tables.row_at_sigma(agg, 0.02, model="a").auc == 0.6
    assert tables.row_at_sigma(agg, 0.021, model="a") is None  # no nearest-σ substitution
    with pytest.raises(ProbedriftError, match=r"no row at σ = 0.03 .*grid: 0, 0.02"):
        tables.row_at_sigma(agg, 0.03, required=True, model="b")
    with pytest.raises(ProbedriftError, match="aggregate over seeds"):
        tables.row_at_sigma(agg, 0.02)


def test_a_later_chapter_computes_an_earlier_chapters_table_when_run_alone(tmp_path, monkeypatch):
    """Study.table computes and stamps a missing table, reuses it under the same parameters only."""
    from probedrift.run.study import Study

    S = Study.from_profile("smoke", {"drift_types": ["gaussian"], "conventions": "paper"}, str(tmp_path))
    assert not (tmp_path / "metrics" / "drift_sweep_summary.csv").exists()
    summary = S.table("drift_sweep_summary")
    assert set(summary.model) == set(S.models)
    assert all(catalogue.is_current(tmp_path, name, S.params_fingerprint)
               for name in ("drift_sweep", "drift_sweep_summary"))

    def must_not_run(*args, **kwargs):
        raise AssertionError("recomputed a table this run already wrote with the same parameters")

    monkeypatch.setattr(synthetic_drift, "drift_sweep", must_not_run)
    again = Study.from_profile("smoke", {"drift_types": ["gaussian"], "conventions": "paper"}, str(tmp_path))
    assert again.table("drift_sweep_summary").shape == summary.shape
    other = Study.from_profile("smoke", {"drift_types": ["gaussian"], "conventions": "paper", "tau": 0.9},
                               str(tmp_path))
    assert not catalogue.is_current(tmp_path, "drift_sweep", other.params_fingerprint)
    with pytest.raises(AssertionError, match="recomputed"):
        other.table("drift_sweep_summary")


def test_the_study_holds_one_loaded_model_at_a_time_and_reloads_it_identically(encoder_study):
    """Loading another model (here the same weights in another dtype) releases the one held before, so a
    chapter that embeds several models or checkpoints in turn holds one at a time; reloading is deterministic."""
    import gc
    import weakref

    import torch

    S = encoder_study
    m = S.models[0]
    first = S.loaded_model(m, dtype="float32")
    weights = {k: v.clone() for k, v in first.model.state_dict().items()}
    held = weakref.ref(first.model)
    del first
    assert S.loaded_model(m, dtype="float32").model is held()  # the same request is served from memory
    S.loaded_model(m, dtype="bfloat16")
    gc.collect()
    assert held() is None, "the float32 model is still held after another model was loaded"
    again = S.loaded_model(m, dtype="float32").model.state_dict()
    assert weights.keys() == again.keys() and all(torch.equal(weights[k], again[k]) for k in weights)
