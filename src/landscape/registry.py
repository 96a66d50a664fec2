"""Every analysis, declared once beside its code and discovered from there by the build, the report and the tests.

An analysis is a module ``landscape/analyses/<name>.py`` holding a declaration::

    ANALYSIS = Analysis(
        question="A4",                      # the research question it answers (docs/DESIGN.md §5)
        doc="eigenvector overlaps between the main run's checkpoints",
        inputs={"hessians": "hessians:main"},  # keyword -> an input of landscape.study.INPUTS
        config=(),                          # configuration sections it reads beyond its inputs' own hashes
        figure="row maxima, top-k subspaces and the top block of the overlaps",
    )

and a ``run(cfg, out, provenance, *, <one keyword per input>)`` that writes ``results/<name>.h5``. The
declaration is read from the source without importing the module (the modules import torch; ``doit list``
should not), so its values are literals. The task's files, hash and code are derived from it: its inputs are
its file dependencies, the hashes of those inputs plus the named configuration sections plus the digest of
the module's import closure are its hash, and its figure is ``landscape/figures/<name>.py``.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from landscape import paths
from landscape.code_deps import PACKAGE_DIR

if TYPE_CHECKING:
    from landscape.study import Study

ANALYSES_DIR = PACKAGE_DIR / "analyses"
QUESTIONS = ("T1", "T2", "T3", "H1", "H2", *(f"A{i}" for i in range(1, 13)), *(f"B{i}" for i in range(1, 6)))


class DeclarationError(ValueError):
    """An analysis module whose declaration is missing or malformed."""


@dataclass(frozen=True)
class Analysis:
    """What one analysis is, reads and shows.

    Attributes:
        question: the research question it answers, ``T1``…``B5`` (several as ``"T1–T3"``).
        doc: one line for ``doit list`` and the README.
        inputs: keyword of ``run`` -> the input it receives (a key of ``landscape.study.INPUTS``).
        config: names of the configuration sections (``train``, ``landscape``, ...) the result depends on
            beyond what its inputs' hashes already name.
        figure: one line on what its figure shows; its figure module is ``landscape/figures/<name>.py``. Empty
            when its result is shown through another analysis, whose figure or result reads it.
        figure_inputs: what the figure reads when that is not the result alone (keyword -> input).
        poster: whether the poster shows the figure too, drawn again at a poster column's size.
        name: the module's name, filled in on discovery.
    """

    question: str
    doc: str
    inputs: dict[str, str]
    figure: str
    config: tuple[str, ...] = ()
    figure_inputs: dict[str, str] = field(default_factory=dict)
    poster: bool = False
    name: str = ""


def _declaration(path: Path) -> Analysis:
    """The ``ANALYSIS = Analysis(...)`` of the module at ``path``, read as literals from its source."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["ANALYSIS"]:
            call = node.value
            if not (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "Analysis" and not call.args):
                raise DeclarationError(f"{path}: ANALYSIS must be Analysis(key=value, ...) with keyword arguments")
            try:
                fields = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
            except ValueError as err:
                raise DeclarationError(f"{path}: every value of ANALYSIS must be a literal ({err})") from None
            if "config" in fields:
                fields["config"] = tuple(fields["config"])
            try:
                return Analysis(**fields, name=path.stem)
            except TypeError as err:
                raise DeclarationError(
                    f"{path}: {err}; the fields are {[f.name for f in dataclasses.fields(Analysis)]}"
                ) from None
    raise DeclarationError(f"{path}: no ANALYSIS = Analysis(...) declaration; see landscape/registry.py")


def _check(analysis: Analysis, path: Path) -> None:
    """Fail on a question outside the study's table or an input name the study cannot resolve."""
    from landscape.study import INPUTS

    for question in analysis.question.replace("–", ",").split(","):
        if question.strip() not in QUESTIONS:
            raise DeclarationError(f"{path}: question {question.strip()!r} is not one of {', '.join(QUESTIONS)}")
    for keyword, name in {**analysis.inputs, **analysis.figure_inputs}.items():
        if name not in INPUTS and not name.startswith("result:"):
            raise DeclarationError(f"{path}: input {keyword}={name!r} is not one of {', '.join(INPUTS)}")


def _study_order(analysis: Analysis) -> tuple[int, int, str]:
    """The order of the study's table: T, H, A, B questions, each by number, then by name."""
    first = analysis.question.split("–")[0].split(",")[0].strip()
    return "THAB".index(first[0]), int(first[1:]), analysis.name


@cache
def analyses(folder: Path = ANALYSES_DIR) -> dict[str, Analysis]:
    """Every analysis declared under ``folder``, by name, in the order of the study's questions (T1…B5)."""
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name != "__init__.py":
            found.append(_declaration(path))
            _check(found[-1], path)
    return {a.name: a for a in sorted(found, key=_study_order)}


def figure_inputs(name: str, study: Study) -> Path | dict[str, Path | dict[str, Path]]:
    """What the figure of analysis ``name`` reads: the result, or the inputs its declaration names instead."""
    declared = analyses()[name].figure_inputs
    if not declared:
        return paths.result_file(study.profile, name)
    return study.resolve_all(declared)


def figures() -> tuple[str, ...]:
    """The analyses that draw a figure (all of them: each figure's module is named after its analysis)."""
    return tuple(name for name, a in analyses().items() if a.figure)


def poster_figures() -> tuple[str, ...]:
    """The figures the poster shows, each drawn again at a poster column's size."""
    return tuple(name for name, a in analyses().items() if a.poster)
