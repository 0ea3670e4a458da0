#!/usr/bin/env bash
# bash scripts/run_standalone_train_gpu.sh DEVICE_ID DATASET_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=default_config_gpu.yaml -- "$@"
