"""Every figure of the book, drawn as the chapters draw it from the committed reference run's tables:
each has its own caption, fits the text column, and a label keeps its colour in every panel and figure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from probedrift.report import plots, plots_real  # noqa: E402
from probedrift.science.metrics import reliability_table  # noqa: E402

METRICS = Path(__file__).resolve().parents[1] / "results" / "default" / "metrics"
NEEDED = ("drift_sweep_summary", "drift_budget_curves", "layer_sweep", "confidence_by_outcome", "first_alarms",
          "separability", "real_drift", "mitigations", "finetune_drift", "finetune_losses")


def _table(name: str) -> pd.DataFrame:
    return pd.read_csv(METRICS / f"{name}.csv")


def _two_models(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two models' embeddings whose first texts have different labels and whose class shares differ, so a
    hue order taken from the data would swap the class colours between the panels."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, first, share in (("model-a", 0, 0.3), ("model-b", 1, 0.7)):
        y = (rng.random(120) < share).astype(int)
        y[0] = first
        X = rng.normal(size=(120, 16)) + 1.5 * y[:, None]
        out[name] = (X, y)
    return out


def _reliability_tables(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in ("model-a", "model-b"):
        y = rng.integers(0, 2, 200)
        p1 = np.clip(0.5 + (y - 0.5) * rng.uniform(0.0, 0.9, 200), 0.01, 0.99)
        out[name] = reliability_table(y, p1, bins=5)
    return out


@pytest.fixture(scope="module")
def book_figures():
    """Every figure the chapters draw, called with the arguments the notebooks pass (the chapters' loops
    over models and metrics included), keyed by the name the run saves it under."""
    missing = [n for n in NEEDED if not (METRICS / f"{n}.csv").is_file()]
    if missing:
        pytest.skip(f"the reference run has no {missing}")
    agg = _table("drift_sweep_summary")
    models = list(dict.fromkeys(agg.model))
    conf, alarms, sep = _table("confidence_by_outcome"), _table("first_alarms"), _table("separability")
    sep = sep.assign(relative_depth=sep.layer / sep.groupby("model").layer.transform("max"))
    real = _table("real_drift")
    plt.rcParams["figure.max_open_warning"] = 0  # the book's figures, all open at once on purpose
    figs = {"01_pca": plots.pca_scatter(_two_models()),
            "02_reliability": plots.reliability(_reliability_tables(), title="Clean test set")}
    for m in models:
        figs[f"03_auc_sigma_{m}"] = plots.metric_vs_drift(agg, "auc", x="sigma", model=m, hline=0.5, ylabel="ROC-AUC")
        figs[f"03_auc_angle_{m}"] = plots.metric_vs_drift(agg, "auc", x="angle", model=m, hline=0.5, ylabel="ROC-AUC")
    for metric in ("accuracy", "mean_confidence"):
        figs[f"03_{metric}_sigma"] = plots.metric_vs_drift(agg, metric, model=models[0],
                                                           ylabel=metric.replace("_", " "))
    figs["03_budget_curves"] = plots.budget_curves(_table("drift_budget_curves"))
    figs["03_layer_sweep_auc"] = plots.layer_sweep(_table("layer_sweep"), "auc")
    figs["04_confidence_split"] = plots.confidence_split(conf[conf.model == models[0]])
    for metric in ("silent_failure_share", "silent_failure_rate", "ece"):
        figs[f"04_{metric}"] = plots.metric_vs_drift(agg, metric, model=models[0], ylabel=metric.replace("_", " "))
    figs["04_layer_sweep_silent_failure"] = plots.layer_sweep(_table("layer_sweep"), "silent_failure_share")
    for t, c in (("gaussian", "per_dim"), ("gaussian", "relative")):
        figs[f"04_reliability_{t}_{c}"] = plots.reliability(_reliability_tables(1), title=f"{models[0]} — {t} / {c}")
    figs["04_first_alarms"] = plots.first_alarm_chart(alarms[alarms.model == models[0]])
    figs["05_separability_layers"] = plots.separability_by_layer(sep)
    angles = pd.DataFrame({"source": np.repeat(real.source.to_numpy(), 10),
                           "angle_deg": np.repeat(real.angle_deg_mean.to_numpy(), 10),
                           "split": np.tile(["train", "test"], 5 * len(real))})
    figs["06_angles"] = plots_real.angle_distribution(angles)
    figs["06_auc_vs_angle"] = plots_real.auc_vs_angle(agg, real)
    figs["06_mitigations"] = plots_real.mitigation_curves(_table("mitigations"))
    figs["07_training_loss"] = plots_real.training_loss(_table("finetune_losses"))
    figs["07_three_kinds_of_drift"] = plots_real.three_kinds_of_drift(agg, real, _table("finetune_drift"))
    yield figs
    for fig in figs.values():
        plt.close(fig)


def caption(fig) -> str:
    """The figure's title: its suptitle, else the title of its only visible panel."""
    if fig._suptitle is not None and fig._suptitle.get_text():
        return fig._suptitle.get_text()
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible() and ax.get_title()]
    return titles[0] if len(titles) == 1 else ""


def legend_colors(ax) -> dict[str, str]:
    """Legend text → colour (hex) of its handle, for a panel with a legend."""
    legend = ax.get_legend()
    if legend is None:
        return {}
    out = {}
    for handle, text in zip(legend.legend_handles, legend.get_texts()):
        if hasattr(handle, "get_color") and not hasattr(handle, "get_facecolor"):
            color = handle.get_color()
        else:
            fc = np.asarray(handle.get_facecolor())
            color = fc.reshape(-1, 4)[0] if fc.size else None
        if color is not None and not (isinstance(color, str) and color == "none"):
            out[text.get_text()] = to_hex(color)
    return out


def test_every_figure_of_the_book_has_its_own_caption(book_figures):
    captions = {name: caption(fig) for name, fig in book_figures.items()}
    assert all(captions.values()), [n for n, c in captions.items() if not c]
    repeated = [c for c, k in Counter(captions.values()).items() if k > 1]
    assert not repeated, f"captions shared by several figures: {repeated}"


def test_captions_name_the_model_or_metric_they_show(book_figures):
    agg = _table("drift_sweep_summary")
    for m in dict.fromkeys(agg.model):
        assert m in caption(book_figures[f"03_auc_sigma_{m}"]) and "σ" in caption(book_figures[f"03_auc_sigma_{m}"])
        assert "angle" in caption(book_figures[f"03_auc_angle_{m}"])
    assert "silent failure rate" in caption(book_figures["04_silent_failure_rate"])


def test_figures_fit_the_text_column(book_figures):
    for name, fig in book_figures.items():
        assert fig.get_size_inches()[0] <= plots.FIG_WIDTH + 1e-9, name
        panels_in_a_row = Counter(round(ax.get_position().y0, 3) for ax in fig.axes if ax.get_visible()
                                  and ax.get_subplotspec() is not None)
        assert max(panels_in_a_row.values()) <= max(plots.MAX_COLUMNS, 2), name


def test_a_label_keeps_its_colour_in_every_panel_and_every_figure(book_figures):
    seen: dict[str, tuple[str, str]] = {}
    for name, fig in book_figures.items():
        for ax in fig.axes:
            for label, color in legend_colors(ax).items():
                if label in plots.LABEL_COLORS:
                    assert color == to_hex(plots.LABEL_COLORS[label]), (name, label, color)
                if label in seen and seen[label][0] == name:
                    assert color == seen[label][1], f"{label!r} changes colour between panels of {name}"
                seen.setdefault(label, (name, color))


def test_pca_panels_colour_each_class_the_same_whatever_the_data_order(book_figures):
    """Counted on the points: in each panel, the points drawn in the unsafe colour are exactly the label-1
    texts (a hue order taken from the data would give model-b's safe texts that colour)."""
    fig = book_figures["01_pca"]
    unsafe, safe = (to_hex(plots.color_of(c)) for c in ("unsafe (1)", "safe (0)"))
    for ax, (_, (_, y)) in zip([a for a in fig.axes if a.get_visible()], _two_models().items()):
        colors = [to_hex(c) for c in ax.collections[0].get_facecolors()]
        assert Counter(colors) == Counter({unsafe: int(y.sum()), safe: int(len(y) - y.sum())})
        assert legend_colors(ax) == {"safe (0)": safe, "unsafe (1)": unsafe}


def test_the_colour_of_an_unlisted_label_is_the_same_in_every_process():
    import subprocess
    import sys

    code = "from probedrift.report.plots import color_of; print(color_of('some-new-model'))"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
            for _ in range(2)}
    assert len(runs) == 1 and runs.pop().strip() == plots.color_of("some-new-model")


def test_a_notebook_shows_the_saved_file_and_the_inline_backend_does_not_draw_it_again(tmp_path, monkeypatch):
    import IPython.display

    from probedrift.report import images

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig, ax = plt.subplots(figsize=(4, 2))
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "figure.png"
    images.save_figure_png(fig, path)
    images.show_saved_figure(fig, path)  # not on the inline backend: nothing shown, figure left open
    assert shown == [] and plt.fignum_exists(fig.number)

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "module://matplotlib_inline.backend_inline")
    images.show_saved_figure(fig, path)
    (image,) = shown
    assert image.data == path.read_bytes()  # the very file of the run
    from PIL import Image

    with Image.open(path) as saved:
        assert image.width == round(saved.width * plt.rcParams["figure.dpi"] / 110)
        assert saved.mode == "P" and images.compress_png(path.read_bytes()) == path.read_bytes()
    assert not plt.fignum_exists(fig.number)  # closed: the backend draws only open figures
