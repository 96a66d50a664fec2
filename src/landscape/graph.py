"""A picture of the build graph: every task as a box in its stage's column, every file dependency as a line.

Drawn from the task table that ``dodo.py`` gives doit (names, file dependencies, targets), so it is
the graph doit runs, not a hand-drawn diagram: an edge joins task A to task B when one of A's
targets is one of B's file dependencies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape.figures import style

STAGES = ("train", "hessian", "spectrum_batch", "analysis", "figure", "values", "paper", "poster")
# Columns of the picture, left to right, and the stages each holds.
COLUMNS = {
    "train": ("train",),
    "hessian": ("hessian",),
    "mini-batch spectra": ("spectrum_batch",),
    "analysis": ("analysis",),
    "figure": ("figure",),
    "values": ("values",),
    "documents": ("paper", "poster"),
}


def edges(table: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(producer, consumer) pairs: a target of the producer is a file dependency of the consumer."""
    producer = {str(target): task["name"] for task in table for target in task.get("targets", [])}
    return sorted(
        {
            (producer[str(dep)], task["name"])
            for task in table
            for dep in task.get("file_dep", [])
            if str(dep) in producer and producer[str(dep)] != task["name"]
        }
    )


def draw(table: list[dict[str, Any]], target: Path, profile: str) -> Path:
    """Draw the tasks of ``table`` in stage columns with their dependencies, to ``target`` (PDF or PNG)."""
    import matplotlib.pyplot as plt

    from landscape.store import atomic_path

    stage_of = {
        t["name"]: next(s for s in STAGES if t["name"].split(":")[0] == s)
        for t in table
        if t["name"].split(":")[0] in STAGES
    }
    columns = {title: sorted(n for n, st in stage_of.items() if st in stages) for title, stages in COLUMNS.items()}
    columns = {title: names for title, names in columns.items() if names}
    tallest = max(len(names) for names in columns.values())
    position = {}
    for x, names in enumerate(columns.values()):
        for k, name in enumerate(names):
            position[name] = (x, (tallest - 1) / 2 - (k - (len(names) - 1) / 2))
    style.apply()
    fig, ax = plt.subplots(figsize=(2.0 * len(columns), 0.24 * tallest + 0.8))
    for a, b in edges(table):
        if a in position and b in position:
            (x0, y0), (x1, y1) = position[a], position[b]
            ax.plot([x0 + 0.38, x1 - 0.38], [y0, y1], color="0.75", lw=0.4, zorder=1)
    for name, (x, y) in position.items():
        stage = stage_of[name]
        colour = style.PALETTE[STAGES.index(stage) % len(style.PALETTE)]
        ax.text(
            x,
            y,
            name.split(":", 1)[-1] if ":" in name else name,
            ha="center",
            va="center",
            fontsize=6,
            zorder=2,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colour, "lw": 0.8},
        )
    for x, stage in enumerate(columns):
        ax.text(x, tallest + 0.2, stage, ha="center", va="bottom", fontsize=8, weight="bold")
    ax.set(xlim=(-0.6, len(columns) - 0.4), ylim=(-1, tallest + 1.2))
    ax.axis("off")
    ax.set_title(
        f"doit task graph, profile {profile}: {len(position)} tasks, {len(edges(table))} file dependencies", fontsize=9
    )
    with atomic_path(target) as tmp:
        fig.savefig(
            tmp,
            format=target.suffix.lstrip("."),
            dpi=150,
            metadata={"CreationDate": None, "ModDate": None, "Producer": None} if target.suffix == ".pdf" else None,
        )
    plt.close(fig)
    return target
