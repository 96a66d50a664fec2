"""Where every artifact of a profile lives (DESIGN §1, §4): one function per kind of file."""

from __future__ import annotations

from pathlib import Path

from landscape.store import REPO_ROOT


def build_dir(profile: str) -> Path:
    """``build/<profile>/``: every generated artifact of the profile."""
    return REPO_ROOT / "build" / profile


def run_file(profile: str, run: str) -> Path:
    """The iterate log of one training run."""
    return build_dir(profile) / "runs" / f"{run}.h5"


def result_file(profile: str, analysis: str, suffix: str = ".h5") -> Path:
    """What one analysis measured."""
    return build_dir(profile) / "results" / f"{analysis}{suffix}"


def figure_file(profile: str, figure: str, medium: str = "paper") -> Path:
    """A figure's PDF: ``figures/<profile>/<figure>.pdf``, the poster's in ``figures/<profile>/poster/``.

    Its provenance sits beside it as .json.
    """
    folder = REPO_ROOT / "figures" / profile
    return (folder if medium == "paper" else folder / medium) / f"{figure}.pdf"


def values_file(profile: str) -> Path:
    """Every number the paper and poster quote, gathered by the report."""
    return build_dir(profile) / "values.json"


def document_dir(profile: str, document: str) -> Path:
    """Where a document (``paper`` or ``poster``) is rendered and compiled."""
    return build_dir(profile) / document


def hessian_file(profile: str, run: str, step: int) -> Path:
    """The full-dataset Hessian (with eigendecomposition) at iterate ``step`` of ``run``."""
    return build_dir(profile) / "hessians" / f"{point_label(run, step)}.h5"


def batch_spectrum_file(profile: str, step: int) -> Path:
    """Mini-batch Hessian spectra at iterate ``step`` of the main run (H2)."""
    return build_dir(profile) / "hessians" / f"batch@{step}.h5"


def point_label(run: str, step: int) -> str:
    """How a Hessian point is named in file names, results and the paper: ``run@step``."""
    return f"{run}@{step}"


def point_of_label(label: str) -> tuple[str, int]:
    """The (run, step) a :func:`point_label` names."""
    run, step = label.rsplit("@", 1)
    return run, int(step)
