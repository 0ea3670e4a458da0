#!/usr/bin/env bash
# bash scripts/run_eval_cpu.sh DATA_PATH CHECKPOINT_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=imagenet2012_config.yaml -- "$@"
