"""Whether this machine can hold a profile: its disk and memory against the dry run's sizes, checked before a build.

Torch-free on purpose: ``doit`` checks every build with it, and an up-to-date build must stay quick. The
sizes (``Footprint``) need the model's parameter count, which ``plan.footprint`` gets by building the
model; the answer is kept beside the build, keyed by the configuration and the model's code, so only
the first build of a configuration imports torch for it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from landscape.config import Config, ConfigError, code_digest, section_hash
from landscape.store import REPO_ROOT, write_json

STORAGE_BYTES = {"float64": 8, "float32": 4}
RESOURCE_OVERRIDE = "LANDSCAPE_IGNORE_RESOURCES"  # =1 builds a profile that this machine looks too small for
FOOTPRINT_CACHE = ".footprint.json"
# The code that decides a footprint: the model (its parameter count) and the size formulas.
FOOTPRINT_CODE = [REPO_ROOT / "src/landscape" / f for f in ("models.py", "plan.py", "resources.py")]


@dataclass
class Footprint:
    r"""The bytes a profile needs on disk and in memory, from its configuration alone.

    With P parameters and s bytes per stored element, finishing a Hessian holds the matrix and its
    eigenvectors, $2 P^2 s$ bytes, and the disk holds every run, every Hessian and one partial file.
    """

    parameters: int
    hessians: int
    storage: str
    run_bytes: int
    hessian_bytes: int

    @property
    def disk_bytes(self) -> int:
        """Runs, Hessians and one partial file at once."""
        return self.run_bytes + self.hessian_bytes + self.partial_bytes

    @property
    def partial_bytes(self) -> int:
        """The partial file of the Hessian being assembled (removed when it is finished)."""
        return self.parameters**2 * STORAGE_BYTES[self.storage]

    @property
    def memory_bytes(self) -> int:
        """Host memory, and device memory before the solver's workspace, while a Hessian is finished."""
        return 2 * self.parameters**2 * STORAGE_BYTES[self.storage]


def format_bytes(n: float) -> str:
    """``n`` bytes in decimal units, e.g. ``77.7 GB``."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n / 1e3:,.1f} kB"


def shortfalls(need: Footprint, built_bytes: int, free_disk_bytes: int, memory_bytes: int) -> list[str]:
    """What a machine lacks for a profile: disk beyond what is already built, and memory to finish a Hessian."""
    missing = []
    if need.disk_bytes - built_bytes > free_disk_bytes:
        built = format_bytes(built_bytes) if built_bytes else "nothing"
        missing.append(
            f"{format_bytes(need.disk_bytes)} of disk (runs {format_bytes(need.run_bytes)}, "
            f"Hessians {format_bytes(need.hessian_bytes)}, one partial file {format_bytes(need.partial_bytes)}; "
            f"{built} built yet) but {format_bytes(free_disk_bytes)} is free"
        )
    if need.memory_bytes > memory_bytes:
        missing.append(
            f"{format_bytes(need.memory_bytes)} of memory to finish a Hessian (2 x P^2 x "
            f"{STORAGE_BYTES[need.storage]} bytes at P = {need.parameters:,}) but this machine has "
            f"{format_bytes(memory_bytes)}"
        )
    return missing


def cached_footprint(cfg: Config, folder: Path) -> Footprint:
    """The profile's footprint, computed once per configuration and model code and kept in ``folder``."""
    key = section_hash(cfg, code_digest(FOOTPRINT_CODE))
    cache = folder / FOOTPRINT_CACHE
    if cache.is_file():
        try:
            stored = json.loads(cache.read_text())
            if stored.get("key") == key:
                return Footprint(**stored["footprint"])
        except (ValueError, TypeError, KeyError):
            pass  # a damaged cache is recomputed below
    from landscape.plan import footprint  # imports torch

    sizes = footprint(cfg)
    if folder.is_dir():
        write_json(cache, {"key": key, "footprint": asdict(sizes)})
    return sizes


def check_resources(cfg: Config, folder: Path) -> None:
    """Refuse, before anything starts, a profile whose dry run exceeds this machine's free disk or its memory.

    Raises:
        ConfigError: naming what is short and how to override (``LANDSCAPE_IGNORE_RESOURCES=1``).
    """
    if os.environ.get(RESOURCE_OVERRIDE) == "1":
        return
    built = sum(f.stat().st_size for f in folder.rglob("*.h5*") if f.is_file()) if folder.is_dir() else 0
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    missing = shortfalls(cached_footprint(cfg, folder), built, shutil.disk_usage(existing).free, memory)
    if missing:
        raise ConfigError(
            cfg.path,
            "model",
            f"the profile needs {'; and '.join(missing)} (`python -m landscape plan {cfg.name}` gives the whole plan); "
            f"allowed: a profile this machine can hold, or {RESOURCE_OVERRIDE}=1 to build it anyway",
        )
