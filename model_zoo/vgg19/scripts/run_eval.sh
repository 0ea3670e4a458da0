#!/usr/bin/env bash
# bash scripts/run_eval.sh DATA_PATH DATASET_TYPE DEVICE_TYPE CHECKPOINT_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
