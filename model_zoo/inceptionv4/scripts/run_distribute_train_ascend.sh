#!/usr/bin/env bash
# bash scripts/run_distribute_train_ascend.sh RANK_TABLE_FILE DATA_DIR [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
