"""The run object: one run's parameters, paths, tables, provenance and inputs (data, embeddings, probes).

A :class:`Study` is built from a profile (:func:`Study.from_profile`, as every notebook's
``parameters`` cell does) and holds a frozen :class:`~probedrift.run.params.StudyParams`. It knows the
run directory ``results/<profile>/`` and writes there: tables to ``metrics/`` (through the table
catalogue, :mod:`probedrift.run.catalogue`), figures to ``figures/``, fitted probes to ``probes/``, and for
provenance every embedding cache key used (``cache_keys.json``) and every forward pass run
(``forward_passes.json``).

The experiments are not here: each table is declared in :mod:`probedrift.run.catalogue` with its producer,
a function of the study in :mod:`~probedrift.experiments.baseline`, :mod:`~probedrift.experiments.synthetic_drift`,
:mod:`~probedrift.experiments.monitors`, :mod:`~probedrift.experiments.separation`,
:mod:`~probedrift.experiments.realdrift` or
:mod:`~probedrift.experiments.finetune_drift`; :meth:`Study.table` returns it.

Embeddings come from :func:`probedrift.inputs.embed.get_embeddings` only. On a miss the study asks for
everything it will need from that model in the same prompt format — the probe layer, the
separability layers, and the truncation, layer-shift and pooling-change sources of chapter 6 — so
one forward pass per model serves them all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from probedrift.core.errors import ProbedriftError
from probedrift.core.memory import release_memory
from probedrift.core.sphere import normalize
from probedrift.core.timing import timed
from probedrift.experiments.updates import planned_settings as source_settings
from probedrift.inputs import data as data_mod
from probedrift.inputs import datasets
from probedrift.inputs.embed import (
    ExtractionInfo,
    ExtractionSettings,
    cheap_dtype_name,
    get_embeddings,
)
from probedrift.inputs.model_facts import config_num_layers, known_num_layers, remember_num_layers
from probedrift.inputs.models import cache_root
from probedrift.inputs.models import spec as model_spec
from probedrift.inputs.tokenizers import forget_tokenizer
from probedrift.inputs.variants import load_variant
from probedrift.report.images import save_figure_png, show_saved_figure
from probedrift.run import catalogue
from probedrift.run.params import Pair, StudyParams, load_params
from probedrift.science.probes import paper_probe

#: Parameters that say where a run is written and how it is computed, never what it computes: left out of
#: :attr:`Study.params_fingerprint`, so changing one reuses every table (the tests check they change no number).
EXECUTION_ONLY = ("results_dir", "device", "finetune_recompute_activations")


def slug(name: str) -> str:
    """A file-name-safe form of a model name (``Qwen/Qwen3-0.6B`` → ``Qwen_Qwen3-0.6B``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")


@dataclass
class Study:
    """Parameters of one run, its paths and tables, and the inputs every experiment shares."""

    params: StudyParams
    _embeddings: dict = field(default_factory=dict, repr=False)
    _probes: dict = field(default_factory=dict, repr=False)
    _models: dict = field(default_factory=dict, repr=False)
    _computed: dict = field(default_factory=dict, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_profile(cls, profile: str = "smoke", overrides: dict | None = None,
                     results_dir: str | None = None) -> Study:
        """The study of a profile (``params/<profile>.yaml`` or a YAML path) with ``overrides`` applied."""
        return cls(load_params(profile, overrides, results_dir=results_dir))

    def __post_init__(self) -> None:
        if not isinstance(self.params, StudyParams):
            raise ProbedriftError(f"Study needs StudyParams, got {type(self.params).__name__}",
                                  "build it with Study.from_profile(profile, overrides)")

    # ---------------------------------------------------------------- paths, tables, provenance

    @property
    def run_dir(self) -> Path:
        """Absolute directory of this run's outputs."""
        return self.params.run_dir

    @cached_property
    def params_fingerprint(self) -> str:
        """sha256 of every parameter that shapes a table: all but where it is written and how it is computed
        (``results_dir``, ``device``, ``finetune_recompute_activations``, which give the same numbers)."""
        values = {k: v for k, v in self.params.to_dict().items() if k not in EXECUTION_ONLY}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

    def table(self, name: str, *, as_saved: bool = False) -> pd.DataFrame:
        """The catalogue's table ``name`` (:mod:`probedrift.run.catalogue`): loaded when this run wrote it with the
        same parameters, computed (from the cached embeddings) and saved otherwise — so every chapter runs
        on its own.

        A table this object computed is returned as computed (full precision) while its CSV is current;
        ``as_saved`` returns the CSV's values (6 significant digits) instead, as a reader of the results
        folder sees them.
        """
        spec = catalogue.spec(name)
        if catalogue.is_current(self.run_dir, name, self.params_fingerprint):
            if name in self._computed and not as_saved:
                return self._computed[name]
            return catalogue.load(self.run_dir, name)
        df = spec.produce(self)
        catalogue.save(self.run_dir, name, df, self.params_fingerprint)
        self._computed[name] = df
        return catalogue.load(self.run_dir, name) if as_saved else df

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per study: an intermediate result several tables share (a sweep's per-text
        predictions, the real-drift update pairs, the fine-tuned checkpoints), not itself a table."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @timed("figures")
    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` of the run; a notebook shows that file inline."""
        out = self.run_dir / "figures" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        save_figure_png(fig, out)
        show_saved_figure(fig, out)

    def _record_extraction(self, info: ExtractionInfo) -> None:
        """Merge an extraction's cache keys and forward-pass counts into the run's provenance files."""
        provenance = (("cache_keys.json", info.keys, False), ("forward_passes.json", info.forward_passes, True))
        for name, new, add in provenance:
            if not new:
                continue
            path = self.run_dir / name
            try:
                known = json.loads(path.read_text())
            except (OSError, ValueError):
                known = {}
            for k, v in new.items():
                k = k.replace(str(cache_root()), "$PROBEDRIFT_CACHE_DIR")  # no machine paths in provenance
                known[k] = known.get(k, 0) + v if add else v
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(known, indent=1, sort_keys=True))

    # ---------------------------------------------------------------- data

    @cached_property
    def dataset(self) -> data_mod.TextDataset:
        """The balanced, split dataset of this run (paper §1.2: balanced sample, 70/10/20 split)."""
        p = self.params
        kw = {}
        if p.data_files:
            kw["data_files"] = p.data_files
        if p.label_threshold is not None:
            kw["label_threshold"] = p.label_threshold
        if p.dataset not in datasets.DATASETS:
            kw.update(text_column=p.text_column, label_column=p.label_column)
        return datasets.prepare(p.dataset, p.n_per_class, seed=p.seed, fractions=tuple(p.split_fractions),
                                length_matched=p.length_matched, **kw)

    @property
    def models(self) -> list[str]:
        """The run's models, in profile order."""
        return list(self.params.models)

    @property
    def pairs(self) -> list[Pair]:
        """The profile's base/instruct pairs whose two models are both in this run."""
        return [p for p in self.params.pairs if p.base in self.models and p.instruct in self.models]

    # ---------------------------------------------------------------- models and embeddings

    def num_layers(self, model: str) -> int:
        """Number of blocks of ``model`` (from its record, else from its configuration: no weights are loaded)."""
        n = known_num_layers(model_spec(model).identity)
        return int(n if n is not None else config_num_layers(model))

    def layer_indices(self, model: str) -> list[int]:
        """Hidden-state indices for the separability sweep: ``separability_layers`` are fractions of depth."""
        n = self.num_layers(model)
        return sorted({min(n, max(0, round(f * n))) for f in self.params.separability_layers})

    def settings(self, model: str, **changes) -> ExtractionSettings:
        """The run's extraction settings for ``model`` (dtype resolved for the device), with ``changes``."""
        p = self.params
        base = ExtractionSettings(model=model, layer=p.layer, pooling=p.pooling, max_length=p.max_length,
                                  chat_template=p.chat_template, dtype=cheap_dtype_name(p.dtype, p.device))
        out = base.replace(**changes)
        if "dtype" in changes:
            out = out.replace(dtype=cheap_dtype_name(out.dtype, p.device))
        return out

    def _planned_settings(self, model: str) -> list[ExtractionSettings]:
        """Every extraction of ``model`` this run will make in its own prompt format and dtype.

        The probe layer, the separability layers, and for the base model of chapter 6 the settings of
        its truncation, layer-shift and pooling-change sources (when they apply): they share one
        forward pass.
        """
        out = [self.settings(model)] + [self.settings(model, layer=i) for i in self.layer_indices(model)]
        return list(dict.fromkeys(out + source_settings(self, model)))

    def loaded_model(self, model: str, dtype: str | None = None, variant: str = ""):
        """The model loaded once per study (per dtype and weight variant), the last one only: loading another
        releases the one held before (reloading is deterministic), so a chapter that embeds several models or
        checkpoints in turn holds one at a time — what keeps the binder profile within its memory."""
        dtype = dtype or self.params.dtype
        if (model, dtype, variant) not in self._models:
            self._models.clear()  # the tokenizer models.load keeps stays: the next model may share it
            release_memory()
            # a weight variant fixes its own device
            lm = load_variant(model, dtype=dtype, device=self.params.device, variant=variant)
            remember_num_layers(lm)
            self._models[(model, dtype, variant)] = lm
        return self._models[(model, dtype, variant)]

    def release_models(self) -> None:
        """Drop the model :meth:`loaded_model` holds and return its memory: work that loads a model of its own
        (fine-tuning loads the base with its head) would otherwise hold both copies of the weights at once."""
        self._models.clear()
        forget_tokenizer()
        release_memory()

    @timed("extraction")
    def embeddings(self, model: str | ExtractionSettings, layer: int | None = None, **changes) -> np.ndarray:
        """Pooled hidden states of every text of the dataset (rows in dataset order).

        ``model`` is a model name (the run's settings, with ``layer`` and ``changes`` such as
        ``max_length=64`` or ``chat_template=True``) or a full :class:`ExtractionSettings`. A miss
        fetches all of the planned settings of the same forward pass at once.
        """
        if isinstance(model, ExtractionSettings):
            wanted = model
        else:
            if layer is not None:
                changes["layer"] = int(layer)
            wanted = self.settings(model, **changes)
        if wanted not in self._embeddings:
            same_pass = [s for s in self._planned_settings(wanted.model) if s.forward_group == wanted.forward_group]
            info = ExtractionInfo()
            got = get_embeddings([wanted, *same_pass], self.dataset.texts, device=self.params.device,
                                 batch_size=self.params.batch_size, loader=self.loaded_model, info=info)
            self._embeddings.update(got)
            self._record_extraction(info)
        return self._embeddings[wanted]

    def split_arrays(self, X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train"|"val"|"test": (X_split, y_split)}``; rows of ``X`` follow the dataset order."""
        frame = self.dataset.frame
        y = self.dataset.labels
        out = {}
        for s in data_mod.SPLITS:
            mask = (frame["split"] == s).to_numpy()
            out[s] = (X[mask], y[mask])
        return out

    def unit(self, model: str, layer: int | None = None, **changes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Unit-normalised embeddings per split: the space the drift acts in (paper §2.2)."""
        return self.split_arrays(normalize(self.embeddings(model, layer, **changes)))

    # ---------------------------------------------------------------- probes

    @timed("probes")
    def probe(self, model: str):
        """The paper's probe (L2-normalise → StandardScaler → logistic regression, C=1, balanced) on train."""
        if model not in self._probes:
            probe = paper_probe(self.params.seed).fit(*self.unit(model)["train"])
            probe.save(self.run_dir / "probes" / slug(model))
            self._probes[model] = probe
        return self._probes[model]
