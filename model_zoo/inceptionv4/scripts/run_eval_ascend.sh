#!/usr/bin/env bash
# bash scripts/run_eval_ascend.sh DEVICE_ID DATA_DIR CHECKPOINT_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
