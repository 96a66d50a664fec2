"""Figure: training curves of every run (loss, test accuracy, learning rate against iteration)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from landscape import config
from landscape.figures import style
from landscape.store import read_h5


def make(inputs: dict[str, Any], target: Path, provenance: dict[str, Any]) -> Path:
    """Three panels: training loss (log scale), test accuracy, learning rate, one line per run.

    ``inputs`` holds ``runs`` (name to run file). A replica (``Config.replica_of``) is drawn thin and faint in
    its run's colour, so the spread over seeds shows without a legend entry.
    """
    fig, axes = style.figure(ncols=3)
    loss_ax, acc_ax, lr_ax = axes[0]
    replica_of = config.load_profile(provenance["profile"]).replica_of()
    colours = style.run_colours(provenance["profile"])
    bases = [name for name in inputs["runs"] if name not in replica_of]
    late_accuracy = []  # accuracy after the first fifth of training, where the runs differ
    for name in [*bases, *(n for n in inputs["runs"] if n in replica_of)]:
        base = replica_of.get(name, name)
        dashed = "--" if base.startswith("const") else (":" if base.startswith("anneal") else "-")
        faint = {"lw": 0.6, "alpha": 0.45} if name in replica_of else {}
        with read_h5(inputs["runs"][name], ("eval/step", "eval/train_loss", "eval/test_acc", "lr")) as fh:
            steps = fh["eval/step"][:]
            loss_ax.plot(
                steps,
                fh["eval/train_loss"][:],
                dashed,
                color=colours[base],
                **faint,
                label=None if name in replica_of else name,  # the run's name as the text and tables print it
            )
            acc_ax.plot(steps, 100 * fh["eval/test_acc"][:], dashed, color=colours[base], **faint)
            late_accuracy.extend(100 * fh["eval/test_acc"][steps >= steps[-1] / 5])
            if name not in replica_of:  # a replica's schedule is its run's; the main run's is drawn over the others'
                lr_ax.plot(fh["lr"][:], dashed, color=colours[base], zorder=3 if name == bases[0] else 2)
    loss_ax.set(yscale="log", xlabel="iteration", ylabel="training loss (cross-entropy)")
    # The first fifth (a rise from chance shared by every run) is cut off so that the runs' differences show.
    acc_ax.set(xlabel="iteration", ylabel="test accuracy (%)", ylim=(min(late_accuracy) - 2, max(late_accuracy) + 2))
    lr_ax.set(yscale="log", xlabel="iteration", ylabel="learning rate")
    fig.legend(frameon=False, loc="outside upper center", ncol=min(len(bases), 5))
    return style.save(fig, target, provenance, __file__)
