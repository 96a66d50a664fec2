"""Shared fixtures: small profile files written on the fly, the repository root, and killing a child on an event."""

from __future__ import annotations

import copy
import os
import select
import signal
import subprocess
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def dump_toml(doc: dict[str, Any]) -> str:
    """TOML text of a profile document (tables of scalars, and [runs.<name>] tables)."""
    lines = []
    for section, table in doc.items():
        if section == "runs":
            for name, run in table.items():
                lines.append(f"[runs.{name}]")
                lines += [f"{k} = {_toml_value(v)}" for k, v in run.items()]
        else:
            lines.append(f"[{section}]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def smoke_doc() -> dict[str, Any]:
    """The smoke profile as a mutable dict."""
    return copy.deepcopy(tomllib.loads((REPO / "configs" / "smoke.toml").read_text()))


@pytest.fixture
def write_profile(tmp_path: Path):
    """Write a profile document to ``tmp_path/<name>.toml`` and return its path."""

    def write(doc: dict[str, Any], name: str = "test") -> Path:
        path = tmp_path / f"{name}.toml"
        path.write_text(dump_toml(doc))
        return path

    return write


def kill_on_event(proc: subprocess.Popen, is_event: Callable[[str], bool], what: str, timeout: float = 900.0) -> str:
    """SIGKILL ``proc`` as soon as a line it prints on stdout satisfies ``is_event``; return that line.

    Kill tests wait for an event the child announces (a flushed resume point, a stored block), never
    for a fixed time, so a slow or loaded machine cannot move the kill. The wait is bounded by
    ``timeout`` seconds, generous because a loaded machine can be many times slower than an idle one;
    a child that exits or stays silent fails the test with a message that says so.
    """
    fd, buffer, seen = proc.stdout.fileno(), b"", []
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        if not select.select([fd], [], [], min(remaining, 1.0))[0]:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            proc.wait()
            pytest.fail(f"the child exited with status {proc.returncode} before {what}; it printed {seen[-5:]}")
        *lines, buffer = (buffer + chunk).split(b"\n")
        for line in map(bytes.decode, lines):
            seen.append(line)
            if is_event(line):
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                return line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    pytest.fail(
        f"no {what} within {timeout:.0f} s (the machine is very slow, or the child is stuck); it printed {seen[-5:]}"
    )
