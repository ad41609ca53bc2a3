"""The study's steps, as the notebooks call them: one function per table, parameters from a profile.

A :class:`Study` is built from a notebook's ``parameters`` cell (:data:`PARAMETER_KEYS`, the
same keys as every profile in ``params/``). It knows the run directory ``results/<profile>/`` and
writes there: tables to ``metrics/``, figures to ``figures/``, fitted probes to ``probes/``.
Embeddings go through the content-addressed cache, so the notebook that needs them second gets
them in milliseconds; every cache key used is recorded in ``cache_keys.json`` for provenance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from . import data as data_mod
from . import drift as drift_mod
from . import metrics as metrics_mod
from .errors import ProbedriftError, check_choice, check_positive
from .profiles import repo_root

PARAMETER_KEYS = (
    "profile", "results_dir", "dataset", "data_files", "label_threshold", "n_per_class", "length_matched",
    "split_fractions", "models", "pairs", "layer", "separability_layers", "pooling", "max_length",
    "chat_template", "batch_size", "dtype", "device", "seed", "drift_seeds", "sigma_max", "n_sigmas",
    "extra_sigmas", "drift_types", "conventions", "tau", "ece_bins", "n_boot", "reliability_checkpoints",
    "detectors", "detector_sample_size", "detector_permutations", "alpha", "confidence_drop",
    "anchor_sizes", "real_drift_sources",
)

SWEEP_COLUMNS = list(drift_mod.SWEEP_COLUMNS)
DETECTOR_COLUMNS = ["model", "drift_type", "convention", "sigma", "seed", "angle_deg_mean", "detector",
                    "statistic", "p_value", "alarm"]
SEPARABILITY_COLUMNS = ["model", "layer", "metric", "value", "ci_low", "ci_high"]
BASELINE_COLUMNS = ["model", "metric", "value", "ci_low", "ci_high", "n_test", "seed"]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")


@dataclass
class Study:
    """Parameters of one run plus the paths and cached intermediate results derived from them."""

    params: dict
    _embeddings: dict = field(default_factory=dict, repr=False)
    _probes: dict = field(default_factory=dict, repr=False)
    _models: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_namespace(cls, namespace: dict) -> Study:
        """Build from a notebook's globals: picks exactly :data:`PARAMETER_KEYS` (all must be there)."""
        missing = [k for k in PARAMETER_KEYS if k not in namespace]
        if missing:
            raise ProbedriftError(f"parameters missing: {', '.join(missing)}", "run the parameters cell first")
        return cls(params={k: namespace[k] for k in PARAMETER_KEYS})

    def __post_init__(self) -> None:
        p = self.params
        check_positive("n_per_class", p["n_per_class"])
        check_positive("max_length", p["max_length"])
        check_positive("batch_size", p["batch_size"])
        if not 0.5 < float(p["tau"]) < 1:
            raise ProbedriftError(f"tau must lie in (0.5, 1), got {p['tau']}", "use e.g. 0.8, the paper's threshold")
        check_positive("sigma_max", p["sigma_max"], allow_zero=True)
        for s in p.get("extra_sigmas") or []:
            check_positive("sigma", s, allow_zero=True)
        for t in p["drift_types"]:
            check_choice("drift type", t, drift_mod.DRIFT_TYPES)
        from .embed import POOLINGS

        check_choice("pooling", p["pooling"], POOLINGS)

    # ---------------------------------------------------------------- paths and bookkeeping

    @property
    def run_dir(self) -> Path:
        path = Path(self.params["results_dir"])
        return path if path.is_absolute() else repo_root() / path

    def path(self, kind: str, name: str) -> Path:
        out = self.run_dir / kind / name
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def save_table(self, df: pd.DataFrame, name: str) -> Path:
        """Write a metrics table as CSV (atomically) and return its path."""
        path = self.path("metrics", f"{name}.csv")
        tmp = path.with_suffix(".csv.tmp")
        df.to_csv(tmp, index=False, float_format="%.6g")
        os.replace(tmp, path)
        return path

    def load_table(self, name: str) -> pd.DataFrame:
        path = self.run_dir / "metrics" / f"{name}.csv"
        if not path.is_file():
            raise ProbedriftError(f"table {name}.csv is missing from {self.run_dir / 'metrics'}",
                                  "run the notebooks in order (probedrift run executes them all)")
        return pd.read_csv(path)

    def save_figure(self, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<name>.png`` of the run (the notebook shows it inline as well)."""
        fig.savefig(self.path("figures", f"{name}.png"), dpi=110, bbox_inches="tight")

    def _record_cache_keys(self, model: str, keys: dict, p: dict) -> None:
        path = self.run_dir / "cache_keys.json"
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        for layer, key in keys.items():
            known[f"{model}|layer={layer}|pooling={p['pooling']}|max_length={p['max_length']}"
                  f"|chat_template={p['chat_template']}|dtype={p['dtype']}"] = key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(known, indent=1, sort_keys=True))

    # ---------------------------------------------------------------- data and embeddings

    @cached_property
    def dataset(self) -> data_mod.TextDataset:
        """The balanced, split dataset of this run (paper §1.2: balanced sample, 70/10/20 split)."""
        p = self.params
        kw = {}
        if p.get("data_files"):
            kw["data_files"] = p["data_files"]
        if p.get("label_threshold") is not None:
            kw["label_threshold"] = p["label_threshold"]
        return data_mod.prepare(p["dataset"], int(p["n_per_class"]), seed=int(p["seed"]),
                                fractions=tuple(p["split_fractions"]), length_matched=bool(p["length_matched"]),
                                **kw)

    @cached_property
    def sigmas(self) -> np.ndarray:
        """The σ grid: linspace(0, sigma_max, n_sigmas) (paper Table 1: 0..0.15, 8 checkpoints) ∪ extra_sigmas."""
        p = self.params
        grid = np.linspace(0.0, float(p["sigma_max"]), int(p["n_sigmas"]))
        return np.unique(np.round(np.r_[grid, p.get("extra_sigmas") or []], 6))

    @property
    def models(self) -> list[str]:
        return list(self.params["models"])

    def num_layers(self, model: str) -> int:
        from .embed import _known_num_layers
        from .models import spec

        n = _known_num_layers(spec(model).identity)
        if n is None:
            n = self.loaded_model(model).num_layers
        return int(n)

    def layer_indices(self, model: str) -> list[int]:
        """Hidden-state indices for the separability sweep: ``separability_layers`` are fractions of depth."""
        n = self.num_layers(model)
        return sorted({min(n, max(0, round(float(f) * n))) for f in self.params["separability_layers"]})

    def _embedding_key(self, model: str, layer: int, p: dict, texts: list[str]) -> tuple:
        return (model, int(layer), p["pooling"], int(p["max_length"]), bool(p["chat_template"]), p["dtype"],
                len(texts), hash(tuple(texts)))

    def loaded_model(self, model: str, dtype: str | None = None):
        """The model loaded once per study (and dtype), for experiments that need the network itself."""
        from .embed import remember_num_layers
        from .models import load

        dtype = dtype or self.params["dtype"]
        if (model, dtype) not in self._models:
            lm = load(model, dtype=dtype, device=self.params["device"])
            remember_num_layers(lm)
            self._models[(model, dtype)] = lm
        return self._models[(model, dtype)]

    def embeddings(self, model: str, layer: int | None = None, *, texts: list[str] | None = None,
                   **overrides) -> np.ndarray:
        """Pooled hidden states of every text of the dataset (rows in dataset order), via the cache.

        On a miss every layer this study needs from the model (the probe layer and the separability
        layers) is extracted in one forward pass. ``overrides`` change one extraction setting (e.g.
        ``max_length=64``, ``chat_template=True``) for the real-drift experiments.
        """
        from .embed import ExtractionInfo, cached_or_none, extract
        from .models import resolve_device, resolve_dtype, spec

        p = {**self.params, **overrides}
        layer = p["layer"] if layer is None else int(layer)
        texts = self.dataset.texts if texts is None else list(texts)
        key = self._embedding_key(model, layer, p, texts)
        if key in self._embeddings:
            return self._embeddings[key]
        wanted = [layer]
        if texts == self.dataset.texts:
            from .embed import _known_num_layers

            if _known_num_layers(spec(model).identity) is None:
                self.loaded_model(model, p["dtype"])
            wanted = sorted({layer, int(p["layer"]), *self.layer_indices(model)})
        pooling, max_length, chat = p["pooling"], int(p["max_length"]), bool(p["chat_template"])
        dtype_name = str(resolve_dtype(p["dtype"], resolve_device(p["device"]))).replace("torch.", "")
        keys: dict = {}
        out = cached_or_none(model, texts, wanted, pooling, max_length, dtype_name, chat, keys=keys)
        if out is None:
            info = ExtractionInfo()
            out = extract(self.loaded_model(model, p["dtype"]), texts, wanted, pooling, max_length, chat,
                          int(p["batch_size"]), info=info)
            keys = info.keys
        for lay, arr in out.items():
            self._embeddings[self._embedding_key(model, lay, p, texts)] = arr
        self._record_cache_keys(model, keys, p)
        return self._embeddings[key]

    def split_arrays(self, X: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{"train"|"val"|"test": (X_split, y_split)}``; rows of ``X`` follow the dataset order."""
        frame = self.dataset.frame
        y = self.dataset.labels
        out = {}
        for s in data_mod.SPLITS:
            mask = (frame["split"] == s).to_numpy()
            out[s] = (X[mask], y[mask])
        return out

    def unit(self, model: str, layer: int | None = None, **overrides) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Unit-normalised embeddings per split: the space the drift acts in (paper §2.2)."""
        X = drift_mod.normalize(self.embeddings(model, layer, **overrides))
        return self.split_arrays(X)

    # ---------------------------------------------------------------- probes

    def probe(self, model: str):
        """The paper's probe (L2-normalise → StandardScaler → logistic regression, C=1, balanced) on train."""
        from .probes import paper_probe

        if model not in self._probes:
            splits = self.unit(model)
            X_tr, y_tr = splits["train"]
            probe = paper_probe(int(self.params["seed"]))
            probe.fit(X_tr, y_tr)
            probe.save(self.run_dir / "probes" / _slug(model))
            self._probes[model] = probe
        return self._probes[model]

    def baseline(self, model: str) -> pd.DataFrame:
        """Clean test-set metrics of the frozen probe with stratified bootstrap intervals."""
        X_te, y_te = self.unit(model)["test"]
        p1 = self.probe(model).predict_proba(X_te)
        rows = []
        n_boot, seed = int(self.params["n_boot"]), int(self.params["seed"])
        names = ["auc", "accuracy", "f1", "mean_confidence", "ece", "silent_failure_share", "silent_failure_rate"]
        for name in names:
            value, lo, hi = metrics_mod.bootstrap_ci(name, y_te, p1, n_boot=n_boot, seed=seed,
                                                     tau=float(self.params["tau"]),
                                                     ece_bins=int(self.params["ece_bins"]))
            rows.append({"model": model, "metric": name, "value": value, "ci_low": lo, "ci_high": hi})
        ece15 = metrics_mod.expected_calibration_error(y_te, p1, bins=15)
        rows.append({"model": model, "metric": "ece_15_bins", "value": ece15, "ci_low": np.nan, "ci_high": np.nan})
        df = pd.DataFrame(rows)
        df["n_test"] = len(y_te)
        df["seed"] = seed
        return df[BASELINE_COLUMNS]

    def test_probabilities(self, model: str) -> tuple[np.ndarray, np.ndarray]:
        X_te, y_te = self.unit(model)["test"]
        return y_te, self.probe(model).predict_proba(X_te)

    # ---------------------------------------------------------------- drift

    def drift_sweep(self, model: str, progress: bool = True) -> pd.DataFrame:
        """Every drift type and convention over the σ grid and drift seeds, frozen probe (paper §2.1)."""
        splits = self.unit(model)
        X_te, y_te = splits["test"]
        X_tr, y_tr = splits["train"]
        p = self.params
        return drift_mod.sweep(
            X_te, y_te, self.probe(model).predict_proba, drift_types=list(p["drift_types"]),
            conventions=p["conventions"], sigmas=self.sigmas, seeds=list(p["drift_seeds"]),
            tau=float(p["tau"]), ece_bins=int(p["ece_bins"]), reference=X_tr, reference_labels=y_tr,
            model=model, progress=progress,
        )

    def drifted_test(self, model: str, drift_type: str, convention: str, seed: int) -> drift_mod.DriftedSet:
        """The drifted test set for one (type, convention, seed) over the whole σ grid."""
        splits = self.unit(model)
        X_te, _ = splits["test"]
        X_tr, y_tr = splits["train"]
        return drift_mod.drift(X_te, drift_type, convention, self.sigmas, seed, reference=X_tr,
                               reference_labels=y_tr)

    def conventions_of(self, drift_type: str) -> list[str]:
        conv = self.params["conventions"]
        if conv in (None, "all"):
            return list(drift_mod.CONVENTIONS[drift_type])
        if conv == "paper":
            return [drift_mod.PAPER_CONVENTIONS[drift_type]]
        return list(conv[drift_type])

    # ---------------------------------------------------------------- detectors

    def make_detectors(self, model: str) -> dict:
        """The configured monitors, each fitted on clean *train* embeddings (a held-out reference)."""
        from .detectors import make_detector

        p = self.params
        seed = int(p["seed"])
        kw = {
            "confidence": {"predict_proba": self.probe(model).predict_proba, "max_relative_drop": float(p["confidence_drop"])},
            "mmd": {"n_permutations": int(p["detector_permutations"]), "alpha": float(p["alpha"]), "seed": seed},
            "ks": {"alpha": float(p["alpha"])},
            "domain_classifier": {"alpha": float(p["alpha"]), "seed": seed},
            "mean_cosine": {"n_permutations": int(p["detector_permutations"]), "alpha": float(p["alpha"]), "seed": seed},
        }
        X_tr, _ = self.unit(model)["train"]
        ref = _subsample(X_tr, int(p["detector_sample_size"]), seed)
        return {name: make_detector(name, **kw.get(name, {})).fit(ref) for name in p["detectors"]}

    def detector_table(self, model: str, progress: bool = True) -> pd.DataFrame:
        """Each monitor's statistic, p-value and alarm on drifted test samples, per type/convention/σ.

        Uses the first drift seed; the reference (train) and sample (test) are disjoint, so σ = 0
        shows each monitor's false-alarm behaviour.
        """
        from tqdm.auto import tqdm

        p = self.params
        seed = int(p["drift_seeds"][0])
        dets = self.make_detectors(model)
        rows = []
        combos = [(t, c) for t in p["drift_types"] for c in self.conventions_of(t)]
        for t, c in tqdm(combos, desc=f"detectors {model}", disable=not progress):
            ds = self.drifted_test(model, t, c, seed)
            for i, sigma in enumerate(ds.sigmas):
                sample = _subsample(ds.embeddings[i], int(p["detector_sample_size"]), seed + 1)
                for name, det in dets.items():
                    r = det.test(sample)
                    rows.append({"model": model, "drift_type": t, "convention": c, "sigma": float(sigma),
                                 "seed": seed, "angle_deg_mean": float(ds.angles_deg[i].mean()), "detector": name,
                                 "statistic": r.statistic, "p_value": r.p_value, "alarm": bool(r.alarm)})
        return pd.DataFrame(rows, columns=DETECTOR_COLUMNS)

    # ---------------------------------------------------------------- separability

    def separability(self, model: str) -> pd.DataFrame:
        """Silhouette, Fisher ratio, overlap and CV AUC per layer (paper Table 2), with intervals."""
        from .separability import per_layer_report

        by_layer = {}
        for layer in self.layer_indices(model):
            X = self.embeddings(model, layer)
            by_layer[layer] = X
        y = self.dataset.labels
        # Silhouette and overlap resamples cost a distance matrix or two LDA fits each, so they get
        # fewer resamples than the Fisher ratio (whose resamples are one matrix product in all).
        n_boot = int(self.params["n_boot"])
        df = per_layer_report(by_layer, y, model=model, n_boot=n_boot, n_boot_expensive=max(5, min(20, n_boot // 100)),
                              seed=int(self.params["seed"]))
        return df[SEPARABILITY_COLUMNS]


def _subsample(X: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(X) <= n:
        return X
    idx = np.random.default_rng(seed).choice(len(X), size=n, replace=False)
    return X[np.sort(idx)]


# -------------------------------------------------------------------- summaries of tables


def aggregate_sweep(sweep: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Mean and t-interval across drift seeds for every metric of a sweep, per model/type/convention/σ."""
    metric_cols = [c for c in SWEEP_COLUMNS if c not in ("model", "drift_type", "convention", "sigma", "seed")]
    agg = metrics_mod.aggregate_seeds(sweep, by=["model", "drift_type", "convention", "sigma"],
                                      metrics=metric_cols, level=level)
    # With few seeds a t-interval can leave [0, 1]; the metrics cannot.
    for m in metric_cols:
        if not m.startswith("angle"):
            agg[f"{m}_ci_low"] = agg[f"{m}_ci_low"].clip(lower=0.0)
            agg[f"{m}_ci_high"] = agg[f"{m}_ci_high"].clip(upper=1.0)
    return agg


def cliff_points(sweep: pd.DataFrame, drops=(0.05, 0.20)) -> pd.DataFrame:
    """σ and mean angle at which the seed-mean AUC first falls ``drop`` (absolute) below σ = 0.

    Linear interpolation between grid points; NaN when the AUC never falls that far on the grid.
    """
    agg = aggregate_sweep(sweep)
    rows = []
    for (model, t, c), g in agg.groupby(["model", "drift_type", "convention"], sort=False):
        g = g.sort_values("sigma")
        s, a, auc = g["sigma"].to_numpy(), g["angle_deg_mean_mean"].to_numpy(), g["auc_mean"].to_numpy()
        base = auc[0]
        row = {"model": model, "drift_type": t, "convention": c, "auc_clean": base, "auc_at_max_sigma": auc[-1]}
        for drop in drops:
            target = base - drop
            below = np.nonzero(auc <= target)[0]
            tag = f"{round(drop * 100)}pt"
            if len(below) == 0:
                row[f"sigma_{tag}"], row[f"angle_deg_{tag}"] = np.nan, np.nan
                continue
            j = below[0]
            if j == 0:
                frac = 0.0
                i = 0
            else:
                i = j - 1
                frac = (auc[i] - target) / (auc[i] - auc[j]) if auc[i] != auc[j] else 0.0
            row[f"sigma_{tag}"] = s[i] + frac * (s[j] - s[i])
            row[f"angle_deg_{tag}"] = a[i] + frac * (a[j] - a[i])
        rows.append(row)
    return pd.DataFrame(rows)


def first_alarms(detectors: pd.DataFrame, cliffs: pd.DataFrame) -> pd.DataFrame:
    """For each model/type/convention/detector: the smallest σ (and angle) that alarms, next to the 5-point cliff.

    σ = 0 alarms count as false alarms and are reported separately (``alarm_at_zero``); the first
    alarm is searched among σ > 0.
    """
    rows = []
    for (model, t, c, det), g in detectors.groupby(["model", "drift_type", "convention", "detector"], sort=False):
        g = g.sort_values("sigma")
        zero = g[g["sigma"] == 0]["alarm"].any()
        pos = g[(g["sigma"] > 0) & g["alarm"]]
        rows.append({"model": model, "drift_type": t, "convention": c, "detector": det,
                     "alarm_at_zero": bool(zero),
                     "first_alarm_sigma": float(pos["sigma"].iloc[0]) if len(pos) else np.nan,
                     "first_alarm_angle_deg": float(pos["angle_deg_mean"].iloc[0]) if len(pos) else np.nan})
    out = pd.DataFrame(rows)
    if len(out) and len(cliffs):
        out = out.merge(cliffs[["model", "drift_type", "convention", "sigma_5pt", "angle_deg_5pt"]],
                        on=["model", "drift_type", "convention"], how="left")
    return out


def fmt_ci(value: float, lo: float, hi: float, digits: int = 2) -> str:
    """``0.85 [0.82, 0.88]``; the interval is dropped when it is undefined."""
    if not np.isfinite(value):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


# -------------------------------------------------------------------- per-notebook helpers


def dataset_summary(S: Study) -> pd.DataFrame:
    """Counts per split and class, median characters per class, and the length-only AUC."""
    frame = S.dataset.frame.assign(chars=S.dataset.frame["text"].str.len())
    table = frame.pivot_table(index="split", columns="label", values="text", aggfunc="count", fill_value=0)
    table.columns = [f"n_label_{c}" for c in table.columns]
    table = table.reindex([s for s in data_mod.SPLITS if s in table.index])
    table["median_chars_label_0"] = frame[frame.label == 0].groupby("split")["chars"].median()
    table["median_chars_label_1"] = frame[frame.label == 1].groupby("split")["chars"].median()
    return table.reset_index()


def examples(S: Study, per_class: int = 3, max_chars: int = 110, seed: int = 0) -> pd.DataFrame:
    """A few short texts of each class (for orientation; the data may contain insults)."""
    frame = S.dataset.frame
    rows = []
    for label in (0, 1):
        pool = frame[(frame.label == label) & (frame.text.str.len() <= max_chars)]
        pick = pool.sample(n=min(per_class, len(pool)), random_state=seed) if len(pool) else pool
        rows += [{"label": label, "text": t} for t in pick["text"]]
    return pd.DataFrame(rows)


def extraction_table(S: Study) -> pd.DataFrame:
    """Extract (or fetch) every model's probe layer and separability layers; timing and shapes."""
    import time

    from .embed import _known_num_layers
    from .models import spec

    rows = []
    for model in S.models:
        t0 = time.perf_counter()
        X = S.embeddings(model)
        layers = S.layer_indices(model)
        for layer in layers:
            S.embeddings(model, layer)
        n_layers = _known_num_layers(spec(model).identity)
        rows.append({"model": model, "blocks": n_layers, "width": X.shape[1], "texts": X.shape[0],
                     "probe_layer": S.params["layer"], "separability_layers": ", ".join(map(str, layers)),
                     "pooling": S.params["pooling"], "max_length": S.params["max_length"],
                     "seconds": round(time.perf_counter() - t0, 1)})
    return pd.DataFrame(rows)


def confidence_by_outcome(S: Study, model: str, conventions: str = "paper") -> pd.DataFrame:
    """Mean max-class confidence of correct vs wrong test predictions, per σ and drift seed.

    With ``conventions="paper"`` each drift type uses its paper reading (notes §2.2), plus the
    ``relative`` Gaussian reading that matches the abstract's "≈1°".
    """
    probe = S.probe(model)
    _, y = S.unit(model)["test"]
    rows = []
    for t in S.params["drift_types"]:
        convs = [drift_mod.PAPER_CONVENTIONS[t]] if conventions == "paper" else S.conventions_of(t)
        if t == "gaussian" and conventions == "paper":
            convs.append("relative")
        for c in convs:
            for seed in S.params["drift_seeds"]:
                ds = S.drifted_test(model, t, c, int(seed))
                P = probe.predict_proba(ds.embeddings.reshape(-1, ds.embeddings.shape[-1])).reshape(len(ds.sigmas), -1)
                conf = np.maximum(P, 1 - P)
                correct = (P >= 0.5).astype(int) == y[None, :]
                for i, sigma in enumerate(ds.sigmas):
                    for outcome, mask in (("correct", correct[i]), ("wrong", ~correct[i])):
                        rows.append({"model": model, "drift_type": t, "convention": c, "sigma": float(sigma),
                                     "seed": int(seed), "outcome": outcome, "n": int(mask.sum()),
                                     "confidence": float(conf[i][mask].mean()) if mask.any() else np.nan})
    return pd.DataFrame(rows)


def reliability_at_checkpoints(S: Study, model: str, drift_type: str, convention: str) -> dict[str, pd.DataFrame]:
    """Reliability tables at the checkpoints of paper Fig. 3 (indices into the linspace grid), first seed."""
    p = S.params
    grid = np.linspace(0.0, float(p["sigma_max"]), int(p["n_sigmas"]))
    wanted = [round(float(grid[i]), 6) for i in p["reliability_checkpoints"] if i < len(grid)]
    ds = S.drifted_test(model, drift_type, convention, int(p["drift_seeds"][0]))
    _, y = S.unit(model)["test"]
    probe = S.probe(model)
    out = {}
    for i, sigma in enumerate(ds.sigmas):
        if round(float(sigma), 6) in wanted:
            p1 = probe.predict_proba(ds.embeddings[i])
            ece = metrics_mod.expected_calibration_error(y, p1, bins=int(p["ece_bins"]))
            out[f"σ={sigma:.3f} (ECE {ece:.1%})"] = metrics_mod.reliability_table(y, p1, bins=int(p["ece_bins"]))
    return out


def pair_comparison(sep: pd.DataFrame, pairs: list[dict], layer_fraction: float = 1.0,
                    num_layers: dict[str, int] | None = None) -> pd.DataFrame:
    """Instruct vs base: each separability measure at the last probed layer and its relative change.

    The paper (Table 2) reports silhouette −19% and Fisher −26% for instruct vs base. The relative
    change's interval is a conservative range from the two models' intervals.
    """
    rows = []
    for pair in pairs:
        base, inst = pair["base"], pair["instruct"]
        for metric in dict.fromkeys(sep["metric"]):
            b = sep[(sep.model == base) & (sep.metric == metric)].sort_values("layer").tail(1)
            i = sep[(sep.model == inst) & (sep.metric == metric)].sort_values("layer").tail(1)
            if b.empty or i.empty:
                continue
            b, i = b.iloc[0], i.iloc[0]
            rel = (i.value - b.value) / abs(b.value) if b.value else np.nan
            lo = (i.ci_low - b.ci_high) / abs(b.value) if b.value else np.nan
            hi = (i.ci_high - b.ci_low) / abs(b.value) if b.value else np.nan
            rows.append({"base": base, "instruct": inst, "note": pair.get("note", ""), "metric": metric,
                         "base_value": b.value, "base_ci_low": b.ci_low, "base_ci_high": b.ci_high,
                         "instruct_value": i.value, "instruct_ci_low": i.ci_low, "instruct_ci_high": i.ci_high,
                         "relative_change": rel, "relative_change_low": lo, "relative_change_high": hi})
    return pd.DataFrame(rows)
