"""What every deployment command shares: its configuration, one-line errors, model files and image batches.

Configuration: the recipe's own YAMLs and aliases (``--config_path``, ``--image_size``, ``--num_classes`` ...)
plus the deployment keys below, resolved exactly as ``eval.py`` resolves its flags.
"""
import os
from pathlib import Path

import numpy as np

from model_zoo.engine.console import note
from model_zoo.engine.errors import ConfigError, DataError, ZooError, first_line

# deployment keys, typed by their default (a recipe YAML defining the same key keeps its own default)
DEPLOY_DEFAULTS = {
    "model_file": "",
    "result_path": "",
    "result_dir": "",
    "label_dir": "",
    "result_dtype": "float32",
    "infer_out_dir": ".",
    "class_names": "",
    "top_k": 5,
    "output_csv": "",
    "output_json": "",
    "calib_num": 1000,
    "calib_data_dir": "",
    "int8_file": "",
    "per_channel": True,
    "threads": 0,
    "warmup": 3,
    "iters": 20,
    "bench_formats": "ms,mindir,onnx,int8",
    "bench_dir": "",
}
DEPLOY_HELPS = {
    "model_file": "exported model to run: .mindir (mindspore.load + GraphCell) or .onnx (onnxruntime)",
    "result_path": "preprocess: output folder (./preprocess_Result/); postprocess: the result_Files folder",
    "result_dir": "postprocess: folder of <name>_0.bin result files (default ./result_Files)",
    "label_dir": "postprocess: imagenet_label.json / img_id:label file / cifar10_label_ids.npy",
    "result_dtype": "infer/postprocess: number type of the result_Files: float32, or float16 (what an Ascend 310 app "
                    "writes for a graph exported with --export_fp16, as an upstream recipe's)",
    "infer_out_dir": "infer: folder receiving result_Files/ and time_Result/",
    "class_names": "predict: file with one class name per line (default: the checkpoint's, or ImageNet-1k's)",
    "top_k": "predict: how many classes to show per image",
    "output_csv": "predict/benchmark: also write the results as CSV to this file",
    "output_json": "predict/quantize/benchmark: also write the results as JSON to this file",
    "calib_num": "quantize: calibration images, drawn round-robin over the classes",
    "calib_data_dir": "quantize: class folders to calibrate on (default: the evaluation folder)",
    "int8_file": "quantize: output file (default <model>_int8.onnx)",
    "per_channel": "quantize: per-channel weight scales",
    "threads": "benchmark: cores to use (0 = all this process may use)",
    "warmup": "benchmark: untimed runs before timing",
    "iters": "benchmark: timed runs",
    "bench_formats": "benchmark: comma-separated subset of ms,mindir,onnx,int8",
    "bench_dir": "benchmark: folder for the exported files (default: a temporary folder)",
}
# upstream spellings of the C++ apps' flags
DEPLOY_ALIASES = {"mindir_path": "model_file", "model_path": "model_file", "onnx_path": "model_file",
                  "input0_path": "data_dir", "dataset_path": "data_dir", "dataset_name": "dataset",
                  "device_type": "device_target"}
MODEL_SUFFIXES = (".mindir", ".onnx")
RESULT_DTYPES = ("float32", "float16")


# ---------------------------------------------------------------------------------------------------------------
# configuration and one-line errors
# ---------------------------------------------------------------------------------------------------------------

def resolve(task, recipe_name, argv, positionals=(), phase="eval"):
    """(recipe, cfg) for a deployment task: the recipe's configuration layers plus the deployment keys; the
    recipe's ``prepare`` sees ``phase`` ('eval', or 'export' where --batch_size is the exported batch)."""
    from model_zoo.engine.cli import recipe_config
    from model_zoo.engine.config import ConfigSchema
    from model_zoo.engine.registry import get_recipe

    recipe = get_recipe(recipe_name)
    aliases = dict(DEPLOY_ALIASES)
    aliases.update(recipe.aliases)
    schema = ConfigSchema(recipe.yaml_paths(), aliases, extra_defaults=DEPLOY_DEFAULTS)
    for key, text in DEPLOY_HELPS.items():
        schema.helps.setdefault(key, text)
    schema.choices.setdefault("result_dtype", list(RESULT_DTYPES))
    def build(layer=None):
        cfg = recipe_config(recipe, schema, argv, announce=layer is None, prog=f"{task}.py",
                            description=f"{recipe.name} {task} ({recipe.description})", positionals=positionals,
                            weights_layer=layer)
        if recipe.prepare is not None:
            recipe.prepare(cfg, phase)
        if cfg.sources.get("data_path") == "command line" and cfg.sources.get("data_dir") != "command line":
            cfg.data_dir = cfg.data_path  # an upstream run_onnx_eval.sh passes --data_path
        return cfg

    from model_zoo.engine import weights

    cfg = build()
    path = given_checkpoint(cfg)
    return recipe, (weights.configure(recipe, cfg, "eval", build, path=path) if path else cfg)


def run_guarded(function, argv):
    """Run ``function()``; a failure is one ``error:`` line and a non-zero exit code (as ``cli.main``)."""
    from model_zoo.engine.cli import guarded

    return guarded(function, argv)


def given(cfg, key):
    """The value of ``key`` when the user set it on the command line, else ''."""
    return cfg.get(key) if cfg.sources.get(key) == "command line" else ""


def model_path(cfg, allow_checkpoint=False, required=True):
    """The model the user named: ``--model_file`` (``--mindir_path`` ...), else a command-line ``--ckpt_file`` /
    ``--pre_trained`` / ``--file_name`` (upstream eval_onnx spellings).  Returns a Path or None."""
    for key in ("model_file", "ckpt_file", "pre_trained", "file_name"):
        value = given(cfg, key)
        if not value:
            continue
        path = Path(str(value))
        if key == "file_name" and path.suffix.lower() not in MODEL_SUFFIXES:
            path = path.with_name(path.name + ".onnx")
        if path.suffix.lower() in MODEL_SUFFIXES or (allow_checkpoint and key != "file_name"):
            return path
    if required:
        what = "--model_file X.mindir|X.onnx" + (" or --ckpt_file X.ckpt" if allow_checkpoint else "")
        raise ConfigError(f"no model given: pass {what}")
    return None


def is_checkpoint(path):
    return Path(path).suffix.lower() not in MODEL_SUFFIXES


def given_checkpoint(cfg):
    """The weight file named on the command line (``--ckpt_file`` / ``--pre_trained``, or a checkpoint given as
    ``--model_file``), or None."""
    for key in ("ckpt_file", "pre_trained", "model_file"):
        value = given(cfg, key)
        if value and is_checkpoint(value):
            return Path(str(value))
    return None


# ---------------------------------------------------------------------------------------------------------------
# models as numpy functions
# ---------------------------------------------------------------------------------------------------------------

def setup_device(cfg):
    from model_zoo.engine.device import get_backend

    backend = get_backend(cfg.device_target)
    backend.setup_context(cfg.mode, cfg.device_id, cfg.get("jit_level", ""))
    return backend


class ExportedModel:
    """A MINDIR (``mindspore.load`` + ``nn.GraphCell``) or ONNX (onnxruntime) file as ``numpy batch -> outputs``.

    ``input_shape`` is the file's input shape with ``None`` for dynamic dimensions; a static batch size is honoured
    by splitting (and zero-padding) larger or smaller batches.
    """

    def __init__(self, path, cfg=None, threads=0):
        self.path = Path(path)
        if not self.path.is_file():
            raise ZooError(f"model file {self.path} not found; export it first (export.py --file_format MINDIR|ONNX)")
        if self.path.stat().st_size == 0:
            raise ZooError(f"model file {self.path} is empty (0 bytes); export it again")
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            self.kind = "onnx"
            self._load_onnx(cfg, threads)
        elif suffix == ".mindir":
            self.kind = "mindir"
            self._load_mindir(cfg)
        else:
            raise ConfigError(f"model file {self.path}: unknown format {suffix!r}; expected .mindir or .onnx")

    def _load_onnx(self, cfg, threads):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3  # no warnings about the declared output shape of dynamic-batch exports
        if threads:
            options.intra_op_num_threads = int(threads)
        providers = ["CPUExecutionProvider"]
        if cfg is not None:
            from model_zoo.engine.device import get_backend

            wanted = get_backend(cfg.device_target).onnx_providers  # the device entry says which providers fit
            providers = [p for p in wanted if p in ort.get_available_providers()] or providers
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ZooError(f"{self.path} is not a valid ONNX model ({first_line(exc)}); export it again") from None
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.input_shape = tuple(d if isinstance(d, int) and d > 0 else None for d in first.shape)

    def _load_mindir(self, cfg):
        # parse the protobuf first: a damaged file then gives our one line instead of MindSpore's CRITICAL log
        self.input_shape = mindir_input_shape(self.path)
        import mindspore as ms
        from mindspore import nn

        if cfg is not None:
            setup_device(cfg)
        try:
            self.graph = nn.GraphCell(ms.load(str(self.path)))
        except (RuntimeError, ValueError, TypeError) as exc:
            raise ZooError(f"{self.path} is not a valid MINDIR model ({first_line(exc)}); export it again") from None
        self._tensor = ms.Tensor

    @property
    def batch(self):
        return self.input_shape[0] if self.input_shape else None

    @property
    def image_size(self):
        """(H, W) when the file fixes them, else None."""
        if len(self.input_shape) == 4 and self.input_shape[2] and self.input_shape[3]:
            return (self.input_shape[2], self.input_shape[3])
        return None

    def _run(self, batch):
        if self.kind == "onnx":
            return self.session.run(None, {self.input_name: batch})[0]
        return self.graph(self._tensor(batch)).asnumpy()

    def __call__(self, images):
        images = np.ascontiguousarray(images, dtype=np.float32)
        static = self.batch
        if not static or static == images.shape[0]:
            return np.asarray(self._run(images), dtype=np.float32)
        outputs = []
        for start in range(0, images.shape[0], static):
            chunk = images[start:start + static]
            count = chunk.shape[0]
            if count < static:
                chunk = np.concatenate([chunk, np.zeros((static - count,) + chunk.shape[1:], np.float32)])
            outputs.append(np.asarray(self._run(chunk), dtype=np.float32)[:count])
        return np.concatenate(outputs)


def mindir_input_shape(path):
    """The input shape a MINDIR file fixes (None for dynamic dimensions), read from its protobuf alone."""
    from mindspore.train import mind_ir_pb2

    proto = mind_ir_pb2.ModelProto()
    try:
        proto.ParseFromString(Path(path).read_bytes())
        dims = list(proto.graph.input[0].tensor[0].dims)
    except Exception as exc:  # protobuf DecodeError, or no graph input
        raise ZooError(f"{path} is not a valid MINDIR model ({first_line(exc)}); export it again") from None
    return tuple(int(d) if d > 0 else None for d in dims)


def exported_image_size(path):
    """(H, W) an exported MINDIR / ONNX file fixes, or None (dynamic, or not an exported file)."""
    path = Path(path)
    if path.suffix.lower() == ".mindir":
        shape = mindir_input_shape(path)
    elif path.suffix.lower() == ".onnx":
        import onnx

        try:
            dims = onnx.load(str(path), load_external_data=False).graph.input[0].type.tensor_type.shape.dim
        except Exception as exc:  # onnx raises its own exception types
            raise ZooError(f"{path} is not a valid ONNX model ({first_line(exc)}); export it again") from None
        shape = tuple(d.dim_value or None for d in dims)
    else:
        return None
    return tuple(shape[2:4]) if len(shape) == 4 and shape[2] and shape[3] else None


def checkpoint_network(recipe, cfg, path):
    """(network with the checkpoint's weights, its zoo metadata); the configuration was made from them
    (:func:`resolve`), exactly as eval.py's."""
    from model_zoo.engine import weights

    loaded = weights.for_path(recipe, cfg, path)
    net = weights.network(recipe, cfg, "test", loaded)
    net.set_train(False)
    return net, loaded.meta


def network_function(net):
    from model_zoo.engine.evaluate import network_predictor

    return network_predictor(net)


# ---------------------------------------------------------------------------------------------------------------
# preprocessing: the eval transform of the recipe, from the checkpoint / config / model file
# ---------------------------------------------------------------------------------------------------------------

def preprocess_spec(cfg, model=None):
    """The inference transform {image_size, resize_ratio, keep_aspect, interpolation, mean, std} of the resolved
    config (checkpoint metadata already applied); an exported file's fixed input size wins unless --image_size
    is on the command line."""
    from model_zoo.engine import checkpoint as ckpt_io

    spec = ckpt_io.preprocess_meta(cfg)
    if model is not None and model.image_size and cfg.sources.get("image_size") != "command line":
        spec["image_size"] = list(model.image_size)
    spec["image_size"] = [int(v) for v in spec["image_size"]]
    return spec


def eval_ops(spec):
    from model_zoo.engine import data

    return data.imagenet_eval_ops(tuple(spec["image_size"]), mean=tuple(spec["mean"]), std=tuple(spec["std"]),
                                  resize_ratio=float(spec["resize_ratio"]), keep_aspect=bool(spec["keep_aspect"]),
                                  interpolation=str(spec.get("interpolation", "bilinear")))


def image_batches(paths, spec, batch_size, workers=0):
    """Yield (float32 NCHW batch, [paths]) for image files, decoded and transformed by the eval transform through
    the same MindSpore pipeline eval.py uses (so the pixels are the same)."""
    from model_zoo.engine import data

    paths = [str(p) for p in paths]
    if not paths:
        raise DataError("no images to run")
    root = os.path.commonpath([os.path.dirname(p) for p in paths]) if paths else "."
    index = data.SampleIndex(paths, list(range(len(paths))), [], root)
    dataset = data.image_pipeline(index, eval_ops(spec), int(batch_size), training=False, num_workers=workers)
    for images, positions in dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        yield images, [paths[int(i)] for i in positions]


def image_files(root, recursive_levels=1):
    """Sorted image files of a folder and (as the 310 apps' GetAllFiles) of its sub-folders."""
    from model_zoo.engine.data import IMAGE_EXTENSIONS

    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")) if depth < recursive_levels else []
        found.extend(os.path.join(dirpath, f) for f in filenames
                     if not f.startswith(".") and f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def checked_images(paths, root, policy="fail"):
    """Refuse (or with policy 'skip', drop) files Pillow cannot decode: MindSpore's decoder would crash on them."""
    from model_zoo.engine import verify

    bad = verify.bad_files(paths, root)
    if not bad:
        return list(paths)
    names = ", ".join(f"{os.path.basename(p)} ({why})" for p, why in bad[:3])
    if policy != "skip":
        raise DataError(f"{len(bad)} unusable image(s): {names}; remove them or pass --bad_file_policy=skip")
    note(f"WARNING: skipping {len(bad)} unusable image(s): {names}")
    drop = {p for p, _ in bad}
    return [p for p in paths if p not in drop]


# ---------------------------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------------------------

def looks_like_log_probs(outputs, tol=1e-3):
    """True when every row is already log-probabilities (an upstream head that ends in LogSoftmax)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if outputs.size == 0 or outputs.max() > tol:
        return False
    top = outputs.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(outputs - top).sum(axis=1))
    return bool(np.all(np.abs(lse) < tol))


def probabilities(outputs, log_probs=None):
    """Softmax of logits, or exp of log-probabilities (detected when ``log_probs`` is None)."""
    outputs = np.asarray(outputs, dtype=np.float64)
    if log_probs is None:
        log_probs = looks_like_log_probs(outputs)
    if log_probs:
        return np.exp(outputs)
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class ArrayBatches:
    """(outputs, labels) arrays in the shape of a MindSpore dataset, for evaluate.count_topk."""

    def __init__(self, outputs, labels, batch_size=256):
        self.outputs = np.asarray(outputs, dtype=np.float32)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.batch_size = batch_size

    def create_tuple_iterator(self, output_numpy=True, num_epochs=1):
        for start in range(0, len(self.labels), self.batch_size):
            yield self.outputs[start:start + self.batch_size], self.labels[start:start + self.batch_size]


def topk_counts(outputs, labels):
    """top1 / top5 / tot / loss_sum of stored outputs, counted by the very code eval.py uses."""
    from model_zoo.engine.evaluate import count_topk

    if len(labels) == 0:
        raise DataError("no results to score")
    return count_topk(lambda batch: batch, ArrayBatches(outputs, labels), 1)


def eval_lines(recipe, cfg, counts, seconds=None):
    """The recipe's eval.py lines for single-process counts."""
    counts = dict(counts)
    seconds = counts.get("seconds") if seconds is None else seconds
    counts["fps"] = counts["tot"] / seconds if seconds else 0.0
    counts["local"] = dict(counts)
    return recipe.eval_lines(cfg, counts)
