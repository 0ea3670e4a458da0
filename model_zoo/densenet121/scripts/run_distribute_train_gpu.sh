#!/usr/bin/env bash
# bash scripts/run_distribute_train_gpu.sh DEVICE_NUM VISIBLE_DEVICES NET_NAME DATASET_NAME DATASET_PATH [PRE_TRAINED] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
