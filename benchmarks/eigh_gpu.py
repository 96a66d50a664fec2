"""Benchmark: time and device memory of a float32 ``eigh`` at growing sizes, extrapolated to the `paper` Hessian.

    python benchmarks/eigh_gpu.py                     # n = 4096, 8192, 16384 on the GPU (CPU: n = 1024, 2048)
    python benchmarks/eigh_gpu.py --full              # also the paper's P = 98,524, if the extrapolation fits

A dense symmetric eigendecomposition costs O(n^3) time and, with eigenvectors, two n x n matrices
plus the solver's workspace. The measured sizes give the time ratio against n^3 and the peak
memory against n^2 side by side, and their extrapolation to n = 98,524 (landscape.hessian
.eigendecomposition on the `paper` profile). Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscape.train import full_float32_precision

P_PAPER = 98_524


def measure(n: int, device: torch.device) -> tuple[float, float]:
    """Seconds and peak bytes of ``eigh`` of a random symmetric n x n float32 matrix on ``device``."""
    generator = torch.Generator(device=device).manual_seed(n)
    matrix = torch.randn(n, n, device=device, generator=generator)
    matrix = 0.5 * (matrix + matrix.T)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    torch.linalg.eigh(matrix)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else float("nan")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also decompose n = 98,524 when it is predicted to fit")
    args = parser.parse_args()
    full_float32_precision()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = [4096, 8192, 16384] if device.type == "cuda" else [1024, 2048]
    measure(512, device)  # warm-up: solver handles and kernels
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, float32 eigh with eigenvectors")
    print(f"{'n':>8} {'seconds':>9} {'s / n^3 (ns)':>13} {'peak GB':>9} {'peak / (4 n^2)':>15}")
    for n in sizes:
        seconds, peak = measure(n, device)
        print(f"{n:>8} {seconds:>9.2f} {seconds / n**3 * 1e9:>13.3e} {peak / 1e9:>9.2f} {peak / (4 * n * n):>15.2f}")
    scale = P_PAPER / sizes[-1]
    predicted_seconds, predicted_peak = seconds * scale**3, peak * scale**2
    print(f"{P_PAPER:>8} {predicted_seconds:>9.0f} {'(extrapolated)':>13} {predicted_peak / 1e9:>9.1f}")
    if device.type == "cpu":
        print("(on the CPU the last row compares rates only: LAPACK's 32-bit workspace index stops eigh above n ≈ 33,000)")
    else:
        free, total = torch.cuda.mem_get_info()
        print(f"device memory: {free / 1e9:.1f} GB free of {total / 1e9:.1f} GB")
        if args.full and predicted_peak < 0.95 * free:
            seconds, peak = measure(P_PAPER, device)
            print(f"{P_PAPER:>8} {seconds:>9.0f} {seconds / P_PAPER**3 * 1e9:>13.3e} {peak / 1e9:>9.2f} {peak / (4 * P_PAPER**2):>15.2f}")


if __name__ == "__main__":
    main()
