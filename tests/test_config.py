"""Profiles load, and every kind of bad input fails at load time naming the file and the key."""

from __future__ import annotations

import json

import numpy as np
import pytest

from landscape import config
from landscape.config import ConfigError


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_shipped_profiles_load(name):
    cfg = config.load_profile(name)
    assert cfg.name == name
    assert cfg.main_run.name == "main"
    assert cfg.train.checkpoints[-1] == cfg.train.iterations


def test_paper_profile_keeps_the_study_checkpoints():
    assert config.load_profile("paper").train.checkpoints == (0, 2000, 20000, 48800)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("train", "learning_rate", 0.1, "unknown key"),
        ("experiments", "hmc_step_fraction", 1.5, "leapfrog is unstable"),
        ("experiments", "lr_scales", [0.5, 2.0], "including 1.0"),
        ("experiments", "warmup_length", 10_000, "experiments.warmup_iterations"),
        ("experiments", "seeds", 0, "must be >= 1"),
        ("train", "iterations", "many", "expected int"),
        ("train", "momentum", True, "expected float"),
        ("train", "checkpoints", [0, 10, 100000], "outside the run"),
        ("train", "checkpoints", [10, 0], "increasing order"),
        ("train", "batch_size", 0, "between 1 and data.n_train"),
        ("train", "momentum", 1.0, "momentum < 1"),
        ("data", "n_val", 5000, "examples"),
        ("data", "name", "imagenet", "allowed values: digits, fashion_mnist, cifar10"),
        ("model", "norm", "batch", "allowed values: group, none"),
        ("profile", "device", "tpu", "allowed values: cpu, cuda, auto"),
    ],
)
def test_bad_values_name_file_and_key(smoke_doc, write_profile, section, key, value, message):
    smoke_doc[section][key] = value
    path = write_profile(smoke_doc)
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert str(path) in str(err.value)
    assert key in err.value.key
    assert message in str(err.value)


def test_negative_learning_rate(smoke_doc, write_profile):
    smoke_doc["runs"]["main"]["lr"] = -0.1
    with pytest.raises(ConfigError, match=r"runs\.main\.lr.*must be > 0"):
        config.load(write_profile(smoke_doc))


def test_anneal_needs_final_lr_below_lr(smoke_doc, write_profile):
    smoke_doc["runs"]["anneal_low"]["final_lr"] = 1.0
    with pytest.raises(ConfigError, match="final_lr"):
        config.load(write_profile(smoke_doc))


def test_missing_key_and_section(smoke_doc, write_profile):
    del smoke_doc["train"]["iterations"]
    with pytest.raises(ConfigError, match=r"train\.iterations.*missing"):
        config.load(write_profile(smoke_doc))
    del smoke_doc["model"]
    with pytest.raises(ConfigError, match=r"missing section \[model\]"):
        config.load(write_profile(smoke_doc, "other"))


def test_unknown_section_and_bad_toml(write_profile, smoke_doc, tmp_path):
    smoke_doc["extra"] = {"a": 1}
    with pytest.raises(ConfigError, match="unknown section"):
        config.load(write_profile(smoke_doc))
    broken = tmp_path / "broken.toml"
    broken.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(broken)


def test_missing_profile_lists_the_available_ones():
    with pytest.raises(ConfigError, match="smoke"):
        config.load_profile("nope")


def test_section_hash_is_stable_and_sensitive(smoke_doc, write_profile):
    a = config.load(write_profile(smoke_doc, "a"))
    b = config.load(write_profile(smoke_doc, "b"))
    assert config.section_hash(*config.run_inputs(a, "main")) == config.section_hash(*config.run_inputs(b, "main"))
    smoke_doc["runs"]["const_a"]["lr"] = 0.02
    c = config.load(write_profile(smoke_doc, "c"))
    assert config.section_hash(*config.run_inputs(a, "main")) == config.section_hash(*config.run_inputs(c, "main"))
    assert config.section_hash(*config.run_inputs(a, "const_a")) != config.section_hash(*config.run_inputs(c, "const_a"))


@pytest.mark.parametrize(("key", "value", "changes"), [
    ("storage", "float32", True), ("dtype", "float32", True), ("block_size", 7, True), ("chunk_size", 11, True),
    ("batch_seed", 5, False), ("batches_per_size", 2, False)])
def test_full_hessian_inputs_follow_every_key_but_the_batch_spectra(smoke_doc, write_profile, key, value, changes):
    before = config.section_hash(config.hessian_inputs(config.load(write_profile(smoke_doc, "a"))))
    smoke_doc["hessian"][key] = value
    after = config.section_hash(config.hessian_inputs(config.load(write_profile(smoke_doc, "b"))))
    assert (before != after) == changes


def test_hessian_section_is_validated(smoke_doc, write_profile):
    smoke_doc["hessian"]["batch_steps"] = [7]
    with pytest.raises(ConfigError, match=r"hessian\.batch_steps.*not a checkpoint"):
        config.load(write_profile(smoke_doc))
    smoke_doc["hessian"]["batch_steps"] = []
    smoke_doc["hessian"]["dtype"] = "float16"
    with pytest.raises(ConfigError, match="allowed values: float64, float32"):
        config.load(write_profile(smoke_doc, "other"))


def test_hessian_points_are_main_checkpoints_and_run_ends():
    cfg = config.load_profile("cpu")
    assert cfg.hessian_points()[:4] == [("main", 0), ("main", 246), ("main", 2459), ("main", 6000)]
    assert [r for r, _ in cfg.hessian_points()[4:]] == [r.name for r in cfg.runs[1:]]


def test_replicas_contrasts_and_comparable_runs_are_told_apart(smoke_doc, write_profile):
    """Seeds replicate the main run, an activation makes a contrast, and only seed-0 same-model runs compare schedules."""
    cfg = config.load(write_profile(smoke_doc))
    assert [r.name for r in cfg.main_replicas()] == ["main", "main_seed1"]
    assert [r.name for r in cfg.activation_contrasts()] == ["main_gelu"]
    assert [r.name for r in cfg.comparable_runs()] == ["main", "const_a", "const_b", "anneal_high", "anneal_low"]
    assert cfg.run_model("main_seed1").init_seed == cfg.model.init_seed + 1
    assert cfg.run_model("main_gelu").activation == "gelu" and cfg.run_model("main").activation == "relu"
    smoke_doc["runs"]["main_seed1"]["seed"] = -1
    with pytest.raises(config.ConfigError, match=r"runs\.main_seed1\.seed"):
        config.load(write_profile(smoke_doc))
    smoke_doc["runs"]["main_seed1"]["seed"] = 1
    smoke_doc["runs"]["main_gelu"]["activation"] = "tanh"
    with pytest.raises(config.ConfigError, match=r"runs\.main_gelu\.activation.*relu, gelu, softplus"):
        config.load(write_profile(smoke_doc))


def test_replicas_train_from_their_own_seed(smoke_doc, write_profile, tmp_path):
    """A replica's first iterate is another initialisation and its batches another order; the main run's are unchanged."""
    import h5py

    from landscape.train import train_run

    smoke_doc["train"].update(iterations=4, flush_every=2, eval_every=2, checkpoints=[0, 4])
    smoke_doc["hessian"]["batch_steps"] = []
    cfg = config.load(write_profile(smoke_doc))
    files = {name: train_run(cfg, name, tmp_path / f"{name}.h5", progress=False) for name in ("main", "main_seed1")}
    with h5py.File(files["main"]) as a, h5py.File(files["main_seed1"]) as b:
        assert not np.array_equal(a["params"][0], b["params"][0])
        assert not np.array_equal(a["batch_indices"][:], b["batch_indices"][:])
        assert json.loads(b.attrs["model"])["init_seed"] == cfg.model.init_seed + 1
