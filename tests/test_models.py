"""Model resolution and loading: embedded, local directory, and the hub path through a local HF cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from probedrift.core.errors import ProbedriftError
from probedrift.inputs import models, tokenizers


def _tiny_llama_dir(path, seed=0):
    """A real (random-weight) Llama model directory with the embedded SmolLM2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(models.converted_dir("smollm2-135m-instruct")))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    LlamaModel(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _tiny_llama_dir(tmp_path_factory.mktemp("tiny-llama"))


def test_embedded_specs_resolve_without_loading():
    for name in models.EMBEDDED_MODELS:
        s = models.spec(name)
        assert s.source == "embedded" and name in s.identity


def test_unknown_name_lists_embedded_models_and_alternatives():
    with pytest.raises(ProbedriftError) as exc:
        models.spec("not-a-model")
    msg = str(exc.value)
    assert "gemma-3-270m" in msg and "smollm2-135m-instruct" in msg and "hub id" in msg and "directory" in msg


def test_local_dir_without_weights_or_tokenizer(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ProbedriftError, match="weights.*tokenizer"):
        models.spec(str(tmp_path))


def test_configuration_facts_match_the_loaded_model_and_never_read_the_tokenizer(tmp_path, isolated_embedding_cache):
    """Depth and causality come from config.json alone (a tokenizer takes seconds to read): they equal what a
    full load reports, and a damaged tokenizer fails only what needs it (the preflight's readability check)."""
    import shutil

    from probedrift.inputs import model_facts

    d = _tiny_llama_dir(tmp_path / "tiny", seed=3)
    loaded = models.load(str(d), device="cpu")
    assert model_facts.config_num_layers(str(d)) == loaded.num_layers == 3
    assert model_facts.model_is_causal(str(d)) is loaded.is_causal is True
    broken = tmp_path / "broken-tokenizer"
    shutil.copytree(d, broken)
    (broken / "tokenizer.json").write_text("{not json")
    assert model_facts.config_num_layers(str(broken)) == 3 and model_facts.model_is_causal(str(broken))
    with pytest.raises(ProbedriftError, match="could not read the tokenizer of model"):
        model_facts.check_readable(str(broken))


def test_the_preflight_trusts_an_embedded_conversion_by_its_hashes_not_by_reading_its_tokenizer(monkeypatch):
    import transformers

    from probedrift.inputs import model_facts

    def no_tokenizer(*args, **kwargs):
        raise AssertionError("read a tokenizer the conversion manifest already vouches for")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", no_tokenizer)
    model_facts._config.cache_clear()
    model_facts._config_and_tokenizer.cache_clear()
    for name in models.EMBEDDED_MODELS:
        model_facts.check_readable(name)
    with pytest.raises(AssertionError, match="vouches"):  # a local directory's tokenizer is still read
        model_facts.check_readable(str(models.converted_dir("smollm2-135m-instruct")))


def test_the_preflight_of_embedded_models_imports_neither_transformers_nor_torch(isolated_embedding_cache):
    for name in models.EMBEDDED_MODELS:
        models.converted_dir(name)  # converted beforehand, as by any earlier run
    code = ("import sys\nfrom probedrift.inputs import model_facts, models\n"
            "for name in models.EMBEDDED_MODELS:\n    model_facts.check_readable(name)\n"
            "print(sorted(m for m in ('transformers', 'torch') if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip() == "[]"


def test_an_embedded_configuration_that_is_not_json_is_a_named_error(tmp_path, monkeypatch):
    from probedrift.inputs import model_facts

    fake = tmp_path / "converted"
    fake.mkdir()
    (fake / "config.json").write_text("{not json")
    monkeypatch.setattr(model_facts, "converted_dir", lambda name: fake)
    with pytest.raises(ProbedriftError, match="could not read the configuration of model 'gemma-3-270m'"):
        model_facts.check_readable("gemma-3-270m")


def test_model_facts_are_remembered_until_the_tokenizer_files_change(tmp_path, isolated_embedding_cache,
                                                                      monkeypatch):
    import shutil

    import transformers

    from probedrift.inputs import model_facts

    d = tmp_path / "tiny"
    shutil.copytree(_tiny_llama_dir(tmp_path / "src", seed=4), d)
    first = model_facts.model_has_chat_template(str(d)), model_facts.model_is_causal(str(d))
    tok = transformers.AutoTokenizer.from_pretrained(str(d))
    assert first == (bool(tok.chat_template), True)

    def no_reading(*args, **kwargs):
        raise AssertionError("read the tokenizer or configuration again")

    for reader in (transformers.AutoTokenizer, transformers.AutoConfig):
        monkeypatch.setattr(reader, "from_pretrained", no_reading)
    model_facts._config.cache_clear()
    model_facts._config_and_tokenizer.cache_clear()
    assert (model_facts.model_has_chat_template(str(d)), model_facts.model_is_causal(str(d))) == first
    # Another chat template file: the record no longer answers, the tokenizer is read again.
    (d / "chat_template.jinja").write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    with pytest.raises(AssertionError, match="again"):
        model_facts.model_has_chat_template(str(d))
    monkeypatch.undo()
    assert model_facts.model_has_chat_template(str(d)) is True


def test_local_directory_loads_and_extracts(tiny_dir, isolated_embedding_cache):
    from probedrift.inputs import embed

    m = models.load(str(tiny_dir), device="cpu")
    assert m.spec.source == "local" and m.num_layers == 3 and m.hidden_size == 32
    out = embed.extract(m, ["hello world", "a second, longer text here"], [1, -1], progress=False)
    assert out[1].shape == (2, 32) and np.isfinite(out[-1]).all()


def test_local_identity_follows_the_weights(tmp_path):
    a = _tiny_llama_dir(tmp_path / "a", seed=0)
    b = _tiny_llama_dir(tmp_path / "b", seed=1)
    assert models.spec(str(a)).identity == models.spec(str(a)).identity
    assert models.spec(str(a)).identity != models.spec(str(b)).identity


def test_trust_remote_code_is_off_by_default():
    import inspect

    assert inspect.signature(models.load).parameters["trust_remote_code"].default is False


def test_hub_id_path_through_a_local_hf_cache(tiny_dir, tmp_path):
    """The hub code path (an owner/name id, offline, resolved via the HF cache layout), no mock."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--probedrift-test--tiny-llama"
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in tiny_dir.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = textwrap.dedent("""
        import json
        from probedrift.inputs import models, embed
        m = models.load("probedrift-test/tiny-llama", device="cpu")
        out = embed.extract(m, ["hello", "world again"], [-1], cache=False, progress=False)
        print(json.dumps({"identity": m.identity, "source": m.spec.source, "shape": list(out[-1].shape)}))
    """)
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1",
           "PROBEDRIFT_CACHE_DIR": str(tmp_path / "pd")}
    res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got == {"identity": f"probedrift-test/tiny-llama@{commit}", "source": "hub", "shape": [2, 32]}


def test_missing_hub_model_offline_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProbedriftError, match="could not load hub model"):
        models.load("probedrift-test/does-not-exist", device="cpu")


def test_a_conversion_parses_each_gguf_file_once_and_reads_the_same_from_the_shared_reader():
    import gguf
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    path = str(models.embedded_gguf("smollm2-135m-instruct"))
    fresh = load_gguf_checkpoint(path, return_tensors=False)
    original = gguf.GGUFReader
    with models.one_gguf_parse():
        first, again = gguf.GGUFReader(path), gguf.GGUFReader(path)
        assert first is again  # parsed once
        read_once = load_gguf_checkpoint(path, return_tensors=False)
        read_twice = load_gguf_checkpoint(path, return_tensors=False)  # from a reader already read
    assert gguf.GGUFReader is original
    for read in (read_once, read_twice):
        assert read.keys() == fresh.keys()
        for part in fresh:
            assert read[part] == fresh[part], part


def _copy_with_weights_linked(source, target):
    """A model directory with ``source``'s files: weights linked, every other file copied (new mtimes)."""
    target.mkdir()
    for path in source.iterdir():
        if path.suffix in tokenizers.WEIGHT_SUFFIXES:
            (target / path.name).symlink_to(path)
        elif path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


def test_loads_share_a_tokenizer_only_while_its_files_are_the_same(tmp_path):
    from transformers import AutoTokenizer

    source = models.converted_dir("smollm2-135m-instruct")
    a = _copy_with_weights_linked(source, tmp_path / "a")
    b = _copy_with_weights_linked(source, tmp_path / "b")
    tokenizers.forget_tokenizer()
    first = models.load(str(a), device="cpu")
    second = models.load(str(b), device="cpu")
    assert second.tokenizer is first.tokenizer  # same files in another directory: read once
    texts = ["A comment about the bus route.", "Whoever runs the park is an idiot!"]
    fresh = AutoTokenizer.from_pretrained(str(b))
    assert second.tokenizer(texts)["input_ids"] == fresh(texts)["input_ids"]
    assert second.tokenizer.padding_side == "right" and second.tokenizer.pad_token is not None

    config = json.loads((b / "tokenizer_config.json").read_text())
    config["model_max_length"] = 77
    (b / "tokenizer_config.json").write_text(json.dumps(config))
    changed = models.load(str(b), device="cpu")
    assert changed.tokenizer is not first.tokenizer and changed.tokenizer.model_max_length == 77
    tokenizers.forget_tokenizer()
    assert models.load(str(b), device="cpu").tokenizer is not changed.tokenizer


def test_generation_shares_the_tokenizer_only_when_asked_and_answers_as_with_its_own(tmp_path):
    from probedrift.inputs.causal_lm import generate_greedy, load_causal_lm

    source = models.converted_dir("smollm2-135m-instruct")
    a = _copy_with_weights_linked(source, tmp_path / "a")
    b = _copy_with_weights_linked(source, tmp_path / "b")
    tokenizers.forget_tokenizer()
    embedding = models.load(str(a), device="cpu")  # the tokenizer read last, right padding set
    model, shared = load_causal_lm(str(b), share_tokenizer=True)
    assert shared is embedding.tokenizer  # same files: no second read
    _, own = load_causal_lm(str(b))
    assert own is not shared  # a caller that may change its tokenizer (fine-tuning) reads its own
    prompts = ["Say hello.", "Name a colour."]
    assert generate_greedy(model, shared, prompts, max_new_tokens=4) == generate_greedy(model, own, prompts,
                                                                                        max_new_tokens=4)
    tokenizers.forget_tokenizer()


def test_the_tokenizer_digest_reads_every_file_but_weights_manifest_and_hidden_ones(tmp_path):
    source = models.converted_dir("smollm2-135m-instruct")
    a = _copy_with_weights_linked(source, tmp_path / "a")
    digest = tokenizers.tokenizer_files_digest(str(a))
    (a / ".lock").write_text("")
    (a / models.CONVERSION_MANIFEST).write_text("{}")
    (a / "model.safetensors").unlink()
    (a / "model.safetensors").write_bytes(b"other weights")
    assert tokenizers.tokenizer_files_digest(str(a)) == digest
    (a / "chat_template.jinja").write_text("{{ messages }}")
    assert tokenizers.tokenizer_files_digest(str(a)) != digest
    assert tokenizers.tokenizer_files_digest("org/a-hub-id") is None
