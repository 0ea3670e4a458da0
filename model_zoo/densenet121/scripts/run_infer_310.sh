#!/usr/bin/env bash
# bash scripts/run_infer_310.sh [MINDIR_PATH] [DATASET_NAME] [DATA_PATH] [NEED_PREPROCESS] [DEVICE_TARGET] [DEVICE_ID] [--key=value ...]
exec bash "$(dirname "$0")/../../../scripts/infer_common.sh" "$0" \
    "--model_path={model} --dataset={dataset} --dataset_path={input} --device_id={device_id}" "$@"
