"""The actions behind the build graph's tasks: load the profile, call the library, report errors plainly.

``dodo.py`` only wires these together. Heavy imports (torch) happen inside the actions, so
that ``doit list`` and an up-to-date ``doit`` return quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from landscape import config, paths


def _plain_errors(action: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the errors a user can fix (bad config, missing data or LaTeX) into a clear failure without a traceback."""

    def wrapper(*args: Any) -> Any:
        from jinja2 import UndefinedError

        from landscape.data import DatasetMissing
        from landscape.report import LatexError, ReportValueError
        from landscape.store import SchemaError

        try:
            action(*args)
        except (
            config.ConfigError,
            DatasetMissing,
            LatexError,
            ReportValueError,
            SchemaError,
            FileNotFoundError,
            PermissionError,  # a read-only folder inside build/ (the build folder itself is checked by dodo.py)
            UndefinedError,
        ) as err:
            return TaskFailed(f"{type(err).__name__}: {err}")
        return None

    wrapper.__name__ = action.__name__
    wrapper.__doc__ = action.__doc__
    return wrapper


def _done(target: Path, config_hash: str, task: str) -> bool:
    """Whether ``target`` exists, was made from inputs with this hash and is as its task wrote it.

    Then the work is not redone (``task`` says so); a damaged target (:mod:`landscape.integrity`) is rebuilt, never
    reused.
    """
    import h5py

    from landscape.integrity import damaged

    if not target.is_file():
        return False
    if damaged(target):
        print(f"{target}: changed since its task wrote it; building it again")
        return False
    try:
        with h5py.File(target, "r") as fh:
            kept = fh.attrs.get("config_hash") == config_hash
    except OSError:
        return False
    if kept:
        print(f"{task}: {target} already holds these inputs ({config_hash}); kept")
    return kept


@_plain_errors
def train(profile: str, run: str, config_hash: str) -> None:
    """Train ``run`` of ``profile`` (resuming a killed run; nothing to do if its file has these inputs)."""
    from landscape.train import train_run

    target = paths.run_file(profile, run)
    if _done(target, config_hash, f"train:{run}"):
        return
    train_run(config.load_profile(profile), run, target, task=f"train:{run}", config_hash=config_hash)


@_plain_errors
def hessian(profile: str, run: str, step: int, config_hash: str) -> None:
    """Assemble the full-dataset Hessian at iterate ``step`` of ``run``, with its eigendecomposition."""
    from landscape.checkpoint import load_point
    from landscape.hessian import write_hessian
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    target = paths.hessian_file(profile, run, step)
    if _done(target, config_hash, f"hessian:{run}@{step}"):
        return
    point = load_point(cfg, paths.run_file(profile, run), step)
    meta = provenance(profile, config_hash, f"hessian:{run}@{step}")
    meta.update(run=run, step=step, lr=point.lr, engine=cfg.profile.engine)
    run_blocks, client = None, None
    if cfg.profile.engine == "dask":
        from landscape import engine

        client = engine.connect(cfg.profile.scheduler, cfg.profile.workers)
        spec = engine.PointSpec(cfg.path, str(paths.run_file(profile, run)), step)
        run_blocks = engine.block_runner(client, spec, point.theta.numel(), cfg.hessian.block_size)
    try:
        write_hessian(
            point.objective(cfg.hessian.chunk_size),
            point.theta,
            target,
            meta,
            cfg.hessian.block_size,
            label=f"hessian:{run}@{step}",
            run_blocks=run_blocks,
            storage=cfg.hessian.storage,
        )
    finally:
        if client is not None:
            client.close()


@_plain_errors
def spectrum_batch(profile: str, step: int, config_hash: str) -> None:
    """Spectra of mini-batch Hessians at iterate ``step`` of the main run (H2)."""
    from landscape.analyses import batch_spectrum
    from landscape.checkpoint import load_point
    from landscape.store import provenance

    target = paths.batch_spectrum_file(profile, step)
    if _done(target, config_hash, f"spectrum_batch:{step}"):
        return
    cfg = config.load_profile(profile)
    main, h = cfg.main_run.name, cfg.hessian
    point = load_point(cfg, paths.run_file(profile, main), step)
    batch_spectrum.compute(
        point,
        paths.hessian_file(profile, main, step),
        h.batch_sizes,
        h.batches_per_size,
        h.batch_seed + step,
        h.block_size,
        h.chunk_size,
        paths.batch_spectrum_file(profile, step),
        provenance(profile, config_hash, f"spectrum_batch:{step}"),
        storage=h.storage,
    )


@_plain_errors
def analysis(name: str, profile: str, work_hash: str) -> None:
    """Run analysis ``name`` on its declared inputs, unless its result already carries ``work_hash``.

    doit records finished tasks only when it exits; the check keeps a killed ``doit`` from redoing analyses that
    finished before the kill.
    """
    import importlib

    from landscape.registry import analyses
    from landscape.store import provenance
    from landscape.study import Study

    target = paths.result_file(profile, name)
    if _done(target, work_hash, f"analysis:{name}"):
        return
    cfg = config.load_profile(profile)
    study = Study(cfg)
    inputs = study.resolve_all(analyses()[name].inputs)
    module = importlib.import_module(f"landscape.analyses.{name}")
    module.run(cfg, target, provenance(profile, work_hash, f"analysis:{name}"), **inputs)


@_plain_errors
def figure(profile: str, name: str, config_hash: str, medium: str = "paper") -> None:
    """Draw figure ``name`` from its inputs, for the paper or (``medium="poster"``) at a poster column's size."""
    import importlib

    from landscape.figures import style
    from landscape.registry import figure_inputs
    from landscape.store import provenance
    from landscape.study import Study

    module = importlib.import_module(f"landscape.figures.{name}")
    task = f"figure:{name}" if medium == "paper" else f"{medium}_figure:{name}"
    with style.medium(style.MEDIA[medium]):
        module.make(
            figure_inputs(name, Study(config.load_profile(profile))),
            paths.figure_file(profile, name, medium),
            provenance(profile, config_hash, task),
        )


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


@_plain_errors
def arxiv(profile: str) -> None:
    """Package the built paper's source for arXiv: build/<profile>/arxiv.tar.gz."""
    from landscape import arxiv as arxiv_package
    from landscape.report import source_date_epoch

    target = paths.build_dir(profile) / "arxiv.tar.gz"
    members = arxiv_package.package(
        paths.document_dir(profile, "paper") / "paper.tex",
        paths.figure_file(profile, "x").parent,
        target,
        int(source_date_epoch()),
    )
    print(f"arxiv: {target} ({len(members)} files: {', '.join(members)})")


@_plain_errors
def graph(profile: str, table: list[dict[str, Any]]) -> None:
    """Draw the task graph of ``profile`` to build/<profile>/graph.{pdf,png}."""
    from landscape.graph import draw

    for suffix in (".pdf", ".png"):
        draw(table, paths.build_dir(profile) / f"graph{suffix}", profile)
