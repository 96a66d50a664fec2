"""The paper and poster: gather every quoted number from result files, render Jinja, compile LaTeX.

Templates use LaTeX-safe delimiters (``((( value )))``, ``((* block *))``, ``((= comment =))``)
and ``StrictUndefined``: a number the template names but no result provides fails the
build, and so does a NaN. Every string is LaTeX-escaped on output unless it is a
:class:`Latex` fragment. The context is also written to ``build/<profile>/values.json``.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jinja2

from landscape import findings, paths, seeds
from landscape.config import Config, as_dict
from landscape.registry import analyses, figures
from landscape.store import REPO_ROOT, atomic_path, git, git_state, read_json, read_summary, write_json

TEMPLATES = {"paper": REPO_ROOT / "paper" / "paper.tex.j2", "poster": REPO_ROOT / "poster" / "poster.tex.j2"}


class Latex(str):
    """A string that is already LaTeX and must not be escaped."""


class LatexError(RuntimeError):
    """latexmk failed; the message holds the offending lines of the log and of the source."""


class ReportValueError(ValueError):
    """A value in the report context is missing or not a finite number."""


_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in plain text."""
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _finalize(value: Any) -> str:
    if isinstance(value, Latex):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise ReportValueError(f"a template prints the non-finite number {value}; the result behind it is broken")
    if isinstance(value, (dict, list)):
        raise ReportValueError("a template prints a whole table or list; print one of its values")
    return escape_latex(str(value))


def _finite(value: Any) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ReportValueError(f"non-finite value {value} in the report context")
    return value


def fmt_num(value: Any, digits: int = 3) -> Latex:
    r"""``value`` to ``digits`` significant digits, valid in text and math (``\ensuremath{1.23\times10^{-4}}``)."""
    value = _finite(value)
    if value == 0:
        return Latex(r"\ensuremath{0}")
    # The exponent of the value as rounded: 0.9996 to 3 digits is 1.00, not 1.000.
    exponent = math.floor(math.log10(abs(float(f"{value:.{max(digits - 1, 0)}e}"))))
    if -3 <= exponent < 5:
        decimals = max(digits - 1 - exponent, 0)
        return Latex(r"\ensuremath{" + f"{value:,.{decimals}f}".replace(",", "{,}") + "}")
    mantissa = value / 10**exponent
    return Latex(r"\ensuremath{" + f"{mantissa:.{digits - 1}f}\\times10^{{{exponent}}}" + "}")


def fmt_rate(value: Any) -> Latex:
    r"""A configured value such as a learning rate, as short as it is exact to 3 digits: 0.001, not 0.0010."""
    text = str(fmt_num(value))
    if r"\times" in text or "." not in text:
        return Latex(text)
    body = text.removeprefix(r"\ensuremath{").removesuffix("}")
    return Latex(r"\ensuremath{" + body.rstrip("0").rstrip(".") + "}")


def _pm(mean: float, sd: float, digits: int, unit: str = "") -> Latex:
    """``mean ± sd`` in math mode, by :func:`fmt_pm`'s rule, with ``unit`` after the spread."""
    if sd > 0 and abs(mean) < 1e5:
        decimals = max(1 - math.floor(math.log10(float(f"{sd:.1e}"))), 0)
        if decimals <= 6:
            text = f"{mean:,.{decimals}f}\\pm{sd:,.{decimals}f}".replace(",", "{,}")
            return Latex(r"\ensuremath{" + text + unit + "}")
    return Latex(r"\ensuremath{" + fmt_num(mean, digits) + r"\pm" + fmt_num(sd, digits) + unit + "}")


def fmt_pm(spread: dict[str, Any], digits: int = 3) -> Latex:
    """A spread across seeds, ``{"mean": m, "sd": s}``, as ``m ± s``, s to two significant digits.

    m is given to the same decimal place (0.6003 ± 0.0014, not 0.600 ± 0.00140). Without a spread, or where that
    would need more than six decimals or a number beyond 10^5, each to ``digits`` significant digits.
    """
    return _pm(_finite(spread["mean"]), _finite(spread["sd"]), digits)


def fmt_pm_pct(spread: dict[str, Any]) -> Latex:
    r"""A spread of fractions as percentages, by :func:`fmt_pm`'s rule: 0.8207 ± 0.0006 -> ``82.07 \pm 0.06\%``."""
    return _pm(100 * _finite(spread["mean"]), 100 * _finite(spread["sd"]), 3, r"\%")


def fmt_pct(value: Any, decimals: int = 1) -> Latex:
    r"""A fraction as a percentage: 0.8123 -> ``\ensuremath{81.2\%}`` (math mode, so a negative one gets a minus)."""
    return Latex(r"\ensuremath{" + f"{100 * _finite(value):.{decimals}f}\\%" + "}")


def fmt_points(value: Any, decimals: int = 1) -> Latex:
    r"""A difference of two fractions in percentage points: -0.068 -> ``\ensuremath{-6.8}`` (the text says "points")."""
    return Latex(r"\ensuremath{" + f"{100 * _finite(value):.{decimals}f}" + "}")


def fmt_int(value: Any) -> Latex:
    """An integer with thin-space thousands separators: 98524 -> ``98{,}524``."""
    return Latex(f"{int(_finite(value)):,}".replace(",", "{,}"))


# How the prose names each activation a profile may choose (config.ModelConfig.activation).
ACTIVATION_NAMES = {"relu": "ReLU", "gelu": "GELU", "softplus": "softplus"}

NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve")


def fmt_count_word(value: Any) -> Latex:
    """A small count as a word, as English prose writes it ("three of the four"); 13 and above as digits."""
    count = int(value)
    return Latex(NUMBER_WORDS[count] if 0 <= count < len(NUMBER_WORDS) else f"{count:,}")


def fmt_seconds(value: Any) -> Latex:
    """A duration in s, min or h."""
    seconds = _finite(value)
    if seconds < 120:
        return Latex(f"{seconds:.1f}\\,s")
    if seconds < 7200:
        return Latex(f"{seconds / 60:.1f}\\,min")
    return Latex(f"{seconds / 3600:.1f}\\,h")


def fmt_minutes(value: Any) -> Latex:
    """A duration in minutes, 3 significant digits, no unit: one unit for a whole table column (stated in its head)."""
    return fmt_num(_finite(value) / 60)


def environment(folder: Path) -> jinja2.Environment:
    """Jinja environment with LaTeX-safe delimiters, StrictUndefined, escaping and number filters."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(folder), str(REPO_ROOT / "paper")]),
        block_start_string="((*",
        block_end_string="*))",
        variable_start_string="(((",
        variable_end_string=")))",
        comment_start_string="((=",
        comment_end_string="=))",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        finalize=_finalize,
        autoescape=False,
    )
    env.filters.update(
        num=fmt_num,
        pm=fmt_pm,
        pm_pct=fmt_pm_pct,
        pct=fmt_pct,
        points=fmt_points,
        int=fmt_int,
        seconds=fmt_seconds,
        minutes=fmt_minutes,
        count_word=fmt_count_word,
        activation_name=lambda name: ACTIVATION_NAMES[name],
        rate=fmt_rate,
        latex=Latex,
        code_link=code_link,
        tt=lambda s: Latex(r"\texttt{" + escape_latex(str(s)) + "}"),
    )
    return env


def render(template: Path, context: dict[str, Any], target: Path) -> Path:
    """Render ``template`` with ``context`` into ``target`` (atomically)."""
    text = environment(template.parent).get_template(template.name).render(**context)
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return target


def repository_url() -> str | None:
    """The https address of the ``origin`` remote (GitHub-style), or None when the checkout has no remote."""
    try:
        url = git("remote", "get-url", "origin")
    except (OSError, subprocess.SubprocessError):
        return None
    url = re.sub(r"^git@([^:]+):", r"https://\1/", url)
    url = url.removesuffix(".git")
    return url if url.startswith("https://") else None


def code_link(figure: dict[str, Any]) -> Latex:
    """The script that made a figure, linked to its source at the figure's commit if the repository is public."""
    name = r"\texttt{" + escape_latex(figure["script"]) + "}"
    if figure.get("url"):
        return Latex(r"\href{" + figure["url"].replace("#", r"\#").replace("%", r"\%") + "}{" + name + "}")
    return Latex(name)


def _figure_entry(profile: str, name: str, document: str, repository: str | None = None) -> dict[str, Any]:
    pdf = paths.figure_file(profile, name)
    if not pdf.is_file():
        raise FileNotFoundError(f"{pdf}: figure missing; build it with `doit profile={profile} figure:{name}`")
    prov = read_json(pdf.with_suffix(".json"), ("task", "config_hash", "git_commit", "script"))
    rel = os.path.relpath(pdf, paths.document_dir(profile, document))
    commit = prov["git_commit"]
    url = f"{repository}/blob/{commit}/{prov['script']}" if repository and not prov["git_dirty"] else None
    return {
        "path": rel,
        "task": prov["task"],
        "config_hash": prov["config_hash"],
        "script": prov["script"],
        "commit": commit[:10],
        "dirty": bool(prov["git_dirty"]),
        "created_at": prov["created_at"],
        "url": url,
    }


DATASET_NAMES = {"cifar10": "CIFAR-10", "fashion_mnist": "Fashion-MNIST", "digits": "digits"}


def _paper_profile() -> dict[str, Any]:
    from landscape.config import load_profile

    paper = load_profile("paper")
    return {
        "dataset": DATASET_NAMES[paper.data.name],
        "image_size": paper.data.image_size,
        "n_train": paper.data.n_train,
        "iterations": paper.train.iterations,
    }


def collect(cfg: Config) -> dict[str, Any]:
    """Every value the templates may quote, read from result files of the profile."""
    commit, dirty = git_state()
    summaries = {name: read_summary(paths.result_file(cfg.name, name)) for name in analyses()}
    decided = findings.evaluate(summaries)
    return {
        **summaries,
        "findings": decided,
        # The study's conventions, quoted by the prose instead of typed into it.
        "rule": {"level": seeds.LEVEL, "factor": findings.FACTOR},
        "interventions": list(findings.INTERVENTIONS),
        "helped": findings.helped(decided),
        "title": "The Quadratic Approximation to NN Loss Landscapes: explorations and implications",
        "profile": {"name": cfg.name, **as_dict(cfg.profile)},
        "data": as_dict(cfg.data),
        "model": as_dict(cfg.model),
        "train": as_dict(cfg.train),
        "runs": [{"name": r.name, **as_dict(r)} for r in cfg.runs],
        "runs_by_name": {r.name: {**as_dict(r), "activation": r.activation or cfg.model.activation} for r in cfg.runs},
        "main_run": cfg.main_run.name,
        "hessian": as_dict(cfg.hessian),
        "landscape": as_dict(cfg.landscape),
        "experiments": as_dict(cfg.experiments),
        # The scale the study is about, as the `paper` profile defines it, for sentences about what it would settle.
        "paper_profile": _paper_profile(),
        "build": {
            "commit": commit[:10],
            "dirty": dirty,
            "versions": json.loads(summaries["training"]["provenance"]["versions"]),
        },
    }


def check_values(value: Any, where: str = "context") -> None:
    """Fail on any NaN or infinity anywhere in the context."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_values(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_values(item, f"{where}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ReportValueError(f"{where} = {value}: a result is not a finite number; rebuild the task that wrote it")
    elif isinstance(value, str) and value in ("nan", "inf", "-inf"):
        raise ReportValueError(f"{where} = {value}: a result is not a finite number; rebuild the task that wrote it")


def write_values(cfg: Config, target: Path) -> Path:
    """Gather the context, check it, and write it to ``values.json``."""
    context = collect(cfg)
    check_values(context)
    write_json(target, context)
    return target


def _log_errors(log: Path, tex: Path, limit: int = 20) -> str:
    """The error lines of a LaTeX log with the source lines they point to."""
    if not log.is_file():
        return "(no log written)"
    lines = log.read_text(errors="replace").splitlines()
    source = tex.read_text().splitlines() if tex.is_file() else []
    found = []
    for i, line in enumerate(lines):
        match = re.match(r"^(?:\./)?([^:\s]+\.tex):(\d+): (.*)$", line)
        if match or line.startswith("!"):
            context = " ".join(lines[i + 1 : i + 3]).strip()
            entry = f"  {line}  {context}"
            if match and match.group(1) == tex.name and 0 < int(match.group(2)) <= len(source):
                entry += f"\n    {tex.name}:{match.group(2)}: {source[int(match.group(2)) - 1].strip()}"
            found.append(entry)
    return "\n".join(found[:limit]) or "\n".join(lines[-limit:])


UNRESOLVED = re.compile(
    r"(Reference|Citation) `([^']*)' on page \d+ undefined|There were undefined (references|citations)"
)


def unresolved_references(log: Path) -> list[str]:
    """The references and citations a finished LaTeX log reports as undefined (latexmk exits 0 on these)."""
    if not log.is_file():
        return []
    text = log.read_text(errors="replace").replace("\n", "")
    return sorted({m.group(0) for m in UNRESOLVED.finditer(text)})


def source_date_epoch() -> str:
    """The commit's date as SOURCE_DATE_EPOCH, so two builds of a commit give the same PDF bytes."""
    try:
        return git("log", "-1", "--format=%ct") or "0"
    except (OSError, subprocess.SubprocessError):
        return "0"


def compile_pdf(tex: Path, target: Path) -> Path:
    """Compile ``tex`` with latexmk (always from scratch) and copy the PDF to ``target``.

    Raises:
        LatexError: with the failing lines of the log, when latexmk exits non-zero.
    """
    if shutil.which("latexmk") is None:
        raise LatexError(
            "latexmk not found: run `sudo scripts/setup.sh` (Debian) or install a TeX distribution with latexmk"
        )
    env = {**os.environ, "SOURCE_DATE_EPOCH": source_date_epoch(), "FORCE_SOURCE_DATE": "1"}
    cmd = ["latexmk", "-pdf", "-g", "-interaction=nonstopmode", "-halt-on-error", "-file-line-error", tex.name]
    proc = subprocess.run(cmd, cwd=tex.parent, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        errors = _log_errors(tex.with_suffix(".log"), tex)
        raise LatexError(f"latexmk failed on {tex} (exit {proc.returncode}):\n{errors}")
    unresolved = unresolved_references(tex.with_suffix(".log"))
    if unresolved:
        raise LatexError(
            f"{tex}: undefined references or citations (a \\label or a refs.bib entry is missing):\n  "
            + "\n  ".join(unresolved)
        )
    with atomic_path(target) as tmp:
        shutil.copyfile(tex.with_suffix(".pdf"), tmp)
    return target


def build_document(cfg: Config, document: str, target: Path) -> Path:
    """Render ``paper`` or ``poster`` from ``values.json`` and the figures, then compile it to ``target``."""
    context = read_json(paths.values_file(cfg.name))
    folder = paths.document_dir(cfg.name, document)
    repository = repository_url()
    context["figures"] = {name: _figure_entry(cfg.name, name, document, repository) for name in figures()}
    medium = "poster" if document == "poster" else "paper"  # the poster's own drawings of its figures
    context["figure_dir"] = os.path.relpath(paths.figure_file(cfg.name, "x", medium).parent, folder) + "/"
    tex = render(TEMPLATES[document], context, folder / f"{document}.tex")
    bib = REPO_ROOT / "paper" / "refs.bib"
    if bib.is_file():
        shutil.copyfile(bib, folder / "refs.bib")
    return compile_pdf(tex, target)
