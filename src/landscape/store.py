"""Artifact I/O: atomic writes, provenance attributes, schema checks on read.

Every artifact is written under a temporary name beside its target and renamed into place
only when complete, so a killed writer never leaves a file that looks finished. Every
artifact carries provenance (profile, config hash, git commit and dirty flag, package
versions, creation time, producing task) so each number can be traced to what made it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import math
import os
import platform
import subprocess
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import h5py
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]


class SchemaError(KeyError):
    """An artifact lacks a key the reader needs; the message names the file, the key and the fix."""

    def __str__(self) -> str:
        return str(self.args[0])


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``target`` only if the block succeeds.

    The temporary file lives in the target's folder (rename is atomic within one file
    system). On an exception it is removed; on a kill it stays under its hidden name and
    is removed by the next writer of the same target.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.tmp-*"):
        stale.unlink(missing_ok=True)
    tmp = _tmp_name(target)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if math.isfinite(value) else str(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def write_json(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, atomically (non-finite floats become strings)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_jsonable(payload), indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path, required: Sequence[str] = ()) -> dict[str, Any]:
    """Read a JSON artifact and check that its top-level ``required`` keys exist."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; build it with `doit` (see `doit list` for the task that makes it)")
    payload = json.loads(path.read_text())
    for key in required:
        if key not in payload:
            raise SchemaError(f"{path}: key '{key}' missing; the file predates the code, rebuild it with `doit`")
    return payload


@contextlib.contextmanager
def atomic_h5(target: str | Path, provenance: dict[str, Any] | None = None) -> Iterator[h5py.File]:
    """Open a new HDF5 file for writing that appears at ``target`` only when the block completes."""
    with atomic_path(target) as tmp:
        with h5py.File(tmp, "w") as fh:
            if provenance:
                set_provenance(fh, provenance)
            yield fh


READ_LOG = "LANDSCAPE_READ_LOG"  # a file: every read of an artifact the running task did not declare is appended


def declare_inputs(task: str, files: Sequence[str]) -> None:
    """Announce the running task and its declared input files (a doit action runs this before the task's own)."""
    os.environ["LANDSCAPE_TASK"], os.environ["LANDSCAPE_DECLARED"] = task, os.pathsep.join(files)


def _log_undeclared(path: Path) -> None:
    """With ``LANDSCAPE_READ_LOG`` set, record a read of ``path`` that the running task did not declare."""
    log = os.environ.get(READ_LOG)
    if not log or "LANDSCAPE_TASK" not in os.environ:
        return
    declared = set(os.environ.get("LANDSCAPE_DECLARED", "").split(os.pathsep))
    if str(path.resolve()) not in declared:
        with open(log, "a") as fh:
            fh.write(f"{os.environ['LANDSCAPE_TASK']}\t{path.resolve()}\n")


def read_h5(path: str | Path, required: Sequence[str] = ()) -> h5py.File:
    """Open an HDF5 artifact read-only, checking that every ``required`` dataset or group exists."""
    path = Path(path)
    _log_undeclared(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; build it with `doit` (see `doit list` for the task that makes it)")
    fh = h5py.File(path, "r")
    for key in required:
        if key not in fh:
            fh.close()
            raise SchemaError(f"{path}: dataset '{key}' missing; the file predates the code, rebuild it with `doit`")
    return fh


def write_results(
    target: str | Path, arrays: dict[str, Any], summary: dict[str, Any], provenance: dict[str, Any]
) -> Path:
    """An analysis's results file (HDF5): one dataset per array, the quoted numbers as JSON in ``summary``."""
    with atomic_h5(target, provenance) as fh:
        for key, value in arrays.items():
            fh.create_dataset(key, data=np.asarray(value))
        fh.attrs["summary"] = json.dumps(_jsonable(summary), sort_keys=True)
    return Path(target)


def read_summary(path: str | Path) -> dict[str, Any]:
    """The ``summary`` (numbers the paper quotes) of a results file, with its provenance."""
    with read_h5(path) as fh:
        if "summary" not in fh.attrs:
            raise SchemaError(f"{path}: attribute 'summary' missing; rebuild the analysis with `doit`")
        summary = json.loads(fh.attrs["summary"])
        summary["provenance"] = {
            k: (v.item() if hasattr(v, "item") else v) for k, v in fh.attrs.items() if k != "summary"
        }
    return summary


def set_provenance(obj: h5py.File | h5py.Group, provenance: dict[str, Any]) -> None:
    """Store provenance as attributes (nested values as JSON strings)."""
    for key, value in provenance.items():
        obj.attrs[key] = value if isinstance(value, (str, int, float, bool)) else json.dumps(_jsonable(value))


def git(*args: str) -> str:
    """The stripped output of ``git args`` in the repository holding this package.

    Raises OSError or subprocess.SubprocessError where git, the repository or the answer is missing.
    """
    return subprocess.run(
        ["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


@functools.cache
def git_state() -> tuple[str, bool]:
    """(commit, dirty) of the repository holding this package; ('unknown', True) outside git."""
    try:
        return git("rev-parse", "HEAD"), bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown", True


def package_versions() -> dict[str, str]:
    """Versions of the packages whose behaviour the results depend on."""
    versions = {"python": platform.python_version()}
    for name in ("torch", "numpy", "scipy", "h5py", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def provenance(profile: str, config_hash: str, task: str) -> dict[str, Any]:
    """What made an artifact: profile, config hash, commit, dirty flag, versions, time, task."""
    commit, dirty = git_state()
    return {
        "profile": profile,
        "config_hash": config_hash,
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": package_versions(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "task": task,
    }
