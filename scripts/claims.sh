#!/usr/bin/env bash
# The paper's five claims measured with exact labels on the world (issue 11, docs/claims.md): GradCtrl with
# and without exclusion against InterFaceGAN, conditional InterFaceGAN and GANSpace, on held-out latents
# scored by the world's exact scorer. Writes one report folder: claims.md (verdicts, tables, the command and
# seeds of each), one CSV per table, PNG plots, and evaluate.py's own summary of every edit.
#
#   bash scripts/claims.sh [OUT_DIR] [more evaluate.py flags, e.g. --n_boot 1000 --small_data_seeds 5]
#
# OUT_DIR (default claims_out): OUT_DIR/report is the report. The classifier and its data come from
# $GRADCTRL_CLAIMS_RUN (default OUT_DIR/run, e.g. a finished demo_out): when RUN/data or RUN/model is
# missing, both are built with configs/world.toml's settings (prepare_data, then train). Larger settings:
# GRADCTRL_CLAIMS_N_SAMPLES (held-out latents, default 64), GRADCTRL_CLAIMS_DATA_SAMPLES (samples of a
# rebuilt data directory, default the config's 20,000: 40,000 makes 4,000 selected samples per binary
# attribute available to the small-data claim), GRADCTRL_CLAIMS_SEED (default 0) and evaluate.py's flags.
# Demo-sized defaults: about 16 minutes on 2 CPU cores (12 measured with 32 held-out latents), the same
# numbers for the same seed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
OUT="claims_out"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    OUT="$1"
    shift
fi
RUN="${GRADCTRL_CLAIMS_RUN:-$OUT/run}"
CONFIG="configs/world.toml"
PYTHON="${PYTHON:-python3}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
start=$(date +%s)

if [ ! -d "$RUN/data" ] || [ ! -d "$RUN/model" ]; then
    data_flags=()
    [[ -n "${GRADCTRL_CLAIMS_DATA_SAMPLES:-}" ]] && data_flags+=(--n_samples "$GRADCTRL_CLAIMS_DATA_SAMPLES")
    echo "== building $RUN/data and $RUN/model ($CONFIG)"
    "$PYTHON" prepare_data.py --config "$CONFIG" --out_dir "$RUN/data" "${data_flags[@]}"
    "$PYTHON" train.py --config "$CONFIG" --data_dir "$RUN/data" --out_dir "$RUN/model" --quiet
fi
echo "== measuring the claims into $OUT/report"
"$PYTHON" evaluate.py --config "$CONFIG" --model_dir "$RUN/model" --data_dir "$RUN/data" --out_dir "$OUT/report" \
    --claims --n_samples "${GRADCTRL_CLAIMS_N_SAMPLES:-64}" --seed "${GRADCTRL_CLAIMS_SEED:-0}" "$@" > /dev/null
echo "claims finished in $(( $(date +%s) - start )) s: $OUT/report/claims.md"
