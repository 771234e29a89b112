#!/usr/bin/env bash
# The paper's LSUN car figure: GradCtrl edits of sky_blue, grassground, treesbackground and hubcap_dense
# (+1 and -1 rows) with the authors' released classifiers on W+ layers 6:14 (configs/car.toml), frames
# cropped to the 512 x 384 picture as NVIDIA shows LSUN cars, one PNG.
#
#   scripts/fig_car.sh [GENERATOR_PKL] [more figures.py flags]
#
# GENERATOR_PKL (or $GRADCTRL_CAR_PKL): NVIDIA's stylegan2-car-config-f.pkl, from
#   https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-car-config-f.pkl
#   (default: that file name in the current folder; any StyleGAN2 pickle with w_dim 512 and >= 14 W+ layers runs).
# $GRADCTRL_RELEASED: the folder holding the authors' model_car/; default ../shared/released beside this
#   checkout. Output: $GRADCTRL_FIGURES/fig_car.png (default build/figures/).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/figure_common.sh"
FIGURE_FLAGS=(--crop_aspect 4:3
    --title "GradCtrl on StyleGAN2 LSUN car: original, then 9 steps of 4/9 on W+ layers 6:14")
run_figure car model_car GRADCTRL_CAR_PKL "$@"
