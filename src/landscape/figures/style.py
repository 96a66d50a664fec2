"""One figure style for the paper and poster: sizes, fonts, a colour-blind-safe palette, vector PDFs.

Every figure is saved through :func:`save`, which writes the PDF with fixed metadata (so two
builds give identical bytes) and a JSON sidecar recording the task, profile, config hash,
commit and script that made it (showyourwork-style provenance for the appendix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from landscape.store import atomic_path, write_json

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
TEXT_WIDTH_IN = 6.3  # \textwidth of the paper (article, 11pt, 1in margins... see paper.tex.j2)
COLUMN_HEIGHT_IN = 2.4


def apply() -> None:
    """Set the shared rcParams (TrueType fonts in PDFs, sizes matching 9–10 pt captions)."""
    plt.rcParams.update(
        {
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "font.family": "serif",
            "font.size": 8,
            "axes.labelsize": 8,
            "axes.titlesize": 9,
            "legend.fontsize": 7,
            "xtick.labelsize": 7,
            "ytick.labelsize": 7,
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
            "axes.spines.top": False,
            "axes.spines.right": False,
            "lines.linewidth": 1.2,
            "savefig.bbox": "tight",
            "savefig.pad_inches": 0.02,
        }
    )


def figure(
    ncols: int = 1, height: float = COLUMN_HEIGHT_IN, width: float = TEXT_WIDTH_IN, nrows: int = 1
) -> tuple[Any, Any]:
    """A figure the width of the text with ``nrows`` × ``ncols`` panels, each row ``height`` tall."""
    apply()
    return plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False, layout="constrained")


def save(fig: Any, target: Path, provenance: dict[str, Any], script: str) -> Path:
    """Write ``fig`` to ``target`` (PDF, fixed metadata) and its provenance to ``target.json``."""
    with atomic_path(target) as tmp:
        fig.savefig(
            tmp, format="pdf", metadata={"CreationDate": None, "ModDate": None, "Creator": script, "Producer": None}
        )
    plt.close(fig)
    write_json(target.with_suffix(".json"), {**provenance, "script": script})
    return target
