"""One figure style for the paper and poster: sizes, fonts, a colour-blind-safe palette, vector PDFs.

Every figure is saved through :func:`save`, which writes the PDF with fixed metadata (so two
builds give identical bytes) and a JSON sidecar recording the task, profile, config hash,
commit and script that made it (showyourwork-style provenance for the appendix).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text

from landscape.store import REPO_ROOT, atomic_path, write_json

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")


@dataclass(frozen=True)
class Medium:
    """Where a figure is printed: its width, the height of a row of panels, its body font and its strokes.

    Figures ask for sizes relative to the medium ("small", "x-small"), so one drawing serves both: the
    paper's 8 pt body, and the poster's 27.5 pt, whose smallest text ("x-small", 0.694 of the body) prints
    at 19 pt on A0: a poster figure is drawn at the width of a poster column and included at about scale 1.
    """

    name: str
    width_in: float
    row_height_in: float
    font_pt: float
    stroke_scale: float  # lines, markers and edges, relative to the paper's
    max_columns: int  # panels side by side; a figure with more is stacked one panel per row


# The paper's \textwidth (article, 11 pt, 1 in margins: see paper.tex.j2).
PAPER = Medium("paper", width_in=6.3, row_height_in=2.4, font_pt=8.0, stroke_scale=1.0, max_columns=8)
# One of the A0 poster's three columns: its \linewidth inside a block, 683 TeX pt (typed out in poster.log).
POSTER = Medium("poster", width_in=9.4, row_height_in=4.1, font_pt=27.5, stroke_scale=2.2, max_columns=1)
MEDIA = {medium.name: medium for medium in (PAPER, POSTER)}
_current = [PAPER]


@contextlib.contextmanager
def medium(chosen: Medium) -> Iterator[Medium]:
    """Draw the figures made inside the block for ``chosen`` (the paper outside any block)."""
    _current.append(chosen)
    try:
        yield chosen
    finally:
        _current.pop()


def current() -> Medium:
    """The medium figures are drawn for now."""
    return _current[-1]


def apply() -> None:
    """Set the shared rcParams for the current medium (TrueType fonts in PDFs, sizes relative to its body font)."""
    m = current()
    plt.rcParams.update(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "font.family": "serif",
            "font.size": m.font_pt,
            "axes.labelsize": "medium",
            "axes.titlesize": "large",
            "legend.fontsize": "small",
            "xtick.labelsize": "small",
            "ytick.labelsize": "small",
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "lines.linewidth": 1.2,
            "savefig.bbox": "tight",
            "savefig.pad_inches": 0.02,
        }
    )


def figure(
    ncols: int = 1,
    nrows: int = 1,
    width: float = 1.0,
    poster: tuple[int, ...] | None = None,
    poster_height: float = 1.0,
) -> tuple[Any, Any]:
    """A figure of ``nrows`` x ``ncols`` panels, ``width`` of the medium's width (the paper's; a poster's is full).

    ``poster_height`` scales a poster panel's height, for a panel whose legend above it would leave a short axis.

    The axes come back as an ``nrows`` x ``ncols`` array whatever the medium. On a medium that holds fewer
    columns (the poster), the panels are stacked one per row, in reading order; ``poster`` names the panels
    (reading-order indices) that carry the poster's message, and only those are printed there: the others
    are drawn into a figure that is never saved, so the figure's code is the same for both media.
    """
    apply()
    m = current()
    if ncols <= m.max_columns:
        fig, axes = plt.subplots(
            nrows,
            ncols,
            figsize=(m.width_in * (width if m is PAPER else 1.0), m.row_height_in * nrows),
            squeeze=False,
            layout="constrained",
        )
        return fig, axes
    shown = tuple(range(nrows * ncols)) if poster is None else poster
    fig, printed = plt.subplots(
        len(shown),
        1,
        figsize=(m.width_in, m.row_height_in * len(shown) * poster_height),
        squeeze=False,
        layout="constrained",
    )
    unprinted = [plt.figure().add_subplot() for _ in range(nrows * ncols - len(shown))]
    fig._unprinted = [ax.figure for ax in unprinted]  # closed with ``fig`` by :func:`save`
    panels = iter(printed[:, 0])
    others = iter(unprinted)
    axes = np.array([next(panels) if index in shown else next(others) for index in range(nrows * ncols)])
    return fig, axes.reshape(nrows, ncols)


def legend_above(ax: Any, ncol: int = 2, **options: Any) -> Any:
    """A legend in a row above ``ax``, where it covers no data (constrained layout makes room for it)."""
    return ax.legend(
        frameon=False, fontsize="x-small", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=ncol, **options
    )


def symlog_ticks_apart(ax: Any, axis: str = "x") -> None:
    """Tilt a symlog axis's tick labels: upright, its ±10^-k labels run into each other near zero."""
    ax.tick_params(axis=axis, labelrotation=45)


def run_colours(profile: str) -> dict[str, Any]:
    """The colour of every run of ``profile``, the same in every figure.

    The palette in the order of the profile's runs; a replica takes its run's colour (figures draw it faint or hollow).
    """
    from landscape import config

    cfg = config.load_profile(profile)
    replica_of = cfg.replica_of()
    bases = [r.name for r in cfg.runs if r.name not in replica_of]
    colours = {name: PALETTE[index % len(PALETTE)] for index, name in enumerate(bases)}
    return colours | {name: colours[base] for name, base in replica_of.items()}


def checkpoint_colour(step: int, last: int) -> Any:
    r"""The colour of the checkpoint at iteration ``step`` of a run that ends at ``last``, the same in every figure.

    A sequential map (viridis, stopped short of its pale yellow) at :math:`\sqrt{\mathrm{step}/\mathrm{last}}`:
    the square root keeps the early checkpoints (0, 4 % and 40 % of training in the profiles) apart.
    """
    import matplotlib

    return matplotlib.colormaps["viridis"](0.9 * (step / last) ** 0.5 if last > 0 else 0.0)


def math_number(value: float, digits: int = 2) -> str:
    r"""``value`` to ``digits`` significant digits as mathtext: ``-5.5\times10^{-6}``, not ``-5.5e-06``."""
    mantissa, _, exponent = f"{value:.{digits}g}".partition("e")
    return mantissa if not exponent else rf"{mantissa}\times10^{{{int(exponent)}}}"


def _thicken(fig: Any, scale: float) -> None:
    """Scale every line, marker and edge of ``fig`` by ``scale`` (text keeps its size)."""
    for artist in fig.findobj(lambda a: not isinstance(a, Text)):
        if isinstance(artist, Line2D):
            artist.set_linewidth(artist.get_linewidth() * scale)
            artist.set_markersize(artist.get_markersize() * scale)
            artist.set_markeredgewidth(artist.get_markeredgewidth() * scale)
        elif isinstance(artist, Collection):
            artist.set_linewidths(np.asarray(artist.get_linewidths()) * scale)
            sizes = artist.get_sizes() if hasattr(artist, "get_sizes") else None
            if sizes is not None and len(sizes):
                artist.set_sizes(np.asarray(sizes) * scale**2)
        elif isinstance(artist, Patch):
            artist.set_linewidth(artist.get_linewidth() * scale)


def _plain_short_log_axes(fig: Any, decades: float = 1.5) -> None:
    """Label a log axis that spans under ``decades`` decades at 1, 2 and 5 times powers of ten, as plain numbers.

    Over such a span matplotlib shows one or two labelled powers of ten (or ``4×10⁻¹``-style minor labels), and a
    ratio near one reads better as 0.5, 1, 2.
    """
    import matplotlib.ticker as ticker

    for ax in fig.axes:
        for axis, (low, high) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            if axis.get_scale() != "log" or min(low, high) <= 0 or abs(np.log10(high / low)) >= decades:
                continue
            axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())


def script_of(module_file: str) -> str:
    """The repository path of the module at ``module_file`` (a figure module passes its ``__file__``)."""
    return Path(module_file).resolve().relative_to(REPO_ROOT).as_posix()


def save(fig: Any, target: Path, provenance: dict[str, Any], module_file: str) -> Path:
    """Write ``fig`` to ``target`` (PDF, fixed metadata) and its provenance to ``target.json``.

    ``module_file`` is the drawing module's ``__file__``: each figure records the script that made it.
    """
    script = script_of(module_file)
    _plain_short_log_axes(fig)
    if current().stroke_scale != 1.0:
        _thicken(fig, current().stroke_scale)
    with atomic_path(target) as tmp:
        fig.savefig(
            tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": script, "Producer": None}
        )
    for unprinted in getattr(fig, "_unprinted", ()):
        plt.close(unprinted)
    plt.close(fig)
    write_json(target.with_suffix(".json"), {**provenance, "script": script, "medium": current().name})
    return target
