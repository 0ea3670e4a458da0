#!/usr/bin/env bash
# The body of every model_zoo/<model>/scripts/run_*.sh.  A model script runs
#     exec bash <repo>/scripts/model_script.sh "$0" [the model's default flags] -- "$@"
# and this hands everything to the one shared launcher (model_zoo/engine/launcher.py), which knows from the
# script's name what it does (task, device, launcher, arguments), checks the arguments (usage + exit 1 on error)
# and starts the job.  MODEL_ZOO_DRY_RUN=1 prints the commands instead; PYTHON=... picks the interpreter.
script="$1"; shift
scripts_dir="$(cd "$(dirname "$script")" && pwd)"
root="$(cd "$scripts_dir/../../.." && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m model_zoo.engine.launcher script "$scripts_dir/$(basename "$script")" "$@"
