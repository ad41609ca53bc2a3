"""Chapter 7: the frozen probe followed through its own base model's fine-tuning checkpoints.

The paper's base-vs-instruct comparison confounds instruction tuning with size, and the offline
pair of chapters 5 and 6 differs in family, width and tokenizer too. Here the update is controlled:
the base model (``finetune_base``, default the first of ``models``) is instruction-tuned by
:func:`probedrift.inputs.finetune.finetune` at each of ``finetune_learning_rates`` (one update strength
each), and every checkpoint of ``finetune_steps`` is embedded with the run's own settings (same
layer, pooling, max length). Step 0 is the base model itself, so its row reproduces the baseline.

Each checkpoint is scored like a real drift source of chapter 6 (:mod:`probedrift.experiments.realdrift`): the
measured angle per test text, the frozen probe's metrics (the AUC with a stratified bootstrap
interval over test texts), every monitor's alarm, and the mitigations (retrain, anchor alignment at
each k, recalibration).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from probedrift.core.timing import timed
from probedrift.experiments import realdrift
from probedrift.experiments.context import RunContext
from probedrift.experiments.updates import UpdatePair
from probedrift.inputs.causal_lm import sample_generations
from probedrift.inputs.corpus import assert_disjoint, build_corpus
from probedrift.inputs.embed import normalize_layer
from probedrift.inputs.finetune import finetune, run_components, run_dir
from probedrift.inputs.model_facts import model_is_causal
from probedrift.report.tables import pair_comparison
from probedrift.run.params import Pair
from probedrift.science.separability import per_layer_report

if TYPE_CHECKING:
    from probedrift.inputs.corpus import InstructionCorpus

FINETUNE_COLUMNS = ["model", "method", "learning_rate", "step", "train_loss", "angle_deg_mean", "angle_deg_median",
                    "auc", "auc_ci_low", "auc_ci_high", "accuracy", "mean_confidence", "silent_failure_share",
                    "silent_failure_rate", "ece", "retrain_auc", "recalibrated_ece", "checkpoint", "auc_change",
                    "auc_change_ci_low", "auc_change_ci_high"]
SAME_MODEL_NOTE = "same model, width and tokenizer (fine-tuned checkpoint)"


@dataclass(frozen=True)
class Update:
    """One checkpoint of one update strength."""

    method: str
    learning_rate: float
    step: int
    path: str
    train_loss: float | None

    @property
    def label(self) -> str:
        """A short name for tables and figures, e.g. ``lora lr=0.001 step 20``."""
        return f"{self.method} lr={self.learning_rate:g} step {self.step}"


def base_model(S: RunContext) -> str:
    """The model chapter 7 fine-tunes."""
    return S.params.finetune_base or S.models[0]


def skip_reason(S: RunContext) -> str | None:
    """Why this chapter does not apply to the run (the base is not a causal language model), or None."""

    base = base_model(S)
    if not model_is_causal(base):
        return (f"`{base}` is a bidirectional encoder, not a causal language model, so there is no instruction "
                "tuning to follow; set `finetune_base` to a causal model to run it")
    return None


@timed("corpus")
def training_corpus(S: RunContext, progress: bool = True) -> tuple[InstructionCorpus, list[str]]:
    """The instruction corpus (``finetune_corpus_size`` pairs) and held-out instructions, checked to
    contain none of the run's probe texts (:func:`probedrift.inputs.corpus.assert_disjoint`)."""

    corpus, held_out = build_corpus(S.params.finetune_corpus_size, n_held_out=8, seed=S.params.seed,
                                    exclude=S.dataset.texts, progress=progress)
    assert_disjoint(corpus, S.dataset.texts)
    return corpus, held_out


@timed("fine-tuning")
def checkpoints(S: RunContext, corpus: InstructionCorpus, progress: bool = True) -> list[Update]:
    """Fine-tune the base at every learning rate and return every checkpoint (cached and resumable)."""

    p = S.params
    S.release_models()  # training loads the base with its head: never beside the backbone held for extraction
    out = []
    for lr in p.finetune_learning_rates:
        for ck in finetune(base_model(S), corpus, steps=list(p.finetune_steps), method=p.finetune_method,
                           rank=p.finetune_rank, alpha=2 * p.finetune_rank, learning_rate=lr,
                           batch_size=p.finetune_batch_size, max_length=p.finetune_max_length, seed=p.seed,
                           device=p.device, progress=progress,
                           recompute_activations=p.finetune_recompute_activations):
            out.append(Update(p.finetune_method, float(lr), ck.step, ck.path, ck.train_loss))
    return out


def loss_curves(S: RunContext, corpus: InstructionCorpus) -> pd.DataFrame:
    """Training loss of every optimizer step per update strength (from each run's ``losses.json``)."""

    p = S.params
    frames = []
    for lr in p.finetune_learning_rates:
        comps = run_components(base_model(S), corpus, method=p.finetune_method, rank=p.finetune_rank,
                               alpha=2 * p.finetune_rank, learning_rate=lr, batch_size=p.finetune_batch_size,
                               max_length=p.finetune_max_length, seed=p.seed)
        values = json.loads((run_dir(comps) / "losses.json").read_text()).get("losses", [])
        frames.append(pd.DataFrame({"method": p.finetune_method, "learning_rate": float(lr),
                                    "step": np.arange(1, len(values) + 1), "train_loss": values}))
    return pd.concat(frames, ignore_index=True)


def update_pairs(S: RunContext, updates: list[Update]) -> dict[str, UpdatePair]:
    """Before (the base) and after (the checkpoint) embeddings of every dataset text, per checkpoint."""
    base = base_model(S)
    before = S.embeddings(base)
    return {u.label: UpdatePair(u.label, base, u.path, before, before if u.step == 0 else S.embeddings(u.path),
                                f"{u.method} fine-tuning at learning rate {u.learning_rate:g}, step {u.step}")
            for u in updates}


def finetune_table(S: RunContext, updates: list[Update], pairs: dict[str, UpdatePair]) -> pd.DataFrame:
    """One row per checkpoint (:data:`FINETUNE_COLUMNS` plus ``alarm_<detector>`` and the aligned AUC per k).

    ``auc_change`` is the frozen probe's AUC on the checkpoint's embeddings minus its AUC on the base
    model's, on the same test texts, with the paired interval of
    :func:`probedrift.experiments.realdrift.paired_auc_change` (the same bootstrap resamples of the test
    texts for both; ``auc_change_interval`` says so). Judge a checkpoint by it: the base's and the
    checkpoint's own intervals (``auc_ci_low``/``auc_ci_high``) overlap even when the paired change is
    resolved. Step 0 is the base itself, so its change is exactly 0.
    """

    real = realdrift.real_drift_table(S, pairs=pairs).set_index("source")
    mit = realdrift.mitigations_table(S, pairs=pairs)
    rows = []
    for u in updates:
        r, m = real.loc[u.label], mit[mit.source == u.label]
        frozen = m[m.method == "frozen"].iloc[0]
        row = {"model": base_model(S), "method": u.method, "learning_rate": u.learning_rate, "step": u.step,
               "train_loss": np.nan if u.train_loss is None else u.train_loss,
               "angle_deg_mean": r.angle_deg_mean, "angle_deg_median": r.angle_deg_median,
               "auc": frozen.auc, "auc_ci_low": frozen.ci_low, "auc_ci_high": frozen.ci_high,
               "accuracy": r.accuracy, "mean_confidence": r.mean_confidence,
               "silent_failure_share": r.silent_failure_share, "silent_failure_rate": r.silent_failure_rate,
               "ece": frozen.ece, "retrain_auc": m[m.method == "retrain"].auc.iloc[0],
               "recalibrated_ece": m[m.method == "recalibrate"].ece.iloc[0], "checkpoint": u.label,
               "auc_interval": frozen.interval, "auc_change": frozen.auc_change,
               "auc_change_ci_low": frozen.auc_change_ci_low, "auc_change_ci_high": frozen.auc_change_ci_high,
               "auc_change_interval": frozen.change_interval}
        row.update({c: bool(r[c]) for c in real.columns if c.startswith("alarm_")})
        for a in m[m.method == "align"].itertuples():
            row[f"align_auc_k{int(a.k)}"] = a.auc
        rows.append(row)
    return pd.DataFrame(rows)


def separability_table(S: RunContext, updates: list[Update]) -> pd.DataFrame:
    """Base against each checkpoint at the same width and tokenizer: each separability measure at the
    probe layer and its relative change (the controlled form of the paper's Table 2 comparison)."""

    base = base_model(S)
    layer = normalize_layer(S.params.layer, S.num_layers(base))
    y = S.dataset.labels
    n_boot = S.params.n_boot
    frames = []
    for model, name in [(base, base)] + [(u.path, u.label) for u in updates if u.step > 0]:
        sep = per_layer_report({layer: S.embeddings(model)}, y, model=name, n_boot=n_boot,
                               n_boot_expensive=max(5, min(20, n_boot // 100)), seed=S.params.seed)
        frames.append(sep)
    sep = pd.concat(frames, ignore_index=True)
    pairs = [Pair(base, u.label, SAME_MODEL_NOTE) for u in updates if u.step > 0]
    out = pair_comparison(sep, pairs)
    by_label = {u.label: u for u in updates}
    out.insert(2, "learning_rate", [by_label[i].learning_rate for i in out.instruct])
    out.insert(3, "step", [by_label[i].step for i in out.instruct])
    return out.rename(columns={"instruct": "checkpoint"})


@timed("generation")
def generations(S: RunContext, updates: list[Update], held_out: list[str], n: int = 3,
                max_new_tokens: int = 40) -> pd.DataFrame:
    """Greedy answers to ``n`` held-out instructions from the base and the last checkpoint of each strength."""

    last = {}
    for u in updates:
        if u.step > 0 and (u.learning_rate not in last or u.step > last[u.learning_rate].step):
            last[u.learning_rate] = u
    instructions = held_out[:n]
    table = {"instruction": instructions,
             "base": sample_generations(base_model(S), instructions, max_new_tokens=max_new_tokens,
                                        device=S.params.device)}
    for u in last.values():
        table[u.label] = sample_generations(u.path, instructions, max_new_tokens=max_new_tokens,
                                            device=S.params.device)
    return pd.DataFrame(table)


# ---------------------------------------------------------------- the chapter's tables (see probedrift.run.catalogue)


def prepared(S: RunContext) -> tuple[InstructionCorpus, list[str], list[Update]]:
    """The instruction corpus, the held-out instructions and every checkpoint (:func:`training_corpus`,
    :func:`checkpoints`), built or loaded from the cache once per run."""
    def build():
        corpus, held_out = training_corpus(S)
        return corpus, held_out, checkpoints(S, corpus)
    return S.memo("finetune", build)


def losses_table(S: RunContext) -> pd.DataFrame:
    """Table ``finetune_losses``: :func:`loss_curves` of the run's corpus."""
    return loss_curves(S, prepared(S)[0])


def generations_table(S: RunContext) -> pd.DataFrame:
    """Table ``finetune_generations``: :func:`generations` of the base and each strength's last checkpoint."""
    _, held_out, updates = prepared(S)
    return generations(S, updates, held_out)


@timed("real drift")
def drift_table(S: RunContext) -> pd.DataFrame:
    """Table ``finetune_drift``: :func:`finetune_table` of every checkpoint against the base."""
    updates = prepared(S)[2]
    return finetune_table(S, updates, update_pairs(S, updates))


@timed("separability")
def separability_changes(S: RunContext) -> pd.DataFrame:
    """Table ``finetune_separability``: :func:`separability_table` of every checkpoint against the base."""
    return separability_table(S, prepared(S)[2])
