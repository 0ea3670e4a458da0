#!/usr/bin/env bash
# The body of every model_zoo/<model>/scripts/run_infer_310.sh (the upstream 310 inference chain).  A model runs
#     exec bash <repo>/scripts/infer_common.sh "$0" "<its app's flags>" "$@"
# with the user's arguments in any upstream form, e.g.
#     [MINDIR_PATH] [DATASET_NAME] [DATA_PATH] [NEED_PREPROCESS y|n] [DEVICE_TARGET CPU|GPU|Ascend] [DEVICE_ID]
#     [MINDIR_PATH] [DATASET] [DATA_PATH] [LABEL_FILE] [DEVICE_ID]        (DenseNet r1.x)
#     [MINDIR_PATH] [DATA_PATH] [LABEL_FILE] [DEVICE_ID]                  (InceptionV4 r1.x)
#     [--key=value ...]   (any flag of the recipe, e.g. --config_path=imagenet2012_config.yaml --image_size=32,32)
# and works in the current folder, as upstream: preprocess -> preprocess_Result/ (preprocess.log), infer ->
# result_Files/ and time_Result/ (infer.log; the user's compiled <model>/ascend310_infer/out/main on Ascend when it
# exists), postprocess -> acc.log (also printed).  model_zoo/engine/deploy/infer_script.py does the work;
# MODEL_ZOO_DRY_RUN=1 prints the commands instead.  PYTHON=... picks the interpreter.
script="$1"; shift
root="$(cd "$(dirname "$script")/../../.." && pwd)"
python="${PYTHON:-$(command -v python || command -v python3)}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m model_zoo.engine.deploy.infer_script "$script" "$@"
