"""The artifacts of one profile's build: where each lives, the hash of what made it, and the inputs analyses name.

An analysis declares its inputs by name (``landscape.registry``): each value is one entry of :data:`INPUTS`,
resolved here against the profile. A run's hash names its configuration and the training code; a Hessian's
adds the Hessian configuration and code; a mini-batch spectrum's adds its own settings. A result's hash
(``_work_hash`` in ``dodo.py``) is built from the hashes of the inputs it reads, so every artifact's hash names
everything upstream of it.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from landscape import paths
from landscape.code_deps import PACKAGE_DIR, action_code
from landscape.config import Config, code_digest, hessian_inputs, run_inputs, section_hash

# The science of training; config.py and store.py are left out on purpose: their effect on a run is captured by
# the configuration hash, and an edit to the parser or the I/O should not retrain.
TRAINING_CODE = tuple(PACKAGE_DIR / f"{m}.py" for m in ("data", "models", "params", "train"))
HESSIAN_CODE = (*TRAINING_CODE, *(PACKAGE_DIR / f"{m}.py" for m in ("hessian", "segments", "tiles", "checkpoint")))

# What an analysis may name as an input, and what each resolves to. Hessians and runs come as dicts keyed by
# ``paths.point_label(run, step)`` or by run name, so that an analysis labels what it reports the way the paper does.
INPUTS = {
    "run:main": "the main run's file",
    "runs:all": "every run's file, by run name",
    "runs:comparable": "the runs with the main run's seed and model (one start, other schedules), by run name",
    "runs:contrasts": "the runs that differ from the main run only in the activation, by run name",
    "hessian:end": "the Hessian at the main run's last iterate",
    "hessians:all": "every Hessian of the profile, by label",
    "hessians:main": "the Hessians at the main run's checkpoints, by label",
    "hessians:main_trained": "the main run's Hessians after initialisation (checkpoints but the first), by label",
    "hessians:contrasts": "the Hessians at the last iterate of the activation contrasts, by label",
    "hessians:comparable_ends": "the Hessians at the last iterate of the comparable runs, by run name",
    "batch_spectrum:last": "the mini-batch spectra at the last batch-spectrum checkpoint",
    "result:<name>": "the results file of analysis <name>",
}


class Study:
    """The artifact paths and hashes of one profile, computed from its configuration (no file is read)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.profile = cfg.name
        self.main = cfg.main_run.name
        self.end = cfg.train.iterations

    @cached_property
    def run_files(self) -> dict[str, Path]:
        """Every run's file, by run name."""
        return {r.name: paths.run_file(self.profile, r.name) for r in self.cfg.runs}

    @cached_property
    def run_hash(self) -> dict[str, str]:
        """Per run, the hash of its configuration and the training code (what its iterates depend on)."""
        code = code_digest(TRAINING_CODE)
        return {r.name: section_hash(*run_inputs(self.cfg, r.name), code) for r in self.cfg.runs}

    @cached_property
    def hessian_files(self) -> dict[tuple[str, int], Path]:
        """Every full-dataset Hessian's file, by (run, step)."""
        return {(r, s): paths.hessian_file(self.profile, r, s) for r, s in self.cfg.hessian_points()}

    @cached_property
    def point_hash(self) -> dict[tuple[str, int], str]:
        """Per Hessian point, the hash of its run, the Hessian configuration, the step and the Hessian code."""
        code, settings = code_digest(HESSIAN_CODE), hessian_inputs(self.cfg)
        return {(r, s): section_hash(self.run_hash[r], settings, s, code) for r, s in self.cfg.hessian_points()}

    def batch_spectrum_hash(self, step: int) -> str:
        """The hash of the mini-batch spectra at ``step``: its Hessian point, the H2 settings and their code."""
        code = code_digest(action_code("spectrum_batch"))
        return section_hash(self.point_hash[(self.main, step)], self.cfg.hessian, code)

    @cached_property
    def batch_spectrum_files(self) -> dict[int, Path]:
        """The mini-batch spectra's file at each batch-spectrum checkpoint."""
        return {s: paths.batch_spectrum_file(self.profile, s) for s in self.cfg.batch_spectrum_steps()}

    def artifact_hash(self, path: Path) -> str:
        """The hash of a run, Hessian or mini-batch spectrum file of this profile (a result's: dodo._work_hash)."""
        for files, hashes in (
            (self.run_files, self.run_hash),
            (self.hessian_files, self.point_hash),
        ):
            for key, file in files.items():
                if file == path:
                    return hashes[key]
        for step, file in self.batch_spectrum_files.items():
            if file == path:
                return self.batch_spectrum_hash(step)
        raise KeyError(f"{path} is not a run, Hessian or mini-batch spectrum of profile {self.profile!r}")

    def _hessians(self, points: list[tuple[str, int]]) -> dict[str, Path]:
        return {paths.point_label(r, s): self.hessian_files[(r, s)] for r, s in points}

    def resolve(self, name: str) -> Path | dict[str, Path]:
        """The file, or the named files, that the input ``name`` (a key of :data:`INPUTS`) stands for."""
        cfg, end = self.cfg, self.end
        if name.startswith("result:"):
            return paths.result_file(self.profile, name.removeprefix("result:"))
        resolved = {
            "run:main": lambda: self.run_files[self.main],
            "runs:all": lambda: dict(self.run_files),
            "runs:comparable": lambda: {r.name: self.run_files[r.name] for r in cfg.comparable_runs()},
            "runs:contrasts": lambda: {r.name: self.run_files[r.name] for r in cfg.activation_contrasts()},
            "hessian:end": lambda: self.hessian_files[(self.main, end)],
            "hessians:all": lambda: self._hessians(cfg.hessian_points()),
            "hessians:main": lambda: self._hessians([(self.main, s) for s in cfg.train.checkpoints]),
            "hessians:main_trained": lambda: self._hessians([(self.main, s) for s in cfg.train.checkpoints[1:]]),
            "hessians:contrasts": lambda: self._hessians([(r.name, end) for r in cfg.activation_contrasts()]),
            "hessians:comparable_ends": lambda: {
                r.name: self.hessian_files[(r.name, end)] for r in cfg.comparable_runs()
            },
            "batch_spectrum:last": lambda: self.batch_spectrum_files[cfg.batch_spectrum_steps()[-1]],
        }
        if name not in resolved:
            raise KeyError(f"unknown input {name!r}; an analysis may name: {', '.join(INPUTS)}")
        return resolved[name]()

    def resolve_all(self, named: dict[str, str]) -> dict[str, Path | dict[str, Path]]:
        """Each keyword's input name (a declaration's ``inputs``) resolved by :meth:`resolve`."""
        return {keyword: self.resolve(name) for keyword, name in named.items()}


def files_of(value: Path | dict) -> list[Path]:
    """The files of one resolved input, or of a dict of them, in a stable order."""
    if isinstance(value, dict):
        return [f for v in value.values() for f in files_of(v)]
    return [value]
