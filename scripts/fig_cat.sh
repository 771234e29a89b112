#!/usr/bin/env bash
# The paper's LSUN cat figure: multi-class GradCtrl edits of the colour attribute, one row per class of
# the authors' released 8-class classifier, on W+ layers 6:14 (configs/cat.toml), one PNG.
#
#   scripts/fig_cat.sh [GENERATOR_PKL] [more figures.py flags]
#
# GENERATOR_PKL (or $GRADCTRL_CAT_PKL): NVIDIA's stylegan2-cat-config-f.pkl, from
#   https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-cat-config-f.pkl
#   (default: that file name in the current folder; any StyleGAN2 pickle with w_dim 512 and >= 14 W+ layers runs).
# $GRADCTRL_RELEASED: the folder holding the authors' model_cat/; default ../shared/released beside this
#   checkout. Output: $GRADCTRL_FIGURES/fig_cat.png (default build/figures/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/figure_common.sh"
FIGURE_FLAGS=(--title "GradCtrl on StyleGAN2 LSUN cat: original, then 9 steps of 4/9 towards each colour class")
run_figure cat model_cat GRADCTRL_CAT_PKL "$@"
