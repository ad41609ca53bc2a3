"""Figures of the study, all in one seaborn theme (:func:`use_theme`).

Each function takes tidy tables (the CSVs in ``results/<profile>/metrics/``) and returns a
matplotlib Figure; it never computes a result itself.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

PALETTE = "colorblind"


def use_theme() -> None:
    """The one theme of every figure in the book."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 110, "axes.titleweight": "bold"})


use_theme()


def pca_scatter(embeddings: dict[str, tuple[np.ndarray, np.ndarray]], max_points: int = 1500, seed: int = 0):
    """2-D PCA of each model's (standardised) embeddings, coloured by class."""

    fig, axes = plt.subplots(1, len(embeddings), figsize=(5.2 * len(embeddings), 4.4), squeeze=False)
    rng = np.random.default_rng(seed)
    for ax, (model, (X, y)) in zip(axes[0], embeddings.items()):
        idx = rng.permutation(len(X))[:max_points]
        Z = PCA(n_components=2, random_state=seed).fit_transform(StandardScaler().fit_transform(X[idx]))
        sns.scatterplot(x=Z[:, 0], y=Z[:, 1], hue=np.where(y[idx] == 1, "unsafe (1)", "safe (0)"), s=12,
                        alpha=0.6, ax=ax, linewidth=0)
        ax.set(title=model, xlabel="PC 1", ylabel="PC 2")
        ax.legend(title=None, loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def reliability(tables: dict[str, pd.DataFrame], title: str = "Reliability diagram"):
    """Accuracy against mean confidence per bin, one panel per entry of ``tables``; diagonal = calibrated."""
    n = len(tables)
    fig, axes = plt.subplots(1, n, figsize=(4.0 * n, 3.8), squeeze=False, sharey=True)
    for ax, (name, t) in zip(axes[0], tables.items()):
        width = float((t["bin_high"] - t["bin_low"]).iloc[0])
        ax.bar(t["bin_low"], t["accuracy"].fillna(0), width=width, align="edge", alpha=0.75,
               edgecolor="black", label="accuracy")
        ax.plot([0.5, 1], [0.5, 1], ls="--", color="grey", label="calibrated")
        ax.set(xlim=(0.5, 1), ylim=(0, 1), xlabel="confidence (max class probability)", title=name)
        for _, r in t.iterrows():
            if r["count"]:
                ax.text(r["bin_low"] + width / 2, 0.02, int(r["count"]), ha="center", fontsize=7)
    axes[0][0].set_ylabel("accuracy")
    axes[0][0].legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def metric_vs_drift(agg: pd.DataFrame, metric: str, x: str = "sigma", model: str | None = None,
                    hline: float | None = None, ylabel: str | None = None):
    """A seed-aggregated metric against σ (or the measured angle), one panel per drift type, bands = 95% CI."""
    df = agg if model is None else agg[agg["model"] == model]
    types = list(dict.fromkeys(df["drift_type"]))
    fig, axes = plt.subplots(1, len(types), figsize=(4.6 * len(types), 3.7), squeeze=False, sharey=True)
    xcol = "sigma" if x == "sigma" else "angle_deg_mean_mean"
    for ax, t in zip(axes[0], types):
        for conv, g in df[df["drift_type"] == t].groupby("convention", sort=False):
            g = g.sort_values(xcol)
            line = ax.plot(g[xcol], g[f"{metric}_mean"], marker="o", ms=3, label=conv)[0]
            ax.fill_between(g[xcol], g[f"{metric}_ci_low"], g[f"{metric}_ci_high"], alpha=0.2,
                            color=line.get_color(), linewidth=0)
        if hline is not None:
            ax.axhline(hline, ls=":", color="grey")
        ax.set(title=t, xlabel="σ" if x == "sigma" else "measured angle (degrees)")
        if x != "sigma":
            ax.set_xscale("symlog", linthresh=1.0)
        ax.legend(fontsize=8, title=None)
    axes[0][0].set_ylabel(ylabel or metric)
    fig.suptitle(f"{metric} under drift" + (f" — {model}" if model else ""))
    fig.tight_layout()
    return fig


def confidence_split(conf: pd.DataFrame):
    """Mean confidence of correct and of wrong predictions against σ, per drift type (first convention each)."""
    types = list(dict.fromkeys(conf["drift_type"]))
    fig, axes = plt.subplots(1, len(types), figsize=(4.6 * len(types), 3.6), squeeze=False, sharey=True)
    for ax, t in zip(axes[0], types):
        g = conf[conf["drift_type"] == t]
        sns.lineplot(data=g, x="sigma", y="confidence", hue="outcome", style="convention", marker="o",
                     errorbar=("ci", 95), ax=ax)
        ax.set(title=t, xlabel="σ", ylim=(0.5, 1.0))
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("mean max-class confidence")
    fig.tight_layout()
    return fig


def first_alarm_chart(alarms: pd.DataFrame, x: str = "first_alarm_angle_deg"):
    """Angle at which each monitor first alarms vs the angle at which AUC has fallen 5 points."""
    df = alarms.copy()
    df["case"] = df["drift_type"] + " / " + df["convention"]
    fig, ax = plt.subplots(figsize=(8.5, 0.45 * df["case"].nunique() + 1.8))
    sns.stripplot(data=df, y="case", x=x, hue="detector", size=7, jitter=0.15, ax=ax, marker="o")
    cliff = df.drop_duplicates("case")[["case", "angle_deg_5pt"]].dropna()
    ax.scatter(cliff["angle_deg_5pt"], cliff["case"], marker="|", s=400, color="black", label="AUC −5 points")
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set(xlabel="measured angle at first alarm (degrees)", ylabel="")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def separability_by_layer(sep: pd.DataFrame):
    """Each separability measure against relative depth, one line per model, error bars = CI."""
    metrics = list(dict.fromkeys(sep["metric"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.5), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for model, g in sep[sep["metric"] == m].groupby("model", sort=False):
            g = g.sort_values("layer")
            ax.errorbar(g["relative_depth"], g["value"],
                        yerr=[g["value"] - g["ci_low"], g["ci_high"] - g["value"]], marker="o", capsize=3,
                        label=model)
        ax.set(title=m, xlabel="relative depth (layer / blocks)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def budget_curves(curves: pd.DataFrame):
    """AUC against the exact drift angle per layer: the closed-form prediction (lines) and the
    simulation (points), one panel per model; the dotted line marks the paper's ≈1°."""
    models = list(dict.fromkeys(curves.model))
    fig, axes = plt.subplots(1, len(models), figsize=(5.4 * len(models), 4.2), squeeze=False, sharey=True)
    for ax, model in zip(axes[0], models):
        g = curves[curves.model == model]
        for color, (layer, lg) in zip(sns.color_palette(PALETTE), g.groupby("layer", sort=True)):
            ax.plot(lg.angle_deg, lg.predicted, color=color, label=f"layer {layer}")
            ax.scatter(lg.angle_deg, lg.simulated, color=color, s=18, zorder=3)
        ax.axvline(1.0, color="0.3", ls=":", lw=1)
        ax.axhline(0.5, color="0.5", ls="--", lw=0.8)
        ax.set(xscale="log", title=model, xlabel="drift angle θ (degrees, log scale)", ylabel="ROC-AUC")
        ax.legend(title="lines: predicted; dots: simulated", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig


def layer_sweep(layers: pd.DataFrame, metric: str = "auc"):
    """``metric`` (mean with its interval band) against the measured angle under Gaussian drift, one line per
    layer; a panel per model (rows) and convention (columns), log-x angle; the dotted line marks ≈1°.

    ``layers`` is :func:`probedrift.experiments.synthetic_drift.layer_sweep`'s table; σ = 0 (angle 0) is
    left off the log axis.
    """
    models = list(dict.fromkeys(layers.model))
    conventions = list(dict.fromkeys(layers.convention))
    fig, axes = plt.subplots(len(models), len(conventions), figsize=(4.6 * len(conventions), 3.6 * len(models)),
                             squeeze=False, sharey=True)
    for i, model in enumerate(models):
        for j, convention in enumerate(conventions):
            ax = axes[i][j]
            g = layers[(layers.model == model) & (layers.convention == convention) & (layers.angle_deg_mean > 0)]
            for color, (layer, lg) in zip(sns.color_palette(PALETTE, n_colors=max(1, g.layer.nunique())),
                                          g.groupby("layer", sort=True)):
                lg = lg.sort_values("angle_deg_mean")
                ax.plot(lg.angle_deg_mean, lg[f"{metric}_mean"], marker="o", ms=3, color=color, label=f"layer {layer}")
                ax.fill_between(lg.angle_deg_mean, lg[f"{metric}_ci_low"], lg[f"{metric}_ci_high"], color=color,
                                alpha=0.15, lw=0)
            ax.axvline(1.0, color="0.3", ls=":", lw=1)
            if metric == "auc":
                ax.axhline(0.5, color="0.5", ls="--", lw=0.8)
            ax.set(xscale="log", title=f"{model} · {convention}", xlabel="measured angle (degrees, log scale)",
                   ylabel=metric.replace("_", " "))
            ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
