#!/usr/bin/env bash
# Every check of the GPU path in one prepared run (≈8 min on an H200), for a machine with one CUDA GPU:
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh [OUTPUT_FOLDER]
# 1. tests/test_gpu.py: GPU Hessians (float64 and IEEE float32) and float32 eigh against the CPU float64
#    references, and bitwise-repeatable training on the GPU (tests/test_hessian.py alongside);
# 2. one HVP block of the `paper` model over 5,000 CIFAR-shaped inputs, extrapolated to a full Hessian;
# 3. float32 eigh at n = 4096 ... 16384, extrapolated to the paper's P = 98,524 (time n^3, memory n^2);
# 4. the dry run of the `paper` profile on this device.
set -euo pipefail
python=${PYTHON:-python3}
out=${1:-build/gpu_check}
mkdir -p "$out"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 LANDSCAPE_DEVICE=cuda
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
"$python" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_hessian.py 2>&1 | tee "$out/tests.txt"
"$python" benchmarks/hessian_paper_scale.py --examples 5000 2>&1 | tee "$out/hessian_block.txt"
"$python" benchmarks/eigh_gpu.py 2>&1 | tee "$out/eigh.txt"
"$python" -m landscape plan paper 2>&1 | tee "$out/plan.txt"
