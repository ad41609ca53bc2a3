"""Conclusions that follow from the run: every outcome word is chosen from an interval, and two runs that
differ in kind — the committed reference run and a tiny local encoder with planted near-constant
dimensions — get opposite sentences from the same code.

The words are checked against intervals whose answer is known, and the two runs' generated sentences
against each run's own tables (the paired drop interval, the drift budget, the scaler's spread), never
against numbers typed for one run.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from probedrift.report import conclusions, findings, outcomes
from probedrift.run.params import repo_root

REFERENCE = repo_root() / "results" / "default"

# --------------------------------------------------------------------------- words from intervals


@pytest.mark.parametrize(("name", "short"), [("Qwen/Qwen3-0.6B", "Qwen3-0.6B"),
                                             ("/tmp/x/org/tiny-encoder/", "tiny-encoder"),
                                             ("gemma-3-270m", "gemma-3-270m"), ("C:\\models\\enc", "enc")])
def test_model_names_print_short(name, short):
    assert outcomes.short_name(name) == short


def test_the_per_dimension_angle_matches_a_simulation():
    """arctan(σ√d) against the mean angle between unit vectors and their per-dimension-noised copies."""
    rng = np.random.default_rng(0)
    for d in (640, 896, 1024, 2560):
        z = rng.standard_normal((200, d))
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        moved = z + 0.02 * rng.standard_normal(z.shape)
        cos = np.sum(z * moved, axis=1) / np.linalg.norm(moved, axis=1)
        simulated = np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()
        assert outcomes.per_dim_angle_deg(0.02, d) == pytest.approx(simulated, abs=0.3), d


def test_change_words_come_from_the_interval():
    assert outcomes.change_word(0.01, 0.05) == "rises"
    assert outcomes.change_word(-0.05, -0.01) == "falls"
    assert outcomes.change_word(-0.01, 0.05) == "does not change measurably"
    assert outcomes.change_word(math.nan, 0.05) == outcomes.UNRESOLVED


def test_collapse_word_uses_the_intervals_bound_not_the_point():
    """Clean AUC 0.90: half the excess is 0.20. A drop of 0.25 whose interval reaches 0.15 is unresolved;
    judged on its point it would collapse."""
    assert outcomes.collapse_word(0.15, 0.35, 0.90) == outcomes.UNRESOLVED
    assert outcomes.collapse_word(0.21, 0.35, 0.90) == "collapses"
    assert outcomes.collapse_word(-0.02, 0.19, 0.90) == "holds"
    assert outcomes.collapse_word(0.3, 0.4, 0.5) == outcomes.UNRESOLVED  # nothing above chance to lose


def test_band_position_and_alarm_order():
    assert outcomes.band_position(0.46, 0.54, 0.45, 0.55) == "within"
    assert outcomes.band_position(0.60, 0.70, 0.45, 0.55) == "above"
    assert outcomes.band_position(0.50, math.inf, 0.45, 0.55) == outcomes.UNRESOLVED
    assert outcomes.band_position(0.60, math.inf, 0.45, 0.55) == "above"
    # loss at 23°; the grid's angles are 0, 14, 27, ...
    assert outcomes.alarm_order(14.2, 0.0, 23.0) == "before"
    assert outcomes.alarm_order(26.9, 14.2, 23.0) == outcomes.UNRESOLVED  # alarmed at 27°, quiet at 14°
    assert outcomes.alarm_order(math.nan, 75.0, 23.0) == "after"  # never alarmed on a grid reaching 75°
    assert outcomes.alarm_order(40.0, 27.0, 23.0) == "after"
    assert outcomes.alarm_order(14.0, 0.0, math.nan) == outcomes.UNRESOLVED


# --------------------------------------------------------------------------- sentences from small tables


def _change(metric, clean, change, lo, hi, **kw):
    return {"model": "m", "design": "paper split", "c_rule": "paper", "c": 1.0, "convention": "per_dim",
            "sigma": 0.02, "metric": metric, "clean": clean, "drifted": clean + change, "change": change,
            "change_ci_low": lo, "change_ci_high": hi, **kw}


def test_a_rise_prints_rises_never_a_negative_fall():
    changes = pd.DataFrame([_change("mean_confidence", 0.85, 0.03, 0.01, 0.05),
                            _change("silent_failure_share", 0.7, -0.10, -0.15, -0.05),
                            _change("ece", 0.10, 0.01, -0.02, 0.04),
                            _change("mean_confidence", 0.85, -0.10, -0.12, -0.08, c_rule="validation")])
    text = conclusions.change_clauses(changes, "m")
    assert "mean confidence rises 3.0 points [1.0, 5.0]" in text
    assert "the share falls 10.0 points [5.0, 15.0]" in text
    assert "the ECE does not change measurably (+1.0 points [-2.0, +4.0])" in text
    assert "falls -" not in text and "rises -" not in text and "falls 10.0 points [15.0" not in text
    assert "falls" not in text.split("mean confidence")[1].split(",")[0]  # the other C rule is not mixed in
    assert conclusions.change_clauses(None, "m") == ""


def _layers(drop, lo, hi, clean=0.90, layer=-1):
    return {"model": "m", "layer": layer, "pooling": "mean", "convention": "relative", "auc_clean": clean,
            "auc_clean_ci_low": clean - 0.05, "auc_clean_ci_high": clean + 0.05, "sigma_near_angle": 0.02,
            "angle_deg": 1.15, "auc_at_angle": clean - drop, "auc_at_angle_ci_low": clean - hi - 0.02,
            "auc_at_angle_ci_high": clean - lo + 0.02, "auc_drop": drop, "auc_drop_ci_low": lo,
            "auc_drop_ci_high": hi, "collapse": bool(drop >= (clean - 0.5) / 2)}


def test_the_collapse_sentence_follows_the_paired_interval_not_the_point():
    straddles = pd.DataFrame([_layers(0.25, 0.15, 0.35)])  # the point says collapse, the interval cannot tell
    text = conclusions.collapse_sentence(straddles)
    assert "may or may not collapse at about 1°" in text and "collapses at about 1°" not in text
    assert "collapses at about 1°" in conclusions.collapse_sentence(pd.DataFrame([_layers(0.3, 0.22, 0.38)]))
    two = pd.DataFrame([_layers(0.01, -0.01, 0.03, layer=-1), _layers(0.3, 0.22, 0.38, layer=2)])
    text = conclusions.collapse_sentence(two, pd.DataFrame({"model": ["m", "m"], "layer": [-1, 2],
                                                            "angle_half_predicted_deg": [40.0, 0.6]}))
    assert "the last-layer probe of m does not collapse at about 1°" in text and "drift budget 40.0°" in text
    assert "at layer 2 (" in text and "budget 0.60°) it collapses" in text


def _budget(layer, angle, std_min, std_median, cos=0.9):
    return {"model": "m", "layer": layer, "pooling": "mean", "angle_half_predicted_deg": angle,
            "std_min": std_min, "std_median": std_median, "mean_cosine": cos, "collapse_at_1deg": angle < 2}


def _floor(layer, gain):
    return [{"model": "m", "layer": layer, "scaler": "none", "budget_gain_half": 1.0},
            {"model": "m", "layer": layer, "scaler": "median/10", "budget_gain_half": gain}]


def test_the_budget_cause_is_read_from_the_variance_floor_table():
    budget = pd.DataFrame([_budget(2, 0.7, 1e-5, 1e-2), _budget(4, 30.0, 5e-3, 1e-2)])
    text = conclusions.budget_cause(budget, pd.DataFrame(_floor(2, 8.0) + _floor(4, 1.0)))
    assert "0.70° at layer 2 (near-constant dimensions: the smallest scaler std is 0.001 of the median" in text
    assert "8.0-fold" in text
    # the floor changes nothing: every dimension is narrow, a tight cap, not near-constant dimensions
    text = conclusions.budget_cause(pd.DataFrame([_budget(2, 0.7, 1.07e-3, 1e-2, 0.93), _budget(4, 30.0, 5e-3, 1e-2)]),
                                    pd.DataFrame(_floor(2, 1.0) + _floor(4, 1.0)))
    assert "no near-constant dimensions" in text and "tight cap" in text and "mean cosine 0.93" in text
    # a large budget gets no cause; without variance_floor none is named
    assert "cap" not in conclusions.budget_cause(pd.DataFrame([_budget(4, 30.0, 5e-3, 1e-2)]),
                                                 pd.DataFrame(_floor(4, 1.0)))
    assert "near-constant" not in conclusions.budget_cause(budget, None)


def test_monitor_sentence_says_which_alarm_before_the_loss():
    agg = pd.DataFrame({"model": "m", "drift_type": "gaussian", "convention": "per_dim",
                        "sigma": [0.0, 0.01, 0.02, 0.05], "angle_deg_mean_mean": [0.0, 14.2, 26.8, 48.0]})
    base = {"model": "m", "drift_type": "gaussian", "convention": "per_dim", "angle_deg_5pt": 23.0}
    fa = pd.DataFrame([
        {**base, "detector": "ks", "share_seeds_alarmed": 1.0, "first_alarm_sigma_min": 0.01,
         "first_alarm_angle_deg_max": 14.3},
        {**base, "detector": "mmd", "share_seeds_alarmed": 1.0, "first_alarm_sigma_min": 0.02,
         "first_alarm_angle_deg_max": 26.9},
        {**base, "detector": "confidence", "share_seeds_alarmed": 0.0, "first_alarm_sigma_min": math.nan,
         "first_alarm_angle_deg_max": math.nan},
        {**base, "detector": "mean_cosine", "share_seeds_alarmed": 1.0, "first_alarm_sigma_min": 0.05,
         "first_alarm_angle_deg_max": 48.0},
    ])
    text = conclusions.monitor_sentence(fa, agg)
    assert "a 5-point AUC loss at 23.0°" in text
    assert "alarm before it: ks" in text
    assert "not by then: confidence, mean cosine" in text
    assert "the grid or the drift seeds cannot tell: mmd" in text
    # with the log-spaced grid's columns, the share of seeds alarming before the loss there decides
    log = fa.assign(log_angle_deg_5pt=20.0, log_share_seeds_alarm_before_5pt=[1.0, 0.5, 0.0, 0.0])
    text = conclusions.monitor_sentence(log, agg)
    assert "log-spaced" in text and "a 5-point AUC loss at 20.0°" in text and "alarm before it: ks" in text
    assert "cannot tell: mmd" in text and "not by then: confidence, mean cosine" in text


def test_update_sentence_names_what_moved_most_and_what_cost_most():
    real = pd.DataFrame({"source": ["a", "b", "c"], "angle_deg_mean": [78.5, 60.0, 10.0], "auc": [0.71, 0.72, 0.75],
                         "note": ["", "", "skipped: no GPU"]})
    mit = pd.DataFrame({"source": ["a", "b"], "method": "no_update", "auc": [0.72, 0.82]})
    text = conclusions.update_sentence(real, mit)
    assert "`a` moved embeddings the most (78.5°); `b` cost the frozen probe the most AUC (0.82 → 0.72" in text
    assert "`c`" not in text


# --------------------------------------------------------------------------- the reference run


def _last_layer_words(run_dir):
    """Per model, the collapse word of the deepest probed layer, computed here from layer_collapse's paired
    drop interval against half the clean excess (the criterion, not the library's function)."""
    lc = pd.read_csv(run_dir / "metrics" / "layer_collapse.csv")
    lc["depth"] = lc.layer.where(lc.layer >= 0, 1e6 + lc.layer)
    out = {}
    for m, g in lc.groupby("model", sort=False):
        r = g.loc[g.depth.idxmax()]
        half = (r.auc_clean - 0.5) / 2
        out[m] = ("collapses" if r.auc_drop_ci_low >= half else "holds" if r.auc_drop_ci_high < half
                  else "unresolved")
    return out


def test_the_reference_runs_sentences_say_the_last_layer_probe_does_not_collapse():
    words = _last_layer_words(REFERENCE)
    assert words and set(words.values()) == {"holds"}  # what the reference run's own table says
    box = findings.key_findings_markdown(REFERENCE)
    disc = findings.discussion_outcomes(REFERENCE)
    for m in words:
        short = outcomes.short_name(m)
        assert f"the last-layer probe of {short} does not collapse at about 1°" in box
        assert f"the last-layer probe of {short} does not collapse at about 1°" in disc["discussion_layers"]
    assert "Neither reading reproduces" in disc["discussion_readings"]
    assert "collapses at about 1°" not in box.replace("does not collapse at about 1°", "")
    # the budget's cause comes from variance_floor: where the floor changes nothing, no near-constant dimensions
    floor = pd.read_csv(REFERENCE / "metrics" / "variance_floor.csv")
    budget = pd.read_csv(REFERENCE / "metrics" / "drift_budget.csv")
    smallest = budget.loc[budget.angle_half_predicted_deg.idxmin()]
    gain = floor[(floor.model == smallest.model) & (floor.layer == smallest.layer)].budget_gain_half.max()
    if smallest.angle_half_predicted_deg <= conclusions.SMALL_BUDGET_DEG:
        assert ("tight cap" in box) == (gain <= 1.05) and ("(near-constant dimensions:" in box) == (gain > 1.05)


# --------------------------------------------------------------------------- a tiny encoder that collapses

RUDE = ["fool", "idiot", "moron", "stupid", "loser", "pathetic", "clown", "dumb"]
KIND = ["thanks", "lovely", "helpful", "great", "kind", "nice", "welcome", "appreciate"]
FILLER = ["the", "a", "is", "this", "text", "comment", "here", "and", "you", "it", "was", "my", "about", "today",
          "post", "again", "what", "reply", "thread", "said"]
#: The last LayerNorm's weight on the planted dimensions: they vary across texts a thousandth as much as
#: the others, so the scaler divides by tiny scales and a fraction of a degree of drift swamps them.
PLANTED_WEIGHT, PLANTED_DIMS = 1e-3, 4


def _planted_encoder(root):
    """A random BERT encoder whose class words are pushed apart along one direction of the word embeddings,
    with PLANTED_DIMS near-constant output dimensions, and a labelled CSV in its own column names."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    rng = np.random.default_rng(0)
    rows = []
    for _ in range(200):
        for y in (0, 1):
            own, other = (RUDE, KIND) if y else (KIND, RUDE)
            words = [*rng.choice(FILLER, 3), rng.choice(own), *([rng.choice(other)] if rng.random() < 0.3 else [])]
            rng.shuffle(words)
            rows.append({"comment": " ".join(words), "is_toxic": y})
    pd.DataFrame(rows).to_csv(root / "labelled.csv", index=False)
    torch.manual_seed(0)
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                                *RUDE, *KIND, *FILLER])})
    assert tok.unk_token not in tok.tokenize(rows[0]["comment"]), "the tiny encoder must read its own words"
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                     num_attention_heads=4, max_position_embeddings=64)
    model = BertModel(cfg)
    with torch.no_grad():
        v = torch.randn(cfg.hidden_size)
        v = 2.0 * v / v.norm() * cfg.hidden_size ** 0.5 * 0.05  # norm 0.1·√d
        emb = model.embeddings.word_embeddings.weight
        emb[[tok.convert_tokens_to_ids(w) for w in RUDE]] += v
        emb[[tok.convert_tokens_to_ids(w) for w in KIND]] -= v
        model.encoder.layer[-1].output.LayerNorm.weight[:PLANTED_DIMS] = PLANTED_WEIGHT
        model.encoder.layer[-1].output.LayerNorm.bias[:PLANTED_DIMS] = 0.0
    enc = root / "tiny-encoder"
    model.save_pretrained(enc)
    tok.save_pretrained(enc)
    return enc, root / "labelled.csv"


@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory):
    """``probedrift run`` on the smoke profile with the planted encoder and its CSV (200 texts per class, so
    the test split of 80 texts resolves a collapse); the run directory."""
    from probedrift.core.cache import cache_root

    root = tmp_path_factory.mktemp("planted")
    enc, csv = _planted_encoder(root)
    cache = root / "cache"
    cache.mkdir()
    (cache_root() / "models").mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(cache_root() / "models", target_is_directory=True)
    sets = [f"models=[{enc}]", "pairs=[]", f"dataset={csv}", "text_column=comment", "label_column=is_toxic",
            "pooling=mean", "n_per_class=200", "max_length=16", "device=cpu"]
    cmd = [sys.executable, "-m", "probedrift.run.cli", "run", "--profile", "smoke", "--results", str(root / "results")]
    for s in sets:
        cmd += ["--set", s]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=1800,
                         env={**os.environ, "PROBEDRIFT_CACHE_DIR": str(cache)})
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    return root / "results" / "smoke"


@pytest.mark.slow
def test_a_probe_on_near_constant_dimensions_collapses_at_about_a_degree_and_the_book_says_so(encoder_run):
    budget = pd.read_csv(encoder_run / "metrics" / "drift_budget.csv")
    last = budget.loc[budget.layer.where(budget.layer >= 0, 1e6 + budget.layer).idxmax()]
    assert last.std_min / last.std_median < 0.01  # the planted dimensions reached the probe's scaler
    words = _last_layer_words(encoder_run)
    assert list(words.values()) == ["collapses"]  # what the run's own paired drop interval says
    box = findings.key_findings_markdown(encoder_run)
    disc = findings.discussion_outcomes(encoder_run)
    assert "the last-layer probe of tiny-encoder collapses at about 1°" in box
    assert "the last-layer probe of tiny-encoder collapses at about 1°" in disc["discussion_layers"]
    assert "drift budget" in box and "drift budget" in disc["discussion_layers"]
    assert "(near-constant dimensions: the smallest scaler std" in box  # the floor raises the budget here
    assert str(encoder_run.parent.parent) not in box + "".join(disc.values())  # no local paths in prose
    # the reference run's sentences, from the same code, go the other way
    assert "collapses at about 1°" not in findings.key_findings_markdown(REFERENCE).replace(
        "does not collapse at about 1°", "")


def test_neither_reading_reproduces_the_collapse_only_when_every_interval_is_outside_chance():
    def agg(lo, hi):
        rows = []
        for conv, angle in (("per_dim", 26.8), ("relative", 1.14)):
            rows += [{"model": "m", "drift_type": "gaussian", "convention": conv, "sigma": 0.0,
                      "angle_deg_mean_mean": 0.0, "auc_mean": 0.9, "auc_ci_low": 0.85, "auc_ci_high": 0.95},
                     {"model": "m", "drift_type": "gaussian", "convention": conv, "sigma": 0.02,
                      "angle_deg_mean_mean": angle, "auc_mean": (lo + hi) / 2, "auc_ci_low": lo, "auc_ci_high": hi}]
        return pd.DataFrame(rows)

    assert "Neither reading reproduces" in conclusions.reading_sentence(agg(0.70, 0.80), None)
    text = conclusions.reading_sentence(agg(0.40, 0.70), None)  # the point 0.55 would sit at the band's edge
    assert "Neither" not in text and "the intervals cannot tell" in text
    assert "A collapse to chance at about a degree appears for m (relative)" in conclusions.reading_sentence(
        agg(0.46, 0.54), None)


def _fm_row(kind, source, auc, auc_ci, acc, acc_ci, alarm, mu=0.0, tau=1.0, free=None):
    return {"model": "org/m", "kind": kind, "source": source, "angle_deg_mean": 5.0, "auc_clean": 0.90,
            "auc": auc, "auc_ci_low": auc_ci[0], "auc_ci_high": auc_ci[1], "accuracy_clean": 0.85,
            "accuracy": acc, "accuracy_ci_low": acc_ci[0], "accuracy_ci_high": acc_ci[1],
            "silent_failure_rate_clean": 0.05, "silent_failure_rate": 0.40, "alarm_confidence": alarm,
            "mu": mu, "tau": tau, "auc_label_free": auc if free is None else free}


def test_the_two_failure_modes_read_their_directions_from_the_intervals():
    fm = pd.DataFrame([
        _fm_row("gaussian", "gaussian per_dim", 0.60, (0.52, 0.68), 0.60, (0.5, 0.7), 0.0, mu=0.1, tau=6.0),
        _fm_row("common rotation", "rotation 45°", 0.70, (0.62, 0.78), 0.50, (0.45, 0.55), float("nan")),
        # the update that breaks the threshold beyond the ranking: accuracy −0.30, AUC −0.01
        _fm_row("real update", "layer_shift", 0.89, (0.84, 0.94), 0.55, (0.48, 0.62), 0.0, mu=-9.0, tau=1.5,
                free=0.85),
        _fm_row("fine-tuning", "lora step 20", 0.80, (0.72, 0.88), 0.75, (0.68, 0.82), 1.0, free=0.83),
        _fm_row("fine-tuning", "lora step 40", 0.80, (0.72, 0.88), 0.75, (0.68, 0.82), float("nan"))])
    text = conclusions.failure_modes_sentence(fm)
    assert "per-text scatter (m, Gaussian, 5.00°; τ = 6.0, μ = +0.1): AUC fell, 0.90 → 0.60 [0.52, 0.68]" in text
    assert ("a shift shared by all texts (m, real update `layer_shift`, 5.00°; μ = -9.0 against τ = 1.5): AUC held "
            "(0.90 → 0.89 [0.84, 0.94]), accuracy fell (0.85 → 0.55 [0.48, 0.62])") in text
    assert "rotation" not in text  # the synthetic control is not an update a deployment meets
    assert "the confidence monitor alarmed on 1 of the 2 updates it was tested on" in text  # NaN: not tested
    assert "the AUC was at most 0.03 above the measured AUC on 3 updates" in text
    calm = pd.DataFrame([_fm_row("real update", "truncation", 0.89, (0.84, 0.94), 0.84, (0.78, 0.90), 0.0)])
    assert "no update broke the thresholded classifier measurably" in conclusions.failure_modes_sentence(calm)
    assert "not in this run" in conclusions.failure_modes_sentence(None)
