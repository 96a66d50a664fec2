"""Command line: ``python -m landscape {train PROFILE RUN, describe PROFILE, plan PROFILE, bundle, unbundle}``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

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
    bundle = sub.add_parser("bundle", help="pack a build's runs, Hessians or results into one archive to share")
    bundle.add_argument("profile", choices=config.available())
    bundle.add_argument("--stage", choices=("runs", "hessians", "results"), required=True)
    bundle.add_argument("out", type=Path, help="the archive to write (.tar, or .tar.gz to compress)")
    unbundle = sub.add_parser("unbundle", help="verify a bundle and place its files, so doit skips what it holds")
    unbundle.add_argument("archive", type=Path)
    args = parser.parse_args(argv)
    from landscape.bundle import BundleError
    from landscape.data import DatasetMissing
    from landscape.lock import BuildLocked

    try:
        return _run(args)
    except (config.ConfigError, DatasetMissing, BundleError, BuildLocked) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    """The chosen command; input mistakes surface as the errors :func:`main` prints."""
    if args.command == "unbundle":
        from landscape.bundle import unbundle

        manifest = unbundle(args.archive)
        print(
            f"{args.archive}: placed {len(manifest['files'])} files of profile {manifest['profile']} "
            f"(stage {manifest['stage']}, commit {manifest['commit']}); now run: doit profile={manifest['profile']}"
        )
        return 0
    cfg = config.load_profile(args.profile)
    if args.command == "train":
        from landscape.lock import writable_folder
        from landscape.resources import check_resources
        from landscape.train import train_run

        check_resources(cfg, writable_folder(paths.build_dir(cfg.name)))
        train_run(cfg, args.run, paths.run_file(cfg.name, args.run), progress=not args.quiet)
    elif args.command == "bundle":
        from landscape.bundle import bundle

        manifest = bundle(cfg.name, args.stage, args.out)
        size = sum(entry["size"] for entry in manifest["files"])
        print(f"{args.out}: {len(manifest['files'])} files, {size / 2**20:.1f} MiB of artifacts (stage {args.stage})")
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
