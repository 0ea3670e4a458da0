#!/usr/bin/env bash
# bash scripts/run_eval_ascend.sh DATA_PATH CHECKPOINT_PATH [DEVICE_ID] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=imagenet2012_config.yaml -- "$@"
