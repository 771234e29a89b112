#!/usr/bin/env bash
# Rebuild the world's generator (gradctrl/assets/world32.pkl) from scratch: draw the 60,000 training faces,
# then train a StyleGAN2 on them with the "32" preset, KID measured in the shipped scorer's features at
# every snapshot. On 2 CPU cores this takes hours (9-30 s per kimg, by CPU). The shipped generator is not
# one run of this script: its first 160 kimg are this recipe, then it was continued from snapshots (seed 1 to
# 450 kimg, then --r1_gamma 0.5 to 690 kimg); docs/world.md gives each command. Stop it at any time and
# continue it with python -m stylegan2 train --out_dir RUN --resume [--total_kimg MORE].
#
#   bash scripts/train_world.sh [RUN_DIR] [KIMG]        (defaults: build/world_run, 500)
set -euo pipefail
cd "$(dirname "$0")/.."
RUN="${1:-build/world_run}"
KIMG="${2:-500}"
PYTHON="${PYTHON:-python3}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
mkdir -p build
[[ -d build/world_data ]] || "$PYTHON" -m gradctrl.world draw --n_samples 60000 --seed 0 --out_dir build/world_data
"$PYTHON" -m stylegan2 train --data build/world_data/images.npy --out_dir "$RUN" --preset 32 --seed 0 \
    --total_kimg "$KIMG" --snapshot_kimg 10 --kid_samples 2000 --kid_model gradctrl/assets/world_scorer.keras
