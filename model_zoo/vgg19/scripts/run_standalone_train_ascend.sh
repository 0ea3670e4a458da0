#!/usr/bin/env bash
# bash scripts/run_standalone_train_ascend.sh YAML_CONFIG_PATH DATA_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=imagenet2012_config.yaml -- "$@"
