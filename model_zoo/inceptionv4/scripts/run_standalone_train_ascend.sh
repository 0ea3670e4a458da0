#!/usr/bin/env bash
# bash scripts/run_standalone_train_ascend.sh DEVICE_ID DATA_DIR [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
