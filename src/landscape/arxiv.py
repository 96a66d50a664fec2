r"""An arXiv source package of a built paper: the rendered ``paper.tex``, its ``.bbl`` and the figures it includes.

The rendered paper finds its figures through ``\graphicspath`` pointing into ``figures/<profile>/``; the
package puts the included figures into its own ``figures/`` folder and points there, so the archive compiles
on its own with ``latexmk`` (or arXiv's TeX Live) and holds nothing else: no logs, no absolute paths, no
unused figures. Entries are sorted and time-stamped with the commit's date, so one build gives one archive.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
from pathlib import Path

from landscape.store import atomic_path

GRAPHICSPATH = re.compile(r"\\graphicspath\{\{[^}]*\}\}")
INCLUDED = re.compile(r"\\includegraphics(?:\[[^\]]*\])?\{([^}]+)\}")
FIGURE_FOLDER = "figures/"


class ArxivError(RuntimeError):
    """The paper cannot be packaged (a missing figure, an absolute path in the source)."""


def included_figures(tex: str) -> list[str]:
    """The figure files ``tex`` includes, in order of first appearance, without repeats."""
    return list(dict.fromkeys(INCLUDED.findall(tex)))


def portable_source(tex: str) -> str:
    """``tex`` with its graphics path pointing into the package's own figure folder."""
    if not GRAPHICSPATH.search(tex):
        raise ArxivError("the paper has no \\graphicspath line to point at the package's figures")
    return GRAPHICSPATH.sub(lambda _: "\\graphicspath{{" + FIGURE_FOLDER + "}}", tex, count=1)


def package(tex_file: Path, figure_dir: Path, out: Path, epoch: int) -> list[str]:
    """Write the package of ``tex_file`` (with the ``.bbl`` beside it) and the figures from ``figure_dir`` to ``out``.

    Returns the archive's member names. Raises :class:`ArxivError` when an included figure is missing or the
    source names a path outside the package.
    """
    source = portable_source(tex_file.read_text(encoding="utf-8"))
    bbl = tex_file.with_suffix(".bbl")
    members = {tex_file.name: source.encode("utf-8")}
    if bbl.is_file():
        members[bbl.name] = bbl.read_bytes()
    for name in included_figures(source):
        figure = figure_dir / name
        if not figure.is_file():
            raise ArxivError(
                f"{tex_file}: includes {name}, which is not in {figure_dir}; rebuild the figures with `doit`"
            )
        members[FIGURE_FOLDER + name] = figure.read_bytes()
    for name in (tex_file.name, bbl.name):
        text = members.get(name, b"").decode("utf-8", errors="replace")
        absolute = re.search(r"(?<![\w:])/(?:home|tmp|work|root|Users|usr)/\S*", text)
        if absolute:
            raise ArxivError(f"{name}: names the absolute path {absolute.group(0)}, which a reader's machine lacks")
    with atomic_path(out) as tmp:
        tmp.write_bytes(_tar_gz(members, epoch))
    return sorted(members)


def _tar_gz(members: dict[str, bytes], epoch: int) -> bytes:
    """A gzipped tar of ``members`` with sorted entries, fixed owner and time: the same bytes for the same input."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode, info.uid, info.gid = len(members[name]), epoch, 0o644, 0, 0
            tar.addfile(info, io.BytesIO(members[name]))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=epoch) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()
