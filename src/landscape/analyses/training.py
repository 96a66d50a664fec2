"""T1–T3: the training runs' final metrics, sizes and costs, gathered for the paper's table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from landscape.config import Config, as_dict
from landscape.registry import Analysis
from landscape.seeds import compare, corrected, interval
from landscape.store import read_h5, write_results
from landscape.train import EVAL_METRICS

ANALYSIS = Analysis(
    question="T1–T3",
    doc="final metrics, sizes and wall times of every run",
    inputs={"runs": "runs:all"},
    config=("data", "model", "train"),
    figure="training loss, test accuracy and learning rate of every run",
    figure_inputs={"runs": "runs:all"},
)

RUN_SCHEMA = (
    "params",
    "lr",
    "train_loss",
    "batch_indices",
    "eval/step",
    "splits/test_index",
    *(f"eval/{k}" for k in EVAL_METRICS),
)


def summarise_run(path: Path) -> dict[str, Any]:
    """Final evaluation, schedule, size and wall time of one run file."""
    with read_h5(path, RUN_SCHEMA) as fh:
        final = {k: float(fh["eval"][k][-1]) for k in EVAL_METRICS}
        best_val = int(np.nanargmax(fh["eval/val_acc"][:]))
        lrs = fh["lr"][:]
        n_test = int(fh["splits/test_index"].shape[0])
        return {
            "schedule": json.loads(fh.attrs["schedule"]),
            "final": final,
            # Binomial sampling error of an accuracy measured on n_test examples: sqrt(acc (1 - acc) / n_test).
            "test_acc_se": float(np.sqrt(final["test_acc"] * (1 - final["test_acc"]) / n_test)),
            "weight_decay_share": (final["objective"] - final["train_loss"]) / final["objective"],
            "best_val_acc": float(fh["eval/val_acc"][best_val]),
            "best_val_step": int(fh["eval/step"][best_val]),
            "initial_lr": float(lrs[0]),
            "final_lr": float(lrs[-1]),
            "iterations": int(len(lrs)),
            "batch_size": int(fh["batch_indices"].shape[1]),
            "parameter_count": int(fh.attrs["parameter_count"]),
            "model_width": int(fh.attrs["model_width"]),
            "wall_seconds": float(fh.attrs["wall_seconds"]),
            "config_hash": str(fh.attrs["config_hash"]),
            "git_commit": str(fh.attrs["git_commit"]),
        }


FINAL_METRICS = ("train_loss", "train_acc", "test_loss", "test_acc", "objective")
COMPARED = ("train_loss", "test_loss", "test_acc")  # the metrics on which schedules are compared with the main one


def family_size(schedules: int) -> int:
    """Comparisons of every other schedule with the main one, one per metric in ``COMPARED`` (at least one)."""
    return max((schedules - 1) * len(COMPARED), 1)


def schedules_over_seeds(cfg: Config, runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per schedule (its seed-0 run), the final metrics over its replicas, and paired differences from the main run.

    Replicas with one seed share an initialisation and a batch order across schedules, so a schedule's difference
    from the main schedule is taken seed by seed over the seeds both have (:func:`landscape.seeds.compare`).
    """
    main = cfg.main_run.name
    seeds = {r.name: {m.seed: m.name for m in cfg.replicas_of(r.name)} for r in cfg.comparable_runs()}
    # Every schedule against the main one on three metrics is a family of comparisons: Bonferroni keeps the chance
    # of any false "differs" at 5 % (each interval at 1 - 0.05/m); the uncorrected 95 % intervals are kept beside.
    family = family_size(len(seeds))
    out = {}
    for name, by_seed in seeds.items():
        names = [by_seed[s] for s in sorted(by_seed)]
        shared = sorted(set(by_seed) & set(seeds[main]))
        block: dict[str, Any] = {
            "runs": names,
            "seeds": sorted(by_seed),
            "values": {m: [runs[n]["final"][m] for n in names] for m in FINAL_METRICS},
            "over_seeds": {m: interval([runs[n]["final"][m] for n in names]) for m in FINAL_METRICS},
        }
        if name != main:
            pairs = {
                m: ([runs[by_seed[s]]["final"][m] for s in shared], [runs[seeds[main][s]]["final"][m] for s in shared])
                for m in COMPARED
            }
            block["versus_main"] = {m: compare(*pairs[m]) for m in COMPARED}
            block["versus_main_corrected"] = {m: compare(*pairs[m], level=corrected(family)) for m in COMPARED}
            block["family_size"] = family
        out[name] = block
    return out


def ranking_over_seeds(schedules: dict[str, dict[str, Any]], metric: str, highest: bool) -> dict[str, Any]:
    """The schedule with the best mean ``metric`` over seeds, and whether it beats the runner-up paired by seed."""
    order = sorted(schedules, key=lambda n: schedules[n]["over_seeds"][metric]["mean"], reverse=highest)
    best = order[0]
    if len(order) == 1:
        return {"best": best, "runner_up": None, "resolved": False}
    runner_up = order[1]
    shared = sorted(set(schedules[best]["seeds"]) & set(schedules[runner_up]["seeds"]))
    values = dict(zip(schedules[best]["seeds"], schedules[best]["values"][metric]))
    others = dict(zip(schedules[runner_up]["seeds"], schedules[runner_up]["values"][metric]))
    # The best was picked among all schedules, so the comparison is corrected for the others it was picked from.
    decision = compare([values[s] for s in shared], [others[s] for s in shared], level=corrected(len(order) - 1))
    return {
        "best": best,
        "runner_up": runner_up,
        "difference": decision,
        "resolved": decision["higher"] if highest else decision["lower"],
    }


def analyse(cfg: Config, run_files: dict[str, Path], out: Path, provenance: dict[str, Any]) -> Path:
    """Write ``results/training.h5``: per-run summaries and the numbers the paper quotes, in its ``summary``."""
    runs = {name: summarise_run(path) for name, path in run_files.items()}
    main = runs[cfg.main_run.name]
    # Schedules are compared at one initialisation and batch order (the main run's seed), not across replicas.
    comparable = [r.name for r in cfg.comparable_runs()]
    best = max(comparable, key=lambda name: runs[name]["final"]["test_acc"])
    lowest = min(comparable, key=lambda name: runs[name]["final"]["train_loss"])
    replicas = [r.name for r in cfg.main_replicas()]
    schedules = schedules_over_seeds(cfg, runs)
    over_seeds = schedules[cfg.main_run.name]["over_seeds"]  # the main run and its replicas
    summary = {
        "main_replicas": replicas,
        "main_seeds": [cfg.run(r).seed for r in replicas],
        "main_over_seeds": over_seeds,
        "parameter_count": main["parameter_count"],
        "main_test_acc": main["final"]["test_acc"],
        "main_test_acc_se": main["test_acc_se"],
        "main_train_acc": main["final"]["train_acc"],
        "main_weight_decay_share": main["weight_decay_share"],
        "n_train": cfg.data.n_train,
        "n_test": cfg.data.n_test,
        "examples_per_parameter": cfg.data.n_train / main["parameter_count"],
        "main_train_loss": main["final"]["train_loss"],
        "best_test_run": best,
        "best_test_acc": runs[best]["final"]["test_acc"],
        "lowest_train_loss_run": lowest,
        "lowest_train_loss": runs[lowest]["final"]["train_loss"],
        "total_train_seconds": sum(r["wall_seconds"] for r in runs.values()),
        "main_is_best": best == cfg.main_run.name,
        "comparable_runs": comparable,
        "model_runs": [r.name for r in cfg.runs if r.name in comparable or r.name in replicas],
        "activation_contrasts": [r.name for r in cfg.activation_contrasts()],
        # T1-T3 over seeds: every schedule with its replicas, rankings decided by the paired rule.
        "schedules_over_seeds": schedules,
        "schedule_seeds": min(len(block["seeds"]) for block in schedules.values()),
        "best_test_schedule": ranking_over_seeds(schedules, "test_acc", highest=True),
        "lowest_train_loss_schedule": ranking_over_seeds(schedules, "train_loss", highest=False),
        "replica_runs": [r.name for r in cfg.runs if r.seed != cfg.main_run.seed],
        # Differences from the main schedule whose uncorrected 95 % interval excludes zero, and whether each
        # survives the correction for the family of comparisons.
        "differs_from_main": [
            {
                "run": name,
                "metric": m,
                **block["versus_main"][m],
                "survives_correction": block["versus_main_corrected"][m]["lower"]
                or block["versus_main_corrected"][m]["higher"],
            }
            for name, block in schedules.items()
            if "versus_main" in block
            for m in COMPARED
            if block["versus_main"][m]["lower"] or block["versus_main"][m]["higher"]
        ],
        "family_size": family_size(len(schedules)),
        "other_replicas_train_seconds": sum(
            runs[r.name]["wall_seconds"] for r in cfg.runs if r.seed != cfg.main_run.seed and r.name not in replicas
        ),
    }
    summary.update(
        data=as_dict(cfg.data),
        train=as_dict(cfg.train),
        main_run=cfg.main_run.name,
        run_order=list(run_files),
        runs=runs,
    )
    return write_results(out, {}, summary, provenance)


def run(cfg: Config, out: Path, provenance: dict[str, Any], *, runs: dict[str, Path]) -> Path:
    """The declared entry: every run's file."""
    return analyse(cfg, runs, out, provenance)
