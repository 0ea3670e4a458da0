#!/usr/bin/env bash
# bash scripts/run_distribute_eval_gpu.sh DEVICE_NUM VISIBLE_DEVICES NET DATASET PATH CKPT [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
