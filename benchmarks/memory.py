"""Benchmark: host memory of every task that reads a whole eigenbasis, in P x P matrices, at P = 4,000 and 8,000.

    python benchmarks/memory.py                      # P = 4,000 and 8,000 (about 5 min on 2 cores)
    python benchmarks/memory.py --sizes 3000 6000

Each task of ``landscape.memory.TASKS`` runs in its own process on synthetic float32 Hessians at both sizes; the
slope of its peak resident set in P² x 4 bytes is the number of matrices it holds (landscape.memory.matrices_held).
Printed beside the reference run, a control that holds exactly three matrices, and the budget of issue 16 (two;
three for a task that decomposes a matrix on the CPU, whose LAPACK workspace a GPU keeps on the device), with the
peak at the larger size and that peak scaled to the `paper` profile's P. Not part of the test suite
(tests/test_memory.py holds every analysis to the budget at P = 3,500 and 5,000).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from landscape import config, memory
from landscape.plan import footprint

CPU_EIGH = {"hessian", "spectrum_batch"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs=2, default=(4000, 8000))
    args = parser.parse_args()
    paper_P = footprint(config.load_profile("paper")).parameters
    with tempfile.TemporaryDirectory() as scratch:
        folders = [Path(scratch) / str(P) for P in args.sizes]
        for folder, P in zip(folders, args.sizes):
            memory.write_inputs(folder, P)
        held = memory.matrices_held(("control_three_matrices", *memory.TASKS), *folders)
        reference = held["control_three_matrices"]["matrices"]
        print(
            f"P = {args.sizes[0]:,} and {args.sizes[1]:,}, float32 storage; control (three matrices): {reference:.2f}"
        )
        print(f"{'task':16s} {'matrices':>8s} {'/control':>8s} {'budget':>6s} {'peak MB':>8s} {'at paper P':>10s}")
        for task in memory.TASKS:
            matrices, budget = held[task]["matrices"], 3 if task in CPU_EIGH else 2
            print(
                f"{task:16s} {matrices:8.2f} {matrices / reference:8.2f} {budget:6d} "
                f"{held[task]['peak_bytes'] / 1e6:8.0f} {matrices * paper_P**2 * 4 / 1e9:8.1f} GB"
            )


if __name__ == "__main__":
    main()
