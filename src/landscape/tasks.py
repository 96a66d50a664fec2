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
def analysis_training(profile: str, config_hash: str) -> None:
    """Summarise every run into results/training.h5."""
    from landscape.analyses import training

    cfg = config.load_profile(profile)
    runs = {r.name: paths.run_file(profile, r.name) for r in cfg.runs}
    training.run(cfg, runs, paths.result_file(profile, "training"), config_hash)


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


def skip_if_done(action: str, profile: str, work_hash: str, target: Path) -> None:
    """Run the analysis ``action`` unless ``target`` already carries ``work_hash`` (dodo._work_hash).

    doit records finished tasks only when it exits; this keeps a killed ``doit`` from redoing analyses that
    finished before the kill.
    """
    if _done(target, work_hash, action):
        return
    globals()[action](profile, work_hash)


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


def _classes(cfg: config.Config) -> int:
    from landscape.data import CLASSES

    return len(CLASSES[cfg.data.name])


def _lr_at(profile: str, run: str, step: int) -> float:
    from landscape.store import read_h5

    with read_h5(paths.run_file(profile, run), ("lr",)) as fh:
        return float(fh["lr"][min(step, fh["lr"].shape[0] - 1)])


@_plain_errors
def analysis_spectrum(profile: str, config_hash: str) -> None:
    """A3: spectra of every Hessian point."""
    from landscape.analyses import spectrum
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    points = {f"{r}@{s}": paths.hessian_file(profile, r, s) for r, s in cfg.hessian_points()}
    lrs = {f"{r}@{s}": _lr_at(profile, r, s) for r, s in cfg.hessian_points()}
    main = [f"{cfg.main_run.name}@{s}" for s in cfg.train.checkpoints]
    ends = [f"{r.name}@{cfg.train.iterations}" for r in cfg.main_replicas()]
    spectrum.run(
        points,
        lrs,
        cfg.train.momentum,
        _classes(cfg),
        main,
        paths.result_file(profile, "spectrum", ".h5"),
        provenance(profile, config_hash, "analysis:spectrum"),
        cfg.train.weight_decay,
        ends,
    )


@_plain_errors
def analysis_batch_spectrum(profile: str, config_hash: str) -> None:
    """H2: summary of the mini-batch spectra at the last batch-spectrum checkpoint."""
    from landscape.analyses import batch_spectrum
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    step = cfg.batch_spectrum_steps()[-1]
    batch_spectrum.run(
        paths.batch_spectrum_file(profile, step),
        _classes(cfg),
        paths.result_file(profile, "batch_spectrum", ".h5"),
        {**provenance(profile, config_hash, "analysis:batch_spectrum"), "step": step},
    )


@_plain_errors
def analysis_overlap(profile: str, config_hash: str) -> None:
    """A4: eigenvector overlaps between the main run's checkpoints."""
    from landscape.analyses import overlap
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    points = {
        f"{cfg.main_run.name}@{s}": paths.hessian_file(profile, cfg.main_run.name, s) for s in cfg.train.checkpoints
    }
    overlap.run(
        points,
        _classes(cfg),
        paths.result_file(profile, "overlap", ".h5"),
        provenance(profile, config_hash, "analysis:overlap"),
    )


def _effective_curvature(profile: str, cfg: config.Config, hessian_file: Path):
    """Per direction of the final Hessian, λ_i times its band's median curvature ratio at SGD's scale (A1)."""
    from landscape.effective import effective_curvature
    from landscape.hessian import StoredHessian
    from landscape.store import read_summary

    bands = read_summary(paths.result_file(profile, "curvature", ".h5"))["bands"]
    with StoredHessian(hessian_file) as stored:
        eigenvalues = stored.eigenvalues
    return effective_curvature(
        eigenvalues, _classes(cfg), {b: bands.get(b, {}).get("median_ratio_at_sgd") for b in ("top", "bulk")}
    )


def _final_point(cfg: config.Config):
    from landscape.checkpoint import load_point

    main, end = cfg.main_run.name, cfg.train.iterations
    return load_point(cfg, paths.run_file(cfg.name, main), end), paths.hessian_file(cfg.name, main, end)


@_plain_errors
def analysis_linesearch(profile: str, config_hash: str) -> None:
    """A1: line searches along eigendirections at every main-run checkpoint."""
    from landscape.analyses import linesearch
    from landscape.checkpoint import load_point
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    main, end = cfg.main_run.name, cfg.train.iterations

    def searched(run: str, step: int):
        point = load_point(cfg, paths.run_file(profile, run), step)
        return (
            point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass),
            point.theta,
            paths.hessian_file(profile, run, step),
        )

    points = {f"{main}@{step}": searched(main, step) for step in cfg.train.checkpoints}
    contrasts = {f"{r.name}@{end}": searched(r.name, end) for r in cfg.activation_contrasts()}
    linesearch.run(
        points,
        cfg.landscape,
        paths.result_file(profile, "linesearch", ".h5"),
        provenance(profile, config_hash, "analysis:linesearch"),
        contrasts,
    )


@_plain_errors
def analysis_curvature(profile: str, config_hash: str) -> None:
    """A1 at every scale: float64 second differences along A1's final directions, against the SGD scale."""
    import torch

    from landscape.analyses import curvature
    from landscape.checkpoint import load_point
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    end = cfg.train.iterations

    def float64_point(run: str):
        point = load_point(cfg, paths.run_file(profile, run), end)
        return (
            point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, dtype=torch.float64),
            point.theta.double(),
            paths.hessian_file(profile, run, end),
            paths.run_file(profile, run),
        )

    main = cfg.main_run.name
    line, theta, hessian_file, run_file = float64_point(main)
    contrasts = {f"{r.name}@{end}": float64_point(r.name) for r in cfg.activation_contrasts()}
    curvature.run(
        line,
        theta,
        hessian_file,
        paths.result_file(profile, "linesearch", ".h5"),
        f"{main}@{end}",
        run_file,
        paths.result_file(profile, "curvature", ".h5"),
        provenance(profile, config_hash, "analysis:curvature"),
        contrasts,
    )


@_plain_errors
def analysis_batch_noise(profile: str, config_hash: str) -> None:
    """A2: mini-batch line searches along A1's final directions."""
    import torch

    from landscape.analyses import batch_noise
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    label = f"{cfg.main_run.name}@{cfg.train.iterations}"

    def batch_line(indices):
        return point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, torch.as_tensor(indices))

    batch_noise.run(
        batch_line,
        len(point.data.train),
        point.theta,
        hessian_file,
        paths.result_file(profile, "linesearch", ".h5"),
        label,
        cfg.landscape,
        paths.result_file(profile, "batch_noise", ".h5"),
        provenance(profile, config_hash, "analysis:batch_noise"),
    )


@_plain_errors
def analysis_random_dirs(profile: str, config_hash: str) -> None:
    """A7: random-direction line searches against the independent-quadratic prediction."""
    from landscape.analyses import random_dirs
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    random_dirs.run(
        point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass),
        point.theta,
        hessian_file,
        _classes(cfg),
        cfg.landscape,
        paths.result_file(profile, "random_dirs", ".h5"),
        provenance(profile, config_hash, "analysis:random_dirs"),
    )


@_plain_errors
def analysis_profile_fits(profile: str, config_hash: str) -> None:
    """A8: functional forms of the final eigendirection profiles."""
    from landscape.analyses import profile_fits
    from landscape.store import provenance

    profile_fits.run(
        paths.result_file(profile, "linesearch", ".h5"),
        paths.result_file(profile, "profile_fits", ".h5"),
        provenance(profile, config_hash, "analysis:profile_fits"),
    )


@_plain_errors
def analysis_fine_structure(profile: str, config_hash: str) -> None:
    """A9: dense line searches near the end point in float64 and float32."""
    from landscape.analyses import fine_structure
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    import torch

    lines = {
        name: (point.line(cfg.hessian.chunk_size, cfg.landscape.points_per_pass, dtype=dtype), point.theta.to(dtype))
        for name, dtype in (("float64", torch.float64), ("float32", torch.float32))
    }
    fine_structure.run(
        lines,
        hessian_file,
        cfg.landscape,
        paths.result_file(profile, "fine_structure", ".h5"),
        provenance(profile, config_hash, "analysis:fine_structure"),
    )


@_plain_errors
def analysis_trajectory(profile: str, config_hash: str) -> None:
    """A5: the main run's trajectory in the eigenbases of its Hessians."""
    from landscape.analyses import trajectory
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, _ = _final_point(cfg)
    main = cfg.main_run.name
    bases = {f"{main}@{s}": paths.hessian_file(profile, main, s) for s in cfg.train.checkpoints[1:]}
    trajectory.run(
        point,
        paths.run_file(profile, main),
        bases,
        _classes(cfg),
        cfg.train.momentum,
        paths.result_file(profile, "trajectory", ".h5"),
        provenance(profile, config_hash, "analysis:trajectory"),
    )


@_plain_errors
def analysis_lr_compare(profile: str, config_hash: str) -> None:
    """A6: every run's end point against the annealed run from the highest learning rate."""
    import numpy as np
    import torch

    from landscape.analyses import lr_compare
    from landscape.checkpoint import load_point
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    runs = cfg.comparable_runs()  # one initialisation and batch order: the replicas with other seeds are left out
    reference = max((r for r in runs[1:] if r.schedule == "anneal"), key=lambda r: r.lr, default=cfg.main_run).name
    end = cfg.train.iterations
    point = load_point(cfg, paths.run_file(profile, reference), end)
    objective = point.objective(chunk_size=min(point.data.train.y.numel(), 500))

    def training_objective(theta: np.ndarray) -> float:
        return objective.loss(torch.as_tensor(theta, dtype=point.theta.dtype, device=point.theta.device))

    lr_compare.run(
        paths.result_file(profile, "training"),
        {r.name: paths.run_file(profile, r.name) for r in runs},
        {r.name: paths.hessian_file(profile, r.name, end) for r in runs},
        reference,
        paths.result_file(profile, "lr_compare", ".h5"),
        provenance(profile, config_hash, "analysis:lr_compare"),
        training_objective,
    )


@_plain_errors
def analysis_example_grads(profile: str, config_hash: str) -> None:
    """A10: per-example gradients at the end point in the final eigenbasis."""
    from landscape.analyses import example_grads
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    example_grads.run(
        point.model,
        point.theta,
        point.data.train.x,
        point.data.train.y,
        point.weight_decay,
        hessian_file,
        _classes(cfg),
        cfg.hessian.chunk_size,
        paths.result_file(profile, "example_grads", ".h5"),
        provenance(profile, config_hash, "analysis:example_grads"),
    )


@_plain_errors
def analysis_theory(profile: str, config_hash: str) -> None:
    """B1: the noisy-quadratic theory against the measured variances, settle times and stability."""
    from landscape.analyses import theory
    from landscape.store import provenance, read_h5

    cfg = config.load_profile(profile)
    with read_h5(paths.run_file(profile, cfg.main_run.name), ("lr",)) as fh:
        lrs = fh["lr"][:]
    result = lambda name: paths.result_file(profile, name, ".h5")  # noqa: E731
    theory.run(
        result("trajectory"),
        result("example_grads"),
        result("spectrum"),
        lrs,
        cfg.train.batch_size,
        cfg.data.n_train,
        cfg.train.momentum,
        result("theory"),
        provenance(profile, config_hash, "analysis:theory"),
        result("curvature"),
    )


@_plain_errors
def analysis_schedule(profile: str, config_hash: str) -> None:
    """B3: expected loss of the study's schedule and optimised schedules."""
    from landscape.analyses import schedule
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    result = lambda name: paths.result_file(profile, name, ".h5")  # noqa: E731
    from landscape.checkpoint import load_point

    run_file = paths.run_file(profile, cfg.main_run.name)
    schedule.run(
        result("trajectory"),
        result("example_grads"),
        run_file,
        cfg.train.batch_size,
        cfg.train.momentum,
        result("schedule"),
        provenance(profile, config_hash, "analysis:schedule"),
        load_point(cfg, run_file, 0),
        result("mysteries"),
    )


def figure_inputs(profile: str, name: str) -> object:
    """What a figure reads: the run files for ``training`` (and which run each replica repeats), else the results."""
    if name == "training":
        cfg = config.load_profile(profile)
        replica_of = {r.name: base.name for base in cfg.comparable_runs() for r in cfg.replicas_of(base.name)[1:]}
        return {"runs": {r.name: paths.run_file(profile, r.name) for r in cfg.runs}, "replica_of": replica_of}
    return paths.result_file(profile, name, ".h5")


@_plain_errors
def figure(profile: str, name: str, config_hash: str, medium: str = "paper") -> None:
    """Draw figure ``name`` from its inputs, for the paper or (``medium="poster"``) at a poster column's size."""
    import importlib

    from landscape.figures import style
    from landscape.store import provenance

    module = importlib.import_module(f"landscape.figures.{name}")
    task = f"figure:{name}" if medium == "paper" else f"{medium}_figure:{name}"
    with style.medium(style.MEDIA[medium]):
        module.make(
            figure_inputs(profile, name),
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
def analysis_noise(profile: str, config_hash: str) -> None:
    """A11: noise injected by eigenband at the end point, and per-band noise levels tuned on validation."""
    from landscape.analyses import noise
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    noise.run(
        point,
        hessian_file,
        cfg.experiments,
        paths.result_file(profile, "noise", ".h5"),
        provenance(profile, config_hash, "analysis:noise"),
    )


@_plain_errors
def analysis_threshold(profile: str, config_hash: str) -> None:
    """A12: directions above a threshold moved to their quadratic minima."""
    from landscape.analyses import threshold
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    threshold.run(
        point,
        hessian_file,
        cfg.experiments.thresholds,
        paths.result_file(profile, "threshold", ".h5"),
        provenance(profile, config_hash, "analysis:threshold"),
        effective_curvature=_effective_curvature(profile, cfg, hessian_file),
    )


@_plain_errors
def analysis_bayes_lr(profile: str, config_hash: str) -> None:
    """B2: training continued with Bayesian per-direction rates against plain SGD."""
    from landscape.analyses import bayes_lr
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    # Bayesian in the top C directions only (C classes: the outliers of the class-structure picture).
    bayes_lr.run(
        point,
        hessian_file,
        paths.result_file(profile, "example_grads", ".h5"),
        cfg.train.batch_size,
        cfg.train.momentum,
        cfg.main_run.lr,
        cfg.experiments,
        paths.result_file(profile, "bayes_lr", ".h5"),
        provenance(profile, config_hash, "analysis:bayes_lr"),
        top_k=_classes(cfg),
        effective_curvature=_effective_curvature(profile, cfg, hessian_file),
    )


@_plain_errors
def analysis_endgame(profile: str, config_hash: str) -> None:
    """B4: a final epoch at batch size 1, and HMC from the end point."""
    from landscape.analyses import endgame
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point, hessian_file = _final_point(cfg)
    endgame.run(
        point,
        hessian_file,
        cfg.train.batch_size,
        cfg.train.momentum,
        cfg.experiments,
        paths.result_file(profile, "endgame", ".h5"),
        provenance(profile, config_hash, "analysis:endgame"),
    )


@_plain_errors
def analysis_mysteries(profile: str, config_hash: str) -> None:
    """B5: the loss floor against the learning rate, and runs with and without warm-up."""
    from landscape.analyses import mysteries
    from landscape.checkpoint import load_point
    from landscape.store import provenance

    cfg = config.load_profile(profile)
    point = load_point(cfg, paths.run_file(profile, cfg.main_run.name), 0)
    mysteries.run(
        point,
        paths.result_file(profile, "training"),
        paths.result_file(profile, "example_grads", ".h5"),
        cfg.main_run.lr,
        cfg.train.batch_size,
        cfg.train.momentum,
        cfg.experiments,
        paths.result_file(profile, "mysteries", ".h5"),
        provenance(profile, config_hash, "analysis:mysteries"),
    )


@_plain_errors
def graph(profile: str, table: list[dict[str, Any]]) -> None:
    """Draw the task graph of ``profile`` to build/<profile>/graph.{pdf,png}."""
    from landscape.graph import draw

    for suffix in (".pdf", ".png"):
        draw(table, paths.build_dir(profile) / f"graph{suffix}", profile)
