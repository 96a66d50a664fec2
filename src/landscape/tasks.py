"""The actions behind the build graph's tasks: load the profile, call the library, report errors plainly.

``dodo.py`` only wires these together. Heavy imports (torch) happen inside the actions, so
that ``doit list`` and an up-to-date ``doit`` return quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from doit.exceptions import TaskFailed

from landscape import config, paths


def _plain_errors(action: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix (bad config, missing data or LaTeX) into a clear failure without a traceback."""
    def wrapper(*args: Any) -> Any:
        from landscape.data import DatasetMissing
        from landscape.report import LatexError, ReportValueError
        from landscape.store import SchemaError

        try:
            action(*args)
        except (config.ConfigError, DatasetMissing, LatexError, ReportValueError, SchemaError, FileNotFoundError) as err:
            return TaskFailed(f"{type(err).__name__}: {err}")
        return None

    wrapper.__name__ = action.__name__
    wrapper.__doc__ = action.__doc__
    return wrapper


@_plain_errors
def train(profile: str, run: str) -> None:
    """Train ``run`` of ``profile`` (resuming a killed run)."""
    from landscape.train import train_run

    train_run(config.load_profile(profile), run, paths.run_file(profile, run), task=f"train:{run}")


@_plain_errors
def analysis_training(profile: str, config_hash: str) -> None:
    """Summarise every run into results/training.json."""
    from landscape.analyses import training

    cfg = config.load_profile(profile)
    runs = {r.name: paths.run_file(profile, r.name) for r in cfg.runs}
    training.run(cfg, runs, paths.result_file(profile, "training"), config_hash)


@_plain_errors
def figure_training(profile: str, config_hash: str) -> None:
    """Draw the training curves."""
    from landscape.figures import training
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    runs = {r.name: paths.run_file(profile, r.name) for r in cfg.runs}
    training.make(runs, paths.figure_file(profile, "training"), provenance(profile, config_hash, "figure:training"))


@_plain_errors
def values(profile: str) -> None:
    """Gather every quoted number into values.json."""
    from landscape import report

    report.write_values(config.load_profile(profile), paths.values_file(profile))


@_plain_errors
def document(profile: str, name: str) -> None:
    """Render and compile the paper or the poster."""
    from landscape import report

    report.build_document(config.load_profile(profile), name, paths.build_dir(profile) / f"{name}.pdf")
