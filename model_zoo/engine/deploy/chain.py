"""The upstream 310 offline-inference chain: preprocess -> infer -> postprocess.

* ``preprocess``: ImageNet layout -> ``imagenet_label.json`` ({file name: class index}, one upstream
  recipe) and ``imagenet_label.txt`` (``img_id:label`` lines, the others' ``imgid2label.py``), class index = sorted
  class-folder order; CIFAR-10 -> the eval batches, already transformed, as
  ``00_data/<MODEL>_data_bs<B>_<i>.bin`` (float32 NCHW) and ``cifar10_label_ids.npy``.
* ``infer``: what ``ascend310_infer/out/main`` does, on any device MindSpore or onnxruntime runs on: every image of
  the folder (and of its class sub-folders) goes through decode -> resize -> centre crop -> normalise -> HWC2CHW
  (the recipe's eval transform, sizes from the model file / checkpoint metadata / flags) and the model; or every
  ``.bin`` batch is fed as is.  Writes ``result_Files/<name>_0.bin`` (float32, or float16 with
  ``--result_dtype float16``) and ``time_Result/test_perform_static.txt`` (``NN inference cost average time: X ms
  of infer_count N``).
* ``postprocess``: result files + labels -> top-1 / top-5, printed with the recipe's ``eval.py`` lines, then the
  upstream ``Top1 acc:`` / ``Top5 acc:`` lines.  ``--result_dtype`` says how the result files are stored: float32
  (this runner's default) or float16 (an Ascend 310 app running a graph exported with ``--export_fp16``, as
  an upstream recipe's postprocess reads them).
"""
import json
import re
import time
from pathlib import Path

import numpy as np

from model_zoo.engine import data
from model_zoo.engine.console import note, say
from model_zoo.engine.deploy import common
from model_zoo.engine.errors import ConfigError, DataError

RESULT_SUFFIX = "_0.bin"
TIME_FILE = "test_perform_static.txt"
_TIME_RE = re.compile(r"NN inference cost average time: ([\d.eE+-]+) ms of infer_count (\d+)")


def _eval_batch(cfg):
    return int(cfg.get("eval_batch_size") or cfg.batch_size)


def result_dtype(cfg):
    """numpy dtype of the result files (--result_dtype float32|float16)."""
    name = str(cfg.get("result_dtype") or "float32").lower()
    if name not in common.RESULT_DTYPES:
        raise ConfigError(f"--result_dtype={name} is not one of {list(common.RESULT_DTYPES)}")
    return np.dtype(name)


def _image_stem(name):
    """'ILSVRC2012_val_00000001.JPEG' -> 'ILSVRC2012_val_00000001' (an img_id without extension stays as is)."""
    path = Path(name)
    return path.stem if path.suffix.lower() in data.IMAGE_EXTENSIONS else path.name


# ---------------------------------------------------------------------------------------------------------------
# preprocess
# ---------------------------------------------------------------------------------------------------------------

def preprocess(recipe, cfg):
    out = Path(cfg.result_path or "./preprocess_Result/")
    out.mkdir(parents=True, exist_ok=True)
    model = common.model_path(cfg, required=False)  # the batches are made at the size the model takes
    size = common.exported_image_size(model) if model is not None else None
    if size and cfg.sources.get("image_size") != "command line":
        cfg.image_size = f"{size[0]},{size[1]}"
    if cfg.dataset == "cifar10":
        batch = _eval_batch(cfg)
        bins = out / "00_data"
        bins.mkdir(exist_ok=True)
        for old in bins.glob("*.bin"):
            old.unlink()
        labels = []
        prefix = f"{recipe.name.upper()}_data_bs{batch}"
        dataset = recipe.dataset(cfg, False)
        for idx, (images, batch_labels) in enumerate(dataset.create_tuple_iterator(output_numpy=True, num_epochs=1)):
            np.ascontiguousarray(images, dtype=np.float32).tofile(bins / f"{prefix}_{idx}.bin")
            labels.append(np.asarray(batch_labels, dtype=np.int32))
        total = int(sum(len(b) for b in labels))
        np.save(out / "cifar10_label_ids.npy", np.concatenate(labels) if labels else np.zeros(0, np.int32))
        say(f"[INFO] Completed! Total {total} data.")
        return {"count": total, "folder": str(out)}
    index = data.load_index(cfg, False)
    by_name, by_stem = {}, {}
    for path, label in zip(index.paths, index.labels):
        name = Path(path).name
        stem = _image_stem(name)
        if stem in by_stem:
            raise DataError(f"two images are named {stem!r} ({by_stem[stem][0]} and {path}); the result files "
                            f"<name>_0.bin would collide, rename one")
        by_stem[stem] = (path, int(label))
        by_name[name] = int(label)
    (out / "imagenet_label.json").write_text(json.dumps(by_name, indent=0), encoding="utf-8")
    (out / "imagenet_label.txt").write_text("".join(f"{stem}:{label}\n" for stem, (_, label) in by_stem.items()),
                                            encoding="utf-8")
    (out / "classes.txt").write_text("".join(f"{name}\n" for name in index.classes), encoding="utf-8")
    say(f"[INFO] Completed! Total {len(index)} data.")
    return {"count": len(index), "folder": str(out)}


# ---------------------------------------------------------------------------------------------------------------
# infer
# ---------------------------------------------------------------------------------------------------------------

def _input_folder(cfg):
    root = cfg.eval_data_dir or cfg.data_dir
    if not root:
        raise DataError("no input given: pass --data_dir (--input0_path) with the images or the .bin batches")
    root = Path(root)
    if not root.exists():
        raise DataError(f"input folder {root} does not exist")
    return data.split_dir(root, "eval") if root.is_dir() else root


def infer(recipe, cfg):
    source = common.model_path(cfg)
    model = common.ExportedModel(source, cfg)
    folder = _input_folder(cfg)
    out = Path(cfg.infer_out_dir or ".")
    results = out / "result_Files"
    results.mkdir(parents=True, exist_ok=True)
    bins = sorted(folder.glob("*.bin")) if folder.is_dir() else []
    dtype = result_dtype(cfg)
    elapsed, calls, count = 0.0, 0, 0
    if cfg.dataset == "cifar10" or (bins and not common.image_files(folder)):
        if not bins:
            raise DataError(f"no .bin files in {folder}; run preprocess first (NEED_PREPROCESS=y)")
        height, width = model.image_size or tuple(common.preprocess_spec(cfg)["image_size"])
        for path in bins:
            batch = np.fromfile(path, dtype=np.float32)
            if batch.size % (3 * height * width):
                raise DataError(f"{path} holds {batch.size} floats, not a whole number of 3x{height}x{width} images;"
                                f" set --image_size to the size it was preprocessed at")
            start = time.perf_counter()
            outputs = model(batch.reshape(-1, 3, height, width))
            elapsed += time.perf_counter() - start
            outputs.astype(dtype).tofile(results / f"{path.stem}{RESULT_SUFFIX}")
            calls += 1
        count = calls
    else:
        paths = common.checked_images(common.image_files(folder), str(folder), cfg.get("bad_file_policy", "fail"))
        if not paths:
            raise DataError(f"no images in {folder} (or its class folders); expected .jpg/.jpeg/.png/.bmp files")
        spec = common.preprocess_spec(cfg, model=model)
        seen = {}
        for images, names in common.image_batches(paths, spec, model.batch or 1, cfg.num_parallel_workers):
            start = time.perf_counter()
            outputs = model(images)
            elapsed += time.perf_counter() - start
            calls += 1
            for row, name in zip(outputs, names):
                stem = _image_stem(Path(name).name)
                if stem in seen:
                    raise DataError(f"two images are named {stem!r} ({seen[stem]} and {name}); rename one")
                seen[stem] = name
                row.astype(dtype)[None].tofile(results / f"{stem}{RESULT_SUFFIX}")
        count = len(paths)
    average = 1000.0 * elapsed / max(count, 1)
    line = f"NN inference cost average time: {average:.4f} ms of infer_count {count}"
    timing = out / "time_Result"
    timing.mkdir(parents=True, exist_ok=True)
    (timing / TIME_FILE).write_text(line + "\n", encoding="utf-8")
    say(f"{model.kind.upper()} {source}: {count} input(s) in {calls} call(s) -> {results} ({dtype.name})")
    say(line)
    return {"count": count, "average_ms": average, "result_dir": str(results)}


# ---------------------------------------------------------------------------------------------------------------
# postprocess
# ---------------------------------------------------------------------------------------------------------------

def _result_dir(cfg):
    folder = Path(cfg.result_dir or common.given(cfg, "result_path") or "./result_Files")
    if not folder.is_dir():
        raise DataError(f"result folder {folder} does not exist; run the inference first (--result_dir)")
    return folder


def _label_source(cfg, cifar):
    value = cfg.label_dir or common.given(cfg, "label_file")
    if not value:
        value = "./preprocess_Result/" + ("cifar10_label_ids.npy" if cifar else "imagenet_label.json")
    path = Path(value)
    if not path.is_file():
        raise DataError(f"label file {path} not found; run preprocess first (NEED_PREPROCESS=y) or pass --label_dir")
    return path


def _inference_seconds(result_dir):
    """Total inference time from ``time_Result`` next to the results (average x count), or None."""
    timing = Path(result_dir).parent / "time_Result" / TIME_FILE
    match = _TIME_RE.search(timing.read_text(encoding="utf-8")) if timing.is_file() else None
    return float(match.group(1)) * int(match.group(2)) / 1000.0 if match else None


def _read_result(path, rows=None, dtype=np.float32, classes=0):
    """The scores of one result file (``rows`` x classes, as float32).  A file whose size fits ``classes`` scores of
    the other number type is refused, naming --result_dtype, instead of being scored as garbage."""
    dtype = np.dtype(dtype)
    size = path.stat().st_size
    per_row = size / (rows or 1)
    if classes and per_row != classes * dtype.itemsize:
        other = np.dtype(np.float16 if dtype == np.float32 else np.float32)
        if per_row == classes * other.itemsize:
            raise DataError(f"{path.name} holds {classes} scores per image written as {other.name}, not "
                            f"{dtype.name}: pass --result_dtype {other.name}")
    values = np.fromfile(path, dtype=dtype)
    if size % dtype.itemsize or (rows and values.size % rows):
        raise DataError(f"{path} ({size} bytes) is not {rows or 1} row(s) of {dtype.name} scores; check "
                        f"--result_dtype (float32 or float16) and --batch_size")
    return values.reshape(rows if rows else 1, -1).astype(np.float32)


def _check_finite(outputs, dtype, where):
    if not np.all(np.isfinite(outputs)):
        other = "float16" if np.dtype(dtype) == np.float32 else "float32"
        note(f"WARNING: the result files in {where} hold NaN/inf read as {np.dtype(dtype).name}; if they were "
             f"written as {other}, pass --result_dtype {other}")


def _batch_number(path):
    """'<MODEL>_data_bs64_12_0.bin' -> 12 (preprocess numbers the batches; sort them numerically)."""
    match = re.search(r"_(\d+)_0\.bin$", path.name)
    return int(match.group(1)) if match else -1


def read_numeric_labels(path):
    """Integer labels from a label file, never unpickled: a numeric ``.npy`` (what preprocess and upstream
    ``preprocess.py`` write: one row per batch, or flat), a JSON list (of ints, or of per-batch lists) or a text file of
    integers.  A ``.npy`` holding Python objects is refused: loading it would run whatever code it carries."""
    path = Path(path)
    if path.suffix.lower() in (".npy", ".npz"):
        try:
            labels = np.load(path, allow_pickle=False)
        except ValueError as exc:
            if "pickle" not in str(exc).lower():
                raise DataError(f"label file {path} is not a numpy label array ({exc}); re-run preprocess") from None
            raise DataError(f"label file {path} holds pickled Python objects, which are never loaded (unpickling runs "
                            f"code from the file); re-run preprocess to write numeric labels, or pass a JSON list or a "
                            f"text file of integer labels with --label_dir") from None
        except OSError as exc:
            raise DataError(f"label file {path} cannot be read ({exc}); re-run preprocess") from None
        if hasattr(labels, "files"):  # .npz: its first array
            labels = labels[labels.files[0]] if labels.files else np.zeros(0, np.int64)
    else:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            if text.lstrip().startswith("["):
                value = json.loads(text)
                nested = value and all(isinstance(v, list) for v in value)  # one list per batch: flatten
                labels = np.concatenate([np.asarray(v) for v in value]) if nested else np.asarray(value)
            else:
                labels = np.asarray([int(v) for v in re.split(r"[\s,]+", text.strip()) if v])
        except ValueError:
            raise DataError(f"label file {path} is neither a JSON list nor whitespace-separated integer labels; "
                            f"re-run preprocess") from None
    if labels.dtype.kind not in "iu" and not (labels.dtype.kind == "f" and np.all(labels == np.round(labels))):
        raise DataError(f"label file {path} holds {labels.dtype} values, not integer class indices; re-run preprocess")
    return labels.astype(np.int64)


def _cifar_scores(result_dir, label_path, batch_size, dtype=np.float32, classes=0):
    labels = read_numeric_labels(label_path)
    files = sorted(result_dir.glob(f"*{RESULT_SUFFIX}"), key=_batch_number)
    if not files:
        raise DataError(f"no *{RESULT_SUFFIX} result files in {result_dir}")
    outputs, truth, position = [], [], 0
    flat = labels.ndim == 1
    for idx, path in enumerate(files):
        batch_labels = labels[position:position + batch_size] if flat else np.asarray(labels[idx]).reshape(-1)
        position += len(batch_labels)
        outputs.append(_read_result(path, len(batch_labels), dtype, classes))
        truth.append(batch_labels)
    if flat and position != len(labels):
        raise DataError(f"{len(files)} result files cover {position} of the {len(labels)} labels in {label_path}; "
                        f"run the inference on every preprocessed batch (or set --batch_size as in preprocess)")
    return np.concatenate(outputs), np.concatenate(truth)


def _imagenet_scores(result_dir, label_path, dtype=np.float32, classes=0):
    mapping = data.read_label_file(label_path)
    by_stem = {_image_stem(name): label for name, label in mapping.items()}
    files = sorted(result_dir.glob(f"*{RESULT_SUFFIX}"))
    if not files:
        raise DataError(f"no *{RESULT_SUFFIX} result files in {result_dir}")
    unlabeled = [p.name for p in files if p.name[:-len(RESULT_SUFFIX)] not in by_stem]
    if unlabeled:
        raise DataError(f"{len(unlabeled)} result file(s) have no label in {label_path} (first: {unlabeled[0]}); "
                        f"use the label file of the same image folder")
    if len(files) < len(by_stem):
        note(f"WARNING: {len(by_stem) - len(files)} labelled image(s) have no result file in {result_dir}")
    rows = [_read_result(p, dtype=dtype, classes=classes) for p in files]
    widths = sorted({row.shape[1] for row in rows})
    if len(widths) > 1:
        raise DataError(f"the result files in {result_dir} hold different numbers of scores ({widths}); they come "
                        f"from different models")
    outputs = np.concatenate(rows)
    labels = np.array([by_stem[p.name[:-len(RESULT_SUFFIX)]] for p in files])
    return outputs, labels


def postprocess(recipe, cfg):
    cifar = cfg.dataset == "cifar10"
    result_dir = _result_dir(cfg)
    label_path = _label_source(cfg, cifar)
    dtype = result_dtype(cfg)
    classes = int(cfg.get("num_classes") or 0)
    if cifar:
        outputs, labels = _cifar_scores(result_dir, label_path, _eval_batch(cfg), dtype, classes)
    else:
        outputs, labels = _imagenet_scores(result_dir, label_path, dtype, classes)
    _check_finite(outputs, dtype, result_dir)
    counts = common.topk_counts(outputs, labels)
    for line in common.eval_lines(recipe, cfg, counts, _inference_seconds(result_dir)):
        say(line)
    tot = max(counts["tot"], 1)
    say(f"Top1 acc: {counts['top1'] / tot:.6f}")
    say(f"Top5 acc: {counts['top5'] / tot:.6f}")
    for line in recipe.infer_lines(cfg, counts) if recipe.infer_lines is not None else ():
        say(line)  # the recipe's own upstream postprocess.py lines
    return counts
