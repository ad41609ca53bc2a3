"""The paper's own path end to end: the ``paper`` profile on tiny Qwen3-architecture models.

The profile names Qwen3 models and Civil Comments from the hub, which no test can reach. Here a
base/instruct pair of random-weight models of the Qwen3 architecture (``Qwen3ForCausalLM`` built from a
config and saved with ``save_pretrained``, with a real BPE tokenizer carrying Qwen3's ChatML chat
template) and a local file in Civil Comments' schema (a ``toxicity`` score, thresholded at 0.5 by the
profile) stand in for them; only the model ids, the data file and the sizes are overridden. The
architecture-specific code therefore runs for real: AutoModel dispatch to Qwen3, the chat template,
the label threshold on a score, a same-family pair, LoRA on Qwen3's projections, dtype choice.
"""

from __future__ import annotations

import json
import subprocess
import sys

import nbformat
import pandas as pd
import pytest

from probedrift.inputs import models
from probedrift.run import runner
from probedrift.run.params import load_params

pytestmark = pytest.mark.slow

#: Qwen3's chat template, reduced to what a user turn and the generation prompt need (ChatML).
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

#: Sizes small enough for a CPU in CI; every other key is the paper profile's own.
SIZES = {
    "n_per_class": 40, "max_length": 48, "batch_size": 16, "drift_seeds": [42, 43], "n_sigmas": 4,
    "reliability_checkpoints": [0, 1, 2, 3], "n_boot": 40, "crossfit_folds": 3, "crossfit_seeds": [0],
    "crossfit_boot": 30, "cliff_points": 10, "detector_sample_size": 12, "detector_permutations": 20,
    "false_alarm_runs": 10, "anchor_sizes": [8, 16], "separability_layers": [0.5, 1.0], "finetune_steps": [0, 1, 2],
    "finetune_corpus_size": 4, "finetune_batch_size": 4, "finetune_max_length": 32, "finetune_rank": 4,
}


def _tiny_qwen3(path, seed: int, with_template: bool = True):
    """A random-weight Qwen3 causal LM directory with the embedded SmolLM2 BPE tokenizer (ChatML tokens)."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(str(models.converted_dir("smollm2-135m-instruct")))
    tok.chat_template = QWEN3_CHAT_TEMPLATE if with_template else None
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    Qwen3ForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _civil_comments_file(path, n_per_class: int = 50):
    """Texts in Civil Comments' schema: ``text`` and a ``toxicity`` score in [0, 1] (toxic: score ≥ 0.5),
    with scores near the threshold on both sides so that the profile's threshold does the labelling."""
    nouns = ["article", "council", "mayor", "bus route", "school board", "park", "budget", "bridge", "editor", "league"]
    rows = []
    for i in range(n_per_class):
        noun = nouns[i % len(nouns)]
        rows.append({"text": f"Thanks for covering the {noun}, comment {i}; the details on item {i * 7} helped.",
                     "toxicity": round(0.05 + 0.4 * (i % 10) / 10, 3)})
        rows.append({"text": f"Whoever runs the {noun} is a pathetic idiot, comment {i}; item {i * 7} is garbage.",
                     "toxicity": round(0.5 + 0.5 * (i % 10) / 10, 3)})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("paper-path")
    base = _tiny_qwen3(root / "Qwen3-tiny-Base", seed=0)
    instruct = _tiny_qwen3(root / "Qwen3-tiny", seed=1)
    data = _civil_comments_file(root / "civil_comments.jsonl")
    overrides = {"models": [str(base), str(instruct)], "finetune_base": str(base), "data_files": str(data),
                 "pairs": [{"base": str(base), "instruct": str(instruct), "note": "same family and size"}], **SIZES}
    args = ["run", "--profile", "paper", "--results", str(root / "results")]
    for key, value in overrides.items():
        args += ["--set", f"{key}={json.dumps(value)}"]
    res = subprocess.run([sys.executable, "-m", "probedrift.run.cli", *args], capture_output=True, text=True,
                         timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return root / "results" / "paper", overrides


def test_the_paper_profile_runs_end_to_end_on_qwen3_architecture_models(paper_run):
    run_dir, overrides = paper_run
    assert runner.run_state(run_dir)["state"] == "complete"
    prov = json.loads((run_dir / "provenance.json").read_text())
    params = load_params("paper", overrides)
    kept = {k: v for k, v in params.to_dict().items() if k not in overrides and k != "results_dir"}
    assert {k: prov["parameters"][k] for k in kept} == kept  # the paper profile's own protocol, untouched
    assert prov["parameters"]["dataset"] == "civil_comments" and prov["parameters"]["label_threshold"] == 0.5
    for nb in runner.notebook_paths():
        cells = nbformat.read(run_dir / "notebooks" / nb.name, as_version=4).cells
        assert not [o for c in cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    # Both Qwen3 models were probed on the test texts the 0.5 toxicity threshold labelled (20% of 2 × 40).
    baseline = pd.read_csv(run_dir / "metrics" / "probe_baseline.csv")
    assert sorted(m.rsplit("/", 1)[-1] for m in baseline.model.unique()) == ["Qwen3-tiny", "Qwen3-tiny-Base"]
    assert set(baseline.n_test) == {16}
    # The same-family pair was compared, and the chat template was applied as a real drift source.
    pairs = pd.read_csv(run_dir / "metrics" / "pairs.csv")
    assert len(pairs) and set(pairs.base.astype(str).str.endswith("Qwen3-tiny-Base"))
    real = pd.read_csv(run_dir / "metrics" / "real_drift.csv").set_index("source")
    assert real.loc["chat_template"].notna().auc and not str(real.loc["chat_template"].note).startswith("skipped")
    assert real.loc["model_swap"].notna().auc
    # Chapter 7 fine-tuned the Qwen3 base with LoRA into every asked checkpoint.
    ft = pd.read_csv(run_dir / "metrics" / "finetune_drift.csv")
    assert sorted(ft.step.unique()) == SIZES["finetune_steps"] and (ft.angle_deg_mean[ft.step > 0] > 0).all()


def test_the_paper_runs_book_builds(paper_run, tmp_path):
    from probedrift.run import book

    run_dir, _ = paper_run
    rc = book.build_book("paper", results_root=str(run_dir.parent), strict=True, out_root=tmp_path)
    assert rc == 0
    html = (tmp_path / "_build" / "html" / "notebooks" / "07_finetune_drift.html").read_text()
    assert "Qwen3-tiny-Base" in html
