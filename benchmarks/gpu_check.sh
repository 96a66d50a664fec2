#!/usr/bin/env bash
# Every check of the GPU path in one prepared run (≈3 min on an H200 on 2026-12-01, before the segmented step: ≈4 min), for a machine with one CUDA GPU:
#   PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh [OUTPUT_FOLDER]
# 1. tests/test_gpu.py: GPU Hessians (float64 and IEEE float32) and float32 eigh against the CPU float64
#    references, and bitwise-repeatable training on the GPU;
# 2. one HVP block of the `paper` model over 2,000 CIFAR-shaped inputs, extrapolated to a full Hessian, by full
#    products and by the segmented assembly (one block per segment; never measured on a GPU yet);
# 3. float32 eigh at n = 512 ... 16384 with its accuracy, extrapolated to the paper's P = 98,524 (time n^3, memory n^2);
# 4. the dry run of the `paper` profile on this device;
# 5. one whole segmented Hessian of the `gpu` profile's model (P = 24,967, N = 10,000) and its eigh, timed against its
#    counted work (benchmarks/hessian_profile.py): the share of the float32 peak behind the `gpu` profile's 1-h bound;
#    then the dry run of the `gpu` profile;
# 6. tests/test_hessian.py (the CPU references and the kill-and-resume tests) on this machine's CPUs.
# Each step has its own time limit, so one slow step cannot eat a short lease; summary.txt lists each step's
# exit status (124: it ran past its limit) and seconds.
set -uo pipefail
python=${PYTHON:-python3}
out=${1:-build/gpu_check}
mkdir -p "$out"
export PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 LANDSCAPE_DEVICE=cuda
: > "$out/summary.txt"

step() {  # step NAME SECONDS COMMAND...: runs COMMAND under a limit, its output to NAME.txt
    local name=$1 limit=$2 start=$SECONDS
    shift 2
    timeout "$limit" "$@" 2>&1 | tee "$out/$name.txt"
    echo "$name rc=${PIPESTATUS[0]} seconds=$((SECONDS - start))" | tee -a "$out/summary.txt"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
"$python" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/device.txt"
step tests 150 "$python" -m pytest -q -p no:cacheprovider tests/test_gpu.py
step hessian_block 90 "$python" benchmarks/hessian_paper_scale.py --examples 2000
step hessian_block_segmented 120 "$python" benchmarks/hessian_paper_scale.py --examples 2000 --segmented
step eigh 90 "$python" benchmarks/eigh_gpu.py
step plan 120 "$python" -m landscape plan paper
step hessian_gpu_profile 240 "$python" benchmarks/hessian_profile.py gpu
step plan_gpu 90 "$python" -m landscape plan gpu
step cpu_tests 110 "$python" -m pytest -q -p no:cacheprovider tests/test_hessian.py
