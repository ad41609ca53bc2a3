"""What an experiment reads from a run: the interface between the experiments and the run object.

Experiments (the drift sweeps, monitors, separability, real and fine-tuning drift) are functions of a
run. They are typed on :class:`RunContext`, not on :class:`probedrift.run.study.Study`, so the run object
can import the table catalogue and, through it, the experiments, without an import cycle; any object
with these members runs them (a test double, a notebook's own run).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from probedrift.inputs.data import TextDataset
from probedrift.inputs.embed import ExtractionSettings
from probedrift.run.params import Pair, StudyParams
from probedrift.science.probes import LinearProbe


class RunContext(Protocol):
    """A run's parameters and inputs (data, embeddings, probes), and the tables it has computed."""

    params: StudyParams

    @property
    def run_dir(self) -> Path:
        """Absolute directory of the run's outputs."""

    @property
    def dataset(self) -> TextDataset:
        """The balanced, split dataset of the run."""

    @property
    def models(self) -> list[str]:
        """The run's models, in profile order."""

    @property
    def pairs(self) -> list[Pair]:
        """The base/instruct pairs whose two models are both in the run."""

    def num_layers(self, model: str) -> int:
        """Number of blocks of ``model``."""

    def layer_indices(self, model: str) -> list[int]:
        """Hidden-state indices of the separability sweep."""

    def settings(self, model: str, **changes) -> ExtractionSettings:
        """The run's extraction settings for ``model``, with ``changes``."""

    def embeddings(self, model: str | ExtractionSettings, layer: int | None = None, **changes) -> np.ndarray:
        """Pooled hidden states of every dataset text (rows in dataset order)."""

    def split_arrays(self, X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train"|"val"|"test": (X_split, y_split)}`` of rows in dataset order."""

    def unit(self, model: str, layer: int | None = None, **changes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Unit-normalised embeddings per split."""

    def probe(self, model: str) -> LinearProbe:
        """The paper's probe fitted on the training split of ``model``."""

    def table(self, name: str, *, as_saved: bool = False) -> pd.DataFrame:
        """A table of the catalogue: loaded when current, computed and saved otherwise."""

    def release_models(self) -> None:
        """Drop the model held for extraction, before work that loads its own (fine-tuning)."""

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per run (an intermediate result several tables share)."""
