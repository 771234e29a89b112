#!/usr/bin/env bash
# The embedded demo: prepare_data -> train -> manipulate -> summary on the world's StyleGAN2 (drawn faces,
# gradctrl/assets/world32.pkl; every attribute labelled by the world's exact scorer), offline, on CPU, in a
# few minutes. Installs nothing: install first (see the README's quick start).
#
#   bash scripts/demo.sh [OUT_DIR]          (default: demo_out, beside this repository's configs/)
#
# Writes OUT_DIR/data (data directory), OUT_DIR/model (classifier), OUT_DIR/edits/with_exclusion and
# OUT_DIR/edits/without_exclusion (strips, trajectories, settings, each folder's index.html), OUT_DIR/summary.txt
# and OUT_DIR/index.html (python -m gradctrl.report: both edit folders' edits side by side, with links to their pages).
# Other settings: GRADCTRL_DEMO_CONFIG (default configs/world.toml; configs/demo.toml is the older demo on a
# random generator), GRADCTRL_DEMO_ATTRIBUTES (default: eyeglasses smile age hair_colour), and for smaller
# runs GRADCTRL_DEMO_N_SAMPLES, GRADCTRL_DEMO_EPOCHS, GRADCTRL_DEMO_EDITS (latents per edit, default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/pipeline_common.sh
OUT="${1:-demo_out}"
CONFIG="${GRADCTRL_DEMO_CONFIG:-configs/world.toml}"
ATTRIBUTES="${GRADCTRL_DEMO_ATTRIBUTES:-eyeglasses smile age hair_colour}"
EDITS="${GRADCTRL_DEMO_EDITS:-16}"

data_flags=()
flag_from_env data_flags --n_samples GRADCTRL_DEMO_N_SAMPLES
train_flags=()
flag_from_env train_flags --n_epochs GRADCTRL_DEMO_EPOCHS

echo "== 1/4 prepare_data: sample, render, score, select, split"
"$PYTHON" prepare_data.py --config "$CONFIG" --out_dir "$OUT/data" "${data_flags[@]}"
echo "== 2/4 train: one classifier branch per attribute on w"
"$PYTHON" train.py --config "$CONFIG" --data_dir "$OUT/data" --out_dir "$OUT/model" --quiet "${train_flags[@]}"
echo "== 3/4 manipulate: each attribute, with the config's exclusion and without"
for attribute in $ATTRIBUTES; do
    "$PYTHON" manipulate.py --config "$CONFIG" --model_dir "$OUT/model" --attribute "$attribute" \
        --n_samples "$EDITS" --seed 0 --out_dir "$OUT/edits/with_exclusion"
    "$PYTHON" manipulate.py --config "$CONFIG" --model_dir "$OUT/model" --attribute "$attribute" \
        --n_samples "$EDITS" --seed 0 --exclude none --out_dir "$OUT/edits/without_exclusion"
done
"$PYTHON" -m gradctrl.report "$OUT/edits/with_exclusion" "$OUT/edits/without_exclusion" --out_dir "$OUT" \
    --title "GradCtrl demo: edits with and without exclusion"
echo "== 4/4 summary"
"$PYTHON" scripts/demo_summary.py --config "$CONFIG" --edits "$OUT/edits" --data_dir "$OUT/data" \
    | tee "$OUT/summary.txt"
echo "demo finished in $(elapsed_seconds) s: strips in $OUT/edits, summary in $OUT/summary.txt, page $OUT/index.html"
