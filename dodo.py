"""The build graph: from training runs to the paper and poster. Task definitions only, no science.

    doit                      paper and poster of the default profile (cpu)
    doit profile=smoke        the same for another profile (smoke, cpu, paper)
    doit list --all           every task with a one-line description
    doit profile=smoke figure:spectrum   one figure (and what it needs)

Each profile has its own outputs (build/<profile>/, figures/<profile>/) and its own doit state.
A task reruns when its code files change (file_dep) or when the hash of the configuration
sections it depends on changes (config_changed); nothing else triggers it.
"""

import functools
import os
import sys
from pathlib import Path

from doit import get_var
from doit.tools import config_changed

sys.path.insert(0, str(Path(__file__).parent / "src"))
from landscape import config, integrity, lock, paths, resources, store, tasks
from landscape.code_deps import action_code, closure
from landscape.config import code_digest, section_hash
from landscape.report import POSTER_FIGURES

PROFILE = get_var("profile", "cpu")
try:
    CFG = config.load_profile(PROFILE)
except config.ConfigError as err:
    sys.exit(f"error: {err}")
BUILD = paths.build_dir(PROFILE)
try:
    lock.writable_folder(BUILD)
except lock.BuildLocked as err:
    sys.exit(f"error: {err}")
# landscape.bundle imports this file under another name only to read the task table (artifact_tasks); it takes
# the build lock itself, and reading the table needs no resources.
UNDER_DOIT = __name__ == "dodo"
if UNDER_DOIT and lock.needs_lock(sys.argv[1:]):
    try:
        BUILD_LOCK = lock.hold(BUILD)  # held until doit exits
    except lock.BuildLocked as err:
        sys.exit(f"error: {err}")
if UNDER_DOIT and lock.runs_tasks(sys.argv[1:]):
    try:
        resources.check_resources(CFG, BUILD)  # a profile this machine cannot hold is refused before any work
    except config.ConfigError as err:
        sys.exit(f"error: {err}")


def _worker_processes(profile: config.ProfileConfig) -> int:
    """Doit's worker processes: the profile's ``processes``, at most one per ``threads`` cores of this machine.

    Results do not depend on it (each task runs in one process with the profile's thread count). 0 is doit's
    in-process runner. ``benchmarks/threads.py`` measured why the CPU profiles use two 1-thread workers.
    """
    workers = min(profile.processes, max(1, len(os.sched_getaffinity(0)) // profile.threads))
    return workers if workers > 1 else 0


DOIT_CONFIG = {
    "default_tasks": ["paper", "poster"],
    "dep_file": str(BUILD / ".doit.db"),
    "backend": "sqlite3",  # one writer while several worker processes run tasks (the dbm backend allows none)
    "verbosity": 2,
    "num_process": _worker_processes(CFG.profile),  # `doit -n N` on the command line overrides it
}

SRC = Path("src/landscape")
# The science of training; config.py and store.py are left out on purpose: their effect on a run
# is captured by the configuration hash, and an edit to the parser or the I/O should not retrain.
CORE = [SRC / f for f in ("data.py", "models.py", "params.py", "train.py")]
HESSIAN_CODE = [*CORE, SRC / "hessian.py", SRC / "segments.py", SRC / "tiles.py", SRC / "checkpoint.py"]
MAIN = CFG.main_run.name
RUNS = {r.name: paths.run_file(PROFILE, r.name) for r in CFG.runs}
# The hashes that name a run's and a Hessian's inputs include the digest of the code that makes them,
# so a task whose target already carries its hash can skip the work: a doit interrupted before it
# recorded a finished task (its state is written when doit exits) does not redo hours of compute.
RUN_HASH = {r.name: section_hash(*config.run_inputs(CFG, r.name), code_digest(CORE)) for r in CFG.runs}
POINT_HASH = {
    (r, s): section_hash(RUN_HASH[r], config.hessian_inputs(CFG), s, code_digest(HESSIAN_CODE))
    for r, s in CFG.hessian_points()
}
HESSIANS = {(r, s): paths.hessian_file(PROFILE, r, s) for r, s in CFG.hessian_points()}
MAIN_HESSIANS = [HESSIANS[(MAIN, s)] for s in CFG.train.checkpoints]
MAIN_POINT_HASHES = [POINT_HASH[(MAIN, s)] for s in CFG.train.checkpoints]
BATCH_STEP = CFG.batch_spectrum_steps()[-1]
END = (MAIN, CFG.train.iterations)
LANDSCAPE_HASH = section_hash(POINT_HASH[END], CFG.landscape)
# Runs that differ from the main run only in their activation: A1 and the curvature against scale measure them too.
CONTRASTS = CFG.activation_contrasts()
CONTRAST_FILES = [f for r in CONTRASTS for f in (RUNS[r.name], HESSIANS[(r.name, CFG.train.iterations)])]


def _guarded(task):
    """``task`` with its targets' signatures recorded after it runs and checked before it is skipped (integrity.py).

    Its declared inputs are announced first, so that a read of an undeclared artifact can be logged (store.read_h5).
    """
    targets = task["targets"]
    declared = [str(Path(f).resolve()) for f in task.get("file_dep", [])]
    return {
        **task,
        "actions": [
            (store.declare_inputs, [str(targets[0]), declared]),
            *task["actions"],
            (integrity.record, [targets]),
        ],
        "uptodate": [*task.get("uptodate", []), integrity.intact(targets)],
    }


def _code(files):
    """Code files as paths relative to the repository, like every other file dependency here."""
    return [f.relative_to(Path(__file__).resolve().parent) for f in files]


def _hash(*parts):
    return section_hash(*parts)


def _result(name):
    return paths.result_file(PROFILE, name)


EXPERIMENT_HASH = section_hash(POINT_HASH[END], CFG.train, CFG.experiments)

# Each analysis: (doc, inputs, config hash, action). Results go to build/<profile>/results/; its code files
# are derived from the imports of its action (landscape.code_deps), never typed here.
ANALYSES = {
    "training": (
        "final metrics, sizes and wall times of every run (T1–T3)",
        list(RUNS.values()),
        _hash(*RUN_HASH.values()),
        tasks.analysis_training,
    ),
    "spectrum": (
        "A3: spectra through training — outliers, negative eigenvalues, stability ratio",
        [*HESSIANS.values(), *RUNS.values()],
        _hash(*POINT_HASH.values(), CFG.train.momentum),
        tasks.analysis_spectrum,
    ),
    "batch_spectrum": (
        "H2: mini-batch Hessian spectra against the full one, by batch size",
        [paths.batch_spectrum_file(PROFILE, BATCH_STEP)],
        _hash(POINT_HASH[(MAIN, BATCH_STEP)], CFG.hessian),
        tasks.analysis_batch_spectrum,
    ),
    "overlap": (
        "A4: eigenvector overlaps between the main run's checkpoints",
        MAIN_HESSIANS,
        _hash(*MAIN_POINT_HASHES),
        tasks.analysis_overlap,
    ),
    "linesearch": (
        "A1: full-data line searches along eigendirections against the quadratic model",
        [RUNS[MAIN], *MAIN_HESSIANS, *CONTRAST_FILES],
        _hash(*MAIN_POINT_HASHES, *(POINT_HASH[(r.name, CFG.train.iterations)] for r in CONTRASTS), CFG.landscape),
        tasks.analysis_linesearch,
    ),
    "curvature": (
        "A1 at every scale: float64 second differences along eigendirections against the step, and SGD's scale",
        [RUNS[MAIN], HESSIANS[END], *CONTRAST_FILES, paths.result_file(PROFILE, "linesearch", ".h5")],
        _hash(LANDSCAPE_HASH, *(POINT_HASH[(r.name, CFG.train.iterations)] for r in CONTRASTS)),
        tasks.analysis_curvature,
    ),
    "batch_noise": (
        "A2: mini-batch line searches: scatter of minima and curvatures against the eigenvalue",
        [RUNS[MAIN], HESSIANS[END], paths.result_file(PROFILE, "linesearch", ".h5")],
        LANDSCAPE_HASH,
        tasks.analysis_batch_noise,
    ),
    "random_dirs": (
        "A7: random-direction line searches against the independent-quadratic prediction",
        [RUNS[MAIN], HESSIANS[END]],
        LANDSCAPE_HASH,
        tasks.analysis_random_dirs,
    ),
    "profile_fits": (
        "A8: quadratic, quartic or log-cosh: the form of each eigendirection profile",
        [paths.result_file(PROFILE, "linesearch", ".h5")],
        LANDSCAPE_HASH,
        tasks.analysis_profile_fits,
    ),
    "fine_structure": (
        "A9: very dense line searches near the end point, float64 against float32",
        [RUNS[MAIN], HESSIANS[END]],
        LANDSCAPE_HASH,
        tasks.analysis_fine_structure,
    ),
    "trajectory": (
        "A5: the main run in the eigenbasis: start distance, settling, stationary variance, FDR",
        [RUNS[MAIN], *MAIN_HESSIANS[1:]],
        _hash(*MAIN_POINT_HASHES),
        tasks.analysis_trajectory,
    ),
    "lr_compare": (
        "A6: end points of every run against the high-LR annealed run, by eigenband",
        [
            paths.result_file(PROFILE, "training"),
            *(RUNS[r.name] for r in CFG.comparable_runs()),
            *(HESSIANS[(r.name, CFG.train.iterations)] for r in CFG.comparable_runs()),
        ],
        _hash(*POINT_HASH.values()),
        tasks.analysis_lr_compare,
    ),
    "example_grads": (
        "A10: per-example gradients in the final eigenbasis: cosines, concentration, noise vs curvature",
        [RUNS[MAIN], HESSIANS[END]],
        POINT_HASH[END],
        tasks.analysis_example_grads,
    ),
    "theory": (
        "B1: stationary variances, settle times and temperatures of the noisy quadratic against the data",
        [RUNS[MAIN], *(_result(n) for n in ("trajectory", "example_grads", "spectrum", "curvature"))],
        _hash(*MAIN_POINT_HASHES, CFG.train),
        tasks.analysis_theory,
    ),
    "schedule": (
        "B3: expected loss of the study's schedule, optimised schedules and optimised linear update rules",
        [RUNS[MAIN], *(_result(n) for n in ("trajectory", "example_grads", "mysteries"))],
        _hash(*MAIN_POINT_HASHES, CFG.train),
        tasks.analysis_schedule,
    ),
    "noise": (
        "A11: noise injected by eigenband (low, high, all; fit one half, perturb the other); "
        "levels tuned on validation",
        [RUNS[MAIN], HESSIANS[END]],
        EXPERIMENT_HASH,
        tasks.analysis_noise,
    ),
    "threshold": (
        "A12: directions above an eigenvalue threshold moved to their quadratic minima",
        [RUNS[MAIN], HESSIANS[END], _result("curvature")],
        _hash(EXPERIMENT_HASH, LANDSCAPE_HASH),
        tasks.analysis_threshold,
    ),
    "bayes_lr": (
        "B2: training continued with Bayesian per-direction learning rates against plain SGD",
        [RUNS[MAIN], HESSIANS[END], _result("example_grads"), _result("curvature")],
        _hash(EXPERIMENT_HASH, LANDSCAPE_HASH),
        tasks.analysis_bayes_lr,
    ),
    "endgame": (
        "B4: a final epoch at batch size 1, and HMC from the end point",
        [RUNS[MAIN], HESSIANS[END]],
        EXPERIMENT_HASH,
        tasks.analysis_endgame,
    ),
    "mysteries": (
        "B5: the training-loss floor against the learning rate; warm-up against the stability limit",
        [RUNS[MAIN], _result("training"), _result("example_grads")],
        _hash(EXPERIMENT_HASH, *RUN_HASH.values()),
        tasks.analysis_mysteries,
    ),
}
FIGURES = {
    "training": "training loss, test accuracy and learning rate of every run",
    "spectrum": "eigenvalues by rank, density, and λ_max η/2(1+β) through training",
    "batch_spectrum": "top eigenvalues of mini-batch Hessians by batch size, against the full Hessian",
    "overlap": "eigenvector overlaps between checkpoints: row maxima, top-k subspaces, top block",
    "linesearch": "eigendirection profiles against ½λt², deviation and fitted curvature against λ",
    "curvature": "effective curvature over λ against the step size and against the quadratic rise, by band",
    "batch_noise": "spread of mini-batch minima and mini-batch curvature against λ",
    "random_dirs": "random-direction profiles against the independent-quadratic prediction",
    "profile_fits": "chosen functional form per band, quartic term and log-cosh scale against λ",
    "fine_structure": "residual roughness of dense line searches against the range, float64 and float32",
    "trajectory": "trajectories in the eigenbasis, settle iteration and stationary variance against λ",
    "lr_compare": "final losses against the initial learning rate, and the loss gap by eigenband",
    "example_grads": "per-example gradient cosines by band, concentration across examples, noise against curvature",
    "theory": "predicted against measured stationary variance and settle iteration; temperature against λ",
    "schedule": "expected loss of the study's schedule against the measured one; optimised schedules and update rules",
    "noise": "validation and test loss against the noise level per band and variant; tuned noise level per band",
    "threshold": "test performance and objective change against the eigenvalue threshold",
    "bayes_lr": "test loss and temperature of Bayesian learning rates by scale, against plain SGD",
    "endgame": "test loss and accuracy after the batch-size-1 epoch and of the HMC model average",
    "mysteries": "final training loss against final learning rate; "
    "λ_max η against the stability limit with and without warm-up",
}


def task_train():
    """Train a run (T1–T3): every iterate, batch and learning rate into build/<profile>/runs/<run>.h5."""
    for run in CFG.runs:
        yield _guarded(
            {
                "name": run.name,
                "doc": f"train run '{run.name}': {run.description or run.schedule}",
                "actions": [(tasks.train, [PROFILE, run.name, RUN_HASH[run.name]])],
                "file_dep": CORE,
                "targets": [RUNS[run.name]],
                "uptodate": [config_changed(RUN_HASH[run.name])],
                "clean": True,
            }
        )


def task_hessian():
    """H1: full-dataset Hessian and eigendecomposition at a checkpoint (resumable column blocks)."""
    for (run, step), target in HESSIANS.items():
        yield _guarded(
            {
                "name": f"{run}@{step}",
                "doc": f"dense Hessian of the full objective at iterate {step} of '{run}'",
                "actions": [(tasks.hessian, [PROFILE, run, step, POINT_HASH[(run, step)]])],
                "file_dep": [RUNS[run], *HESSIAN_CODE],
                "targets": [target],
                "uptodate": [config_changed(POINT_HASH[(run, step)])],
                "clean": True,
            }
        )


@functools.cache
def _work_hash(name):
    """The hash a result file carries: its configuration, its code, and the work hashes of the results it reads.

    Every input's own hash is inside it, so a result whose file already carries this hash was made from exactly
    these inputs and this code, and an action can skip the work (``tasks.skip_if_done``).
    """
    _, inputs, config_hash, action = ANALYSES[name]
    upstream = [n for n in ANALYSES if _result(n) in inputs]
    return _hash(config_hash, code_digest(action_code(action.__name__)), *(_work_hash(n) for n in upstream))


def task_spectrum_batch():
    """H2: spectra of mini-batch Hessians at a main-run checkpoint, per batch size."""
    for step in CFG.batch_spectrum_steps():
        config_hash = _hash(POINT_HASH[(MAIN, step)], CFG.hessian, code_digest(action_code("spectrum_batch")))
        yield _guarded(
            {
                "name": str(step),
                "doc": f"mini-batch Hessian spectra at iterate {step}, batch sizes {list(CFG.hessian.batch_sizes)}",
                "actions": [(tasks.spectrum_batch, [PROFILE, step, config_hash])],
                "file_dep": [RUNS[MAIN], HESSIANS[(MAIN, step)], *_code(action_code("spectrum_batch"))],
                "targets": [paths.batch_spectrum_file(PROFILE, step)],
                "uptodate": [config_changed(config_hash)],
                "clean": True,
            }
        )


def task_analysis():
    """Analyses of DESIGN §5: each writes build/<profile>/results/<name>.h5."""
    for name, (doc, inputs, _, action) in ANALYSES.items():
        work_hash = _work_hash(name)
        yield _guarded(
            {
                "name": name,
                "doc": doc,
                "actions": [(tasks.skip_if_done, [action.__name__, PROFILE, work_hash, _result(name)])],
                "file_dep": [*inputs, SRC / "store.py", *_code(action_code(action.__name__))],
                "targets": [_result(name)],
                "uptodate": [config_changed(work_hash)],
                "clean": True,
            }
        )


def task_figure():
    """Figures: each reads result files only and writes figures/<profile>/<name>.pdf (+ provenance .json)."""
    for name, doc in FIGURES.items():
        target = paths.figure_file(PROFILE, name)
        inputs = list(RUNS.values()) if name == "training" else [_result(name)]
        yield _guarded(
            {
                "name": name,
                "doc": doc,
                "actions": [(tasks.figure, [PROFILE, name, _work_hash(name)])],
                "file_dep": [*inputs, *_code(closure([f"landscape.figures.{name}"]))],
                "targets": [target, target.with_suffix(".json")],
                "clean": True,
            }
        )


def task_poster_figure():
    """The poster's figures, drawn again at the size of a poster column: figures/<profile>/poster/<name>.pdf."""
    for name in POSTER_FIGURES:
        target = paths.figure_file(PROFILE, name, "poster")
        yield _guarded(
            {
                "name": name,
                "doc": f"{FIGURES[name]} (poster)",
                "actions": [(tasks.figure, [PROFILE, name, _work_hash(name), "poster"])],
                "file_dep": [_result(name), *_code(closure([f"landscape.figures.{name}"]))],
                "targets": [target, target.with_suffix(".json")],
                "clean": True,
            }
        )


def task_values():
    """Gather every number the paper and poster quote into build/<profile>/values.json."""
    return _guarded(
        {
            "actions": [(tasks.values, [PROFILE])],
            "file_dep": [*(_result(name) for name in ANALYSES), *_code(action_code("values"))],
            "targets": [paths.values_file(PROFILE)],
            "uptodate": [config_changed(section_hash(CFG))],
            "clean": True,
        }
    )


def _document(name, template):
    figures = [paths.figure_file(PROFILE, f) for f in FIGURES]
    if name == "poster":
        figures += [paths.figure_file(PROFILE, f, "poster") for f in POSTER_FIGURES]
    return _guarded(
        {
            "actions": [(tasks.document, [PROFILE, name])],
            "file_dep": [
                paths.values_file(PROFILE),
                template,
                Path("paper/refs.bib"),
                SRC / "report.py",
                *figures,
                *(f.with_suffix(".json") for f in figures),
            ],
            "targets": [BUILD / f"{name}.pdf"],
            "clean": True,
        }
    )


def task_paper():
    """Render paper/paper.tex.j2 with the results and compile it to build/<profile>/paper.pdf."""
    return _document("paper", Path("paper/paper.tex.j2"))


def task_poster():
    """Render poster/poster.tex.j2 with the results and compile it to build/<profile>/poster.pdf (A0)."""
    return _document("poster", Path("poster/poster.tex.j2"))


def task_arxiv():
    """An arXiv source package of the paper at build/<profile>/arxiv.tar.gz; not built by default.

    It holds the rendered tex, the bbl and the figures the paper includes, nothing else.
    """
    figures = [paths.figure_file(PROFILE, f) for f in FIGURES]
    return _guarded(
        {
            "actions": [(tasks.arxiv, [PROFILE])],
            "file_dep": [BUILD / "paper.pdf", *figures, SRC / "arxiv.py"],
            "targets": [BUILD / "arxiv.tar.gz"],
            "clean": True,
        }
    )


def _stage_tasks(stage):
    """(doit name, task dict) of every task ``task_<stage>`` makes: ``stage:name`` for sub-tasks, else ``stage``."""
    made = globals()[f"task_{stage}"]()
    for task in made if not isinstance(made, dict) else [made]:
        yield (f"{stage}:{task['name']}" if "name" in task else stage), task


def _task_table():
    """Name, file dependencies and targets of every task above (the input of the graph picture)."""
    table = []
    for stage in (
        "train",
        "hessian",
        "spectrum_batch",
        "analysis",
        "figure",
        "poster_figure",
        "values",
        "paper",
        "poster",
    ):
        for name, task in _stage_tasks(stage):
            table.append(
                {
                    "name": name,
                    "file_dep": [str(d) for d in task.get("file_dep", [])],
                    "targets": [str(t) for t in task.get("targets", [])],
                }
            )
    return table


# The stages whose targets are expensive and self-describing (each HDF5 file carries the hash of its inputs).
ARTIFACT_STAGES = ("train", "hessian", "spectrum_batch", "analysis")


def artifact_tasks():
    """Name, stage, targets and input hash of every task of ``ARTIFACT_STAGES`` (what landscape.bundle packs).

    The hash is the one the task's ``config_changed`` check compares, and the one its target carries as
    ``config_hash``: the graph's own test of whether a target is current.
    """
    table = []
    for stage in ARTIFACT_STAGES:
        for name, task in _stage_tasks(stage):
            (check,) = [u for u in task["uptodate"] if isinstance(u, config_changed)]
            table.append(
                {
                    "name": name,
                    "stage": stage,
                    "targets": [Path(t) for t in task["targets"]],
                    "input_hash": check.config,
                }
            )
    return table


def task_graph():
    """A picture of this graph (every task and file dependency) at build/<profile>/graph.{pdf,png}; not by default."""
    table = _task_table()
    return {
        "actions": [(tasks.graph, [PROFILE, table])],
        "file_dep": [SRC / "graph.py"],
        "targets": [BUILD / "graph.pdf", BUILD / "graph.png"],
        "uptodate": [config_changed(section_hash(table))],
        "clean": True,
    }
