"""Each analysis declared once: the declarations are complete, agree with their code, and fail clearly when wrong."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from landscape import config, registry
from landscape.registry import DeclarationError, analyses
from landscape.study import INPUTS, Study, files_of

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", list(analyses()))
def test_run_takes_exactly_the_declared_inputs_as_keywords(name):
    run = importlib.import_module(f"landscape.analyses.{name}").run
    parameters = inspect.signature(run).parameters.values()
    positional = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    keywords = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert positional == ["cfg", "out", "provenance"]
    assert keywords == set(analyses()[name].inputs)


@pytest.mark.parametrize("name", list(analyses()))
def test_every_analysis_has_its_figure_module_and_a_question_of_the_design_table(name):
    if analyses()[name].figure:
        assert callable(importlib.import_module(f"landscape.figures.{name}").make)
    else:  # shown through another analysis: its figure draws the result, or its own result is built on it
        readers = [a.name for a in analyses().values() if f"result:{name}" in {**a.inputs, **a.figure_inputs}.values()]
        assert readers, f"{name} declares no figure and no other analysis or figure reads its result"
    design = (REPO / "docs" / "DESIGN.md").read_text()
    for question in re.split("[–,]", analyses()[name].question):
        assert re.search(rf"\|\s*{question.strip()}\s*\|", design), f"{question} is not a row of docs/DESIGN.md §5"


@pytest.mark.parametrize("profile", ["smoke", "cpu", "gpu", "paper"])
def test_every_input_name_resolves_to_files_of_the_profile(profile):
    study = Study(config.load_profile(profile))
    for name in INPUTS:
        resolved = study.resolve(name.replace("<name>", "training"))
        assert files_of(resolved) or name.endswith("contrasts"), name  # a profile may have no activation contrast
        assert all(isinstance(f, Path) and study.profile in f.parts for f in files_of(resolved))
    for name in analyses():
        for spec in analyses()[name].inputs.values():
            for f in files_of(study.resolve(spec)):
                if not spec.startswith("result:"):
                    assert study.artifact_hash(f)  # every artifact an analysis reads has a hash to name it by


def _declare(folder: Path, body: str) -> Path:
    folder.mkdir(exist_ok=True)
    (folder / "bad.py").write_text(body)
    registry.analyses.cache_clear()
    return folder


@pytest.mark.parametrize(
    "body, message",
    [
        ("def run(): pass\n", "no ANALYSIS"),
        ('ANALYSIS = Analysis(question="A4", doc=DOC, inputs={}, figure="f")\n', "must be a literal"),
        ('ANALYSIS = Analysis(question="A4", doc="d", inputs={"h": "hessian:last"}, figure="f")\n', "hessian:last"),
        ('ANALYSIS = Analysis(question="A13", doc="d", inputs={}, figure="f")\n', "A13"),
        ('ANALYSIS = Analysis(question="A4", doc="d", inputs={}, figure="f", inptus={})\n', "inptus"),
    ],
)
def test_a_malformed_declaration_fails_naming_the_file_and_the_problem(tmp_path, body, message):
    folder = _declare(tmp_path / "analyses", body)
    try:
        with pytest.raises(DeclarationError, match=re.escape(message)) as caught:
            analyses(folder)
        assert "bad.py" in str(caught.value)
    finally:
        registry.analyses.cache_clear()


def test_the_study_order_puts_training_first_and_the_b_questions_last():
    order = [a.question for a in analyses().values()]
    assert order[0].startswith("T") and all(q.startswith("B") for q in order[-5:])
