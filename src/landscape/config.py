"""Profiles: frozen dataclasses loaded from TOML, validated at load time, hashed per section.

A profile is one file in ``configs/`` (``smoke``, ``cpu``, ``paper``). Every key is
declared here with its type and allowed values; an unknown key, a wrong type or an
impossible value fails at load time with a :class:`ConfigError` that names the file,
the key and what is allowed. Each section has a stable hash (:func:`section_hash`)
so that the build graph reruns exactly the tasks whose inputs changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs"

DATASETS = ("digits", "fashion_mnist", "cifar10")
# Examples available per dataset: (official train pool, official test pool).
# digits has no official split, so its whole set is one pool.
DATASET_POOLS = {"digits": (1797, 0), "fashion_mnist": (60000, 10000), "cifar10": (50000, 10000)}
DATASET_IMAGE_SIZE = {"digits": 8, "fashion_mnist": 28, "cifar10": 32}  # side in pixels; data.py only downsamples
# Work a profile may ask for before it is refused as a typing slip: the batch order alone is iterations x batch
# int32 entries held in memory (the paper profile asks for 48,800 x 128 = 6.2e6).
MAX_BATCH_ORDER = 10**9
SCHEDULES = ("step", "constant", "anneal")
ACTIVATIONS = ("relu", "gelu", "softplus")  # the keys of models.ACTIVATIONS (config must not import torch)


class ConfigError(ValueError):
    """A profile file is invalid; the message names the file, the key and the fix."""

    def __init__(self, path: Path | str, key: str, problem: str) -> None:
        self.path, self.key, self.problem = str(path), key, problem
        super().__init__(f"{path}: key '{key}': {problem}")


@dataclass(frozen=True)
class ProfileConfig:
    """Where and how the profile runs."""

    description: str
    device: str = "cpu"  # cpu | cuda | auto (cuda when available)
    threads: int = 2  # torch intra-op threads on the CPU; fixed so results are bitwise stable
    # doit worker processes: independent tasks (trainings, Hessians, analyses) run side by side. Results do not
    # depend on it (each task is one process with `threads` threads); dodo.py caps it at cores // threads.
    processes: int = 1
    engine: str = "local"  # local | dask: where Hessian column blocks run (src/landscape/engine.py)
    scheduler: str = ""  # dask: address of a running scheduler (e.g. a dask-jobqueue cluster); empty: a local cluster
    workers: int = 2  # dask without a scheduler address: worker processes of the local cluster


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, which split sizes, and how images are resized."""

    name: str
    n_train: int
    n_val: int
    n_test: int
    image_size: int
    root: str = ""  # folder holding the dataset files; "" means the dataset's default place
    download: bool = False  # CIFAR-10 / Fashion-MNIST only: let torchvision download into root
    # CIFAR-10 / Fashion-MNIST: check every file against the published MD5 when loading; false only for a folder of
    # your own in the same format (the tests' tiny CIFAR-format sample).
    verify: bool = True
    val_source: str = "train"  # take validation examples from the official "train" or "test" pool
    split_seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    """A ResNet sized by its width to a target parameter count."""

    target_params: int
    stages: int = 2
    blocks_per_stage: int = 1
    norm: str = "group"  # group (per-example GroupNorm) | none
    groups: int = 2  # at most this many groups per GroupNorm layer
    init_seed: int = 0
    activation: str = "relu"  # relu | gelu | softplus (smooth: no kinks in the loss)


@dataclass(frozen=True)
class RunConfig:
    """One training run: its learning-rate schedule (DESIGN rows T1, T2, T3)."""

    name: str
    schedule: str  # step | constant | anneal
    lr: float
    milestones: tuple[float, ...] = ()  # step: fractions of the run at which lr *= gamma
    gamma: float = 0.1  # step: factor per milestone
    final_lr: float = 0.0  # anneal: learning rate at the last iteration
    hold: float = 0.0  # anneal: fraction of the run at constant lr before the geometric decay
    description: str = ""
    # Training seed: added to model.init_seed and train.batch_seed. Runs with seed 0 share one initialisation
    # and one batch order (the controlled comparisons of T2, T3); a run with the main run's schedule and
    # another seed is a replica of it, for intervals over initialisations and batch orders.
    seed: int = 0
    activation: str = ""  # empty: the profile's model.activation; else this run's (e.g. a smooth contrast run)
    # Replicas: the loader adds runs <name>_seed<seed+k>, k = 1 ... replicas, with this schedule and model and
    # training seed seed+k, right after this run. Replicas of different schedules with one seed share its
    # initialisation and batch order, so schedules are compared paired by seed.
    replicas: int = 0

    def schedule_key(self) -> tuple[object, ...]:
        """Everything that defines the schedule (not the name, description or seed)."""
        return (self.schedule, self.lr, self.milestones, self.gamma, self.final_lr, self.hold)


@dataclass(frozen=True)
class TrainConfig:
    """What every run shares: optimiser, batches, evaluation, checkpoints."""

    iterations: int
    batch_size: int
    momentum: float
    weight_decay: float
    eval_every: int
    checkpoints: tuple[int, ...]
    batch_seed: int = 0
    flush_every: int = 100  # iterates kept in memory before they are written and a resume point saved
    eval_batch_size: int = 1000


@dataclass(frozen=True)
class HessianConfig:
    """How dense Hessians are assembled, and which mini-batch spectra are taken (H1, H2)."""

    dtype: str = "float64"  # float64, or float32 products accumulated in float64
    storage: str = "float64"  # precision of the stored matrix and its eigh: float32 halves memory (paper: P^2 = 10^10)
    block_size: int = 32  # Hessian columns per batched pass over the data
    chunk_size: int = 125  # examples per vectorised chunk of that pass (memory and cache, not results)
    batch_sizes: tuple[int, ...] = (32, 128)  # H2: mini-batch sizes whose Hessian spectra are taken
    batches_per_size: int = 8  # H2: independent batches per size
    batch_steps: tuple[int, ...] = ()  # H2: main-run checkpoints at which they are taken (default: all)
    batch_seed: int = 0


@dataclass(frozen=True)
class LandscapeConfig:
    """Line searches through the landscape (A1, A2, A7, A8, A9)."""

    directions: int = 24  # eigendirections searched, spread over the spectrum (top, bulk, near zero, negative)
    points: int = 41  # grid points per line (odd, symmetric around 0)
    loss_increase: float = 0.5  # each line spans the t at which the quadratic model rises by this much
    batch_sizes: tuple[int, ...] = (32, 128)  # A2: mini-batch sizes of the noisy line searches
    batches: int = 16  # A2: batches per size
    random_directions: int = 6  # A7: random directions per kind (isotropic, and within each eigenband)
    fine_points: int = 2001  # A9: points per dense line
    fine_decades: int = 6  # A9: ranges shrinking by factors of ten
    fine_directions: int = 3  # A9: directions searched densely (top eigenvector, a bulk one, a random one)
    points_per_pass: int = 64  # grid points evaluated together (memory, not results)
    seed: int = 0


@dataclass(frozen=True)
class ExperimentsConfig:
    """Which directions overfit, Bayesian rates, the end-game predictions, the mysteries (A11, A12, B2, B4, B5)."""

    seeds: int = 3  # repetitions of every randomised experiment; results report their mean and spread
    noise_scales: int = 9  # A11: noise levels σ per band, log-spaced over three decades
    noise_max_increase: float = 1.0  # A11: the largest σ raises the all-band quadratic training loss by this much
    noise_draws: int = 4  # A11: noise draws per level and seed
    tune_bands: int = 6  # A11: log-spaced eigenvalue bands whose noise levels are tuned on the validation set
    tune_steps: int = 100  # A11: Adam steps of that tuning
    tune_draws: int = 2  # A11: noise draws per step (reparameterised gradient of the expected validation loss)
    tune_lr: float = 0.1  # A11: Adam's rate on log σ
    thresholds: int = 15  # A12: eigenvalue thresholds, log-spaced over the positive spectrum
    continue_iterations: int = 200  # B2, B4: iterations of continued training (Bayesian rates and plain SGD alike)
    lr_scales: tuple[float, ...] = (0.25, 1.0, 4.0)  # B2: global scales of the Bayesian rates
    hmc_samples: int = 20  # B4: HMC states kept per chain (one chain per seed)
    hmc_burn_in: int = 5  # B4: transitions discarded first
    hmc_steps: int = 10  # B4: leapfrog steps per transition
    hmc_step_fraction: float = 0.5  # B4: step size as a fraction of the leapfrog stability bound 2/sqrt(N λ_max)
    warmup_iterations: int = 300  # B5: length of the runs with and without warm-up
    warmup_length: int = 100  # B5: iterations of the linear warm-up
    warmup_probes: int = 12  # B5: iterates at which λ_max is measured (Lanczos on the full objective)


@dataclass(frozen=True)
class Config:
    """A whole profile."""

    name: str
    path: str
    profile: ProfileConfig
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    hessian: HessianConfig
    landscape: LandscapeConfig
    experiments: ExperimentsConfig
    runs: tuple[RunConfig, ...] = field(default_factory=tuple)

    def run(self, name: str) -> RunConfig:
        """The run called ``name``."""
        for run in self.runs:
            if run.name == name:
                return run
        raise ConfigError(self.path, "runs", f"no run '{name}'; runs: {', '.join(r.name for r in self.runs)}")

    @property
    def main_run(self) -> RunConfig:
        """The first run listed is the study's main run (T1)."""
        return self.runs[0]

    def run_model(self, name: str) -> ModelConfig:
        """The model a run trains: the profile's, with the run's activation and its seed added to the init seed."""
        run = self.run(name)
        return dataclasses.replace(
            self.model, init_seed=self.model.init_seed + run.seed, activation=self._activation(run)
        )

    def _activation(self, run: RunConfig) -> str:
        return run.activation or self.model.activation

    def _same_model(self, run: RunConfig, other: RunConfig | None = None) -> bool:
        """Whether ``run`` trains the same model as ``other`` (default: the main run), seeds aside."""
        return self._activation(run) == self._activation(other or self.main_run)

    def replicas_of(self, name: str) -> list[RunConfig]:
        """The run ``name`` and every run with its schedule and model but another seed, ``name`` first."""
        base = self.run(name)
        return [base] + [
            r
            for r in self.runs
            if r.schedule_key() == base.schedule_key() and r.seed != base.seed and self._same_model(r, base)
        ]

    def main_replicas(self) -> list[RunConfig]:
        """The main run and every run with its schedule and model but another seed, main run first."""
        return self.replicas_of(self.main_run.name)

    def replica_of(self) -> dict[str, str]:
        """Each replica's name -> the comparable run (the main run's seed) whose schedule and model it repeats."""
        return {r.name: base.name for base in self.comparable_runs() for r in self.replicas_of(base.name)[1:]}

    def comparable_runs(self) -> list[RunConfig]:
        """The runs that share the main run's seed and model: one start, one batch order, different schedules."""
        return [r for r in self.runs if r.seed == self.main_run.seed and self._same_model(r)]

    def activation_contrasts(self) -> list[RunConfig]:
        """Runs with the main run's schedule and seed but another activation: the same study on a smoother loss."""
        main = self.main_run
        return [
            r
            for r in self.runs[1:]
            if r.schedule_key() == main.schedule_key() and r.seed == main.seed and not self._same_model(r)
        ]

    def hessian_points(self) -> list[tuple[str, int]]:
        """(run, step) of every full-dataset Hessian: the main run's checkpoints, the end of each other run.

        Replicas of the other schedules are left out: their final metrics give T2 and T3 intervals over seeds,
        and no analysis reads their spectra (the main run's replicas' end points give the spectrum's).
        """
        points = [(self.main_run.name, step) for step in self.train.checkpoints]
        main, replicas = self.main_run, self.main_replicas()
        spectra = [r for r in self.runs[1:] if r.seed == main.seed or r in replicas]
        return points + [(run.name, self.train.iterations) for run in spectra]

    def batch_spectrum_steps(self) -> tuple[int, ...]:
        """Main-run checkpoints at which mini-batch Hessian spectra are taken (H2)."""
        return self.hessian.batch_steps or self.train.checkpoints


def _type_name(tp: object) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(value: object, tp: object, where: str, path: Path) -> object:
    """Check ``value`` against the annotation ``tp``; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin is tuple:
        (inner, _ellipsis) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(path, where, f"expected a list of {_type_name(inner)}, got {value!r}")
        return tuple(_coerce(v, inner, f"{where}[{i}]", path) for i, v in enumerate(value))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is int and isinstance(value, bool) or not isinstance(value, tp):  # type: ignore[arg-type]
        raise ConfigError(path, where, f"expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    if tp is float and not math.isfinite(value):
        raise ConfigError(path, where, f"got {value!r}; every number in a profile must be finite")
    if tp is int and where.rsplit(".", 1)[-1].endswith("seed") and value < 0:
        raise ConfigError(path, where, f"got {value}; a seed is an integer >= 0")
    return value


def _build(cls: type, table: object, section: str, path: Path, **extra: object) -> object:
    """Make dataclass ``cls`` from a TOML table, rejecting unknown and missing keys."""
    if not isinstance(table, dict):
        raise ConfigError(path, section, f"expected a table [{section}], got {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    allowed = [n for n in fields if n not in extra]
    for key in table:
        if key not in allowed:
            raise ConfigError(path, f"{section}.{key}", f"unknown key; allowed keys: {', '.join(allowed)}")
    values = dict(extra)
    for name in allowed:
        f = fields[name]
        if name in table:
            values[name] = _coerce(table[name], hints[name], f"{section}.{name}", path)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(path, f"{section}.{name}", f"missing; add `{name} = ...` to [{section}]")
    return cls(**values)


def _require(ok: bool, path: Path, key: str, problem: str) -> None:
    if not ok:
        raise ConfigError(path, key, problem)


def _one_of(value: str, options: tuple[str, ...], path: Path, key: str) -> None:
    _require(value in options, path, key, f"got {value!r}; allowed values: {', '.join(options)}")


def _validate(cfg: Config, path: Path) -> None:
    """Checks that span keys: impossible values fail here, not hours into a run."""
    p, d, m, t, h = cfg.profile, cfg.data, cfg.model, cfg.train, cfg.hessian
    _one_of(p.device, ("cpu", "cuda", "auto"), path, "profile.device")
    _require(p.threads >= 1, path, "profile.threads", f"got {p.threads}; must be >= 1")
    _require(p.processes >= 1, path, "profile.processes", f"got {p.processes}; must be >= 1")
    _one_of(p.engine, ("local", "dask"), path, "profile.engine")
    _require(p.workers >= 1, path, "profile.workers", f"got {p.workers}; must be >= 1")

    _one_of(d.name, DATASETS, path, "data.name")
    _one_of(d.val_source, ("train", "test"), path, "data.val_source")
    for key in ("n_train", "n_val", "n_test", "image_size"):
        _require(getattr(d, key) >= 1, path, f"data.{key}", f"got {getattr(d, key)}; must be >= 1")
    native = DATASET_IMAGE_SIZE[d.name]
    _require(
        d.image_size <= native,
        path,
        "data.image_size",
        f"got {d.image_size}; {d.name} images are {native} x {native} and are only downsampled: allowed 1 ... {native}",
    )
    train_pool, test_pool = DATASET_POOLS[d.name]
    if test_pool == 0:
        need, have = d.n_train + d.n_val + d.n_test, train_pool
        key = "data.n_train" if d.n_train > have else ("data.n_val" if d.n_train + d.n_val > have else "data.n_test")
        _require(need <= have, path, key, f"n_train + n_val + n_test = {need} but {d.name} has {have} examples")
    else:
        from_train = d.n_train + (d.n_val if d.val_source == "train" else 0)
        from_test = d.n_test + (d.n_val if d.val_source == "test" else 0)
        _require(
            from_train <= train_pool,
            path,
            "data.n_val" if d.val_source == "train" else "data.n_train",
            f"{from_train} examples asked of {d.name}'s training pool of {train_pool}",
        )
        _require(
            from_test <= test_pool,
            path,
            "data.n_val" if d.val_source == "test" else "data.n_test",
            f"{from_test} examples asked of {d.name}'s test pool of {test_pool}",
        )

    _one_of(m.norm, ("group", "none"), path, "model.norm")
    _one_of(m.activation, ACTIVATIONS, path, "model.activation")
    for key in ("target_params", "stages", "blocks_per_stage", "groups"):
        _require(getattr(m, key) >= 1, path, f"model.{key}", f"got {getattr(m, key)}; must be >= 1")

    _require(t.iterations >= 1, path, "train.iterations", f"got {t.iterations}; must be >= 1")
    _require(
        1 <= t.batch_size <= d.n_train,
        path,
        "train.batch_size",
        f"got {t.batch_size}; must be between 1 and data.n_train = {d.n_train}",
    )
    _require(
        t.iterations * t.batch_size <= MAX_BATCH_ORDER,
        path,
        "train.iterations",
        f"got {t.iterations} iterations of {t.batch_size} examples; the batch order would hold "
        f"{t.iterations * t.batch_size:.2e} entries, more than the {MAX_BATCH_ORDER:.0e} a profile may ask for",
    )
    _require(0.0 <= t.momentum < 1.0, path, "train.momentum", f"got {t.momentum}; allowed: 0 <= momentum < 1")
    _require(t.weight_decay >= 0.0, path, "train.weight_decay", f"got {t.weight_decay}; must be >= 0")
    for key in ("eval_every", "flush_every", "eval_batch_size"):
        _require(getattr(t, key) >= 1, path, f"train.{key}", f"got {getattr(t, key)}; must be >= 1")
    _require(len(t.checkpoints) >= 1, path, "train.checkpoints", "give at least one iteration")
    for c in t.checkpoints:
        _require(
            0 <= c <= t.iterations,
            path,
            "train.checkpoints",
            f"checkpoint {c} is outside the run; allowed: 0 ... train.iterations = {t.iterations}",
        )
    _require(
        list(t.checkpoints) == sorted(set(t.checkpoints)),
        path,
        "train.checkpoints",
        f"got {list(t.checkpoints)}; list distinct iterations in increasing order",
    )
    _require(
        t.checkpoints[-1] == t.iterations,
        path,
        "train.checkpoints",
        f"got {list(t.checkpoints)}; the last checkpoint must be the end of the run, train.iterations = {t.iterations} "
        "(the analyses of the end point need its Hessian)",
    )

    _one_of(h.dtype, ("float64", "float32"), path, "hessian.dtype")
    _one_of(h.storage, ("float64", "float32"), path, "hessian.storage")
    for key in ("block_size", "chunk_size", "batches_per_size"):
        _require(getattr(h, key) >= 1, path, f"hessian.{key}", f"got {getattr(h, key)}; must be >= 1")
    _require(len(h.batch_sizes) >= 1, path, "hessian.batch_sizes", "give at least one batch size, e.g. [32, 128]")
    for size in h.batch_sizes:
        _require(
            1 <= size <= d.n_train,
            path,
            "hessian.batch_sizes",
            f"batch size {size} is outside 1 ... data.n_train = {d.n_train}",
        )
    for step in h.batch_steps:
        _require(
            step in t.checkpoints,
            path,
            "hessian.batch_steps",
            f"{step} is not a checkpoint; allowed: the values of train.checkpoints {list(t.checkpoints)}",
        )
    ls = cfg.landscape
    for key in ("directions", "batches", "random_directions", "fine_directions", "fine_decades", "points_per_pass"):
        _require(getattr(ls, key) >= 1, path, f"landscape.{key}", f"got {getattr(ls, key)}; must be >= 1")
    for key in ("points", "fine_points"):
        _require(
            getattr(ls, key) >= 5 and getattr(ls, key) % 2 == 1,
            path,
            f"landscape.{key}",
            f"got {getattr(ls, key)}; use an odd number >= 5 (a symmetric grid through t = 0)",
        )
    _require(ls.loss_increase > 0, path, "landscape.loss_increase", f"got {ls.loss_increase}; must be > 0")
    _require(
        ls.directions <= m.target_params // 4,
        path,
        "landscape.directions",
        f"got {ls.directions}; at most a quarter of model.target_params = {m.target_params} (directions are "
        "spread over four bands of the spectrum)",
    )
    _require(len(ls.batch_sizes) >= 1, path, "landscape.batch_sizes", "give at least one batch size, e.g. [32, 128]")
    for size in ls.batch_sizes:
        _require(
            1 <= size <= d.n_train,
            path,
            "landscape.batch_sizes",
            f"batch size {size} is outside 1 ... data.n_train = {d.n_train}",
        )

    ex = cfg.experiments
    for key in (
        "seeds",
        "noise_scales",
        "noise_draws",
        "tune_bands",
        "tune_steps",
        "tune_draws",
        "thresholds",
        "continue_iterations",
        "hmc_samples",
        "hmc_steps",
        "warmup_iterations",
        "warmup_probes",
    ):
        _require(getattr(ex, key) >= 1, path, f"experiments.{key}", f"got {getattr(ex, key)}; must be >= 1")
    for key in ("noise_max_increase", "tune_lr"):
        _require(getattr(ex, key) > 0, path, f"experiments.{key}", f"got {getattr(ex, key)}; must be > 0")
    _require(
        0 < ex.hmc_step_fraction < 1,
        path,
        "experiments.hmc_step_fraction",
        f"got {ex.hmc_step_fraction}; allowed: 0 < fraction < 1 (leapfrog is unstable beyond the bound)",
    )
    _require(
        1.0 in ex.lr_scales and all(v > 0 for v in ex.lr_scales),
        path,
        "experiments.lr_scales",
        f"got {list(ex.lr_scales)}; give positive scales including 1.0 (the theory's own rates), e.g. [0.25, 1.0, 4.0]",
    )
    _require(
        0 <= ex.warmup_length <= ex.warmup_iterations,
        path,
        "experiments.warmup_length",
        f"got {ex.warmup_length}; allowed: 0 ... experiments.warmup_iterations = {ex.warmup_iterations}",
    )
    _require(ex.hmc_burn_in >= 0, path, "experiments.hmc_burn_in", f"got {ex.hmc_burn_in}; must be >= 0")

    _require(len(cfg.runs) >= 1, path, "runs", "define at least one run, e.g. [runs.main]")
    for run in cfg.runs:
        key = f"runs.{run.name}"
        _require(
            re.fullmatch(r"[a-z][a-z0-9_]*", run.name) is not None,
            path,
            key,
            "run names are lower-case letters, digits and '_', starting with a letter",
        )
        _one_of(run.schedule, SCHEDULES, path, f"{key}.schedule")
        _require(run.lr > 0.0, path, f"{key}.lr", f"got {run.lr}; the learning rate must be > 0")
        _require(
            all(0.0 < f < 1.0 for f in run.milestones),
            path,
            f"{key}.milestones",
            f"got {list(run.milestones)}; milestones are fractions of the run, strictly between 0 and 1",
        )
        _require(0.0 < run.gamma <= 1.0, path, f"{key}.gamma", f"got {run.gamma}; allowed: 0 < gamma <= 1")
        _require(0.0 <= run.hold < 1.0, path, f"{key}.hold", f"got {run.hold}; allowed: 0 <= hold < 1")
        _require(run.seed >= 0, path, f"{key}.seed", f"got {run.seed}; a training seed is an integer >= 0")
        if run.activation:
            _one_of(run.activation, ACTIVATIONS, path, f"{key}.activation")
        if run.schedule == "anneal":
            _require(
                0.0 < run.final_lr <= run.lr,
                path,
                f"{key}.final_lr",
                f"got {run.final_lr}; an annealed run needs 0 < final_lr <= lr = {run.lr}",
            )


def _check_device(device: str, path: Path) -> None:
    """A profile (or ``LANDSCAPE_DEVICE``) that asks for a GPU on a machine without one fails now, not mid-build."""
    override = os.environ.get("LANDSCAPE_DEVICE", "")
    if (override or device) != "cuda":
        return
    import torch

    where = "LANDSCAPE_DEVICE" if override else "profile.device"
    _require(
        torch.cuda.is_available(),
        path,
        where,
        '\'cuda\' but torch sees no GPU on this machine; use device = "auto" or "cpu", or set LANDSCAPE_DEVICE=cpu',
    )


def _read_text(path: Path) -> str:
    """The file's text, with a message of its own for each way the bytes can be unreadable."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(path, "-", f"cannot be read: {err.strerror}") from None
    if not data.strip():
        raise ConfigError(path, "-", "the file is empty; copy configs/smoke.toml as a starting point")
    if data.startswith(b"\xef\xbb\xbf"):
        raise ConfigError(
            path, "-", "starts with a byte-order mark (BOM), which TOML forbids; save it as UTF-8 without BOM"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConfigError(
            path, f"line {line}", f"bytes that are not UTF-8 ({data[err.start : err.end]!r}); TOML files are UTF-8 text"
        ) from None


def load(path: str | Path) -> Config:
    """Load and validate a profile file.

    Raises:
        ConfigError: naming the file, the key and the allowed values.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(path, "-", f"no such profile file; profiles: {', '.join(available())}")
    try:
        raw = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(path, "-", f"not valid TOML: {err}") from None
    sections = {"profile", "data", "model", "train", "hessian", "landscape", "experiments", "runs"}
    for key in raw:
        _require(key in sections, path, key, f"unknown section; allowed sections: {', '.join(sorted(sections))}")
    for key in sections:
        _require(key in raw, path, key, f"missing section [{key}]")
    runs_table = raw["runs"]
    _require(isinstance(runs_table, dict), path, "runs", "expected tables [runs.<name>]")
    cfg = Config(
        name=path.stem,
        path=str(path),
        profile=_build(ProfileConfig, raw["profile"], "profile", path),
        data=_build(DataConfig, raw["data"], "data", path),
        model=_build(ModelConfig, raw["model"], "model", path),
        train=_build(TrainConfig, raw["train"], "train", path),
        hessian=_build(HessianConfig, raw["hessian"], "hessian", path),
        landscape=_build(LandscapeConfig, raw["landscape"], "landscape", path),
        experiments=_build(ExperimentsConfig, raw["experiments"], "experiments", path),
        runs=_runs(runs_table, path),
    )
    _validate(cfg, path)
    _check_device(cfg.profile.device, path)
    return cfg


def _runs(tables: dict[str, object], path: Path) -> tuple[RunConfig, ...]:
    """The [runs.<name>] tables in order, each followed by its replicas (``RunConfig.replicas``)."""
    runs = []
    for name, table in tables.items():
        run = _build(RunConfig, table, f"runs.{name}", path, name=name)
        _require(0 <= run.replicas <= 100, path, f"runs.{name}.replicas", f"got {run.replicas}; allowed: 0 ... 100")
        runs.append(run)
        for seed in range(run.seed + 1, run.seed + run.replicas + 1):
            runs.append(
                dataclasses.replace(
                    run,
                    name=f"{name}_seed{seed}",
                    seed=seed,
                    replicas=0,
                    description=f"{run.description or name}; training seed {seed} (replica)",
                )
            )
    names = [r.name for r in runs]
    for name in names:
        _require(
            names.count(name) == 1,
            path,
            f"runs.{name}",
            "defined twice (a replica of another run has this name); rename the run or lower that run's replicas",
        )
    return tuple(runs)


def load_profile(name: str) -> Config:
    """Load ``configs/<name>.toml``."""
    return load(CONFIG_DIR / f"{name}.toml")


def available() -> list[str]:
    """Names of the profiles in ``configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.toml"))


def as_dict(obj: object) -> object:
    """A JSON-ready view of a config object."""
    return dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj  # type: ignore[arg-type]


def section_hash(*parts: object) -> str:
    """Stable short hash of config sections: equal inputs give equal hashes across runs."""
    blob = json.dumps([as_dict(p) for p in parts], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def code_digest(files: list[Path] | tuple[Path, ...]) -> str:
    """Short digest of the contents of source files (part of a task's input hash)."""
    digest = hashlib.sha256()
    for path in sorted(str(f) for f in files):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


# [hessian] keys that shape only the mini-batch spectra (H2); every other key changes the full-dataset Hessian.
BATCH_SPECTRUM_ONLY = ("batch_sizes", "batches_per_size", "batch_steps", "batch_seed")


def hessian_inputs(cfg: Config) -> dict[str, object]:
    """Every ``[hessian]`` setting a full-dataset Hessian depends on: all keys but the H2-only ones.

    Listing the exclusions rather than the inclusions means a key added later is hashed by default.
    """
    return {k: v for k, v in dataclasses.asdict(cfg.hessian).items() if k not in BATCH_SPECTRUM_ONLY}


def run_inputs(cfg: Config, run: str) -> tuple[object, ...]:
    """Everything a training run's iterates depend on (the ``root`` path does not change data)."""
    data = dataclasses.replace(cfg.data, root="", download=False, verify=True)
    # A description is prose, and replicas are other runs: neither changes this run's iterates.
    identity = dataclasses.replace(cfg.run(run), description="", replicas=0)
    return (cfg.profile.device, cfg.profile.threads, data, cfg.model, cfg.train, identity)
