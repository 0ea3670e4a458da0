#!/usr/bin/env bash
# bash scripts/run_distribute_eval.sh RANK_TABLE_FILE DATA_PATH CHECKPOINT_PATH [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
