#!/usr/bin/env bash
# bash scripts/run_distribute_train.sh RANK_TABLE_FILE DATA_PATH [cifar10|imagenet2012] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=cifar10_config.yaml -- "$@"
