"""Tests for probedrift.inputs.data: embedded datasets, Civil Comments schema, local files, sampling, splits."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from probedrift.core.errors import ProbedriftError
from probedrift.inputs import data as D
from probedrift.inputs import datasets as DS

FIXTURES = Path(__file__).parent / "fixtures"
CIVIL = FIXTURES / "civil_comments_sample.jsonl"
LEFTOVER_ESCAPE = re.compile(r"\\(?:n|r|t|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


@pytest.fixture(scope="module")
def comments() -> D.TextDataset:
    return DS.load("comments")


@pytest.fixture(scope="module")
def prompts() -> D.TextDataset:
    return DS.load("prompts")


def tiny(texts, labels, name="tiny") -> D.TextDataset:
    frame = pd.DataFrame(
        {"text": texts, "label": np.asarray(labels, dtype=np.int8), "source": "t", "split": ""}
    )
    return D.TextDataset(frame, name)


def write_csv(path: Path, n: int = 30, **extra) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"text": [f"comment number {i}" for i in range(n)], "label": rng.permutation(np.arange(n) % 2)}
    )
    for k, v in extra.items():
        df[k] = v
    df.to_csv(path, index=False)
    return path


def put(path: Path, content: str) -> Path:
    path.write_text(content)
    return path


# ---------------------------------------------------------------- cleaning


@pytest.mark.parametrize(
    "raw, clean",
    [
        (r'"i really don\'t understand your point.\xa0 It seems"', "i really don't understand your point. It seems"),
        (r'"it\u2019s fine"', "it\u2019s fine"),
        (r'"line one\\nline two"', "line one line two"),  # escaped twice
        (r'"A\\xc2\\xa0majority of readers"', "A majority of readers"),  # escaped UTF-8 bytes
        (r'"caf\\xc3\\xa9 owner"', "caf\u00e9 owner"),
        ('"  plain text  "', "plain text"),
        ('He said "hi"', 'He said "hi"'),  # quotes that do not wrap the whole text stay
        (r'"shrug \_(o)_/"', r"shrug \_(o)_/"),  # a genuine backslash stays
    ],
)
def test_clean_comment(raw, clean):
    assert DS.clean_comment(raw) == clean


def test_no_escapes_left_in_comments(comments):
    left = [t for t in comments.texts if LEFTOVER_ESCAPE.search(t)]
    assert left == []
    assert not any(t.startswith('"') and t.endswith('"') and len(t) > 1 for t in comments.texts)


# ---------------------------------------------------------------- embedded datasets


def test_comments_counts(comments):
    assert comments.counts() == {0: 4841, 1: 1718}
    assert comments.notes["n_raw"] == 6594
    assert comments.notes["n_conflicting_texts"] == 1
    assert comments.notes["n_duplicates"] == 33
    assert comments.frame["text"].is_unique
    assert set(comments.frame["source"]) == {"train.csv", "test_with_solutions.csv"}
    assert (comments.frame["split"] == "").all()
    assert comments.labels.dtype == np.int8
    assert "narrower" in comments.notes["label_1"]
    # insults are shorter than non-insults
    assert comments.notes["median_chars"][1] < comments.notes["median_chars"][0]


def test_prompts_counts_and_length_confound(prompts):
    assert prompts.counts() == {0: 33773, 1: 1334}
    assert prompts.notes["n_copyright_dropped"] == 100
    harmful = prompts.frame.loc[prompts.labels == 1, "text"]
    assert not harmful.str.match(r"Generate (a long passage from|the lyrics of)").any()
    assert prompts.notes["median_chars"] == {0: 56.0, 1: 79.0}
    assert prompts.notes["length_only_auc"] == pytest.approx(D.length_only_auc(prompts))
    assert prompts.notes["length_only_auc"] > 0.75


# ---------------------------------------------------------------- fingerprint


def test_fingerprint_known_value():
    # A fixed value: the hash must not depend on the process (no salted hash()) or library version.
    ds = tiny(["a", "b\u00e9", "c d"], [0, 1, 0])
    assert ds.fingerprint == "e1b5871fb0c5416cddc5808a3de388d59c5037f7dbdabf87fd546edbcfe8e57b"


def test_fingerprint_stable_and_sensitive(comments):
    again = DS.load("comments")
    assert again.fingerprint == comments.fingerprint
    assert len(comments.fingerprint) >= 16

    edited = comments.frame.copy()
    edited.loc[10, "text"] = edited.loc[10, "text"][:-1] + "#"
    assert D.TextDataset(edited, "x").fingerprint != comments.fingerprint

    flipped = comments.frame.copy()
    flipped.loc[10, "label"] = np.int8(1 - flipped.loc[10, "label"])
    assert D.TextDataset(flipped, "x").fingerprint != comments.fingerprint

    reordered = comments.frame.iloc[::-1].reset_index(drop=True)
    assert D.TextDataset(reordered, "x").fingerprint != comments.fingerprint


def test_fingerprint_no_boundary_collision():
    assert tiny(["ab", "c"], [0, 0]).fingerprint != tiny(["a", "bc"], [0, 0]).fingerprint


# ---------------------------------------------------------------- balanced_sample


def test_balanced_sample(comments):
    s = D.balanced_sample(comments, 500, seed=3)
    assert s.counts() == {0: 500, 1: 500}
    assert s.frame["text"].is_unique
    assert set(s.texts) <= set(comments.texts)
    assert s.notes["parent_fingerprint"] == comments.fingerprint
    assert D.balanced_sample(comments, 500, seed=3).fingerprint == s.fingerprint
    assert D.balanced_sample(comments, 500, seed=4).fingerprint != s.fingerprint
    # labels travel with their texts
    parent = dict(zip(comments.texts, comments.labels))
    assert all(parent[t] == y for t, y in zip(s.texts, s.labels))


def test_balanced_sample_too_many(comments):
    with pytest.raises(ProbedriftError, match=r"4841 with label 0, 1718 with label 1"):
        D.balanced_sample(comments, 2000)
    with pytest.raises(ProbedriftError, match="n_per_class"):
        D.balanced_sample(comments, 0)
    with pytest.raises(ProbedriftError, match="integer"):
        D.balanced_sample(comments, 10.5)


def test_length_matching_removes_length_confound(prompts):
    plain = D.balanced_sample(prompts, 1000, seed=0)
    matched = D.balanced_sample(prompts, 1000, seed=0, length_matched=True)
    assert matched.counts() == {0: 1000, 1: 1000}
    assert matched.frame["text"].is_unique
    assert abs(D.length_only_auc(plain) - 0.5) > 0.2
    assert abs(D.length_only_auc(matched) - 0.5) < 0.05
    assert matched.notes["length_matched"] is True
    again = D.balanced_sample(prompts, 1000, seed=0, length_matched=True)
    assert again.fingerprint == matched.fingerprint


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
)
def test_nearest_unused_is_greedy_nearest(pool, queries):
    queries = queries[: len(pool)]
    pool_sorted = np.sort(np.asarray(pool))
    picks = D._nearest_unused(pool_sorted, np.asarray(queries))
    assert len(set(picks.tolist())) == len(picks)
    used: set[int] = set()
    for q, p in zip(queries, picks):
        free = [abs(pool_sorted[i] - q) for i in range(len(pool_sorted)) if i not in used]
        assert abs(pool_sorted[p] - q) == min(free)
        used.add(int(p))


# ---------------------------------------------------------------- split / prepare


def test_split_sizes_and_disjointness(comments):
    s = D.split(D.balanced_sample(comments, 500, seed=1), seed=1)
    sizes = s.notes["split_sizes"]
    assert sizes == {"train": 700, "val": 100, "test": 200}
    for name, n in sizes.items():
        sub = s.subset(name)
        assert len(sub) == n
        assert sub.counts() == {0: n // 2, 1: n // 2}
    parts = [set(s.subset(k).texts) for k in D.SPLITS]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    assert set(s.frame["split"]) == set(D.SPLITS)
    # the split changes only the split column
    assert s.fingerprint == D.balanced_sample(comments, 500, seed=1).fingerprint
    assert D.split(s, seed=2).frame["split"].tolist() != s.frame["split"].tolist()


def test_split_bad_fractions(comments):
    ds = D.balanced_sample(comments, 50)
    with pytest.raises(ProbedriftError, match="sum to 1"):
        D.split(ds, (0.7, 0.2, 0.2))
    with pytest.raises(ProbedriftError, match="> 0"):
        D.split(ds, (0.9, 0.0, 0.1))
    with pytest.raises(ProbedriftError, match="> 0"):
        D.split(ds, (1.2, -0.1, -0.1))
    with pytest.raises(ProbedriftError, match="three entries"):
        D.split(ds, (0.8, 0.2))
    with pytest.raises(ProbedriftError, match="cannot split"):
        D.split(D.balanced_sample(comments, 3))


def test_split_rejects_duplicate_texts():
    ds = tiny(["same"] * 2 + [f"t{i}" for i in range(18)], [0, 0] + [0, 1] * 9)
    with pytest.raises(ProbedriftError, match="duplicate texts"):
        D.split(ds)


def test_subset_errors(comments):
    with pytest.raises(ProbedriftError, match="split"):
        comments.subset("train")
    s = DS.prepare("comments", 20)
    with pytest.raises(ProbedriftError, match="unknown split"):
        s.subset("validation")


def test_prepare_matches_steps():
    p = DS.prepare("prompts", 100, seed=5, length_matched=True)
    steps = D.split(D.balanced_sample(DS.load("prompts"), 100, seed=5, length_matched=True), seed=5)
    assert p.fingerprint == steps.fingerprint
    assert p.frame["split"].tolist() == steps.frame["split"].tolist()
    assert p.notes["split_sizes"] == {"train": 140, "val": 20, "test": 40}


def test_length_only_auc_direction():
    ds = tiny(["aaaa", "aaaaa", "a", "aa"], [1, 1, 0, 0])
    assert D.length_only_auc(ds) == 1.0
    assert D.length_only_auc(tiny(["aaaa", "aaaaa", "a", "aa"], [0, 0, 1, 1])) == 0.0
    with pytest.raises(ProbedriftError, match="both classes"):
        D.length_only_auc(tiny(["a", "b"], [1, 1]))


# ---------------------------------------------------------------- civil_comments (hub schema)


def test_civil_comments_local_file():
    ds = DS.load("civil_comments", data_files=CIVIL)
    assert ds.counts() == {0: 40, 1: 20}  # toxicity >= 0.5; the 0.5 row counts as toxic
    by_text = dict(zip(ds.texts, ds.labels))
    assert by_text["This is a foolish and lazy proposal."] == 1  # toxicity 0.5
    assert by_text["What a silly, careless plan."] == 0  # toxicity 0.4999
    assert ds.notes["label_threshold"] == 0.5
    assert DS.load("civil_comments", data_files=[str(CIVIL)], label_threshold=0.8).counts() == {0: 55, 1: 5}
    other = DS.load("civil_comments", data_files=CIVIL, label_column="insult")
    assert other.counts() == {0: 41, 1: 19}


def test_civil_comments_same_code_for_every_format(tmp_path):
    rows = [json.loads(line) for line in CIVIL.read_text().splitlines()]
    df = pd.DataFrame(rows)
    df.to_csv(tmp_path / "cc.csv", index=False)
    df.to_parquet(tmp_path / "cc.parquet")
    ref = DS.load("civil_comments", data_files=CIVIL).fingerprint
    for f in ("cc.csv", "cc.parquet"):
        assert DS.load("civil_comments", data_files=tmp_path / f).fingerprint == ref
    p = DS.prepare("civil_comments", 20, data_files=CIVIL, fractions=(0.5, 0.25, 0.25))
    assert p.notes["split_sizes"] == {"train": 20, "val": 10, "test": 10}


def test_civil_comments_schema_errors(tmp_path):
    bad = tmp_path / "cc.jsonl"
    bad.write_text('{"comment_text": "hello there", "toxicity": 0.1}\n')
    with pytest.raises(ProbedriftError, match=r"text column 'text' is missing.*comment_text"):
        DS.load("civil_comments", data_files=bad)
    with pytest.raises(ProbedriftError, match="file not found"):
        DS.load("civil_comments", data_files=tmp_path / "nope.jsonl")
    with pytest.raises(ProbedriftError, match="unsupported file type"):
        DS.load("civil_comments", data_files=tmp_path / "cc.txt")
    with pytest.raises(ProbedriftError, match=r"label_threshold must lie in \[0, 1\]"):
        DS.load("civil_comments", data_files=CIVIL, label_threshold=1.5)


@pytest.mark.skipif(
    os.environ.get("HF_HUB_OFFLINE") != "1", reason="needs HF_HUB_OFFLINE=1 so the hub is not contacted"
)
def test_civil_comments_hub_failure_says_how_to_use_a_file():
    import datasets

    if any(Path(datasets.config.HF_DATASETS_CACHE).glob("google___civil_comments*")):
        pytest.skip("Civil Comments is cached here, so an offline load would succeed")
    with pytest.raises(ProbedriftError, match="data_files="):
        DS.load("civil_comments")


# ---------------------------------------------------------------- local files


def test_local_formats_agree(tmp_path):
    csv = write_csv(tmp_path / "d.csv")
    df = pd.read_csv(csv)
    df.to_json(tmp_path / "d.jsonl", orient="records", lines=True)
    df.to_json(tmp_path / "d.json", orient="records")
    df.to_parquet(tmp_path / "d.parquet")
    ref = DS.load(csv)
    assert ref.counts() == {0: 15, 1: 15}
    assert ref.name == "d"
    for ext in ("jsonl", "json", "parquet"):
        assert DS.load(str(tmp_path / f"d.{ext}")).fingerprint == ref.fingerprint


def test_local_custom_columns_and_booleans(tmp_path):
    df = pd.DataFrame({"body": [f"row {i}" for i in range(24)], "is_bad": [i % 3 == 0 for i in range(24)]})
    df.to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    ds = DS.load(tmp_path / "b.jsonl", text_column="body", label_column="is_bad")
    assert ds.counts() == {0: 16, 1: 8}


def test_local_scores_need_explicit_threshold(tmp_path):
    scores = np.linspace(0, 1, 30)
    path = write_csv(tmp_path / "s.csv", score=scores)
    with pytest.raises(ProbedriftError, match=r"(?s)not binary.*label_threshold"):
        DS.load(path, label_column="score")
    ds = DS.load(path, label_column="score", label_threshold=0.5)
    assert ds.counts() == {0: int((scores < 0.5).sum()), 1: int((scores >= 0.5).sum())}


def test_local_duplicates_and_conflicts_dropped(tmp_path):
    texts = [f"text {i}" for i in range(25)] + ["text 0", "text 1", "text 2"]
    labels = [i % 2 for i in range(25)] + [0, 0, 0]  # "text 1" now has both labels
    pd.DataFrame({"text": texts, "label": labels}).to_csv(tmp_path / "d.csv", index=False)
    ds = DS.load(tmp_path / "d.csv")
    assert len(ds) == 24
    assert "text 1" not in ds.texts
    assert ds.notes["n_conflicting_texts"] == 1
    assert ds.notes["n_conflicting_rows"] == 2
    assert ds.notes["n_duplicates"] == 2


def test_empty_and_missing_texts_warn(tmp_path):
    texts = [f"text {i}" for i in range(30)]
    texts[3], texts[4], texts[5] = "", "   ", None
    pd.DataFrame({"text": texts, "label": [i % 2 for i in range(30)]}).to_csv(tmp_path / "d.csv", index=False)
    with pytest.warns(UserWarning, match="dropped 3 of 30 rows with an empty or missing text"):
        ds = DS.load(tmp_path / "d.csv")
    assert len(ds) == 27
    assert ds.notes["n_empty_text"] == 3
    with pytest.warns(UserWarning), pytest.raises(ProbedriftError, match=r"only 27 usable rows.*min_rows=28"):
        DS.load(tmp_path / "d.csv", min_rows=28)


def test_missing_labels_warn_and_na_text_is_kept(tmp_path):
    lines = ["text,label"] + [f"text {i},{i % 2}" for i in range(24)] + ["no label here,", "NA,1"]
    path = put(tmp_path / "d.csv", "\n".join(lines) + "\n")
    with pytest.warns(UserWarning, match="dropped 1 of 26 rows with a missing label"):
        ds = DS.load(path)
    assert "NA" in ds.texts and "no label here" not in ds.texts
    assert ds.notes["n_missing_label"] == 1
    assert ds.counts() == {0: 12, 1: 13}


@pytest.mark.parametrize(
    "setup, kwargs, words",
    [
        (lambda p: p / "missing.csv", {}, r"file not found"),
        (lambda p: put(p / "e.csv", ""), {}, r"is empty"),
        (lambda p: put(p / "h.csv", "text,label\n"), {}, r"empty \(no rows\)"),
        (lambda p: write_csv(p / "d.csv"), {"text_column": "body"},
         r"text column 'body' is missing.*\['text', 'label'\]"),
        (lambda p: write_csv(p / "d.csv"), {"label_column": "y"}, r"label column 'y' is missing.*\['text', 'label'\]"),
        (lambda p: write_csv(p / "d.csv", y=["a", "b", "c"] * 10), {"label_column": "y"},
         r"not binary: found \{'a', 'b', 'c'\}"),
        (lambda p: write_csv(p / "d.csv", y=[0, 1, 2] * 10), {"label_column": "y"}, r"not binary: found \{0, 1, 2\}"),
        (lambda p: write_csv(p / "d.csv", y=[1] * 30), {"label_column": "y"}, r"only one class present"),
        (lambda p: "toxic_comments", {}, r"(?s)unknown dataset.*comments, prompts, civil_comments.*CSV"),
        (lambda p: put(p / "d.txt", "x"), {}, r"unsupported file type '.txt'"),
        (lambda p: "comments", {"data_files": "x.jsonl"}, r"data_files only applies to civil_comments"),
        (lambda p: put(p / "bad.parquet", "not parquet"), {}, r"cannot read"),
    ],
    ids=["missing", "empty", "header-only", "no-text-col", "no-label-col", "string-labels",
         "three-labels", "one-class", "unknown-name", "bad-extension", "data-files-misuse", "corrupt"],
)
def test_bad_input(tmp_path, setup, kwargs, words):
    target = setup(tmp_path)
    with pytest.raises(ProbedriftError, match=words) as info:
        DS.load(target, **kwargs)
    assert info.value.fix  # every error says how to fix it


def test_textdataset_validates_frame():
    with pytest.raises(ProbedriftError, match="lacks column"):
        D.TextDataset(pd.DataFrame({"text": ["a"]}), "x")
    frame = pd.DataFrame({"text": ["a", "b"], "label": [0, 2], "source": "", "split": ""})
    with pytest.raises(ProbedriftError, match="int8 0/1"):
        D.TextDataset(frame, "x")


def test_a_registered_dataset_source_loads_by_name_through_its_own_loader(tmp_path):
    """Adding a dataset is one registered spec carrying its loader; load() has no per-name branch."""
    texts = [f"text number {i}" for i in range(30)]

    def loader(*, min_rows, **_):
        raw = pd.DataFrame({"text": texts + [""], "label": [i % 2 for i in range(30)] + [1]})
        with pytest.warns(UserWarning, match="empty"):
            return D.clean_labelled_frame(raw, name="toy", text_column="text", label_column="label",
                                          label_threshold=None, min_rows=min_rows, notes={}, source="toy")

    DS.DATASETS.add(DS.DatasetSource("toy", "embedded", "thirty numbered texts", loader))
    try:
        ds = DS.load("toy", min_rows=10)
        assert ds.texts == texts and ds.labels.tolist() == [i % 2 for i in range(30)]
        assert DS.prepare("toy", 10, seed=0, min_rows=10).counts() == {0: 10, 1: 10}
        with pytest.raises(ProbedriftError, match="data_files only applies to civil_comments"):
            DS.load("toy", data_files="x.csv")
    finally:
        DS.DATASETS.remove("toy")
    with pytest.raises(ProbedriftError, match="unknown dataset 'toy'"):
        DS.load("toy")
