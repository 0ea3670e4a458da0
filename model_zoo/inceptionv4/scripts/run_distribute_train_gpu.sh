#!/usr/bin/env bash
# bash scripts/run_distribute_train_gpu.sh DATASET_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=default_config_gpu.yaml -- "$@"
