"""Profiles load, and every kind of bad input fails at load time naming the file and the key."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
from conftest import dump_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape import config
from landscape.config import ConfigError


@pytest.mark.parametrize("name", ["smoke", "cpu", "gpu", "paper"])
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
        # Each of these gave a traceback or was accepted before (issue 18).
        ("train", "checkpoints", [0, 25, 246], "must be the end of the run"),
        ("train", "iterations", 10**12, "more than the"),
        ("train", "weight_decay", float("inf"), "must be finite"),
        ("data", "split_seed", -1, "a seed is an integer >= 0"),
        ("data", "image_size", 64, "only downsampled"),
        ("landscape", "loss_increase", float("nan"), "must be finite"),
        ("landscape", "directions", 10_000, "at most a quarter"),
        ("landscape", "batch_sizes", [], "at least one batch size"),
        ("hessian", "batch_sizes", [], "at least one batch size"),
        ("experiments", "lr_scales", [1.0, float("inf")], "must be finite"),
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
    assert config.section_hash(*config.run_inputs(a, "const_a")) != config.section_hash(
        *config.run_inputs(c, "const_a")
    )


@pytest.mark.parametrize(
    ("key", "value", "changes"),
    [
        ("storage", "float32", True),
        ("dtype", "float32", True),
        ("block_size", 7, True),
        ("chunk_size", 11, True),
        ("batch_seed", 5, False),
        ("batches_per_size", 2, False),
    ],
)
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
    ends = [r for r, _ in cfg.hessian_points()[4:]]
    # Every seed-0 run and the main run's replicas; the other schedules' replicas are trained, not diagonalised.
    assert ends == [
        "main_seed1",
        "main_seed2",
        "main_gelu",
        "const_a",
        "const_b",
        "anneal_high",
        "anneal_mid",
        "anneal_low",
    ]
    assert "const_a_seed1" in [r.name for r in cfg.runs]


def test_replicas_expand_into_seeded_runs_whose_identity_ignores_prose(smoke_doc, write_profile):
    smoke_doc["runs"]["const_a"]["replicas"] = 2
    cfg = config.load(write_profile(smoke_doc))
    names = [r.name for r in cfg.runs]
    assert names[names.index("const_a") : names.index("const_a") + 3] == ["const_a", "const_a_seed1", "const_a_seed2"]
    assert [r.seed for r in cfg.replicas_of("const_a")] == [0, 1, 2]
    assert cfg.run("const_a_seed2").schedule_key() == cfg.run("const_a").schedule_key()
    assert [r.name for r in cfg.replicas_of("const_a_seed1")] == ["const_a_seed1", "const_a", "const_a_seed2"]
    before = config.section_hash(*config.run_inputs(cfg, "const_a"))
    smoke_doc["runs"]["const_a"]["description"] = "reworded"
    smoke_doc["runs"]["const_a"]["replicas"] = 0
    after = config.load(write_profile(smoke_doc, "other"))
    assert config.section_hash(*config.run_inputs(after, "const_a")) == before  # nothing that moves an iterate
    smoke_doc["runs"]["const_a"]["replicas"] = 1
    smoke_doc["runs"]["const_a_seed1"] = {"schedule": "constant", "lr": 0.5}
    with pytest.raises(ConfigError, match=r"runs\.const_a_seed1.*defined twice"):
        config.load(write_profile(smoke_doc, "third"))
    smoke_doc["runs"].pop("const_a_seed1")
    smoke_doc["runs"]["const_a"]["replicas"] = -1
    with pytest.raises(ConfigError, match=r"runs\.const_a\.replicas"):
        config.load(write_profile(smoke_doc, "fourth"))


def test_replicas_contrasts_and_comparable_runs_are_told_apart(smoke_doc, write_profile):
    """Seeds replicate the main run, an activation makes a contrast, only seed-0 same-model runs compare schedules."""
    cfg = config.load(write_profile(smoke_doc))
    assert [r.name for r in cfg.main_replicas()] == ["main", "main_seed1"]
    assert [r.name for r in cfg.activation_contrasts()] == ["main_gelu"]
    assert [r.name for r in cfg.comparable_runs()] == ["main", "const_a", "const_b", "anneal_high", "anneal_low"]
    assert cfg.run_model("main_seed1").init_seed == cfg.model.init_seed + 1
    assert cfg.run_model("main_gelu").activation == "gelu" and cfg.run_model("main").activation == "relu"
    smoke_doc["runs"]["main"]["seed"] = -1
    with pytest.raises(config.ConfigError, match=r"runs\.main\.seed"):
        config.load(write_profile(smoke_doc))
    smoke_doc["runs"]["main"]["seed"] = 0
    smoke_doc["runs"]["main_gelu"]["activation"] = "tanh"
    with pytest.raises(config.ConfigError, match=r"runs\.main_gelu\.activation.*relu, gelu, softplus"):
        config.load(write_profile(smoke_doc))


def test_replicas_train_from_their_own_seed(smoke_doc, write_profile, tmp_path):
    """A replica starts from another initialisation with batches in another order; the main run's are unchanged."""
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


def test_an_infinite_learning_rate_is_refused(smoke_doc, write_profile):
    smoke_doc["runs"]["main"]["lr"] = float("inf")
    with pytest.raises(ConfigError, match=r"runs\.main\.lr.*must be finite"):
        config.load(write_profile(smoke_doc))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_that_this_machine_lacks_is_refused_at_load(smoke_doc, write_profile, monkeypatch):
    smoke_doc["profile"]["device"] = "cuda"
    with pytest.raises(ConfigError, match=r"profile\.device.*torch sees no GPU"):
        config.load(write_profile(smoke_doc))
    smoke_doc["profile"]["device"] = "cpu"
    monkeypatch.setenv("LANDSCAPE_DEVICE", "cuda")
    with pytest.raises(ConfigError, match=r"LANDSCAPE_DEVICE.*torch sees no GPU"):
        config.load(write_profile(smoke_doc))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (b"\xef\xbb\xbf[profile]\n", "byte-order mark"),
        (b"[profile]\n# caf\xe9\n", "line 2.*not UTF-8"),
    ],
)
def test_unreadable_bytes_get_their_own_message_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bytes.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=message) as err:
        config.load(path)
    assert str(path) in str(err.value)


VALUES = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(-(10**7), 10**7), st.floats(allow_nan=True, allow_infinity=True)), max_size=4),
)


@st.composite
def mutated_profiles(draw) -> bytes:
    """The smoke profile with one to three random edits: a key set to any value, a key removed, or bytes inserted."""
    doc = tomllib.loads((config.CONFIG_DIR / "smoke.toml").read_text())
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(sorted(doc)))
        table = doc[section] if section != "runs" else doc["runs"][draw(st.sampled_from(sorted(doc["runs"])))]
        if not table:
            continue
        key = draw(st.one_of(st.sampled_from(sorted(table)), st.from_regex(r"[a-z_]{1,8}", fullmatch=True)))
        if draw(st.booleans()) and key in table:
            del table[key]
        else:
            table[key] = draw(VALUES)
    text = dump_toml(doc).encode()
    if draw(st.integers(0, 4)) == 0:
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=8)) + text[at:]
    return text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=mutated_profiles())
def test_any_mutated_profile_loads_or_fails_with_a_configuration_error(tmp_path, content):
    path = tmp_path / "mutated.toml"
    path.write_bytes(content)
    try:
        config.load(path)
    except ConfigError as err:
        assert str(path) in str(err)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "smoke", "nosuchrun"], "no run 'nosuchrun'; runs: main"),
        (["describe", "smoke"], None),
    ],
)
def test_the_command_line_prints_input_mistakes_without_a_traceback(argv, message, capsys):
    from landscape.__main__ import main

    status = main(argv)
    err = capsys.readouterr().err
    if message is None:
        assert status == 0 and err == ""
    else:
        assert status == 2 and err.startswith("error: ") and message in err and "Traceback" not in err


def test_describe_with_a_missing_dataset_is_one_clear_line(smoke_doc, write_profile, tmp_path, monkeypatch, capsys):
    from landscape.__main__ import _run

    smoke_doc["data"].update(
        name="fashion_mnist", root=str(tmp_path / "nowhere"), n_train=100, n_val=10, n_test=10, image_size=7
    )
    smoke_doc["train"]["batch_size"] = 32
    smoke_doc["hessian"]["batch_sizes"] = [32]
    smoke_doc["landscape"]["batch_sizes"] = [32]
    cfg_path = write_profile(smoke_doc, "nodata")
    monkeypatch.setattr(config, "load_profile", lambda name: config.load(cfg_path))
    import argparse

    from landscape.data import DatasetMissing

    with pytest.raises(DatasetMissing, match="apt-get install dataset-fashion-mnist"):
        _run(argparse.Namespace(command="describe", profile="nodata"))
