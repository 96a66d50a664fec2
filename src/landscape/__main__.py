"""Command line: ``python -m landscape {train PROFILE RUN, describe PROFILE, plan PROFILE}``."""

from __future__ import annotations

import argparse
import sys

from landscape import config, paths


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="landscape", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train one run of a profile (resumes a killed run)")
    train.add_argument("profile", choices=config.available())
    train.add_argument("run")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    describe = sub.add_parser("describe", help="print a profile's model size, data and runs")
    describe.add_argument("profile", choices=config.available())
    plan = sub.add_parser("plan", help="dry run: the disk, memory and time a profile will need, before it starts")
    plan.add_argument("profile", choices=config.available())
    args = parser.parse_args(argv)
    from landscape.data import DatasetMissing

    try:
        return _run(args)
    except (config.ConfigError, DatasetMissing) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """The chosen command; input mistakes surface as ConfigError or DatasetMissing, printed by :func:`main`."""
    cfg = config.load_profile(args.profile)
    if args.command == "train":
        from landscape.resources import check_resources
        from landscape.train import train_run

        check_resources(cfg, paths.build_dir(cfg.name))
        train_run(cfg, args.run, paths.run_file(cfg.name, args.run), progress=not args.quiet)
    elif args.command == "plan":
        from landscape.plan import estimate

        print("\n".join(estimate(cfg).lines(cfg.name)))
    else:
        from landscape.data import load_dataset
        from landscape.models import build_model, count_parameters

        data = load_dataset(cfg.data)
        model = build_model(cfg.model, data.input_shape, len(data.classes))
        print(f"profile {cfg.name}: {cfg.profile.description}")
        print(
            f"  data   {data.name} {data.input_shape}: "
            f"{len(data.train)} train / {len(data.val)} val / {len(data.test)} test"
        )
        print(f"  model  ResNet width {model.width}: {count_parameters(model)} parameters")
        print(
            f"  train  {cfg.train.iterations} iterations, batch {cfg.train.batch_size}, "
            f"checkpoints {list(cfg.train.checkpoints)}"
        )
        for run in cfg.runs:
            print(f"  run    {run.name}: {run.schedule}, lr {run.lr} — {run.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
