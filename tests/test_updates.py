"""Real drift sources and the real-drift tables: int8 quantisation, prompt format, row alignment, columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from probedrift.core.errors import ProbedriftError
from probedrift.experiments import realdrift, updates
from probedrift.inputs.models import LoadedModel, ModelSpec
from probedrift.inputs.variants import quantize_int8


def test_registry_covers_every_profile_source():
    from probedrift.run.params import PROFILES, load_params

    assert tuple(updates.REGISTRY) == updates.SOURCES
    assert all(name == updates.REGISTRY.get(name).name for name in updates.REGISTRY)
    for profile in PROFILES:
        assert set(load_params(profile).real_drift_sources) <= set(updates.SOURCES)


def test_a_study_satisfies_the_sources_protocol():
    from probedrift.run.study import Study

    for member in ("models", "pairs", "embeddings", "settings", "num_layers"):
        assert hasattr(Study, member), member


def test_unknown_source_lists_the_valid_ones():
    with pytest.raises(ProbedriftError) as err:
        updates.update_pair(object(), "fp8")
    assert all(s in str(err.value) for s in updates.SOURCES)


@pytest.mark.parametrize("max_length, expected", [(512, 64), (256, 64), (128, 64), (64, 32), (16, 8), (2, 1)])
def test_truncated_length_is_half_at_most_64(max_length, expected):
    assert updates.truncated_length(max_length) == expected


def test_truncated_length_needs_something_to_cut():
    with pytest.raises(ProbedriftError, match="max_length"):
        updates.truncated_length(1)


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(50, 32)
        self.up = torch.nn.Linear(32, 64)
        self.norm = torch.nn.LayerNorm(64)
        self.down = torch.nn.Linear(64, 32)

    def forward(self, ids):
        return self.down(torch.relu(self.norm(self.up(self.embed(ids)))))


def tiny_model(dtype=torch.float32) -> LoadedModel:
    torch.manual_seed(0)
    net = Tiny().to(dtype).eval()
    return LoadedModel(spec=ModelSpec(name="tiny", source="local", identity="local:tiny"), model=net, tokenizer=None,
                       device=torch.device("cpu"), dtype=dtype, num_layers=1, hidden_size=32)


def test_int8_copy_really_holds_int8_linear_weights():
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    lm = tiny_model()
    q = quantize_int8(lm)
    linears = [m for m in q.model.modules() if isinstance(m, DynamicLinear)]
    assert len(linears) == 2
    assert all(m.weight().dtype == torch.qint8 for m in linears)
    assert not any(type(m) is torch.nn.Linear for m in q.model.modules())
    # A distinct identity keeps its cache entries apart; the original is untouched.
    assert q.identity.startswith("local:tiny+int8-dynamic") and q.identity != lm.identity
    assert [type(m) for m in lm.model.modules()].count(torch.nn.Linear) == 2
    assert q.model.embed.weight is lm.model.embed.weight  # shared, not copied
    ids = torch.arange(50).reshape(5, 10)
    with torch.inference_mode():
        ref, out = lm.model(ids), q.model(ids)
    rel = (out - ref).norm() / ref.norm()
    assert 0 < rel < 0.05


def test_int8_needs_the_float32_model():
    with pytest.raises(ProbedriftError, match="float32"):
        quantize_int8(tiny_model(torch.bfloat16))


def test_chat_template_changes_the_input_ids():
    from transformers import AutoTokenizer

    from probedrift.inputs.embed import prepare_inputs
    from probedrift.inputs.models import converted_dir, spec

    name = "smollm2-135m-instruct"
    tok = AutoTokenizer.from_pretrained(str(converted_dir(name)))
    lm = LoadedModel(spec=spec(name), model=None, tokenizer=tok, device=torch.device("cpu"), dtype=torch.float32,
                     num_layers=30, hidden_size=576)
    texts = ["you are a complete fool", "thanks, that was a helpful answer", "ok"]
    raw = prepare_inputs(lm, texts, 256, chat_template=False)
    chat = prepare_inputs(lm, texts, 256, chat_template=True)
    for r, c in zip(raw, chat):
        assert r != c and len(c) > len(r)
        # the text itself is still there, as one contiguous run of the same ids
        assert any(c[i:i + len(r)] == r for i in range(len(c) - len(r) + 1))


def test_anchor_indices_are_distinct_sorted_and_seeded():
    a = realdrift.anchor_indices(50, 8, 3)
    assert len(set(a)) == 8 and np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 50
    assert np.array_equal(a, realdrift.anchor_indices(50, 8, 3))
    assert not np.array_equal(a, realdrift.anchor_indices(50, 8, 4))
    with pytest.raises(ProbedriftError, match="anchor"):
        realdrift.anchor_indices(5, 8, 0)


def test_synthetic_reference_interpolates_the_isotropic_curve():
    agg = pd.DataFrame({"model": "m", "drift_type": "gaussian", "convention": ["relative"] * 3 + ["per_dim"] * 2,
                        "sigma": [0.0, 0.01, 0.02, 0.0, 0.05], "angle_deg_mean_mean": [0.0, 1.0, 2.0, 0.0, 20.0],
                        "auc_mean": [0.9, 0.8, 0.7, 0.9, 0.5]})
    real = pd.DataFrame({"source": ["a", "b", "c"], "model_before": "m", "angle_deg_mean": [0.5, 11.0, 40.0],
                         "auc": [0.85, 0.6, 0.55]})
    ref = realdrift.synthetic_reference(real, agg).set_index("source")
    assert ref.auc_clean.tolist() == pytest.approx([0.9] * 3)
    assert ref.auc_isotropic["a"] == pytest.approx(0.85)
    assert ref.auc_isotropic["b"] == pytest.approx(0.6)
    assert np.isnan(ref.auc_isotropic["c"])  # beyond the synthetic range


# ------------------------------------------------------------------------------------------------
# a tiny study: real extraction with gemma into an isolated cache; a width-changing "swap" is
# simulated by a fixed random linear map of gemma's vectors, so only one model is loaded


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    from probedrift.core.cache import cache_root
    from probedrift.run.study import Study

    root = tmp_path_factory.mktemp("realdrift")
    (root / "cache").mkdir()
    shared = cache_root() / "models"
    (root / "cache" / "models").symlink_to(shared, target_is_directory=True)
    overrides = dict(n_per_class=15, max_length=24, device="cpu", anchor_sizes=[4, 8], drift_seeds=[0, 1],
                     n_boot=20, detector_permutations=20, real_drift_sources=["truncation", "layer_shift"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROBEDRIFT_CACHE_DIR", str(root / "cache"))
        S = Study.from_profile("smoke", overrides, results_dir=str(root / "results"))
        pairs, skipped = updates.update_pairs(S)
        assert skipped == {}
        before = S.embeddings(S.models[0])
        wider = before @ np.random.default_rng(0).standard_normal((before.shape[1], 700)).astype(np.float32)
        pairs["model_swap"] = updates.UpdatePair("model_swap", S.models[0], "wider", before, wider, "a wider model")
        yield S, pairs


@pytest.mark.slow
def test_pairs_are_row_aligned_and_change_what_they_say(tiny_study):
    from probedrift.core.sphere import angle_deg

    S, pairs = tiny_study
    n = len(S.dataset)
    m = S.models[0]
    for p in pairs.values():
        assert p.before.shape[0] == p.after.shape[0] == n
    assert np.array_equal(pairs["layer_shift"].before, S.embeddings(m))
    assert pairs["layer_shift"].change == f"hidden state {S.num_layers(m)} → {S.num_layers(m) - 1}"
    # Truncation to 16 tokens leaves texts of at most 16 tokens alone and moves the longer ones.
    tr = pairs["truncation"]
    lengths = np.array([len(ids) for ids in S.loaded_model(m).tokenizer(S.dataset.texts)["input_ids"]])
    ang = angle_deg(tr.before, tr.after)
    short, long = lengths <= updates.truncated_length(24), lengths > 24
    assert short.any() and long.any()
    assert ang[short].max() < 0.5
    assert ang[long].min() > 1.0


@pytest.mark.slow
def test_real_drift_table_has_the_promised_columns(tiny_study):
    S, pairs = tiny_study
    real = realdrift.real_drift_table(S, pairs=pairs)
    alarms = [f"alarm_{d}" for d in S.params.detectors]
    assert list(real.columns) == realdrift.REAL_DRIFT_COLUMNS + alarms + ["note"]
    assert real.source.tolist() == list(pairs)
    assert all(real[c].dtype == bool for c in alarms)
    assert real.auc.between(0, 1).all() and (real.angle_deg_mean >= 0).all()
    assert (real.angle_deg_median <= 90.0 + 1e-6).all()
    assert "adapter" in real.set_index("source").note["model_swap"]
    assert "adapter" not in real.set_index("source").note["layer_shift"]


@pytest.mark.slow
def test_mitigations_table_is_consistent(tiny_study):
    S, pairs = tiny_study
    mit = realdrift.mitigations_table(S, pairs=pairs)
    assert list(mit.columns) == realdrift.MITIGATION_COLUMNS
    n_sizes = len(S.params.anchor_sizes)
    for _source, g in mit.groupby("source", sort=False):
        by = g.set_index(g.method + g.k.astype(str))
        assert set(g.method) == set(realdrift.MITIGATION_METHODS)
        align = g[g.method == "align"]
        assert sorted(align.k) == sorted(S.params.anchor_sizes) and len(g) == 5 + n_sizes
        assert (align.n_seeds == len(S.params.drift_seeds)).all()
        assert ((align.ci_low <= align.auc + 1e-12) & (align.auc <= align.ci_high + 1e-12)).all()
        frozen, rec = by.loc["frozen<NA>"], by.loc["recalibrate<NA>"]
        assert rec.auc == pytest.approx(frozen.auc, abs=1e-12)  # a temperature never changes the ranking
        gate = by.loc["detector_gate<NA>"]
        expected = by.loc["retrain<NA>"] if gate.alarm else frozen
        assert gate.auc == expected.auc
        assert gate.auc_change == expected.auc_change and gate.auc_vs_frozen == expected.auc_vs_frozen
        no_update = by.loc["no_update<NA>"]
        assert no_update.angle_deg_mean == 0
        # paired changes: against itself exactly 0; otherwise the difference of the two rows' AUCs
        assert (no_update.auc_change, no_update.auc_change_ci_low, no_update.auc_change_ci_high) == (0, 0, 0)
        assert (frozen.auc_vs_frozen, frozen.auc_vs_frozen_ci_low, frozen.auc_vs_frozen_ci_high) == (0, 0, 0)
        assert rec.auc_vs_frozen == pytest.approx(0, abs=1e-12)
        for _, row in g.iterrows():
            assert row.auc_change == pytest.approx(row.auc - no_update.auc, abs=1e-9)
            assert row.auc_vs_frozen == pytest.approx(row.auc - frozen.auc, abs=1e-9)
        assert (align.change_interval.str.endswith("and over the anchor draws")).all()
        assert not g[g.method != "align"].change_interval.str.contains("anchor").any()
    from probedrift.run import catalogue

    assert catalogue.column_problems("mitigations", mit.columns) == []
    # the frozen probe on the unchanged embeddings is the study's own probe on its own test split
    X_te, y = S.unit(S.models[0])["test"]
    p1 = S.probe(S.models[0]).predict_proba(X_te)
    from probedrift.science.metrics import roc_auc

    no_update = mit[(mit.method == "no_update") & (mit.source == "layer_shift")].auc.iloc[0]
    assert no_update == pytest.approx(roc_auc(y, p1))


@pytest.mark.slow
def test_int8_embeddings_are_cached_under_their_own_identity(tiny_study, monkeypatch):
    from probedrift.core.sphere import angle_deg
    from probedrift.inputs import variants

    S, _ = tiny_study
    m = S.models[0]
    settings = S.settings(m, dtype="float32", variant="int8-dynamic")
    first = S.embeddings(settings)
    ang = angle_deg(S.embeddings(m), first)
    assert first.shape == S.embeddings(m).shape and np.isfinite(first).all()
    assert 0 < np.median(ang) < 90
    # A fresh study finds it in the cache: it must not even build the quantised model.
    monkeypatch.setitem(variants.VARIANTS, "int8-dynamic",
                        variants.Variant("int8-dynamic", "float32", "cpu", lambda *a: pytest.fail("quantised again")))
    again = type(S)(S.params)
    assert np.array_equal(again.embeddings(settings), first)


# ------------------------------------------------------------------------------------------------
# bfloat16 on a CPU that only emulates it: skipped, with the reason in the table and the summary


class _Params:
    def __init__(self, **kw):
        self.__dict__.update(kw)


class _Run:
    """What update_pairs and real_drift_table read when every source is skipped."""

    def __init__(self, device="cpu", sources=("precision_bf16",), run_dir=None):
        self.params = _Params(device=device, real_drift_sources=tuple(sources), detectors=("mmd",), tau=0.8)
        self.run_dir = run_dir  # where the timed table writes its seconds
        self.models = ["org/base"]
        self.pairs = []


@pytest.mark.parametrize("text, flags", [
    ("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16 amx_tile\nprocessor\t: 1\nflags\t\t: fpu\n",
     {"fpu", "avx2", "avx512_bf16", "amx_tile"}),
    ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", {"fp", "asimd", "bf16", "i8mm"}),
    ("processor\t: 0\n", set()),
])
def test_cpu_flags_are_read_from_the_first_cpu(tmp_path, text, flags):
    (tmp_path / "cpuinfo").write_text(text)
    assert updates._cpu_flags(str(tmp_path / "cpuinfo")) == flags
    assert updates._cpu_flags(str(tmp_path / "missing")) == frozenset()


def test_bf16_is_skipped_with_its_reason_on_a_cpu_without_bf16_instructions(monkeypatch, tmp_path):
    monkeypatch.setattr(updates, "_cpu_flags", lambda: frozenset({"fpu", "avx2", "fma"}))
    S = _Run(run_dir=tmp_path)
    reason = updates.skip_reason(S, "precision_bf16")
    assert reason is not None and "without native bfloat16" in reason
    assert all(flag in reason for flag in updates.BF16_CPU_FLAGS) and "device: cuda" in reason
    pairs, skipped = updates.update_pairs(S)  # skipped before any embedding is computed
    assert pairs == {} and skipped == {"precision_bf16": reason}
    real = realdrift.real_drift_table(S, pairs=pairs, skipped=skipped)
    assert real.source.tolist() == ["precision_bf16"] and real.note.iloc[0] == f"skipped: {reason}"
    assert realdrift.skip_reason(S, pairs, skipped) == f"none of the real drift sources applies to this run: " \
                                                       f"`precision_bf16`: {reason}"
    from probedrift.report.summaries import real_drift_summary

    text = real_drift_summary(real, pd.DataFrame(columns=realdrift.MITIGATION_COLUMNS), pd.DataFrame(), 0.8, 10)
    assert f"`precision_bf16` ({reason})" in text


@pytest.mark.parametrize("flag", updates.BF16_CPU_FLAGS)
def test_bf16_runs_on_a_cpu_with_bf16_instructions(monkeypatch, flag):
    monkeypatch.setattr(updates, "_cpu_flags", lambda: frozenset({"fpu", flag}))
    assert updates.skip_reason(_Run(), "precision_bf16") is None


# ------------------------------------------------------------------------------------------------
# the paired AUC change: the same bootstrap resamples of the test texts for both predictions


def _scores(n=160, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n // 2)
    logit = 1.2 * (2 * y - 1) + rng.standard_normal(n)
    return y, 1 / (1 + np.exp(-logit)), rng


def test_paired_auc_change_matches_a_loop_over_the_same_resamples():
    from scipy import stats
    from sklearn.metrics import roc_auc_score

    from probedrift.core.intervals import bootstrap_weights, stratified_bootstrap_indices

    y, p, rng = _scores()
    P = np.stack([np.clip(p + 0.25 * rng.standard_normal(p.size), 0, 1) for _ in range(3)])  # three "draws"
    W = bootstrap_weights(y, 300, seed=7)
    change, lo, hi = realdrift.paired_auc_change(y, p, P, W)
    cells = np.array([roc_auc_score(y, q) - roc_auc_score(y, p) for q in P])
    boot = np.array([np.mean([roc_auc_score(y[i], q[i]) - roc_auc_score(y[i], p[i]) for q in P])
                     for i in stratified_bootstrap_indices(y, 300, seed=7)])
    se = np.sqrt(boot.std(ddof=1) ** 2 + cells.var(ddof=1) / len(cells))
    assert change == pytest.approx(cells.mean(), abs=1e-12)
    assert (lo, hi) == pytest.approx((cells.mean() - stats.norm.ppf(0.975) * se,
                                      cells.mean() + stats.norm.ppf(0.975) * se), abs=1e-9)


def test_paired_auc_change_of_a_ranking_preserving_map_is_exactly_zero():
    from probedrift.core.intervals import bootstrap_weights

    y, p, _ = _scores()
    W = bootstrap_weights(y, 200, seed=0)
    assert realdrift.paired_auc_change(y, p, p, W) == (0.0, 0.0, 0.0)
    sharpened = 1 / (1 + np.exp(-3 * np.log(p / (1 - p))))  # a temperature: same ranking
    assert realdrift.paired_auc_change(y, p, sharpened, W) == pytest.approx((0.0, 0.0, 0.0), abs=1e-12)


def test_paired_auc_change_refuses_predictions_of_other_texts():
    from probedrift.core.intervals import bootstrap_weights

    y, p, _ = _scores()
    with pytest.raises(ProbedriftError, match="same test texts"):
        realdrift.paired_auc_change(y, p, p[:-2], bootstrap_weights(y, 20, seed=0))
    with pytest.raises(ProbedriftError, match="same test texts"):
        realdrift.paired_auc_change(y, p, p, bootstrap_weights(y[:-2], 20, seed=0))


def test_pairing_resolves_a_loss_that_overlapping_intervals_hide():
    """Chapter 7's case: the two AUCs' own intervals overlap, the paired interval of the change lies below 0."""
    from probedrift.core.intervals import bootstrap_weights
    from probedrift.science.metrics import bootstrap_ci

    y, p, rng = _scores()
    worse = p.copy()
    flip = rng.choice(p.size, size=12, replace=False)
    worse[flip] = np.where(y[flip] == 1, p[flip] * 0.5, 1 - (1 - p[flip]) * 0.5)  # 12 texts pushed the wrong way
    _, lo0, hi0 = bootstrap_ci("auc", y, p, n_boot=500, seed=0)
    _, lo1, hi1 = bootstrap_ci("auc", y, worse, n_boot=500, seed=0)
    assert lo0 < hi1 and lo1 < hi0  # the unpaired intervals overlap
    change, lo, hi = realdrift.paired_auc_change(y, p, worse, bootstrap_weights(y, 500, seed=0))
    assert change < 0 and hi < 0


@pytest.mark.slow
def test_finetune_table_carries_the_paired_change_of_each_checkpoint(tiny_study):
    """A checkpoint row gets the frozen probe's paired AUC change against the base; step 0 (the base) gets 0."""
    from probedrift.experiments import finetune_drift
    from probedrift.run import catalogue

    S, pairs = tiny_study
    shift = pairs["layer_shift"]
    ups = [finetune_drift.Update("lora", 2e-4, 0, "base", None), finetune_drift.Update("lora", 2e-4, 5, "ck", 1.5)]
    as_pairs = {ups[0].label: updates.UpdatePair(ups[0].label, shift.model_before, "base", shift.before,
                                                 shift.before, "the base itself"),
                ups[1].label: updates.UpdatePair(ups[1].label, shift.model_before, "ck", shift.before, shift.after,
                                                 "the layer shift standing in for a checkpoint")}
    ft = finetune_drift.finetune_table(S, ups, as_pairs).set_index("step")
    assert catalogue.column_problems("finetune_drift", ft.reset_index().columns) == []
    assert (ft.loc[0, "auc_change"], ft.loc[0, "auc_change_ci_low"], ft.loc[0, "auc_change_ci_high"]) == (0, 0, 0)
    assert ft.loc[5, "auc_change"] == pytest.approx(ft.loc[5, "auc"] - ft.loc[0, "auc"], abs=1e-9)
    frozen = realdrift.mitigations_table(S, pairs={"layer_shift": shift})
    frozen = frozen[frozen.method == "frozen"].iloc[0]
    assert (ft.loc[5, "auc_change_ci_low"], ft.loc[5, "auc_change_ci_high"]) == \
        pytest.approx((frozen.auc_change_ci_low, frozen.auc_change_ci_high), abs=1e-12)
    assert "paired" in ft.loc[5, "auc_change_interval"]
