# Shared by scripts/fig_*.sh (sourced, not run): find the released classifiers and the generator, then run
# figures.py with the paper config. run_figure NAME MODEL ENV_VAR [ARGS...]: a first ARG that
# is not a flag is the generator pickle (else the variable named ENV_VAR, else NVIDIA's file name in the
# current folder); the script's FIGURE_FLAGS come next and the remaining ARGS last, so the user's flags win.
root="$(cd "$here/.." && pwd)"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"

# require_file FILE WORDS...: unless FILE is a regular file, print WORDS (joined by spaces, one line) on stderr
# and exit 2.
require_file() {
    local file="$1"
    shift
    if [ ! -f "$file" ]; then
        echo "$@" >&2
        exit 2
    fi
}

run_figure() {
    local name="$1" model="$2" variable="$3"
    shift 3
    local file="stylegan2-$name-config-f.pkl"
    local generator="${!variable:-$file}"
    if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
        generator="$1"
        shift
    fi
    require_file "$generator" \
        "fig_$name.sh: error: generator pickle '$generator' not found: download NVIDIA's" \
        "https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/$file and pass its path as the first" \
        "argument (or set $variable)"
    local released="${GRADCTRL_RELEASED:-$root/../shared/released}"
    require_file "$released/$model/model.pth" \
        "fig_$name.sh: error: the authors' released classifier '$released/$model' is missing:" \
        "set GRADCTRL_RELEASED to the folder holding model_ffhq, model_car and model_cat" \
        "(from github.com/zikuncshelly/GradCtrl)"
    local out="${GRADCTRL_FIGURES:-build/figures}/fig_$name.png"
    python3 "$root/figures.py" --config "$root/configs/$name.toml" --model_dir "$released/$model" \
        --generator "$generator" --out "$out" "${FIGURE_FLAGS[@]}" "$@"
}
