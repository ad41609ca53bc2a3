"""The study object: one run's parameters, data, embeddings, probes and the tables built from them.

A :class:`Study` is built from a profile (:func:`Study.from_profile`, as every notebook's
``parameters`` cell does) and holds a frozen :class:`~probedrift.params.StudyParams`. It knows the
run directory ``results/<profile>/`` and writes there: tables to ``metrics/``, figures to
``figures/``, fitted probes to ``probes/``, and for provenance every embedding cache key used
(``cache_keys.json``) and every forward pass run (``forward_passes.json``).

Embeddings come from :func:`probedrift.embed.get_embeddings` only. On a miss the study asks for
everything it will need from that model in the same prompt format — the probe layer, the
separability layers, and the truncation, layer-shift and pooling-change sources of chapter 6 — so
one forward pass per model serves them all.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as data_mod
from . import datasets as datasets_mod
from . import drift as drift_mod
from . import metrics as metrics_mod
from .blas import one_blas_thread
from .embed import ExtractionInfo, ExtractionSettings
from .errors import ProbedriftError
from .params import Pair, StudyParams, load_params
from .timing import timed

SWEEP_COLUMNS = list(drift_mod.SWEEP_COLUMNS)
DETECTOR_COLUMNS = ["model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "detector",
                    "statistic", "p_value", "alarm"]
SEPARABILITY_COLUMNS = ["model", "layer", "metric", "value", "ci_low", "ci_high"]
BASELINE_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "n_test", "seed"]


def slug(name: str) -> str:
    """A file-name-safe form of a model name (``Qwen/Qwen3-0.6B`` → ``Qwen_Qwen3-0.6B``)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")


def subsample(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` rows of ``X``, drawn without replacement by ``default_rng(seed)``, in their original order."""
    if len(X) <= n:
        return X
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[np.sort(idx)]


@dataclass
class Study:
    """Parameters of one run plus the paths and cached intermediate results derived from them."""

    params: StudyParams
    _embeddings: dict = field(default_factory=dict, repr=False)
    _probes: dict = field(default_factory=dict, repr=False)
    _models: dict = field(default_factory=dict, repr=False)
    _sweep_predictions: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_profile(cls, profile: str = "smoke", overrides: dict | None = None,
                     results_dir: str | None = None) -> Study:
        """The study of a profile (``params/<profile>.yaml`` or a YAML path) with ``overrides`` applied."""
        return cls(load_params(profile, overrides, results_dir=results_dir))

    def __post_init__(self) -> None:
        if not isinstance(self.params, StudyParams):
            raise ProbedriftError(f"Study needs StudyParams, got {type(self.params).__name__}",
                                  "build it with Study.from_profile(profile, overrides)")

    # ---------------------------------------------------------------- paths and bookkeeping

    @property
    def run_dir(self) -> Path:
        """Absolute directory of this run's outputs."""
        return self.params.run_dir

    def path(self, kind: str, name: str) -> Path:
        """``run_dir/kind/name``, its folder created."""
        out = self.run_dir / kind / name
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    @cached_property
    def params_fingerprint(self) -> str:
        """sha256 of every parameter that shapes a table (all but ``results_dir`` and ``device``)."""
        values = {k: v for k, v in self.params.to_dict().items() if k not in ("results_dir", "device")}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()

    def save_table(self, df: pd.DataFrame, name: str) -> Path:
        """Write a metrics table as CSV (atomically) and return its path.

        The parameters' fingerprint goes to ``metrics/.params/<name>`` beside it, so that
        :meth:`table` can tell a table of this run from one left by a run with other parameters.
        """
        path = self.path("metrics", f"{name}.csv")
        tmp = path.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False, float_format="%.6g")
        os.replace(tmp, path)
        stamp = self.path("metrics", f".params/{name}")
        stamp.write_text(self.params_fingerprint + "\n")
        return path

    def load_table(self, name: str) -> pd.DataFrame:
        """A table written earlier in this run."""
        path = self.run_dir / "metrics" / f"{name}.csv"
        if not path.is_file():
            raise ProbedriftError(f"table {name}.csv is missing from {self.run_dir / 'metrics'}",
                                  f"compute it with Study.table({name!r}), or run the whole study (probedrift run)")
        return pd.read_csv(path)

    def has_current_table(self, name: str) -> bool:
        """Whether ``metrics/<name>.csv`` exists and was written with this run's parameters."""
        stamp = self.run_dir / "metrics" / ".params" / name
        return ((self.run_dir / "metrics" / f"{name}.csv").is_file() and stamp.is_file()
                and stamp.read_text().strip() == self.params_fingerprint)

    def table(self, name: str) -> pd.DataFrame:
        """A table another chapter writes: loaded when this run wrote it with the same parameters,
        computed (from cached embeddings) and saved otherwise — so every chapter runs on its own.

        Known names: ``drift_sweep``, ``drift_sweep_summary``, ``drift_sweep_crossfit``, ``layer_sweep``
        (chapter 3) and ``real_drift`` (chapter 6).
        """
        producers = {"drift_sweep": self._all_drift_sweeps, "drift_sweep_summary": self._all_sweep_summaries,
                     "drift_sweep_crossfit": lambda: self._for_all_models(self.drift_sweep_crossfit),
                     "layer_sweep": lambda: self._for_all_models(self.layer_sweep), "real_drift": self._real_drift}
        if name not in producers:
            raise ProbedriftError(f"no producer for table {name!r}", f"choose one of {', '.join(producers)}")
        if self.has_current_table(name):
            return self.load_table(name)
        df = producers[name]()
        self.save_table(df, name)
        return df

    def _for_all_models(self, per_model) -> pd.DataFrame:
        return pd.concat([per_model(m) for m in self.models], ignore_index=True)

    def _all_drift_sweeps(self) -> pd.DataFrame:
        return self._for_all_models(self.drift_sweep)

    def _all_sweep_summaries(self) -> pd.DataFrame:
        sweep = self.table("drift_sweep")
        return pd.concat([self.drift_sweep_summary(m, sweep) for m in self.models], ignore_index=True)

    def _real_drift(self) -> pd.DataFrame:
        from . import realdrift, updates

        pairs, skipped = updates.update_pairs(self)
        return realdrift.real_drift_table(self, pairs=pairs, skipped=skipped)

    @timed("figures")
    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` of the run (the notebook shows it inline as well)."""
        from .images import save_figure_png

        save_figure_png(fig, self.path("figures", f"{name}.png"))

    def record_extraction(self, info: ExtractionInfo) -> None:
        """Merge an extraction's cache keys and forward-pass counts into the run's provenance files."""
        from .cache import cache_root

        for name, new, add in (("cache_keys.json", info.keys, False), ("forward_passes.json", info.forward_passes, True)):
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
        if p.dataset not in datasets_mod.DATASETS:
            kw.update(text_column=p.text_column, label_column=p.label_column)
        return datasets_mod.prepare(p.dataset, p.n_per_class, seed=p.seed, fractions=tuple(p.split_fractions),
                                length_matched=p.length_matched, **kw)

    @cached_property
    def sigmas(self) -> np.ndarray:
        """The σ grid: linspace(0, sigma_max, n_sigmas) (paper Table 1: 0..0.15, 8 checkpoints) ∪ extra_sigmas."""
        p = self.params
        grid = np.linspace(0.0, p.sigma_max, p.n_sigmas)
        return np.unique(np.round(np.r_[grid, list(p.extra_sigmas)], 6))

    @property
    def models(self) -> list[str]:
        """The run's models, in profile order."""
        return list(self.params.models)

    @property
    def pairs(self) -> list[Pair]:
        """The profile's base/instruct pairs whose two models are both in this run."""
        return [p for p in self.params.pairs if p.base in self.models and p.instruct in self.models]

    @property
    def skipped_pairs(self) -> list[Pair]:
        """Pairs of the profile naming a model this run does not extract (reported, not compared)."""
        return [p for p in self.params.pairs if p not in self.pairs]

    def conventions(self) -> list[tuple[str, str]]:
        """The (drift type, convention) pairs of this run, from the drift registry."""
        return drift_mod.resolve_conventions(self.params.drift_types, self.params.conventions)

    # ---------------------------------------------------------------- models and embeddings

    def num_layers(self, model: str) -> int:
        """Number of blocks of ``model`` (from its record, else by loading it once)."""
        from .models import known_num_layers
        from .models import spec

        n = known_num_layers(spec(model).identity)
        return int(n if n is not None else self.loaded_model(model).num_layers)

    def layer_indices(self, model: str) -> list[int]:
        """Hidden-state indices for the separability sweep: ``separability_layers`` are fractions of depth."""
        n = self.num_layers(model)
        return sorted({min(n, max(0, round(f * n))) for f in self.params.separability_layers})

    def settings(self, model: str, **changes) -> ExtractionSettings:
        """The run's extraction settings for ``model`` (dtype resolved for the device), with ``changes``."""
        from .models import cheap_dtype_name

        p = self.params
        base = ExtractionSettings(model=model, layer=p.layer, pooling=p.pooling, max_length=p.max_length,
                                  chat_template=p.chat_template, dtype=cheap_dtype_name(p.dtype, p.device))
        out = base.replace(**changes)
        if "dtype" in changes:
            out = out.replace(dtype=cheap_dtype_name(out.dtype, p.device))
        return out

    def planned_settings(self, model: str) -> list[ExtractionSettings]:
        """Every extraction of ``model`` this run will make in its own prompt format and dtype.

        The probe layer, the separability layers, and for the base model of chapter 6 the settings of
        its truncation, layer-shift and pooling-change sources (when they apply): they share one
        forward pass.
        """
        from .updates import planned_settings as source_settings

        out = [self.settings(model)] + [self.settings(model, layer=i) for i in self.layer_indices(model)]
        return list(dict.fromkeys(out + source_settings(self, model)))

    def loaded_model(self, model: str, dtype: str | None = None, variant: str = ""):
        """The model loaded once per study (per dtype and weight variant)."""
        from .models import remember_num_layers
        from .variants import load_variant

        dtype = dtype or self.params.dtype
        if (model, dtype, variant) not in self._models:
            lm = load_variant(model, dtype=dtype, device=self.params.device, variant=variant)  # a variant fixes its own device
            remember_num_layers(lm)
            self._models[(model, dtype, variant)] = lm
        return self._models[(model, dtype, variant)]

    @timed("extraction")
    def embeddings(self, model: str | ExtractionSettings, layer: int | None = None, **changes) -> np.ndarray:
        """Pooled hidden states of every text of the dataset (rows in dataset order).

        ``model`` is a model name (the run's settings, with ``layer`` and ``changes`` such as
        ``max_length=64`` or ``chat_template=True``) or a full :class:`ExtractionSettings`. A miss
        fetches all of :meth:`planned_settings` of the same forward pass at once.
        """
        from .embed import get_embeddings

        if isinstance(model, ExtractionSettings):
            wanted = model
        else:
            if layer is not None:
                changes["layer"] = int(layer)
            wanted = self.settings(model, **changes)
        if wanted not in self._embeddings:
            same_pass = [s for s in self.planned_settings(wanted.model) if s.forward_group == wanted.forward_group]
            info = ExtractionInfo()
            got = get_embeddings([wanted, *same_pass], self.dataset.texts, device=self.params.device,
                                 batch_size=self.params.batch_size, loader=self.loaded_model, info=info)
            self._embeddings.update(got)
            self.record_extraction(info)
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
        return self.split_arrays(drift_mod.normalize(self.embeddings(model, layer, **changes)))

    # ---------------------------------------------------------------- probes

    @timed("probes")
    def probe(self, model: str):
        """The paper's probe (L2-normalise → StandardScaler → logistic regression, C=1, balanced) on train."""
        if model not in self._probes:
            probe = self.fit_probe(*self.unit(model)["train"])
            probe.save(self.run_dir / "probes" / slug(model))
            self._probes[model] = probe
        return self._probes[model]

    def fit_probe(self, X: np.ndarray, y: np.ndarray, seed: int | None = None):
        """The paper's probe (§1.2, :func:`probedrift.probes.paper_probe`) fitted on (X, y), its L2 norm and
        StandardScaler fitted on X too; ``seed`` defaults to the run's. Every probe of the study is fitted here."""
        from .probes import paper_probe

        return paper_probe(self.params.seed if seed is None else seed).fit(X, y)

    def baseline(self, model: str) -> pd.DataFrame:
        """Clean test-set metrics of the frozen probe with stratified bootstrap intervals."""
        p = self.params
        y_te, p1 = self.test_probabilities(model)
        rows = []
        names = ["auc", "accuracy", "f1", "mean_confidence", "ece", "silent_failure_share", "silent_failure_rate"]
        for name in names:
            value, lo, hi = metrics_mod.bootstrap_ci(name, y_te, p1, n_boot=p.n_boot, seed=p.seed, tau=p.tau,
                                                     ece_bins=p.ece_bins)
            rows.append({"model": model, "metric": name, "value": value, "ci_low": lo, "ci_high": hi})
        ece15 = metrics_mod.expected_calibration_error(y_te, p1, bins=15)
        rows.append({"model": model, "metric": "ece_15_bins", "value": ece15, "ci_low": np.nan, "ci_high": np.nan})
        df = pd.DataFrame(rows)
        df["n_test"] = len(y_te)
        df["seed"] = p.seed
        return df[BASELINE_COLUMNS]

    def test_probabilities(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        """Test labels and the frozen probe's p(y=1) on the clean test embeddings."""
        X_te, y_te = self.unit(model)["test"]
        return y_te, self.probe(model).predict_proba(X_te)

    # ---------------------------------------------------------------- drift

    @timed("drift")
    def drift_sweep(self, model: str, progress: bool = True) -> pd.DataFrame:
        """Every drift type and convention over the σ grid and drift seeds, frozen probe (paper §2.1)."""
        table, predictions = self._sweep(model, progress=progress)
        self._sweep_predictions[model] = predictions  # the summary's intervals read these, not a second draw
        return table

    def _sweep(self, model: str, layer: int | None = None, drift_types=None, conventions=None, probe=None,
               progress: bool = False) -> tuple[pd.DataFrame, drift_mod.SweepPredictions]:
        """:func:`probedrift.drift.sweep` of the paper split's test set (at ``layer``), with its per-text predictions."""
        splits = self.unit(model, layer)
        X_te, y_te = splits["test"]
        X_tr, y_tr = splits["train"]
        p = self.params
        probe = self.probe(model) if probe is None else probe
        return drift_mod.sweep(
            X_te, y_te, probe.predict_proba, drift_types=list(p.drift_types if drift_types is None else drift_types),
            conventions=p.conventions if conventions is None else conventions, sigmas=self.sigmas,
            seeds=list(p.drift_seeds), tau=p.tau, ece_bins=p.ece_bins, reference=X_tr, reference_labels=y_tr,
            model=model, progress=progress, return_predictions=True,
        )

    @timed("drift")
    def drift_sweep_summary(self, model: str, sweep: pd.DataFrame | None = None) -> pd.DataFrame:
        """The sweep aggregated over drift seeds, with intervals that cover test sampling *and* the draw.

        Per drift type, convention and σ: each metric's mean over drift seeds with the interval of
        :func:`probedrift.metrics.texts_and_draws_interval` (``<metric>_mean/_ci_low/_ci_high``, and its
        two standard errors ``_se_texts`` and ``_se_draws``); the measured angle's mean with a t-interval
        over seeds. Directions that do not depend on the seed (class-mean difference, top PC) get
        ``_se_draws`` = 0 and an interval from test sampling alone. ``interval`` says what is covered;
        ``n_texts`` is the number of test texts. The per-text probabilities come from the sweep itself
        (:class:`probedrift.drift.SweepPredictions`), so the drifted sets are drawn once.
        """
        from .tables import aggregate_sweep

        p = self.params
        sweep = self.drift_sweep(model, progress=False) if sweep is None else sweep[sweep.model == model]
        angles = aggregate_sweep(sweep)
        angles = angles[["model", "drift_type", "convention", "sigma", "n_seeds"]
                        + [c for c in angles.columns if c.startswith("angle_")]]
        _, y = self.unit(model)["test"]
        if model not in self._sweep_predictions:
            self._sweep_predictions[model] = self._sweep(model)[1]
        predictions = self._sweep_predictions[model]
        names = [m for m in SWEEP_COLUMNS if m in metrics_mod.METRIC_NAMES]
        rows = []
        for t, c in self.conventions():
            P = predictions.probabilities[(t, c)]  # (seeds, σ, texts)
            for i, sigma in enumerate(self.sigmas):
                r = metrics_mod.texts_and_draws_interval(y, P[:, i], names, n_boot=p.n_boot, seed=p.seed, tau=p.tau,
                                                         ece_bins=p.ece_bins)
                row = {"model": model, "drift_type": t, "convention": c, "sigma": float(sigma)}
                row.update({f"{m}_{k}": v for m, parts in r.items() for k, v in parts.items()})
                rows.append(row)
        out = pd.DataFrame(rows)
        keys = ["model", "drift_type", "convention", "sigma"]
        out = angles.assign(sigma=angles.sigma.round(9)).merge(out.assign(sigma=out.sigma.round(9)), on=keys,
                                                                how="right", validate="one_to_one")
        out["n_texts"] = len(y)
        out["interval"] = metrics_mod.TEXTS_AND_DRAWS
        return out

    def drifted_test(self, model: str, drift_type: str, convention: str, seed: int) -> drift_mod.DriftedSet:
        """The drifted test set for one (type, convention, seed) over the whole σ grid."""
        splits = self.unit(model)
        X_te, _ = splits["test"]
        X_tr, y_tr = splits["train"]
        return drift_mod.drift(X_te, drift_type, convention, self.sigmas, seed, reference=X_tr,
                               reference_labels=y_tr)

    def crossfit_predictions(self, model: str, layer: int | None = None):
        """Out-of-fold predictions of every text under every drift (:func:`probedrift.crossfit.crossfit_sweep`):
        ``crossfit_folds``-fold stratified partitions of all texts for each of ``crossfit_seeds``, the
        paper's probe fitted by :meth:`fit_probe` on the other folds (seed = the split seed)."""
        from .crossfit import crossfit_sweep

        p = self.params
        X = drift_mod.normalize(self.embeddings(model, layer))
        return crossfit_sweep(X, self.dataset.labels, lambda X_, y_, s: self.fit_probe(X_, y_, s).predict_proba,
                              folds=p.crossfit_folds, split_seeds=list(p.crossfit_seeds), sigmas=self.sigmas,
                              drift_seeds=list(p.drift_seeds), drift_types=list(p.drift_types),
                              conventions=p.conventions, tau=p.tau, ece_bins=p.ece_bins)

    @timed("drift")
    def drift_sweep_crossfit(self, model: str) -> pd.DataFrame:
        """The drift sweep cross-fitted over all texts (table ``drift_sweep_crossfit.csv``).

        Per drift type, convention and σ: each metric's mean over split seeds and drift draws of the
        metric on all N out-of-fold predictions, with ``_se_texts`` (stratified bootstrap of texts, paired),
        ``_se_splits`` and ``_se_draws`` (two-way ANOVA), ``_se`` = their root sum of squares, the
        interval mean ± z·se and ``_n`` (defined cells); see :mod:`probedrift.crossfit`. ``interval``
        says what is covered.
        """
        from .crossfit import crossfit_table

        p = self.params
        return crossfit_table(self.crossfit_predictions(model), model=model, n_boot=p.crossfit_boot, seed=p.seed,
                              tau=p.tau, ece_bins=p.ece_bins)

    @timed("drift")
    def layer_sweep(self, model: str) -> pd.DataFrame:
        """Gaussian drift (per_dim and relative) at every layer of :meth:`budget_layers` (table ``layer_sweep.csv``).

        Per layer the paper's probe of :meth:`layer_probe` is swept on the paper split's test set over
        the σ grid and drift seeds; AUC and silent-failure share get the interval of
        :func:`probedrift.metrics.texts_and_draws_interval` (test texts and drift draws). Columns: model,
        layer, pooling, drift_type, convention, sigma, angle_deg_mean, auc_mean/_ci_low/_ci_high,
        silent_failure_share_mean/_ci_low/_ci_high (their ``_se_*`` too), auc_drop_mean/_ci_low/_ci_high
        (the loss against σ = 0, paired over texts and draws), n_texts, interval.
        """
        from .crossfit import interval_rows

        p = self.params
        frames = []
        for layer in self.budget_layers(model):
            _, pred = self._sweep(model, layer, drift_types=["gaussian"],
                                  conventions={"gaussian": ["per_dim", "relative"]}, probe=self.layer_probe(model, layer))
            y = self.unit(model, layer)["test"][1]
            df = interval_rows(y, pred.probabilities, pred.angles_deg, pred.sigmas, ["auc", "silent_failure_share"],
                               n_boot=p.n_boot, seed=p.seed, tau=p.tau, ece_bins=p.ece_bins,
                               keys={"model": model, "layer": int(layer), "pooling": p.pooling}, paired_drops=["auc"])
            df = df.drop(columns=[c for c in df.columns if c.endswith(("_se", "_se_splits", "_n"))])  # one split
            df["n_texts"] = len(y)
            frames.append(df)
        out = pd.concat(frames, ignore_index=True)
        out["interval"] = metrics_mod.TEXTS_AND_DRAWS
        return out

    def layer_collapse(self, model: str, layer_sweep: pd.DataFrame | None = None,
                       budget: pd.DataFrame | None = None) -> pd.DataFrame:
        """Where a ≈1° Gaussian drift (relative reading) collapses the probe, per layer and pooling
        (:func:`probedrift.crossfit.collapse_table`), with the drift budget's predicted half-excess angle."""
        from .crossfit import collapse_table

        sweep = self.layer_sweep(model) if layer_sweep is None else layer_sweep[layer_sweep.model == model]
        budget = self.drift_budget(model)[0] if budget is None else budget[budget.model == model]
        return collapse_table(sweep, budget)

    def budget_layers(self, model: str) -> list[int]:
        """Hidden-state indices of the layer axis: the probe layer and every separability layer."""
        from .embed import normalize_layer

        return sorted({normalize_layer(self.params.layer, self.num_layers(model)), *self.layer_indices(model)})

    def layer_probe(self, model: str, layer: int):
        """The paper's probe trained on the training split of hidden state ``layer`` (the run's probe at its layer)."""
        from .embed import normalize_layer
        from .probes import paper_probe

        if layer == normalize_layer(self.params.layer, self.num_layers(model)):
            return self.probe(model)
        return paper_probe(self.params.seed).fit(*self.unit(model, layer)["train"])

    @timed("drift")
    def cliff(self, model: str) -> pd.DataFrame:
        """Cliff angles under both readings of Gaussian σ on a log-spaced σ grid (:mod:`probedrift.cliff`).

        The paper's frozen probe on the test split, every drift seed; σ = 0 plus ``cliff_points`` values
        from ``cliff_sigma_min`` to ``sigma_max``. Rows: model × convention × criterion (half of the
        excess AUC lost; a 20-point fall where the clean AUC allows it), with intervals over test texts
        and drift seeds.
        """
        from .cliff import cliff_table, log_sigma_grid

        p = self.params
        X_te, y_te = self.unit(model)["test"]
        sigmas = log_sigma_grid(p.cliff_sigma_min, p.sigma_max, p.cliff_points)
        _, preds = drift_mod.sweep(X_te, y_te, self.probe(model).predict_proba, drift_types=["gaussian"],
                                   conventions={"gaussian": ["per_dim", "relative"]}, sigmas=sigmas,
                                   seeds=list(p.drift_seeds), tau=p.tau, ece_bins=p.ece_bins, model=model,
                                   progress=False, return_predictions=True)
        return pd.concat([cliff_table(y_te, preds.probabilities[key], preds.angles_deg[key], preds.sigmas,
                                      model=model, drift_type=key[0], convention=key[1], n_boot=p.n_boot,
                                      seed=p.seed) for key in preds.probabilities], ignore_index=True)

    @timed("drift")
    def drift_budget(self, model: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The drift budget at every layer of :meth:`budget_layers` (the mechanism of :mod:`probedrift.budget`):
        predicted and simulated angles at which AUC loses 5 points and half its excess, AUC at 1°, and
        the probe's scale spectrum, on the test split (simulated over :attr:`budget_seeds`); and the
        predicted and simulated AUC-versus-angle curves behind them."""
        from .budget import budget_and_curves

        entries = {(model, layer, self.params.pooling): (self.layer_probe(model, layer), *self.unit(model, layer)["test"])
                   for layer in self.budget_layers(model)}
        return budget_and_curves(entries, seeds=self.budget_seeds)

    @timed("drift")
    def variance_floor_table(self, model: str) -> pd.DataFrame:
        """The variance-floor mitigation at every layer of :meth:`budget_layers` (table ``variance_floor.csv``).

        Per layer two probes on the same training split: the paper's (:meth:`layer_probe`, scaler
        unchanged, ``scaler = "none"``) and the same recipe with each scaler std clamped to
        s_j ≥ ``scale_floor_fraction`` × median_j s_j (:func:`probedrift.budget.floored_probe`). Both read the
        test split: clean AUC with its interval, ‖w/s‖, smallest std, predicted budget angles and the AUC
        under exact-angle isotropic drift of 1° over :attr:`budget_seeds`
        (:func:`probedrift.budget.variance_floor_comparison`; ``interval`` says what is covered).
        """
        from .budget import floor_spec, floored_probe, variance_floor_comparison

        p = self.params
        frames = []
        for layer in self.budget_layers(model):
            splits = self.unit(model, layer)
            probes = {"none": self.layer_probe(model, layer),
                      floor_spec(p.scale_floor_fraction): floored_probe(p.scale_floor_fraction, p.seed).fit(
                          *splits["train"])}
            frames.append(variance_floor_comparison(
                probes, *splits["test"], keys={"model": model, "layer": int(layer), "pooling": p.pooling},
                seeds=self.budget_seeds, n_boot=p.n_boot, boot_seed=p.seed))
        return pd.concat(frames, ignore_index=True)

    @property
    def budget_seeds(self) -> list[int]:
        """Draws of the budget's simulation: the drift seeds, at least 20 (simulating is cheap and the
        simulated curve is the check on the closed form)."""
        seeds = list(self.params.drift_seeds)
        return seeds + [max(seeds) + 1 + i for i in range(max(0, 20 - len(seeds)))]

    # ---------------------------------------------------------------- detectors

    def detector_kwargs(self, model: str, n_permutations: int | None = None) -> dict[str, dict]:
        """Keyword arguments of each configured monitor (``n_permutations`` overrides the profile's)."""
        p = self.params
        perms = p.detector_permutations if n_permutations is None else int(n_permutations)
        kw = {
            "confidence": {"predict_proba": self.probe(model).predict_proba, "max_relative_drop": p.confidence_drop},
            "mmd": {"n_permutations": perms, "alpha": p.alpha, "seed": p.seed},
            "ks": {"alpha": p.alpha},
            "domain_classifier": {"alpha": p.alpha, "seed": p.seed},
            "mean_cosine": {"n_permutations": perms, "alpha": p.alpha, "seed": p.seed},
        }
        return {name: kw.get(name, {}) for name in p.detectors}

    def make_detectors(self, model: str, n_permutations: int | None = None) -> dict:
        """The configured monitors, fitted on clean reference embeddings the test texts never belong to.

        The embedding monitors use (a sample of) the training split. The confidence monitor uses the
        validation split: on its own training texts the probe is more confident than on any unseen
        text (with d ≈ 600 and a few hundred texts the training set is linearly separable), so a
        training-set reference would measure the generalisation gap and alarm at σ = 0.
        """
        from .detectors import make_detector

        p = self.params
        splits = self.unit(model)
        ref = subsample(splits["train"][0], p.detector_sample_size, p.seed)
        return {name: make_detector(name, **kw).fit(splits["val"][0] if name == "confidence" else ref)
                for name, kw in self.detector_kwargs(model, n_permutations).items()}

    @property
    def detector_grid_permutations(self) -> int:
        """Permutations of the detector table's permutation tests: enough that the smallest p-value,
        ``1/(B+1)``, is at most a quarter of the per-test level ``α/K`` of :func:`tables.first_alarms`
        (K = points of the σ grid), and never fewer than the profile's ``detector_permutations``."""
        p = self.params
        return max(p.detector_permutations, int(np.ceil(4 * len(self.sigmas) / p.alpha)) - 1)

    @timed("monitors")
    def detector_table(self, model: str, progress: bool = True) -> pd.DataFrame:
        """Each monitor's statistic, p-value and alarm on drifted test samples, per type/convention/σ/drift seed.

        Every drift seed of the run. The reference (train; validation for the confidence monitor) and
        the sample (test) are disjoint, so σ = 0 shows each monitor's false-alarm behaviour. ``alarm``
        is at the profile's α per test; :func:`probedrift.tables.first_alarms` corrects over the σ grid
        from ``p_value``, so permutation tests run :attr:`detector_grid_permutations` permutations.
        Samples identical across seeds (σ = 0, seed-free directions) are tested once.
        """
        from concurrent.futures import ThreadPoolExecutor

        from tqdm.auto import tqdm

        p = self.params
        dets = self.make_detectors(model, n_permutations=self.detector_grid_permutations)

        def test_all(sample: np.ndarray) -> list:
            return [(name, det.test(sample)) for name, det in dets.items()]

        done: dict[bytes, list] = {}
        rows = []
        cases = [(t, c, seed) for t, c in self.conventions() for seed in p.drift_seeds]
        # The tests are small solves and products that release the GIL: one BLAS thread each, one
        # test per core (each test is seeded, so the table does not depend on the scheduling).
        with one_blas_thread(), ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for t, c, seed in tqdm(cases, desc=f"detectors {model}", disable=not progress):
                ds = self.drifted_test(model, t, c, seed)
                keys, pending = [], {}
                for i in range(len(ds.sigmas)):
                    sample = subsample(ds.embeddings[i], p.detector_sample_size, p.drift_seeds[0] + 1)
                    key = hashlib.sha1(np.ascontiguousarray(sample).tobytes()).digest()
                    keys.append(key)
                    if key not in done and key not in pending:
                        pending[key] = pool.submit(test_all, sample)
                done.update({key: future.result() for key, future in pending.items()})
                for i, (sigma, key) in enumerate(zip(ds.sigmas, keys)):
                    for name, r in done[key]:
                        rows.append({"model": model, "drift_type": t, "convention": c, "sigma": float(sigma),
                                     "seed": seed, "angle_deg_mean": float(ds.angles_deg[i].mean()),
                                     "detector": name, "statistic": r.statistic, "p_value": r.p_value,
                                     "alarm": bool(r.alarm)})
        return pd.DataFrame(rows, columns=DETECTOR_COLUMNS)

    FALSE_ALARM_DESIGNS = ("pooled", "split")

    @timed("monitors")
    def false_alarm_table(self, model: str, design: str = "pooled") -> pd.DataFrame:
        """Each monitor's alarm rate with no drift over ``false_alarm_runs`` runs, Clopper–Pearson 95% interval.

        :func:`probedrift.detectors.false_alarm_table`; every run draws a fresh reference and sample of
        the sizes :meth:`detector_table` uses (reference ``detector_sample_size`` training-sized rows,
        sample as many as the test split gives). The confidence monitor's reference and sample are always
        a disjoint split of the held-out texts (validation + test, which the probe never saw), the
        reference as large as the validation split. For the embedding monitors ``design``:

        - ``"pooled"``: reference and sample disjoint draws from all clean texts, so they are
          exchangeable: the rate a level-α test promises (≤ α) over fresh data;
        - ``"split"``: reference from the training split, sample from the held-out texts: the rate
          given this run's partition, which the finite held-out pool is reused for (runs share most
          of their texts, so chance differences between the two pools repeat).
        """
        from .detectors import NullDesign, false_alarm_table, make_detector
        from .errors import check_choice

        check_choice("false-alarm design", design, self.FALSE_ALARM_DESIGNS)
        p = self.params
        splits = self.unit(model)
        train, val, test = splits["train"][0], splits["val"][0], splits["test"][0]
        held_out = np.concatenate([val, test])
        everything = np.concatenate([train, held_out])
        n_ref = min(p.detector_sample_size, len(train))
        n_sample = min(p.detector_sample_size, len(test))
        kwargs = self.detector_kwargs(model)
        factories = {name: (lambda name=name, kw=kw: make_detector(name, **kw)) for name, kw in kwargs.items()}
        designs = {}
        for name in kwargs:
            if name == "confidence":
                designs[name] = NullDesign(held_out, held_out, len(val), min(n_sample, len(held_out) - len(val)))
            elif design == "pooled":
                designs[name] = NullDesign(everything, everything, n_ref, n_sample)
            else:
                designs[name] = NullDesign(train, held_out, n_ref, n_sample)
        return false_alarm_table(factories, designs, n_runs=p.false_alarm_runs, seed=p.seed, model=model,
                                 design=design)

    # ---------------------------------------------------------------- separability

    @timed("separability")
    def separability(self, model: str) -> pd.DataFrame:
        """Silhouette, Fisher ratio, overlap and CV AUC per layer (paper Table 2), with intervals."""
        from .separability import per_layer_report

        by_layer = {layer: self.embeddings(model, layer) for layer in self.layer_indices(model)}
        # Silhouette and overlap resamples cost a distance matrix or two LDA fits each, so they get
        # fewer resamples than the Fisher ratio (whose resamples are one matrix product in all).
        n_boot = self.params.n_boot
        df = per_layer_report(by_layer, self.dataset.labels, model=model, n_boot=n_boot,
                              n_boot_expensive=max(5, min(20, n_boot // 100)), seed=self.params.seed)
        return df[SEPARABILITY_COLUMNS]

    @timed("separability")
    def paired_separability(self) -> pd.DataFrame:
        """Per pair of :attr:`pairs`: each separability measure's relative change (instruct − base)/|base| at
        both models' last separability layer, with an interval paired over the texts both embedded
        (:func:`probedrift.separability.paired_relative_change`; the resamples of :meth:`separability`).
        Columns base, instruct, metric, base_value, instruct_value, relative_change, relative_change_low,
        relative_change_high, interval; pass it to :func:`probedrift.tables.pair_comparison` as ``paired``."""
        from .separability import paired_relative_change

        n_boot = self.params.n_boot
        frames = []
        for pair in self.pairs:
            X = [self.embeddings(m, max(self.layer_indices(m))) for m in (pair.base, pair.instruct)]
            df = paired_relative_change(*X, self.dataset.labels, n_boot_expensive=max(5, min(20, n_boot // 100)),
                                        seed=self.params.seed)
            frames.append(df.assign(base=pair.base, instruct=pair.instruct))
        cols = ["base", "instruct", "metric", "base_value", "instruct_value", "relative_change",
                "relative_change_low", "relative_change_high", "interval"]
        return pd.concat(frames, ignore_index=True)[cols] if frames else pd.DataFrame(columns=cols)
