#!/usr/bin/env bash
# bash scripts/run_standalone_train_ascend.sh DATA_PATH [DEVICE_ID] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
