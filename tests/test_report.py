"""The report: missing or non-finite values fail the build, text is escaped, LaTeX errors are shown."""

from __future__ import annotations

import re
import shutil

import jinja2
import pytest

from landscape import report
from landscape.registry import poster_figures
from landscape.report import TEMPLATES, Latex, ReportValueError, environment


def _render(tmp_path, text, **context):
    template = tmp_path / "t.tex.j2"
    template.write_text(text)
    return report.render(template, context, tmp_path / "t.tex").read_text()


def test_missing_value_fails_the_build(tmp_path):
    with pytest.raises(jinja2.UndefinedError, match="accuracy"):
        _render(tmp_path, r"acc ((( results.accuracy | pct )))", results={})
    assert not (tmp_path / "t.tex").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nan"])
def test_non_finite_value_fails(tmp_path, value):
    with pytest.raises(ReportValueError):
        report.check_values({"training": {"summary": {"acc": value}}})
    if isinstance(value, float):
        with pytest.raises(ReportValueError):
            _render(tmp_path, "((( x )))", x=value)


def test_values_are_escaped_and_formatted(tmp_path):
    out = _render(
        tmp_path,
        "((( name ))) ((( x | num ))) ((( p | pct ))) ((( n | int ))) ((( raw )))",
        name="const_a 50% #1",
        x=0.000123456,
        p=0.8123,
        n=98524,
        raw=Latex(r"\emph{ok}"),
    )
    assert out == r"const\_a 50\% \#1 \ensuremath{1.23\times10^{-4}} \ensuremath{81.2\%} 98{,}524 \emph{ok}"


def test_number_formats():
    assert report.fmt_pm_pct({"mean": 0.8206667, "sd": 0.000577}) == r"\ensuremath{82.067\pm0.058\%}"
    assert report.fmt_pm({"mean": 0.6003127, "sd": 0.0013973}) == r"\ensuremath{0.6003\pm0.0014}"
    assert report.fmt_pm({"mean": -0.38, "sd": 0.042}) == r"\ensuremath{-0.380\pm0.042}"
    assert report.fmt_pm({"mean": 0.5, "sd": 0.0}) == r"\ensuremath{\ensuremath{0.500}\pm\ensuremath{0}}"
    assert (
        report.fmt_num(96.5, 0) == r"\ensuremath{96}"
        and report.fmt_num(0.99996) == r"\ensuremath{1.00}"
        and report.fmt_num(-9.9996e-4) == r"\ensuremath{-0.00100}"
    )
    assert report.fmt_num(0.5) == r"\ensuremath{0.500}"
    assert report.fmt_pct(-0.068) == r"\ensuremath{-6.8\%}" and report.fmt_points(0.027) == r"\ensuremath{2.7}"
    assert report.fmt_num(1234.5, 2) == r"\ensuremath{1{,}234}"
    assert report.fmt_seconds(90) == r"90.0\,s" and report.fmt_seconds(600) == r"10.0\,min"
    assert report.fmt_minutes(90) == r"\ensuremath{1.50}" and report.fmt_minutes(7200) == r"\ensuremath{120}"
    assert [report.fmt_rate(v) for v in (0.010000000001, 0.025, 30.0)] == [
        r"\ensuremath{0.01}",
        r"\ensuremath{0.025}",
        r"\ensuremath{30}",
    ]


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk is not installed (scripts/setup.sh installs it)")
def test_latex_error_shows_the_offending_line(tmp_path):
    tex = tmp_path / "bad.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\nfine\n\\undefinedmacro\n\\end{document}\n")
    with pytest.raises(report.LatexError) as err:
        report.compile_pdf(tex, tmp_path / "bad.pdf")
    assert "bad.tex:4" in str(err.value) and "undefinedmacro" in str(err.value)
    assert not (tmp_path / "bad.pdf").exists()


@pytest.mark.skipif(shutil.which("latexmk") is None, reason="latexmk is not installed (scripts/setup.sh installs it)")
@pytest.mark.parametrize("body", ["see Figure~\\ref{fig:nowhere}", "as shown by \\cite{nobody2020}"])
def test_undefined_reference_or_citation_fails_and_leaves_no_pdf(tmp_path, body):
    """latexmk exits 0 on these; the build must not."""
    tex = tmp_path / "refs.tex"
    tex.write_text("\\documentclass{article}\n\\begin{document}\n" + body + "\n\\end{document}\n")
    with pytest.raises(report.LatexError, match="undefined"):
        report.compile_pdf(tex, tmp_path / "out" / "refs.pdf")
    assert not (tmp_path / "out" / "refs.pdf").exists()


def test_a_figure_the_template_names_must_exist(tmp_path, monkeypatch):
    monkeypatch.setattr(report.paths, "figure_file", lambda profile, name: tmp_path / f"{name}.pdf")
    with pytest.raises(FileNotFoundError, match="figure:spectrum"):
        report._figure_entry("smoke", "spectrum", "paper")


def test_arxiv_package_points_at_its_own_figures_and_refuses_what_it_cannot_ship(tmp_path):
    """The graphics path is rewritten, only included figures travel, a missing figure or an absolute path is refused."""
    import tarfile

    from landscape import arxiv

    figures = tmp_path / "figs"
    figures.mkdir()
    for name in ("a.pdf", "b.pdf", "unused.pdf"):
        (figures / name).write_bytes(b"%PDF " + name.encode())
    tex = tmp_path / "doc" / "paper.tex"
    tex.parent.mkdir()
    tex.write_text(
        "\\graphicspath{{../../figs/}}\n\\includegraphics[width=1in]{a.pdf}\\includegraphics{b.pdf}"
        "\\includegraphics{a.pdf}\n"
    )
    tex.with_suffix(".bbl").write_text("\\begin{thebibliography}{1}\\end{thebibliography}")
    names = arxiv.package(tex, figures, tmp_path / "out.tar.gz", epoch=1_700_000_000)
    assert names == ["figures/a.pdf", "figures/b.pdf", "paper.bbl", "paper.tex"]
    with tarfile.open(tmp_path / "out.tar.gz") as tar:
        source = tar.extractfile("paper.tex").read().decode()
        assert all(m.mtime == 1_700_000_000 and m.uid == 0 for m in tar.getmembers())
    assert "\\graphicspath{{figures/}}" in source and "../../figs" not in source
    first = (tmp_path / "out.tar.gz").read_bytes()
    arxiv.package(tex, figures, tmp_path / "out.tar.gz", epoch=1_700_000_000)
    assert (tmp_path / "out.tar.gz").read_bytes() == first
    (figures / "b.pdf").unlink()
    with pytest.raises(arxiv.ArxivError, match="b.pdf"):
        arxiv.package(tex, figures, tmp_path / "other.tar.gz", epoch=0)
    assert not (tmp_path / "other.tar.gz").exists()
    tex.write_text("\\graphicspath{{x/}}\\input{/home/someone/macros.tex}")
    with pytest.raises(arxiv.ArxivError, match="absolute path"):
        arxiv.package(tex, figures, tmp_path / "other.tar.gz", epoch=0)


@pytest.mark.parametrize("document", sorted(TEMPLATES))
def test_templates_parse(document):
    """A syntax error in a template fails here in a second, not at the end of a build."""
    template = TEMPLATES[document]
    environment(template.parent).get_template(template.name)


def test_poster_includes_exactly_the_figures_drawn_for_it():
    """Each figure the poster includes is drawn for A0 by a ``poster_figure`` task (declared ``poster=True``); a name
    missing from that list would be included at paper size, one drawn but unused would waste the build's time."""
    text = TEMPLATES["poster"].read_text()
    included = re.findall(r"\\posterfigure\{([a-z_]+)\.pdf\}", text)
    assert sorted(included) == sorted(poster_figures())
    assert "\\includegraphics" not in text.replace("\\includegraphics[width=\\linewidth]{#1}", "")


@pytest.mark.parametrize(
    ("value", "text"),
    [(-5.5e-06, r"-5.5\times10^{-6}"), (10.0, "10"), (-0.013, "-0.013"), (123456.0, r"1.2\times10^{5}")],
)
def test_figure_numbers_are_typeset_not_printed_in_e_notation(value, text):
    from landscape.figures.style import math_number

    assert math_number(value) == text
