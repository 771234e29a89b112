#!/usr/bin/env bash
# The paper's five claims measured with exact labels on the world (issues 11 and 21, docs/claims.md): GradCtrl
# with and without exclusion against InterFaceGAN, conditional InterFaceGAN and GANSpace, on held-out latents
# scored by the world's exact scorer, once with configs/world.toml's fixed settings and once with the settings
# tune.py chooses on validation latents (the rule pre-registered in docs/claims.md), side by side.
#
#   bash scripts/claims.sh [OUT_DIR] [more evaluate.py flags, e.g. --n_boot 5000 --small_data_seeds 5]
#
# OUT_DIR (default claims_out) receives:
#   run/            the data directory and classifier, unless $GRADCTRL_CLAIMS_RUN names a folder with data/ and
#                   model/ (e.g. a finished demo_out); built with configs/world.toml (prepare_data, train)
#   tuning/         tune.py's frontier.png, search.csv, tuning.json; world_tuned.toml: the tuned config
#   report/         the claims with the fixed settings (claims.md, a CSV per table, plots, summary.md, ...)
#   report_tuned/   the claims with the tuned settings
#   side_by_side.md the two reports' verdicts in one table (scripts/claims_table.py)
# Settings: GRADCTRL_CLAIMS_N_SAMPLES (held-out test latents, default evaluate.py's for --claims),
# GRADCTRL_CLAIMS_SEED (default 0), GRADCTRL_CLAIMS_DATA_SAMPLES (samples of a rebuilt data directory, default
# the config's 20,000), GRADCTRL_CLAIMS_GENERATOR (another generator pickle, e.g. a training snapshot; the run
# folder is then built from it),
# GRADCTRL_CLAIMS_QUALITY (its quality.json, tabled beside the verdicts), GRADCTRL_CLAIMS_TUNE_FLAGS (tune.py
# flags, default "--n_val 16 --choose_steps": the demo-sized search at the path length chosen by the rule
# pre-registered in docs/claims.md, which both reports then use; "--full --n_val 64 --choose_steps" is the
# pre-registered space; without --choose_steps the config's 9 steps).
# Both commands render 64 latents' edits at a time (--batch_size 64: 576 images of 32 px in memory), 1.6x faster
# than their default 16 in bench/measure_loop.py. The same seed gives the same reports byte for byte.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/pipeline_common.sh
OUT="claims_out"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    OUT="$1"
    shift
fi
RUN="${GRADCTRL_CLAIMS_RUN:-$OUT/run}"
CONFIG="configs/world.toml"
SEED="${GRADCTRL_CLAIMS_SEED:-0}"

generator=()
flag_from_env generator --generator GRADCTRL_CLAIMS_GENERATOR
if [ ! -d "$RUN/data" ] || [ ! -d "$RUN/model" ]; then
    data_flags=()
    flag_from_env data_flags --n_samples GRADCTRL_CLAIMS_DATA_SAMPLES
    echo "== building $RUN/data and $RUN/model ($CONFIG${GRADCTRL_CLAIMS_GENERATOR:+, $GRADCTRL_CLAIMS_GENERATOR})"
    # the data and the classifier belong to the generator whose w they read: built with the one measured
    "$PYTHON" prepare_data.py --config "$CONFIG" "${generator[@]}" --out_dir "$RUN/data" "${data_flags[@]}"
    "$PYTHON" train.py --config "$CONFIG" --data_dir "$RUN/data" --out_dir "$RUN/model" --quiet
fi
samples=()
flag_from_env samples --n_samples GRADCTRL_CLAIMS_N_SAMPLES
read -r -a tune_flags <<< "${GRADCTRL_CLAIMS_TUNE_FLAGS:---n_val 16 --choose_steps}"

echo "== tuning layers and top-k on validation latents into $OUT/tuning"
mkdir -p "$OUT"
"$PYTHON" tune.py --config "$CONFIG" "${generator[@]}" --model_dir "$RUN/model" --data_dir "$RUN/data" \
    --out_config "$OUT/world_tuned.toml" --out_dir "$OUT/tuning" --seed "$SEED" --batch_size 64 "${tune_flags[@]}"
# the path length tune.py chose (--choose_steps, docs/claims.md "Path length for the claims"), for both reports
steps=$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("steps") or "")' "$OUT/tuning/tuning.json")
[[ -n "$steps" ]] && samples+=(--steps "$steps")
for variant in fixed tuned; do
    config="$CONFIG"; report="$OUT/report"
    [ "$variant" = tuned ] && config="$OUT/world_tuned.toml" && report="$OUT/report_tuned"
    echo "== measuring the claims with the $variant settings into $report"
    "$PYTHON" evaluate.py --config "$config" "${generator[@]}" --model_dir "$RUN/model" --data_dir "$RUN/data" \
        --out_dir "$report" --claims "${samples[@]}" --seed "$SEED" --batch_size 64 "$@" > /dev/null
done
quality=()
[[ -n "${GRADCTRL_CLAIMS_QUALITY:-}" ]] && quality+=(--quality fixed "$GRADCTRL_CLAIMS_QUALITY" --quality tuned "$GRADCTRL_CLAIMS_QUALITY")
"$PYTHON" scripts/claims_table.py --report fixed "$OUT/report" --report tuned "$OUT/report_tuned" "${quality[@]}" \
    --out "$OUT/side_by_side.md"
echo "claims finished in $(elapsed_seconds) s: $OUT/side_by_side.md, $OUT/report/claims.md, $OUT/report_tuned/claims.md"
