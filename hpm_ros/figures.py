"""Matplotlib figures written to PNG files without a display (the Agg backend)."""
from __future__ import annotations

from pathlib import Path


def new_figure(rows: int = 1, columns: int = 1, **options) -> tuple:
    """(figure, axes) of ``pyplot.subplots`` on the Agg backend."""
    import matplotlib

    matplotlib.use('Agg')
    from matplotlib import pyplot

    return pyplot.subplots(rows, columns, **options)


def save_figure(figure, png_path, dpi: int = 110) -> Path:
    """Lay out ``figure``, write it to ``png_path`` and free it; returns the path."""
    from matplotlib import pyplot

    figure.tight_layout()
    figure.savefig(png_path, dpi=dpi)
    pyplot.close(figure)
    return Path(png_path)
