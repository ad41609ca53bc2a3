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

    Returns the original bytes when the re-encoded image would not be smaller.
    """
    with Image.open(io.BytesIO(data)) as img:
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
