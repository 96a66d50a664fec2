"""Figure style helpers: checkpoint colours shared across figures, plain labels on short log axes."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from landscape.figures import style


def _tick_labels(axis) -> list[str]:
    low, high = sorted(axis.get_view_interval())
    return [t.get_text() for t in axis.get_ticklabels() if low <= t.get_position()[axis.axis_name == "y"] <= high]


def test_a_short_log_axis_gets_plain_labels_and_a_long_one_keeps_powers_of_ten(tmp_path):
    fig, (short, long) = plt.subplots(ncols=2)
    short.semilogy([0, 1], [0.4, 4.0])
    long.semilogy([0, 1], [1e-6, 1e2])
    style.save(fig, tmp_path / "f.pdf", {}, "tests/test_style.py")
    assert json.loads((tmp_path / "f.json").read_text())["script"] == "tests/test_style.py"
    assert {"0.5", "1", "2"} <= set(_tick_labels(short.yaxis))
    assert not any("10^" in label for label in _tick_labels(short.yaxis))
    assert any("10^" in label for label in _tick_labels(long.yaxis))


def test_a_checkpoint_has_one_colour_whatever_else_the_figure_shows():
    assert style.checkpoint_colour(246, 6000) == style.checkpoint_colour(246, 6000)
    colours = [style.checkpoint_colour(step, 6000) for step in (0, 246, 2459, 6000)]
    assert len(set(colours)) == 4
