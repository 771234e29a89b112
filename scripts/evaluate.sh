#!/usr/bin/env bash
# Compare editing methods (GradCtrl with and without exclusion, InterFaceGAN, conditional InterFaceGAN,
# GANSpace) on held-out latents: evaluate.py with the image scorers, then the quick
# latent-classifier version. Defaults: the embedded demo (run scripts/demo.sh first).
#
#   scripts/evaluate.sh [RUN_DIR] [more evaluate.py flags, e.g. --n_samples 128]
#
# RUN_DIR (default demo_out, in the repository root as scripts/demo.sh writes it) holds data/ (prepare_data.py) and model/ (train.py); the tables go to
# RUN_DIR/evaluation (image scores: the one that counts) and RUN_DIR/evaluation_latent (latent
# classifiers: circular for GradCtrl). $GRADCTRL_CONFIG: the config naming the generator, the scorers and
# the edit defaults (default configs/demo.toml). Runs in the repository root, like scripts/demo.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
run="$root/demo_out"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    run="$1"
    shift
fi
config="$(realpath "${GRADCTRL_CONFIG:-$root/configs/demo.toml}")"
for part in data model; do
    if [ ! -d "$run/$part" ]; then
        echo "evaluate.sh: error: '$run/$part' is missing: run scripts/demo.sh first (or prepare_data.py and" \
             "train.py into RUN_DIR/data and RUN_DIR/model)" >&2
        exit 2
    fi
done
# The demo config names its generator relative to the repository root, as scripts/demo.sh runs it.
run="$(realpath "$run")"
cd "$root"
common=(--config "$config" --model_dir "$run/model" --data_dir "$run/data")
python3 "$root/evaluate.py" "${common[@]}" --out_dir "$run/evaluation" "$@"
python3 "$root/evaluate.py" "${common[@]}" --out_dir "$run/evaluation_latent" --latent_only "$@"
