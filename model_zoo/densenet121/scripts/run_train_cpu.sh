#!/usr/bin/env bash
# bash scripts/run_train_cpu.sh NET DATASET PATH [PRETRAINED] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
