"""T1–T3: the training runs' final metrics, sizes and costs, gathered for the paper's table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from landscape.config import Config, as_dict
from landscape.store import provenance, read_h5, write_json
from landscape.train import EVAL_METRICS

RUN_SCHEMA = ("params", "lr", "train_loss", "batch_indices", "eval/step", *(f"eval/{k}" for k in EVAL_METRICS))


def summarise_run(path: Path) -> dict[str, Any]:
    """Final evaluation, schedule, size and wall time of one run file."""
    with read_h5(path, RUN_SCHEMA) as fh:
        final = {k: float(fh["eval"][k][-1]) for k in EVAL_METRICS}
        best_val = int(np.nanargmax(fh["eval/val_acc"][:]))
        lrs = fh["lr"][:]
        return {
            "schedule": json.loads(fh.attrs["schedule"]),
            "final": final,
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


def run(cfg: Config, run_files: dict[str, Path], out: Path, config_hash: str, task: str = "analysis:training") -> Path:
    """Write ``results/training.json``: per-run summaries and the numbers the paper quotes."""
    runs = {name: summarise_run(path) for name, path in run_files.items()}
    main = runs[cfg.main_run.name]
    best = max(runs, key=lambda name: runs[name]["final"]["test_acc"])
    lowest = min(runs, key=lambda name: runs[name]["final"]["train_loss"])
    summary = {
        "parameter_count": main["parameter_count"],
        "main_test_acc": main["final"]["test_acc"],
        "main_train_loss": main["final"]["train_loss"],
        "best_test_run": best,
        "best_test_acc": runs[best]["final"]["test_acc"],
        "lowest_train_loss_run": lowest,
        "lowest_train_loss": runs[lowest]["final"]["train_loss"],
        "total_train_seconds": sum(r["wall_seconds"] for r in runs.values()),
        "main_is_best": best == cfg.main_run.name,
    }
    payload = {
        "provenance": provenance(cfg.name, config_hash, task),
        "data": as_dict(cfg.data),
        "train": as_dict(cfg.train),
        "main_run": cfg.main_run.name,
        "run_order": list(run_files),
        "runs": runs,
        "summary": summary,
    }
    write_json(out, payload)
    return out
