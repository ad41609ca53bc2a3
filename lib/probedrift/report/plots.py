"""Figures of the study, all in one seaborn theme (:func:`use_theme`) and one colour per label (:func:`color_of`).

Each function takes tidy tables (the CSVs in ``results/<profile>/metrics/``) and returns a
matplotlib Figure; it never computes a result itself. Figures are at most :data:`FIG_WIDTH` inches
wide, two panels to a row and further panels stacked below, so the book shows them near their drawn
size and their legends read. Each figure has its own title naming what it plots (model, metric and
axis), so no two figures of the book share a caption.
"""

from __future__ import annotations

import zlib

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

PALETTE = "colorblind"
_CB = sns.color_palette(PALETTE).as_hex()
#: Width of every figure in inches: at the theme's dpi it matches the book's text column.
FIG_WIDTH = 7.6
#: Panels per row; more panels are stacked in further rows.
MAX_COLUMNS = 2
#: The class labels of a binary safety dataset, in the order every figure draws them.
CLASS_ORDER = ("safe (0)", "unsafe (1)")
#: The one mapping of a label to its colour, shared by every figure of the book. Labels not listed get a
#: colour from a hash of their name (:func:`color_of`), the same in every figure and every run.
LABEL_COLORS = {
    "safe (0)": _CB[0], "unsafe (1)": _CB[3],
    "correct": _CB[2], "wrong": _CB[3],
    "per_dim": _CB[0], "relative": _CB[1], "true": _CB[2], "paper_literal": _CB[4],
    "random": _CB[5], "top_pc": _CB[6], "class_mean_difference": _CB[9],
    "gaussian": _CB[0], "directional": _CB[5], "rotation": _CB[2],
    "mmd": _CB[0], "ks": _CB[1], "domain_classifier": _CB[4], "mean_cosine": _CB[9], "confidence": _CB[7],
    "train": _CB[0], "val": _CB[1], "test": _CB[3],
}
#: Ticks of an angle axis in degrees (symlog or log), labelled with a degree sign.
ANGLE_TICKS = (0, 0.1, 0.3, 1, 3, 10, 30, 90)


def color_of(label) -> str:
    """The colour of ``label`` in every figure: :data:`LABEL_COLORS`, else a colour of the palette chosen
    by the CRC-32 of the label's text (stable across processes, unlike ``hash``)."""
    key = str(label)
    if key in LABEL_COLORS:
        return LABEL_COLORS[key]
    return _CB[zlib.crc32(key.encode("utf-8")) % len(_CB)]


def class_label(y) -> str:
    """Label 0/1 → the class name of :data:`CLASS_ORDER`."""
    return CLASS_ORDER[int(y)]


def use_theme() -> None:
    """The one theme of every figure in the book."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "axes.titleweight": "bold",
                         "axes.titlesize": 11, "figure.titlesize": 12, "figure.titleweight": "bold",
                         "legend.fontsize": 9, "legend.title_fontsize": 9, "legend.framealpha": 0.85})


use_theme()


def panels(n: int, height: float = 3.3, sharey: bool = False, ncols: int = MAX_COLUMNS):
    """A figure of ``n`` panels, at most ``ncols`` to a row and :data:`FIG_WIDTH` wide; unused slots are
    hidden. Returns ``(fig, axes)`` with ``axes`` a flat list of the ``n`` panels."""
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(FIG_WIDTH, height * nrows + 0.6), squeeze=False,
                             sharey=sharey, layout="constrained")
    flat = list(grid.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def angle_axis(ax, scale: str = "symlog", linthresh: float = 1.0) -> None:
    """An angle axis in degrees: ``symlog`` (0 shown, linear below ``linthresh``) or ``log``, with the
    ticks of :data:`ANGLE_TICKS` labelled ``1°``, ``10°``…"""
    if scale == "symlog":
        ax.set_xscale("symlog", linthresh=linthresh)
    else:
        ax.set_xscale("log")
    lo, hi = ax.get_xlim()
    # On a symlog axis the linear stretch below linthresh is short: 0 and ticks from linthresh up only.
    ticks = [t for t in ANGLE_TICKS if lo <= t <= hi and (t == 0 if scale == "symlog" and t < linthresh else t > 0)]
    if len(ticks) >= 2:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}°"))
        ax.minorticks_off()


def _models_text(models) -> str:
    models = list(dict.fromkeys(str(m) for m in models))
    return ", ".join(models) if len(models) <= 3 else f"{len(models)} models"


def pca_scatter(embeddings: dict[str, tuple[np.ndarray, np.ndarray]], max_points: int = 1500, seed: int = 0):
    """2-D PCA of each model's (standardised) embeddings, coloured by class in the fixed order and colours
    of :data:`CLASS_ORDER` (the same in every panel)."""
    fig, axes = panels(len(embeddings), height=3.6)
    rng = np.random.default_rng(seed)
    palette = {c: color_of(c) for c in CLASS_ORDER}
    for ax, (model, (X, y)) in zip(axes, embeddings.items()):
        idx = rng.permutation(len(X))[:max_points]
        Z = PCA(n_components=2, random_state=seed).fit_transform(StandardScaler().fit_transform(X[idx]))
        hue = [class_label(v) for v in np.asarray(y)[idx]]
        sns.scatterplot(x=Z[:, 0], y=Z[:, 1], hue=hue, hue_order=list(CLASS_ORDER), palette=palette, s=12,
                        alpha=0.6, ax=ax, linewidth=0)
        ax.set(title=model, xlabel="PC 1 (standardised)", ylabel="PC 2 (standardised)")
        ax.legend(title=None, loc="best", markerscale=1.5)
    fig.suptitle(f"PCA of the embeddings by class: {_models_text(embeddings)}")
    return fig


def reliability(tables: dict[str, pd.DataFrame], title: str = "Reliability diagram"):
    """Accuracy against mean confidence per bin, one panel per entry of ``tables``; diagonal = calibrated.

    The figure's title is "Reliability (accuracy against confidence): ``title``".
    """
    fig, axes = panels(len(tables), height=3.3, sharey=True)
    for ax, (name, t) in zip(axes, tables.items()):
        width = float((t["bin_high"] - t["bin_low"]).iloc[0])
        ax.bar(t["bin_low"], t["accuracy"].fillna(0), width=width, align="edge", alpha=0.75,
               edgecolor="black", color=_CB[0], label="accuracy in the bin")
        ax.plot([0.5, 1], [0.5, 1], ls="--", color="grey", label="calibrated")
        ax.set(xlim=(0.5, 1), ylim=(0, 1), xlabel="confidence (max class probability)", ylabel="accuracy",
               title=name)
        ax.xaxis.set_major_locator(MaxNLocator(6))
        for _, r in t.iterrows():
            if r["count"]:
                ax.text(r["bin_low"] + width / 2, 0.02, int(r["count"]), ha="center", fontsize=8)
    axes[0].legend(loc="upper left")
    fig.suptitle(f"Reliability (accuracy against confidence): {title}")
    return fig


def _metric_words(metric: str, ylabel: str | None) -> str:
    return ylabel or metric.replace("_", " ")


def metric_vs_drift(agg: pd.DataFrame, metric: str, x: str = "sigma", model: str | None = None,
                    hline: float | None = None, ylabel: str | None = None):
    """A seed-aggregated metric against σ (or the measured angle), one panel per drift type, bands = 95% CI.

    Each convention keeps its colour (:func:`color_of`) in every panel and figure.
    """
    df = agg if model is None else agg[agg["model"] == model]
    types = list(dict.fromkeys(df["drift_type"]))
    fig, axes = panels(len(types), height=3.0, sharey=True)
    xcol = "sigma" if x == "sigma" else "angle_deg_mean_mean"
    for ax, t in zip(axes, types):
        for conv, g in df[df["drift_type"] == t].groupby("convention", sort=False):
            g = g.sort_values(xcol)
            color = color_of(conv)
            ax.plot(g[xcol], g[f"{metric}_mean"], marker="o", ms=3, label=conv, color=color)
            ax.fill_between(g[xcol], g[f"{metric}_ci_low"], g[f"{metric}_ci_high"], alpha=0.2, color=color,
                            linewidth=0)
        if hline is not None:
            ax.axhline(hline, ls=":", color="grey")
        ax.set(title=f"{t} drift", xlabel="σ" if x == "sigma" else "measured angle (degrees, symlog)",
               ylabel=_metric_words(metric, ylabel))
        if x != "sigma":
            angle_axis(ax, "symlog", 1.0)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.legend(title=None)
    axis = "σ" if x == "sigma" else "measured angle"
    fig.suptitle(f"{_metric_words(metric, ylabel)} against {axis}" + (f" — {model}" if model else " — all models"))
    return fig


def confidence_split(conf: pd.DataFrame):
    """Mean confidence of correct and of wrong predictions against σ, per drift type (first convention each)."""
    types = list(dict.fromkeys(conf["drift_type"]))
    fig, axes = panels(len(types), height=3.0, sharey=True)
    for ax, t in zip(axes, types):
        # Colour is the outcome; the convention is the line style, named so its grey legend entry is not
        # mistaken for the convention's colour elsewhere.
        g = conf[conf["drift_type"] == t].assign(reading=lambda d: d["convention"] + " (line style)")
        sns.lineplot(data=g, x="sigma", y="confidence", hue="outcome", hue_order=["correct", "wrong"],
                     palette={o: color_of(o) for o in ("correct", "wrong")}, style="reading", marker="o",
                     errorbar=("ci", 95), ax=ax)
        ax.set(title=f"{t} drift", xlabel="σ", ylabel="mean max-class confidence", ylim=(0.5, 1.0))
        ax.xaxis.set_major_locator(MaxNLocator(6))
        ax.legend(fontsize=8)
    model = f" — {_models_text(conf['model'])}" if "model" in conf else ""
    fig.suptitle(f"Confidence of correct and wrong predictions against σ{model}")
    return fig


def first_alarm_chart(alarms: pd.DataFrame, x: str = "first_alarm_angle_deg"):
    """Angle at which each monitor first alarms vs the angle at which AUC has fallen 5 points."""
    df = alarms.copy()
    df["case"] = df["drift_type"] + " / " + df["convention"]
    detectors = list(dict.fromkeys(df["detector"]))
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.45 * df["case"].nunique() + 2.2), layout="constrained")
    sns.stripplot(data=df, y="case", x=x, hue="detector", hue_order=detectors,
                  palette={d: color_of(d) for d in detectors}, size=7, jitter=0.15, ax=ax, marker="o")
    cliff = df.drop_duplicates("case")[["case", "angle_deg_5pt"]].dropna()
    ax.scatter(cliff["angle_deg_5pt"], cliff["case"], marker="|", s=400, color="black", label="AUC −5 points")
    angle_axis(ax, "symlog", 1.0)
    ax.set(xlabel="measured angle at first alarm (degrees, symlog)", ylabel="")
    ax.legend(loc="lower right")
    model = f" — {_models_text(df['model'])}" if "model" in df else ""
    ax.set_title(f"First alarm of each monitor against the AUC −5-point angle{model}")
    return fig


def separability_by_layer(sep: pd.DataFrame):
    """Each separability measure against relative depth, one line per model, error bars = CI."""
    metrics = list(dict.fromkeys(sep["metric"]))
    fig, axes = panels(len(metrics), height=2.9)
    for ax, m in zip(axes, metrics):
        for model, g in sep[sep["metric"] == m].groupby("model", sort=False):
            g = g.sort_values("layer")
            ax.errorbar(g["relative_depth"], g["value"], yerr=[g["value"] - g["ci_low"], g["ci_high"] - g["value"]],
                        marker="o", capsize=3, label=model, color=color_of(model))
        ax.set(title=m.replace("_", " "), xlabel="relative depth (layer / blocks)", xlim=(0, 1.05))
        ax.xaxis.set_major_locator(MaxNLocator(5))
    axes[0].legend()
    fig.suptitle(f"Class separability against relative depth: {_models_text(sep['model'])}")
    return fig


def _layer_colors(layers) -> dict:
    """One colour per layer, ordered by depth (a sequential palette)."""
    layers = sorted(set(int(v) for v in layers))
    return dict(zip(layers, sns.color_palette("viridis", n_colors=max(1, len(layers))).as_hex()))


def budget_curves(curves: pd.DataFrame):
    """AUC against the exact drift angle per layer: the closed-form prediction (lines) and the
    simulation (points), one panel per model; the dotted line marks the paper's ≈1°."""
    models = list(dict.fromkeys(curves.model))
    fig, axes = panels(len(models), height=3.5, sharey=True)
    for ax, model in zip(axes, models):
        g = curves[curves.model == model]
        colors = _layer_colors(curves.layer)  # one colour per layer number in every panel
        for layer, lg in g.groupby("layer", sort=True):
            ax.plot(lg.angle_deg, lg.predicted, color=colors[int(layer)], label=f"layer {layer}")
            ax.scatter(lg.angle_deg, lg.simulated, color=colors[int(layer)], s=18, zorder=3)
        ax.axvline(1.0, color="0.3", ls=":", lw=1)
        ax.axhline(0.5, color="0.5", ls="--", lw=0.8)
        ax.set(title=model, xlabel="drift angle θ (degrees, log scale)", ylabel="ROC-AUC")
        angle_axis(ax, "log")
        ax.legend(title="lines: predicted; dots: simulated", fontsize=8)
    fig.suptitle(f"Drift budget: ROC-AUC against drift angle per layer — {_models_text(models)}")
    return fig


def layer_sweep(layers: pd.DataFrame, metric: str = "auc"):
    """``metric`` (mean with its interval band) against the measured angle under Gaussian drift, one line per
    layer; a panel per model and convention, log-x angle; the dotted line marks ≈1°.

    ``layers`` is :func:`probedrift.experiments.synthetic_drift.layer_sweep`'s table; σ = 0 (angle 0) is
    left off the log axis.
    """
    models = list(dict.fromkeys(layers.model))
    conventions = list(dict.fromkeys(layers.convention))
    fig, axes = panels(len(models) * len(conventions), height=3.0, sharey=True, ncols=len(conventions))
    words = "ROC-AUC" if metric == "auc" else metric.replace("_", " ")
    for i, (model, convention) in enumerate((m, c) for m in models for c in conventions):
        ax = axes[i]
        g = layers[(layers.model == model) & (layers.convention == convention) & (layers.angle_deg_mean > 0)]
        colors = _layer_colors(layers.layer)  # one colour per layer number in every panel
        for layer, lg in g.groupby("layer", sort=True):
            lg = lg.sort_values("angle_deg_mean")
            color = colors[int(layer)]
            ax.plot(lg.angle_deg_mean, lg[f"{metric}_mean"], marker="o", ms=3, color=color, label=f"layer {layer}")
            ax.fill_between(lg.angle_deg_mean, lg[f"{metric}_ci_low"], lg[f"{metric}_ci_high"], color=color,
                            alpha=0.15, lw=0)
        ax.axvline(1.0, color="0.3", ls=":", lw=1)
        if metric == "auc":
            ax.axhline(0.5, color="0.5", ls="--", lw=0.8)
        ax.set(title=f"{model} · {convention}", xlabel="measured angle (degrees, log scale)", ylabel=words)
        if len(g):
            angle_axis(ax, "log")
        ax.legend(fontsize=8)
    fig.suptitle(f"{words} against measured angle per layer, Gaussian drift")  # panels name the models
    return fig
