#!/usr/bin/env bash
# bash scripts/run_eval_gpu.sh DATA_DIR CKPT [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/model_script.sh" "$0" --config_path=default_config_gpu.yaml -- "$@"
