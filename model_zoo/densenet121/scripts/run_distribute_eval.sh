#!/usr/bin/env bash
# bash scripts/run_distribute_eval.sh DEVICE_NUM RANK_TABLE_FILE NET_NAME DATASET_NAME DATASET CKPT_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
