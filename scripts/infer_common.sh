#!/usr/bin/env bash
# The body of every model_zoo/<model>/scripts/run_infer_310.sh (the upstream 310 inference chain).  A model runs
#     exec bash <repo>/scripts/infer_common.sh "$0" "<its app's flags>" "$@"
# with the user's arguments
#     [MINDIR_PATH] [DATASET_NAME] [DATA_PATH] [NEED_PREPROCESS y|n] [DEVICE_TARGET CPU|GPU|Ascend] [DEVICE_ID]
#     [--key=value ...]   (any flag of the recipe, e.g. --config_path=imagenet2012_config.yaml --image_size=32,32)
# and works in the current folder, as upstream:
#   1. preprocess (NEED_PREPROCESS=y) -> ./preprocess_Result/ (imagenet_label.json + img_id:label file, or the
#      CIFAR-10 .bin batches + cifar10_label_ids.npy); log preprocess.log
#   2. infer -> ./result_Files/<name>_0.bin and ./time_Result/test_perform_static.txt; log infer.log.  On Ascend,
#      with the user's compiled app <model>/ascend310_infer/out/main, that app; anywhere else the Python runner
#      (MINDIR through mindspore.load + GraphCell, or ONNX through onnxruntime)
#   3. postprocess -> top-1 / top-5 with the recipe's eval.py lines; log acc.log (also printed)
# PYTHON=... picks the interpreter.
script="$1"; app_flags="$2"; shift 2
model_dir="$(cd "$(dirname "$script")/.." && pwd)"
model="$(basename "$model_dir")"
root="$(cd "$model_dir/../.." && pwd)"

usage() {
    echo "usage: bash $(basename "$script") [MINDIR_PATH] [DATASET_NAME imagenet2012|cifar10] [DATA_PATH]" \
         "[NEED_PREPROCESS y|n] [DEVICE_TARGET CPU|GPU|Ascend (default CPU)] [DEVICE_ID (default 0)] [--key=value ...]"
}
fail() { echo "error: $*" >&2; exit 1; }

positional=(); extra=()
for arg in "$@"; do
    case "$arg" in
        --*) extra+=("$arg") ;;
        *) positional+=("$arg") ;;
    esac
done
if [ ${#positional[@]} -lt 4 ] || [ ${#positional[@]} -gt 6 ]; then
    usage >&2; exit 1
fi
model_path="$(realpath -m "${positional[0]}")"
dataset="$(echo "${positional[1]}" | tr '[:upper:]' '[:lower:]')"
data_path="$(realpath -m "${positional[2]}")"
need_preprocess="$(echo "${positional[3]}" | tr '[:upper:]' '[:lower:]')"
device_target="${positional[4]:-CPU}"
device_id="${positional[5]:-0}"
[ -f "$model_path" ] || fail "model file $model_path not found (MINDIR_PATH)"
[ -e "$data_path" ] || fail "data path $data_path does not exist (DATA_PATH)"
case "$dataset" in imagenet|imagenet2012|cifar10|folder) ;; *) fail "DATASET_NAME must be imagenet2012 or cifar10, got $dataset" ;; esac
case "$need_preprocess" in y|n) ;; *) fail "NEED_PREPROCESS must be y or n, got ${positional[3]}" ;; esac
[ "$dataset" == "imagenet" ] && dataset="imagenet2012"

echo "mindir name: $model_path"
echo "dataset name: $dataset"
echo "dataset path: $data_path"
echo "need preprocess: $need_preprocess"
echo "device target: $device_target"
echo "device id: $device_id"

python="${PYTHON:-$(command -v python || command -v python3)}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
deploy() { "$python" -m model_zoo.engine.deploy "$1" --model "$model" "${@:2}"; }
common=(--dataset="$dataset" --device_target="$device_target" --device_id="$device_id" "${extra[@]}")
if [ "$dataset" == "cifar10" ]; then
    input=./preprocess_Result/00_data; labels=./preprocess_Result/cifar10_label_ids.npy
else
    input="$data_path"; labels=./preprocess_Result/imagenet_label.json
fi

if [ "$need_preprocess" == "y" ]; then
    rm -rf ./preprocess_Result
    deploy preprocess "${common[@]}" --data_dir="$data_path" --result_path=./preprocess_Result/ \
        --model_file="$model_path" &> preprocess.log \
        || fail "preprocess failed: $(grep '^error:' preprocess.log | tail -n 1) (see preprocess.log)"
fi

rm -rf ./result_Files ./time_Result
mkdir -p ./result_Files ./time_Result
app="$model_dir/ascend310_infer/out/main"
if [ "$device_target" == "Ascend" ] && [ -x "$app" ]; then
    if [ -d /usr/local/Ascend/ascend-toolkit/latest ]; then  # upstream r1.x environment of the 310 app
        export ASCEND_HOME=/usr/local/Ascend/ascend-toolkit/latest
        export PATH=$ASCEND_HOME/compiler/bin:$ASCEND_HOME/compiler/ccec_compiler/bin:$PATH
        export LD_LIBRARY_PATH=$ASCEND_HOME/lib64:/usr/local/Ascend/driver/lib64:$LD_LIBRARY_PATH
        export ASCEND_OPP_PATH=$ASCEND_HOME/opp
    fi
    flags="${app_flags//\{model\}/$model_path}"
    flags="${flags//\{dataset\}/$dataset}"
    flags="${flags//\{input\}/$input}"
    flags="${flags//\{device_id\}/$device_id}"
    # shellcheck disable=SC2086  # the model's flag template is split into words on purpose
    "$app" $flags &> infer.log || fail "inference app $app failed (see infer.log)"
else
    deploy infer "${common[@]}" --model_file="$model_path" --data_dir="$input" --infer_out_dir=. &> infer.log \
        || fail "inference failed: $(grep '^error:' infer.log | tail -n 1) (see infer.log)"
fi

deploy postprocess "${common[@]}" --result_dir=./result_Files --label_dir="$labels" &> acc.log \
    || fail "postprocess failed: $(grep '^error:' acc.log | tail -n 1) (see acc.log)"
cat acc.log
