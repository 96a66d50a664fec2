"""The build graph: from training runs to the paper and poster. Task definitions only, no science.

    doit                      paper and poster of the default profile (cpu)
    doit profile=smoke        the same for another profile (smoke, cpu, paper)
    doit list                 every task with a one-line description
    doit profile=smoke figure:training   one figure (and what it needs)

Each profile has its own outputs (build/<profile>/, figures/<profile>/) and its own doit state.
A task reruns when its code files change (file_dep) or when the hash of the configuration
sections it depends on changes (config_changed); nothing else triggers it.
"""

import sys
from pathlib import Path

from doit import get_var
from doit.tools import config_changed

sys.path.insert(0, str(Path(__file__).parent / "src"))
from landscape import config, paths, tasks  # noqa: E402

PROFILE = get_var("profile", "cpu")
try:
    CFG = config.load_profile(PROFILE)
except config.ConfigError as err:
    sys.exit(f"error: {err}")
BUILD = paths.build_dir(PROFILE)
BUILD.mkdir(parents=True, exist_ok=True)

DOIT_CONFIG = {
    "default_tasks": ["paper", "poster"],
    "dep_file": str(BUILD / ".doit.db"),
    "backend": "sqlite3",
    "verbosity": 2,
    "action_string_formatting": "new",
}

SRC = Path("src/landscape")
RUNS = {r.name: paths.run_file(PROFILE, r.name) for r in CFG.runs}
TRAIN_CODE = [SRC / f for f in ("config.py", "data.py", "models.py", "params.py", "store.py", "train.py")]
ALL_RUNS_HASH = config.section_hash(*(config.section_hash(*config.run_inputs(CFG, r)) for r in RUNS))


def task_train():
    """Train a run (T1–T3): every iterate, batch and learning rate into build/<profile>/runs/<run>.h5."""
    for run in CFG.runs:
        yield {
            "name": run.name,
            "doc": f"train run '{run.name}': {run.description or run.schedule}",
            "actions": [(tasks.train, [PROFILE, run.name])],
            "file_dep": TRAIN_CODE,
            "targets": [RUNS[run.name]],
            "uptodate": [config_changed(config.section_hash(*config.run_inputs(CFG, run.name)))],
            "clean": True,
        }


def task_analysis():
    """Analyses of DESIGN §5: each writes build/<profile>/results/<name>.json."""
    yield {
        "name": "training",
        "doc": "final metrics, sizes and wall times of every run (T1–T3)",
        "actions": [(tasks.analysis_training, [PROFILE, ALL_RUNS_HASH])],
        "file_dep": [*RUNS.values(), SRC / "analyses" / "training.py", SRC / "store.py"],
        "targets": [paths.result_file(PROFILE, "training")],
        "clean": True,
    }


def task_figure():
    """Figures: each reads result files only and writes figures/<profile>/<name>.pdf."""
    target = paths.figure_file(PROFILE, "training")
    yield {
        "name": "training",
        "doc": "training loss, test accuracy and learning rate of every run",
        "actions": [(tasks.figure_training, [PROFILE, ALL_RUNS_HASH])],
        "file_dep": [*RUNS.values(), SRC / "figures" / "training.py", SRC / "figures" / "style.py"],
        "targets": [target, target.with_suffix(".json")],
        "clean": True,
    }


def task_values():
    """Gather every number the paper and poster quote into build/<profile>/values.json."""
    return {
        "actions": [(tasks.values, [PROFILE])],
        "file_dep": [paths.result_file(PROFILE, "training"), SRC / "report.py"],
        "targets": [paths.values_file(PROFILE)],
        "uptodate": [config_changed(config.section_hash(CFG))],
        "clean": True,
    }


def _document(name: str, template: Path) -> dict:
    figures = [paths.figure_file(PROFILE, "training")]
    return {
        "actions": [(tasks.document, [PROFILE, name])],
        "file_dep": [paths.values_file(PROFILE), template, Path("paper/refs.bib"), SRC / "report.py",
                     *figures, *(f.with_suffix(".json") for f in figures)],
        "targets": [BUILD / f"{name}.pdf"],
        "clean": True,
    }


def task_paper():
    """Render paper/paper.tex.j2 with the results and compile it to build/<profile>/paper.pdf."""
    return _document("paper", Path("paper/paper.tex.j2"))


def task_poster():
    """Render poster/poster.tex.j2 with the results and compile it to build/<profile>/poster.pdf (A0)."""
    return _document("poster", Path("poster/poster.tex.j2"))
