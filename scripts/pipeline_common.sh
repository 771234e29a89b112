# Shared by scripts/demo.sh and scripts/claims.sh (sourced, not run, from the repository root): how they run
# the stage commands. $PYTHON is the interpreter (default python3), TensorFlow logs warnings and errors only
# unless TF_CPP_MIN_LOG_LEVEL says otherwise, and the clock of elapsed_seconds starts when this file is sourced.
PYTHON="${PYTHON:-python3}"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
pipeline_start=$(date +%s)

# elapsed_seconds: the whole seconds since this file was sourced.
elapsed_seconds() {
    echo $(( $(date +%s) - pipeline_start ))
}

# flag_from_env ARRAY FLAG VARIABLE: append FLAG and the value of the environment variable named VARIABLE to
# the array named ARRAY, when that variable is set and not empty (a setting passed on to a command).
flag_from_env() {
    local -n flags="$1"
    if [[ -n "${!3:-}" ]]; then
        flags+=("$2" "${!3}")
    fi
}
