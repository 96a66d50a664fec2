"""T1–T3 over seeds: schedules summarised over their replicas and ranked by the paired decision rule."""

import pytest

from landscape import config
from landscape.analyses.training import FINAL_METRICS, ranking_over_seeds, schedules_over_seeds


def _runs(cfg, test_acc):
    """Planted final metrics: ``test_acc[name]`` per run, training loss 1 - test accuracy."""
    return {
        r.name: {
            "final": {m: 0.0 for m in FINAL_METRICS}
            | {"test_acc": test_acc[r.name], "train_loss": 1 - test_acc[r.name]}
        }
        for r in cfg.runs
    }


@pytest.fixture
def three_seed_cfg(smoke_doc, write_profile):
    for name in ("main", "const_a", "const_b", "anneal_high", "anneal_low"):
        smoke_doc["runs"][name]["replicas"] = 2
    return config.load(write_profile(smoke_doc))


def test_a_lead_shared_by_every_seed_is_a_finding_and_a_noisy_one_is_not(three_seed_cfg):
    cfg = three_seed_cfg
    # Seed effects far larger than the schedules' differences: only pairing by seed can resolve const_a's lead.
    seed_effect = {0: 0.50, 1: 0.70, 2: 0.60}
    lead = {"main": 0.0, "const_a": 0.03, "const_b": -0.10, "anneal_high": -0.10, "anneal_low": -0.10}
    acc = {r.name: seed_effect[r.seed] + lead[next(b for b in lead if r.name.startswith(b))] for r in cfg.runs}
    acc["const_a_seed1"] += 0.001  # not exactly constant, so the interval has a width
    schedules = schedules_over_seeds(cfg, _runs(cfg, acc))
    assert schedules["const_a"]["runs"] == ["const_a", "const_a_seed1", "const_a_seed2"]
    assert schedules["const_a"]["over_seeds"]["test_acc"]["n"] == 3
    assert schedules["const_a"]["versus_main"]["test_acc"]["difference"] == pytest.approx(0.03 + 0.001 / 3)
    assert schedules["const_a"]["versus_main"]["test_acc"]["higher"]
    assert "versus_main" not in schedules["main"]
    assert schedules["const_a"]["family_size"] == 4 * 3  # four schedules against the main one, three metrics each
    assert schedules["const_a"]["versus_main_corrected"]["test_acc"]["higher"]

    # A lead of 0.015, 0.02, 0.025 by seed: its 95 % interval excludes zero, the family-corrected one does not.
    for seed, lead_by_seed in ((0, 0.015), (1, 0.02), (2, 0.025)):
        name = "const_b" if seed == 0 else f"const_b_seed{seed}"
        acc[name] = seed_effect[seed] + lead_by_seed
    marginal = schedules_over_seeds(cfg, _runs(cfg, acc))["const_b"]
    assert marginal["versus_main"]["test_acc"]["higher"]
    assert not marginal["versus_main_corrected"]["test_acc"]["higher"]
    best = ranking_over_seeds(schedules, "test_acc", highest=True)
    assert (best["best"], best["runner_up"], best["resolved"]) == ("const_a", "main", True)
    lowest = ranking_over_seeds(schedules, "train_loss", highest=False)
    assert (lowest["best"], lowest["resolved"]) == ("const_a", True)

    # The same mean lead, but one seed reverses it: the paired interval includes zero.
    acc["const_a_seed1"] = seed_effect[1] - 0.06
    acc["const_a_seed2"] = seed_effect[2] + 0.09
    acc["const_a"] = seed_effect[0] + 0.06
    schedules = schedules_over_seeds(cfg, _runs(cfg, acc))
    best = ranking_over_seeds(schedules, "test_acc", highest=True)
    assert best["best"] == "const_a" and not best["resolved"]


def test_one_seed_ranks_but_never_decides(smoke_doc, write_profile):
    for table in smoke_doc["runs"].values():
        table.pop("replicas", None)
    cfg = config.load(write_profile(smoke_doc))
    acc = {r.name: 0.5 + 0.01 * i for i, r in enumerate(cfg.runs)}
    schedules = schedules_over_seeds(cfg, _runs(cfg, acc))
    assert all(block["over_seeds"]["test_acc"]["n"] == 1 for block in schedules.values())
    best = ranking_over_seeds(schedules, "test_acc", highest=True)
    assert best["best"] == "anneal_low" and not best["resolved"]
