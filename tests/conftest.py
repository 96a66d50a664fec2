"""Shared fixtures: small profile files written on the fly, and the repository root."""

from __future__ import annotations

import copy
import tomllib
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
