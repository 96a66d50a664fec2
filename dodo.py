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
from landscape.registry import analyses, figure_inputs, figures, poster_figures
from landscape.study import HESSIAN_CODE as STUDY_HESSIAN_CODE
from landscape.study import TRAINING_CODE, Study, files_of

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


def _code(files):
    """Code files as paths relative to the repository, like every other file dependency here."""
    return [Path(f).resolve().relative_to(Path(__file__).resolve().parent) for f in files]


STUDY = Study(CFG)
MAIN = STUDY.main
CORE = _code(TRAINING_CODE)
HESSIAN_CODE = _code(STUDY_HESSIAN_CODE)
RUNS = STUDY.run_files
# The hashes that name a run's and a Hessian's inputs include the digest of the code that makes them,
# so a task whose target already carries its hash can skip the work: a doit interrupted before it
# recorded a finished task (its state is written when doit exits) does not redo hours of compute.
RUN_HASH = STUDY.run_hash
POINT_HASH = STUDY.point_hash
HESSIANS = STUDY.hessian_files
# Every analysis, as its module declares it (landscape/registry.py): inputs, configuration, figure.
ANALYSES = analyses()
FIGURES = figures()
POSTER_FIGURES = poster_figures()


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


def _result(name):
    return paths.result_file(PROFILE, name)


@functools.cache
def _inputs(name):
    """The files analysis ``name`` reads, by its keyword: each its declared input resolved for this profile."""
    return STUDY.resolve_all(ANALYSES[name].inputs)


def _input_files(name):
    return [f for value in _inputs(name).values() for f in files_of(value)]


@functools.cache
def _work_hash(name):
    """The hash a result file carries: its configuration sections, its code, and the hashes of what it reads.

    Every input's own hash names everything upstream of it, so a result whose file already carries this hash was
    made from exactly these inputs and this code, and the action skips the work (``tasks.analysis``).
    """
    analysis = ANALYSES[name]
    results = {_result(n): n for n in ANALYSES}
    upstream = [_work_hash(results[f]) if f in results else STUDY.artifact_hash(f) for f in _input_files(name)]
    sections = [getattr(CFG, section) for section in analysis.config]
    return section_hash(*sections, code_digest(_analysis_code(name)), *upstream)


def _figure_input_files(name):
    return files_of(figure_inputs(name, STUDY))


@functools.cache
def _analysis_code(name):
    """The import closure of the analysis's module (landscape.code_deps), relative to the repository."""
    return _code(closure([f"landscape.analyses.{name}"]))


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


def task_spectrum_batch():
    """H2: spectra of mini-batch Hessians at a main-run checkpoint, per batch size."""
    for step in CFG.batch_spectrum_steps():
        config_hash = STUDY.batch_spectrum_hash(step)
        yield _guarded(
            {
                "name": str(step),
                "doc": f"mini-batch Hessian spectra at iterate {step}, batch sizes {list(CFG.hessian.batch_sizes)}",
                "actions": [(tasks.spectrum_batch, [PROFILE, step, config_hash])],
                "file_dep": [RUNS[MAIN], HESSIANS[(MAIN, step)], *_code(action_code("spectrum_batch"))],
                "targets": [STUDY.batch_spectrum_files[step]],
                "uptodate": [config_changed(config_hash)],
                "clean": True,
            }
        )


def task_analysis():
    """Analyses (docs/DESIGN.md §5), each declared in its module landscape/analyses/<name>.py: results/<name>.h5."""
    for name, analysis in ANALYSES.items():
        work_hash = _work_hash(name)
        yield _guarded(
            {
                "name": name,
                "doc": f"{analysis.question}: {analysis.doc}",
                "actions": [(tasks.analysis, [name, PROFILE, work_hash])],
                "file_dep": [*_input_files(name), SRC / "store.py", *_analysis_code(name)],
                "targets": [_result(name)],
                "uptodate": [config_changed(work_hash)],
                "clean": True,
            }
        )


def task_figure():
    """Figures: each reads its analysis's result (or the files it declares); figures/<profile>/<name>.pdf and .json."""
    for name in FIGURES:
        target = paths.figure_file(PROFILE, name)
        yield _guarded(
            {
                "name": name,
                "doc": ANALYSES[name].figure,
                "actions": [(tasks.figure, [PROFILE, name, _work_hash(name)])],
                "file_dep": [*_figure_input_files(name), *_code(closure([f"landscape.figures.{name}"]))],
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
                "doc": f"{ANALYSES[name].figure} (poster)",
                "actions": [(tasks.figure, [PROFILE, name, _work_hash(name), "poster"])],
                "file_dep": [*_figure_input_files(name), *_code(closure([f"landscape.figures.{name}"]))],
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
