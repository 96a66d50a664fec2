"""Benchmark: time, device memory and accuracy of a float32 ``eigh`` by linear-algebra library, extrapolated to `paper`.

    python benchmarks/eigh_gpu.py                          # n = 512 ... 16384 on the GPU (CPU: n = 512 ... 2048)
    python benchmarks/eigh_gpu.py --libraries cusolver,magma   # each of torch's CUDA linear-algebra libraries
    python benchmarks/eigh_gpu.py --full                   # also the paper's P = 98,524, if the extrapolation fits

A dense symmetric eigendecomposition costs O(n^3) time and, with eigenvectors, two n x n matrices
plus the solver's workspace. For each size: the time against n^3 and the peak memory against n^2
side by side, their extrapolation to n = 98,524 (landscape.hessian.eigendecomposition on the
`paper` profile), and the accuracy that matters for a Hessian's spectrum, in units of the largest
eigenvalue: the residual max |A v - lambda v| / max |lambda| computed in float64, and (n <= 8192)
the eigenvalues' largest error against a float64 ``eigh`` of the same matrix. A backward-stable
float32 solver gives both near n^(1/2) * 6e-8. Not a test.
"""

from __future__ import annotations

import argparse
import time

import torch

from landscape.train import full_float32_precision

P_PAPER = 98_524


def symmetric(n: int, device: torch.device) -> torch.Tensor:
    """A random symmetric float32 n x n matrix (semicircle spectrum), the same for every library."""
    generator = torch.Generator(device=device).manual_seed(n)
    matrix = torch.randn(n, n, device=device, generator=generator)
    return 0.5 * (matrix + matrix.T)


def timed_eigh(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    """Eigenpairs, seconds and peak device bytes of ``torch.linalg.eigh`` (peak NaN on the CPU)."""
    cuda = matrix.device.type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    eigenvalues, eigenvectors = torch.linalg.eigh(matrix)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return eigenvalues, eigenvectors, seconds, torch.cuda.max_memory_allocated() if cuda else float("nan")


def errors(matrix: torch.Tensor, eigenvalues: torch.Tensor, eigenvectors: torch.Tensor) -> tuple[float, float]:
    """Residual and (n <= 8192) eigenvalue error against float64 eigh, both relative to max |lambda|."""
    scale = eigenvalues.abs().max().double()
    exact = matrix.double()
    residual = (exact @ eigenvectors.double() - eigenvectors.double() * eigenvalues.double()).abs().max() / scale
    value_error = float("nan")
    if matrix.shape[0] <= 8192:
        value_error = float((eigenvalues.double() - torch.linalg.eigvalsh(exact)).abs().max() / scale)
    return float(residual), value_error


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--libraries", default="default", help="comma-separated: default, cusolver, magma")
    parser.add_argument("--full", action="store_true", help="also decompose n = 98,524 when it is predicted to fit")
    args = parser.parse_args()
    full_float32_precision()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = [512, 4096, 8192, 16384] if device.type == "cuda" else [512, 1024, 2048]
    print(f"device {torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, float32 eigh with eigenvectors")
    for library in args.libraries.split(","):
        if device.type == "cuda":
            torch.backends.cuda.preferred_linalg_library(library)
        timed_eigh(symmetric(256, device))  # warm-up: solver handles and kernels
        print(f"library {library}")
        print(
            f"{'n':>8} {'seconds':>9} {'s / n^3 (ns)':>13} {'peak GB':>9} {'peak / (4 n^2)':>15}"
            f" {'residual':>10} {'value error':>12}"
        )
        for n in sizes:
            matrix = symmetric(n, device)
            eigenvalues, eigenvectors, seconds, peak = timed_eigh(matrix)
            residual, value_error = errors(matrix, eigenvalues, eigenvectors)
            print(
                f"{n:>8} {seconds:>9.2f} {seconds / n**3 * 1e9:>13.3e} {peak / 1e9:>9.2f} {peak / (4 * n * n):>15.2f}"
                f" {residual:>10.1e} {value_error:>12.1e}"
            )
            del matrix, eigenvalues, eigenvectors
        scale = P_PAPER / sizes[-1]
        predicted_seconds, predicted_peak = seconds * scale**3, peak * scale**2
        print(f"{P_PAPER:>8} {predicted_seconds:>9.0f} {'(extrapolated)':>13} {predicted_peak / 1e9:>9.1f}")
    if device.type == "cpu":
        print(
            "(on the CPU the last row compares rates only: LAPACK's 32-bit workspace index stops eigh above n ≈ 33,000)"
        )
        return
    free, total = torch.cuda.mem_get_info()
    print(f"device memory: {free / 1e9:.1f} GB free of {total / 1e9:.1f} GB")
    if args.full and predicted_peak < 0.95 * free:
        _, _, seconds, peak = timed_eigh(symmetric(P_PAPER, device))
        print(
            f"{P_PAPER:>8} {seconds:>9.0f} {seconds / P_PAPER**3 * 1e9:>13.3e} {peak / 1e9:>9.2f}"
            f" {peak / (4 * P_PAPER**2):>15.2f}"
        )


if __name__ == "__main__":
    main()
