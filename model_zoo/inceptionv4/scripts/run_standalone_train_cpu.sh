#!/usr/bin/env bash
# bash scripts/run_standalone_train_cpu.sh DATA_DIR [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=default_config_cpu.yaml -- "$@"
