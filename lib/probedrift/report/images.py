"""Small PNGs for a committed run: figures are quantised to an adaptive 256-colour palette.

Plots use a handful of flat colours plus anti-aliasing, so a palette loses nothing a reader can see
and cuts the file to a third or less; Pillow (a Matplotlib dependency) does the work.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image


def compress_png(data: bytes, colors: int = 256) -> bytes:
    """``data`` (a PNG) re-encoded with an adaptive palette of ``colors`` and zlib level 9.

    Returns the original bytes when the re-encoded image would not be smaller, or is a palette image already.
    """
    with Image.open(io.BytesIO(data)) as img:
        if img.mode == "P":  # already a palette image (a figure saved by save_figure_png): nothing to gain
            return data
        rgba = img.convert("RGBA")
        method = Image.Quantize.FASTOCTREE  # the only Pillow quantiser that keeps an alpha channel
        small = rgba.quantize(colors=colors, method=method, dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def save_figure_png(fig, path, dpi: int = 110) -> None:
    """Save a Matplotlib figure as a palette PNG at ``path`` (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    Path(path).write_bytes(compress_png(buf.getvalue()))


def show_saved_figure(fig, path, dpi: int = 110) -> None:
    """In a notebook kernel on Matplotlib's inline backend, show the PNG :func:`save_figure_png` just wrote at
    ``path`` (at ``dpi``), at the size the backend would draw ``fig`` (``figure.dpi``), and close ``fig``: the
    backend would otherwise draw it again when the cell ends, as it does every open figure (about 0.5 s a
    figure; the reader then sees the very file the book and the run keep). Anywhere else it does nothing.
    """
    import matplotlib  # heavy to import; only figures need it

    if "inline" not in matplotlib.get_backend():
        return
    import matplotlib.pyplot as plt  # heavy to import; only figures need it
    from IPython.display import Image as Shown  # only a notebook kernel has a display
    from IPython.display import display

    data = Path(path).read_bytes()
    width_px = int.from_bytes(data[16:20], "big")  # the IHDR chunk's width, first after the signature
    display(Shown(data=data, format="png", width=round(width_px * plt.rcParams["figure.dpi"] / dpi)))
    plt.close(fig)
