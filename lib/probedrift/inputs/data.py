"""Labelled texts and the paper's data recipe: the dataset container, cleaning, balanced sampling and splits.

Every loader (:mod:`probedrift.inputs.datasets`) ends in :func:`clean_labelled_frame` (empty texts dropped,
texts with conflicting labels dropped, exact duplicates dropped), so that a later train/val/test split
is disjoint by text. The paper (its Table 1) uses Civil Comments binarised at toxicity ≥ 0.5, a
balanced sample of 10,000 (:func:`balanced_sample`) and a stratified 70/10/20 split (:func:`split`);
:func:`probedrift.inputs.datasets.prepare` runs the whole recipe on any source. Report
:func:`length_only_auc` next to any probe: the ``prompts`` data have a length confound.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from probedrift.core.errors import ProbedriftError, check_choice, check_positive

SPLITS = ("train", "val", "test")
PAPER_FRACTIONS = (0.7, 0.1, 0.2)


# --------------------------------------------------------------------------------------------
# The dataset container
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TextDataset:
    """Labelled texts: ``frame`` has columns ``text`` (str), ``label`` (int8, 0/1),
    ``source`` (str, where the row came from) and ``split`` ("" until :func:`split`, then
    "train", "val" or "test"). ``notes`` records cleaning counts and the length confound."""

    frame: pd.DataFrame
    name: str
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in ("text", "label", "source", "split") if c not in self.frame.columns]
        if missing:
            raise ProbedriftError(
                f"TextDataset frame lacks column(s) {missing}; it has {list(self.frame.columns)}",
                "build datasets with probedrift.inputs.datasets.load(...) or give the frame "
                "text, label, source and split columns",
            )
        labels = self.frame["label"]
        if labels.dtype != np.int8 or not labels.isin((0, 1)).all():
            raise ProbedriftError(
                f"TextDataset labels must be int8 0/1, got dtype {labels.dtype} "
                f"with values {_distinct(labels)}",
                "convert the label column with .astype('int8') after mapping it to 0/1",
            )
        bad = set(self.frame["split"].unique()) - {"", *SPLITS}
        if bad:
            raise ProbedriftError(
                f"unknown split value(s) {sorted(bad)}",
                "use '' (unassigned), 'train', 'val' or 'test'",
            )

    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        c = self.counts()
        return f"TextDataset({self.name!r}, n={len(self)}, label0={c[0]}, label1={c[1]})"

    @property
    def texts(self) -> list[str]:
        """The texts, in row order."""
        return self.frame["text"].tolist()

    @property
    def labels(self) -> np.ndarray:
        """The labels as an int8 array, in row order."""
        return self.frame["label"].to_numpy(dtype=np.int8)

    @property
    def fingerprint(self) -> str:
        """SHA-256 (hex) of the texts and labels in row order; equal data give equal hashes
        in any process, and any edited text, flipped label or reordering changes it."""
        h = hashlib.sha256()
        for text, label in zip(self.frame["text"], self.frame["label"]):
            raw = text.encode("utf-8")
            # Length-prefix each text so that no two different sequences hash the same bytes.
            h.update(b"%d:%d:" % (int(label), len(raw)))
            h.update(raw)
        return h.hexdigest()

    def counts(self) -> dict[int, int]:
        """Rows per class, ``{0: n0, 1: n1}``."""
        vc = self.frame["label"].value_counts()
        return {0: int(vc.get(0, 0)), 1: int(vc.get(1, 0))}

    def subset(self, split: str) -> TextDataset:
        """The rows of one split ("train", "val" or "test") as a new dataset."""
        check_choice("split", split, SPLITS)
        if (self.frame["split"] == "").all():
            raise ProbedriftError(
                f"dataset {self.name!r} has no split assigned",
                "call probedrift.inputs.data.split(ds) (or probedrift.inputs.datasets.prepare(...)) first",
            )
        frame = self.frame[self.frame["split"] == split].reset_index(drop=True)
        return TextDataset(frame, f"{self.name}[{split}]", dict(self.notes))


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

def _distinct(values: pd.Series, limit: int = 10) -> str:
    uniq = pd.unique(values.dropna())
    shown = ", ".join(repr(v.item() if hasattr(v, "item") else v) for v in uniq[:limit])
    more = f", ... ({len(uniq)} distinct)" if len(uniq) > limit else ""
    return "{" + shown + more + "}"


def _binary_labels(values: pd.Series, column: str, threshold: float | None) -> pd.Series:
    """Map a label column to int8 0/1: booleans and {0, 1} pass; scores in [0, 1] are
    binarised at ``threshold`` (score >= threshold is 1) only when a threshold is given."""
    values = values.infer_objects()
    if pd.api.types.is_bool_dtype(values):
        return values.astype(np.int8)
    numeric = pd.api.types.is_numeric_dtype(values)
    if numeric and values.isin((0, 1)).all() and threshold is None:
        return values.astype(np.int8)
    if numeric and threshold is not None:
        if not values.between(0, 1).all():
            raise ProbedriftError(
                f"label column {column!r} holds values outside [0, 1]: {_distinct(values)}",
                "label_threshold binarises scores in [0, 1]; map the column to 0/1 first",
            )
        return (values >= threshold).astype(np.int8)
    fix = "map the labels to 0/1 (or booleans)"
    if numeric and values.between(0, 1).all():
        fix += "; for scores in [0, 1] pass label_threshold=0.5 (score >= threshold is label 1)"
    raise ProbedriftError(
        f"labels in column {column!r} are not binary: found {_distinct(values)}", fix
    )


def clean_labelled_frame(
    raw: pd.DataFrame,
    *,
    name: str,
    text_column: str,
    label_column: str,
    label_threshold: float | None,
    min_rows: int,
    notes: dict[str, Any],
    source: str | pd.Series,
) -> TextDataset:
    """Shared tail of every loader (:mod:`probedrift.inputs.datasets`): check columns, binarise labels, drop
    empty texts, conflicting and duplicate texts, and record the counts in ``notes``."""
    if len(raw) == 0:
        raise ProbedriftError(f"{name}: the data are empty (no rows)", "pass a file with data rows")
    for kind, col in (("text", text_column), ("label", label_column)):
        if col not in raw.columns:
            raise ProbedriftError(
                f"{name}: {kind} column {col!r} is missing; columns are {list(raw.columns)}",
                f"pass {kind}_column=<one of those names>",
            )
    text = raw[text_column]
    label = raw[label_column]
    source = pd.Series(source, index=raw.index) if isinstance(source, str) else source

    n_raw = len(raw)
    missing_label = label.isna()
    if missing_label.any():
        warnings.warn(
            f"{name}: dropped {int(missing_label.sum())} of {n_raw} rows with a missing label",
            stacklevel=3,
        )
    text = text.where(text.isna(), text.astype(str).str.strip())
    empty = text.isna() | (text == "")
    empty &= ~missing_label
    if empty.any():
        warnings.warn(
            f"{name}: dropped {int(empty.sum())} of {n_raw} rows with an empty or missing text",
            stacklevel=3,
        )
    keep = ~(missing_label | empty)
    binary = _binary_labels(label[keep], label_column, label_threshold)
    frame = pd.DataFrame(
        {
            "text": text[keep].astype(str).to_numpy(),
            "label": binary.to_numpy(),
            "source": source[keep].astype(str).to_numpy(),
        }
    )

    per_text = frame.groupby("text", sort=False)["label"].nunique()
    conflicting = set(per_text.index[per_text > 1])
    is_conflict = frame["text"].isin(conflicting)
    frame = frame[~is_conflict]
    dup = frame["text"].duplicated(keep="first")
    frame = frame[~dup].reset_index(drop=True)
    frame["split"] = ""

    if len(frame) < min_rows:
        raise ProbedriftError(
            f"{name}: only {len(frame)} usable rows remain after cleaning (min_rows={min_rows})",
            "pass a file with more non-empty, distinct texts, or lower min_rows",
        )
    counts = frame["label"].value_counts()
    if len(counts) < 2:
        only = int(counts.index[0])
        raise ProbedriftError(
            f"{name}: only one class present (every usable row has label {only})",
            "a probe needs both classes; pass data with labels 0 and 1"
            + (", or a different label_threshold" if label_threshold is not None else ""),
        )

    notes = dict(notes)
    notes.update(
        n_raw=n_raw,
        n_missing_label=int(missing_label.sum()),
        n_empty_text=int(empty.sum()),
        n_conflicting_texts=len(conflicting),
        n_conflicting_rows=int(is_conflict.sum()),
        n_duplicates=int(dup.sum()),
    )
    ds = TextDataset(frame, name, notes)
    ds.notes.update(_length_notes(ds))
    return ds


def _length_notes(ds: TextDataset) -> dict[str, Any]:
    lengths = ds.frame["text"].str.len()
    return {
        "counts": ds.counts(),
        "median_chars": {k: float(lengths[ds.frame["label"] == k].median()) for k in (0, 1)},
        "length_only_auc": length_only_auc(ds),
    }


# --------------------------------------------------------------------------------------------
# Sampling and splitting
# --------------------------------------------------------------------------------------------


def _nearest_unused(pool_sorted: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """For each query (in order), the index into ``pool_sorted`` of the closest value not yet
    taken; ties go to the smaller value. Union-find skips taken slots: near-linear time."""
    m = len(pool_sorted)
    values = pool_sorted.tolist()
    right = list(range(m + 1))  # right[i]: next free slot >= i (m = none)
    left = list(range(m + 1))  # left[i + 1]: previous free slot <= i, shifted by 1 (0 = none)

    def find(parent: list[int], i: int) -> int:
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    out = np.empty(len(queries), dtype=np.int64)
    starts = np.searchsorted(pool_sorted, queries).tolist()
    for k, (q, p) in enumerate(zip(queries.tolist(), starts)):
        r = find(right, p)
        lo = find(left, p) - 1  # slot p - 1 lives at left[p]
        pick = lo if r == m or (lo >= 0 and q - values[lo] <= values[r] - q) else r
        out[k] = pick
        right[pick] = pick + 1
        left[pick + 1] = pick
    return out


def balanced_sample(
    ds: TextDataset, n_per_class: int, seed: int = 0, length_matched: bool = False
) -> TextDataset:
    """Draw ``n_per_class`` rows of each label without replacement (the paper's balanced,
    stratified subset, §1.2), seeded. With ``length_matched=True`` the smaller class is drawn
    at random and each of its texts is paired with the unused text of the other class whose
    character length is closest, which removes most of a length confound."""
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int | np.integer):
        raise ProbedriftError(
            f"n_per_class must be an integer, got {n_per_class!r}", "pass e.g. n_per_class=1000"
        )
    check_positive("n_per_class", n_per_class)
    counts = ds.counts()
    if n_per_class > min(counts.values()):
        raise ProbedriftError(
            f"n_per_class={n_per_class} is more than {ds.name!r} has: "
            f"{counts[0]} with label 0, {counts[1]} with label 1",
            f"pass n_per_class <= {min(counts.values())}",
        )
    rng = np.random.default_rng(seed)
    labels = ds.labels
    idx = {k: np.flatnonzero(labels == k) for k in (0, 1)}
    if not length_matched:
        chosen = [rng.choice(idx[k], size=n_per_class, replace=False) for k in (0, 1)]
    else:
        ref, other = (1, 0) if counts[1] <= counts[0] else (0, 1)
        lengths = ds.frame["text"].str.len().to_numpy()
        ref_pick = rng.choice(idx[ref], size=n_per_class, replace=False)
        # Shuffle the pool before a stable sort so that equal lengths are taken in random order.
        pool = rng.permutation(idx[other])
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        matched = pool[_nearest_unused(lengths[pool], lengths[ref_pick])]
        chosen = [ref_pick, matched]
    rows = np.sort(np.concatenate(chosen))
    frame = ds.frame.iloc[rows].reset_index(drop=True)
    frame["split"] = ""
    notes = dict(ds.notes)
    notes.update(
        parent_fingerprint=ds.fingerprint,
        n_per_class=int(n_per_class),
        sample_seed=seed,
        length_matched=length_matched,
    )
    out = TextDataset(frame, ds.name, notes)
    out.notes.update(_length_notes(out))
    return out


def split(
    ds: TextDataset, fractions: tuple[float, float, float] = PAPER_FRACTIONS, seed: int = 0
) -> TextDataset:
    """Assign a train/val/test split, stratified by label and seeded (the paper's 70/10/20,
    §1.2), via two stratified ``train_test_split`` calls. Texts must be unique, so the three
    splits are disjoint by text."""

    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3:
        raise ProbedriftError(
            f"fractions must have three entries (train, val, test), got {fractions}",
            "pass e.g. fractions=(0.7, 0.1, 0.2)",
        )
    if any(not f > 0 for f in fractions):
        raise ProbedriftError(
            f"every split fraction must be > 0, got {fractions}",
            "pass e.g. fractions=(0.7, 0.1, 0.2)",
        )
    if not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise ProbedriftError(
            f"fractions must sum to 1, got {fractions} (sum {sum(fractions):.6g})",
            "pass e.g. fractions=(0.7, 0.1, 0.2)",
        )
    n_dup = int(ds.frame["text"].duplicated().sum())
    if n_dup:
        raise ProbedriftError(
            f"{ds.name!r} has {n_dup} duplicate texts, so splits would share texts",
            "drop duplicates first (datasets from load() are already de-duplicated)",
        )
    _, f_val, f_test = fractions
    rows = np.arange(len(ds))
    labels = ds.labels
    # Whole-row sizes, so that 10,000 rows give exactly 7,000 / 1,000 / 2,000.
    n_test, n_val = round(f_test * len(ds)), round(f_val * len(ds))
    try:
        rest, test = train_test_split(rows, test_size=n_test, stratify=labels, random_state=seed)
        train, val = train_test_split(
            rest, test_size=n_val, stratify=labels[rest], random_state=seed
        )
    except ValueError as e:
        raise ProbedriftError(
            f"cannot split {len(ds)} rows {ds.counts()} by {fractions}: {e}",
            "use more rows (each split needs both classes) or larger val/test fractions",
        ) from e
    assignment = np.empty(len(ds), dtype=object)
    assignment[train], assignment[val], assignment[test] = "train", "val", "test"
    frame = ds.frame.copy()
    frame["split"] = assignment
    texts = [set(frame.loc[frame["split"] == s, "text"]) for s in SPLITS]
    if texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2]:
        raise AssertionError("splits share a text although texts are unique")
    notes = dict(ds.notes)
    notes.update(
        fractions=fractions,
        split_seed=seed,
        split_sizes={s: int((frame["split"] == s).sum()) for s in SPLITS},
    )
    return TextDataset(frame, ds.name, notes)


def length_only_auc(ds: TextDataset) -> float:
    """ROC-AUC of character length as a score for label 1 -- the baseline any probe must beat.

    Not folded: 0.5 means length carries no signal, above 0.5 means label-1 texts are longer,
    below 0.5 that they are shorter. The strength of the confound is ``abs(auc - 0.5)``.
    """

    counts = ds.counts()
    if min(counts.values()) == 0:
        raise ProbedriftError(
            f"length_only_auc needs both classes; {ds.name!r} has {counts}",
            "pass a dataset with labels 0 and 1",
        )
    return float(roc_auc_score(ds.labels, ds.frame["text"].str.len().to_numpy()))
