#!/bin/sh
# The Tux Paint demo model's training step and eval forward at 64x64 (bench/step.lua --model
# tux: 8x3x64x64, 4-level U-Net base 16, batch norm, 2 classes, cross-entropy, Adam) beside
# PyTorch (bench/tux_step_torch.py, the same net and shapes): bench/bench_fashion.sh with
# MODEL=tux (THREADS, STEPS, RUNS, CLOCK as there).
cd "$(dirname "$0")/.." || exit 1
MODEL=tux exec sh bench/bench_fashion.sh
