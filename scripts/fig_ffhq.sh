#!/usr/bin/env bash
# The paper's FFHQ figure: GradCtrl edits of gender, smile, eyeglasses and age (+1 and -1 rows) with the
# authors' released classifiers and their exclusion settings (configs/ffhq.toml), one PNG.
#
#   scripts/fig_ffhq.sh [GENERATOR_PKL] [more figures.py flags, e.g. --n_samples 4 --seed 1]
#
# GENERATOR_PKL (or $GRADCTRL_FFHQ_PKL): NVIDIA's stylegan2-ffhq-config-f.pkl, from
#   https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl
#   (default: that file name in the current folder; any StyleGAN2 pickle with w_dim 512 and 18 W+ layers runs).
# $GRADCTRL_RELEASED: the folder holding the authors' model_ffhq/ (github.com/zikuncshelly/GradCtrl, MIT);
#   default ../shared/released beside this checkout. Output: $GRADCTRL_FIGURES/fig_ffhq.png (default build/figures/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/figure_common.sh"
FIGURE_FLAGS=(--attributes gender,smile,eyeglasses,age
    --title "GradCtrl on StyleGAN2 FFHQ: original, then 9 steps of 4/9 (paper's exclusion and W+ layers)")
run_figure ffhq model_ffhq GRADCTRL_FFHQ_PKL "$@"
