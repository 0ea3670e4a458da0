#!/usr/bin/env bash
# bash scripts/run_eval_cpu.sh NET DATASET PATH CKPT [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" -- "$@"
