"""Figures of the real-drift chapter, in the theme of :mod:`probedrift.report.plots` (applied on import).

Each function takes tidy tables (:mod:`probedrift.experiments.realdrift`, the drift sweep) and returns a
matplotlib Figure; it never computes a result itself.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from probedrift.report import plots  # applies the theme; the shared colours and panel grid
from probedrift.report.plots import FIG_WIDTH, color_of, panels

__all__ = ["LINTHRESH", "angle_distribution", "auc_vs_angle", "mitigation_curves", "three_kinds_of_drift",
           "training_loss"]

#: Angles below this are drawn on a linear scale by the symlog axes (degrees).
LINTHRESH = 0.1


def _angle_axis(ax, paper_angle: float | None, largest: float) -> None:
    ax.set_xlim(0, max(2.0, 1.6 * float(largest)))
    plots.angle_axis(ax, "symlog", LINTHRESH)
    if paper_angle is not None:
        ax.axvline(paper_angle, ls="--", color="firebrick", lw=1.2, label=f"paper: ≈{paper_angle:g}°")


def angle_distribution(angles: pd.DataFrame, paper_angle: float | None = 1.0):
    """Per-text angle between before and after embeddings, one row per source (box + points), symlog x."""
    order = angles.groupby("source")["angle_deg"].median().sort_values().index.tolist()
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 0.55 * len(order) + 2.0), layout="constrained")
    sns.boxplot(data=angles, y="source", x="angle_deg", order=order, color="white", fliersize=0, width=0.6, ax=ax)
    splits = list(dict.fromkeys(angles["split"]))
    sns.stripplot(data=angles, y="source", x="angle_deg", order=order, hue="split", hue_order=splits,
                  palette={s: color_of(s) for s in splits}, size=3, alpha=0.6, jitter=0.2, ax=ax)
    _angle_axis(ax, paper_angle, angles["angle_deg"].max())
    ax.set(xlabel="angle between before and after embedding of the same text (degrees, symlog)", ylabel="")
    ax.legend(loc="lower right")
    ax.set_title("Per-text angle of each real change (before against after embedding)")
    return fig


def auc_vs_angle(agg: pd.DataFrame, real: pd.DataFrame, paper_angle: float | None = 1.0):
    """Frozen-probe AUC against measured angle: synthetic drifts as lines, real sources as labelled points.

    One panel per model that a real source starts from (``model_before``); ``agg`` is the
    seed-aggregated drift sweep.
    """
    models = list(dict.fromkeys(real["model_before"]))
    fig, axes = panels(len(models), height=3.8, sharey=True, ncols=1)
    for ax, model in zip(axes, models):
        syn = agg[agg["model"] == model]
        for (t, c), g in syn.groupby(["drift_type", "convention"], sort=False):
            g = g.sort_values("angle_deg_mean_mean")
            ax.plot(g["angle_deg_mean_mean"], g["auc_mean"], marker=".", ms=4, lw=1, alpha=0.55, label=f"{t} / {c}",
                    color=color_of(c))
        pts = real[real["model_before"] == model]
        ax.scatter(pts["angle_deg_mean"], pts["auc"], s=70, color="black", marker="D", zorder=5,
                   label="real change (this chapter)")
        for _, r in pts.iterrows():
            ax.annotate(r["source"], (r["angle_deg_mean"], r["auc"]), xytext=(5, 6), textcoords="offset points",
                        fontsize=8, fontweight="bold")
        _angle_axis(ax, paper_angle, max(syn["angle_deg_mean_mean"].max(), pts["angle_deg_mean"].max()))
        ax.axhline(0.5, ls=":", color="grey")
        ax.set(title=model, xlabel="mean angle between clean and drifted embedding (degrees, symlog)",
               ylabel="ROC-AUC of the frozen probe")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="outside lower center", ncol=3)
    fig.suptitle("Frozen-probe ROC-AUC against measured angle: synthetic and real drift")  # panels name the models
    return fig


def mitigation_curves(mit: pd.DataFrame, ncols: int = 2):
    """AUC of ``align`` against the number of anchors k (bars = interval over anchor draws) per source,
    with the frozen probe, the retrained probe and the no-update AUC as reference lines."""
    sources = list(dict.fromkeys(mit["source"]))
    fig, axes = panels(len(sources), height=2.7, sharey=True, ncols=ncols)
    refs = (("no_update", "black", ":"), ("frozen", "grey", "--"), ("retrain", "seagreen", "-"))
    for ax, source in zip(axes, sources):
        g = mit[mit["source"] == source]
        al = g[g["method"] == "align"].sort_values("k")
        k = al["k"].astype(float).to_numpy()
        ax.errorbar(k, al["auc"], yerr=[al["auc"] - al["ci_low"], al["ci_high"] - al["auc"]], marker="o",
                    capsize=3, label="align (frozen probe)")
        for method, color, ls in refs:
            row = g[g["method"] == method]
            if len(row):
                ax.axhline(float(row["auc"].iloc[0]), color=color, ls=ls, lw=1.2, label=method)
        ax.set_xscale("log", base=2)
        ax.set_xticks(k, [str(int(v)) for v in k])
        ax.minorticks_off()
        ax.set(title=source, xlabel="anchor texts k", ylabel="ROC-AUC", ylim=(0, 1.02))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4)
    fig.suptitle("ROC-AUC after aligning on k anchor texts, per real change")
    return fig


def three_kinds_of_drift(agg: pd.DataFrame, real: pd.DataFrame | None, finetune: pd.DataFrame,
                         paper_angle: float | None = 1.0):
    """Frozen-probe AUC against measured angle for all three kinds of drift of one model: synthetic
    drifts (lines, chapter 3), real changes (diamonds, chapter 6) and fine-tuning checkpoints (circles
    joined per update strength, chapter 7), on one symlog angle axis."""
    model = finetune["model"].iloc[0]
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 6.2), layout="constrained")
    syn = agg[agg["model"] == model]
    for (t, c), g in syn.groupby(["drift_type", "convention"], sort=False):
        g = g.sort_values("angle_deg_mean_mean")
        ax.plot(g["angle_deg_mean_mean"], g["auc_mean"], lw=1, alpha=0.45, label=f"synthetic: {t} / {c}",
                color=color_of(c))
    largest = [syn["angle_deg_mean_mean"].max(), finetune["angle_deg_mean"].max()]
    if real is not None and len(real):
        pts = real[(real["model_before"] == model) & real["auc"].notna()]
        ax.scatter(pts["angle_deg_mean"], pts["auc"], s=60, color="black", marker="D", zorder=5,
                   label="real change (chapter 6)")
        for _, r in pts.iterrows():
            ax.annotate(r["source"], (r["angle_deg_mean"], r["auc"]), xytext=(4, 5), textcoords="offset points",
                        fontsize=7)
        largest.append(pts["angle_deg_mean"].max())
    for color, (lr, g) in zip(sns.color_palette("dark"), finetune.groupby("learning_rate", sort=True)):
        g = g.sort_values("step")
        ax.errorbar(g["angle_deg_mean"], g["auc"], yerr=[g["auc"] - g["auc_ci_low"], g["auc_ci_high"] - g["auc"]],
                    marker="o", ms=6, lw=2, capsize=3, color=color, zorder=6,
                    label=f"fine-tuning, lr = {lr:g} (chapter 7)")
        for _, r in g.iterrows():
            ax.annotate(f"{int(r['step'])}", (r["angle_deg_mean"], r["auc"]), xytext=(4, -10),
                        textcoords="offset points", fontsize=7, color=color)
    _angle_axis(ax, paper_angle, np.nanmax(largest))
    ax.axhline(0.5, ls=":", color="grey")
    ax.set(title=f"Three kinds of drift on one angle axis: frozen-probe ROC-AUC — {model}",
           ylabel="ROC-AUC of the frozen probe",
           xlabel="mean angle between clean and drifted embedding (degrees, symlog)")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=8, loc="outside lower center", ncol=2)
    return fig


def training_loss(losses: pd.DataFrame):
    """Training loss per optimizer step, one line per update strength (the update is real)."""
    fig, ax = plt.subplots(figsize=(FIG_WIDTH, 3.6), layout="constrained")
    for lr, g in losses.groupby("learning_rate", sort=True):
        ax.plot(g["step"], g["train_loss"], marker=".", label=f"lr = {lr:g}", color=color_of(f"lr = {lr:g}"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    method = f" ({', '.join(map(str, dict.fromkeys(losses['method'])))})" if "method" in losses else ""
    ax.set(xlabel="optimizer step", ylabel="loss on the assistant tokens",
           title=f"Instruction-tuning loss per optimizer step{method}")
    ax.legend()
    return fig
