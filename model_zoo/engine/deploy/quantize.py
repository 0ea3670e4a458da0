"""Static int8 quantisation of an exported ONNX model with onnxruntime's quantisation tools.

Calibration: ``--calib_num`` images (1000 by default, all of them when the set is smaller) drawn round-robin over
the classes of ``--calib_data_dir`` (default: the evaluation folder, as the deployment guide's "1000 val images
covering every class"), so that every class is represented.  The model is first pre-processed
(``quant_pre_process``: shape inference + graph optimisation), then quantised in QDQ format with MinMax
calibration (the augmented model keeps only each tensor's per-batch min/max, so 1000 images need little memory;
onnxruntime 1.32's ``CalibMaxIntermediateOutputs`` would drop collected batches and is not used), uint8
activations and int8 weights (per channel by default; U8S8 is the fast x86 combination).
Reports top-1 / top-5 of the float and the int8 model on the evaluation set and their latency.
"""
import json
import logging
import tempfile
from pathlib import Path

import numpy as np

from model_zoo.engine import data
from model_zoo.engine.console import note, say
from model_zoo.engine.deploy import common
from model_zoo.engine.deploy.onnx_eval import evaluate_model, use_model_input_size
from model_zoo.engine.errors import ConfigError, ZooError, first_line

QDQ_OPSET = 13


def calibration_paths(index, count, seed=0):
    """Up to ``count`` image paths, round-robin over the classes (each class's images in a seeded random order).

    Returns (paths, number of classes covered, number of classes)."""
    rng = np.random.default_rng(seed)
    by_class = {}
    for path, label in zip(index.paths, index.labels):
        by_class.setdefault(int(label), []).append(path)
    queues = [list(rng.permutation(by_class[label])) for label in sorted(by_class)]
    picked = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(str(queue.pop(0)))
    chosen = set(picked)
    covered = len({int(label) for path, label in zip(index.paths, index.labels) if path in chosen})
    return picked, covered, len(by_class)


def calibration_index(cfg):
    if cfg.calib_data_dir:
        index = data.scan_class_folders(data.split_dir(cfg.calib_data_dir, "eval"))
        from model_zoo.engine import verify

        return verify.check_index(index, cfg.get("bad_file_policy", "fail"))
    return data.load_index(cfg, False)


class _Reader:
    """onnxruntime CalibrationDataReader over preprocessed image batches.  A model with a fixed batch size gets
    its last, smaller batch filled up by repeating that batch's images (real images, no zero padding)."""

    def __init__(self, batches, input_name, static_batch=None):
        self.batches = batches
        self.input_name = input_name
        self.static_batch = static_batch

    def get_next(self):
        try:
            images, _ = next(self.batches)
        except StopIteration:
            return None
        images = np.ascontiguousarray(images, dtype=np.float32)
        if self.static_batch and images.shape[0] != self.static_batch:
            images = np.take(images, np.arange(self.static_batch) % images.shape[0], axis=0)
        return {self.input_name: images}


def _at_least_opset(source, target, opset):
    """MindSpore exports opset 11; per-channel DequantizeLinear (axis attribute) needs opset 13."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(source))
    current = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=opset)
    if current >= opset:
        return source
    try:
        onnx.save(version_converter.convert_version(model, opset), str(target))
    except Exception as exc:  # the converter does not know every op; ORT then has to cope with the old opset
        note(f"WARNING: could not convert {source} to opset {opset} ({first_line(exc)})")
        return source
    return target


def quantize_file(source, target, batches, per_channel=True):
    """Quantise ONNX ``source`` to ``target`` with calibration batches (an iterator of (images, names))."""
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization import quantize_static

    reader_type = type("CalibrationReader", (_Reader, CalibrationDataReader), {})
    model = common.ExportedModel(source)
    reader = reader_type(batches, model.input_name, model.batch)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False)
        except Exception as exc:  # pre-processing is an optimisation; quantise the file as it is otherwise
            note(f"WARNING: quant_pre_process failed ({first_line(exc)}); quantising {source} as is")
            prepared = Path(source)
        prepared = _at_least_opset(prepared, Path(tmp) / "opset.onnx", QDQ_OPSET)
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # one warning per BatchNorm weight that per-channel cannot split (hundreds)
        try:
            quantize_static(str(prepared), str(target), reader, quant_format=QuantFormat.QDQ,
                            per_channel=bool(per_channel), activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        except ZooError:
            raise
        except Exception as exc:
            raise ZooError(f"int8 quantisation of {source} failed: {first_line(exc)}") from None
        finally:
            root.setLevel(level)
    return target


def latency_ms(function, batch, warmup, iters):
    """Wall-clock milliseconds of ``iters`` calls after ``warmup`` untimed ones."""
    import time

    for _ in range(max(0, int(warmup))):
        function(batch)
    times = []
    for _ in range(max(1, int(iters))):
        start = time.perf_counter()
        function(batch)
        times.append(1000.0 * (time.perf_counter() - start))
    return times


def quantize(recipe, cfg):
    source = common.model_path(cfg)
    if source.suffix.lower() != ".onnx":
        raise ConfigError(f"quantize needs an ONNX file (export.py --file_format ONNX), got {source}")
    fp32 = common.ExportedModel(source, cfg)
    use_model_input_size(cfg, fp32)
    target = Path(cfg.int8_file or source.with_name(source.stem + "_int8.onnx"))
    index = calibration_index(cfg)
    wanted = int(cfg.calib_num)
    if wanted <= 0:
        raise ConfigError("--calib_num must be positive")
    paths, covered, classes = calibration_paths(index, wanted, int(cfg.seed))
    if covered < classes:
        note(f"WARNING: {len(paths)} calibration images cover {covered} of {classes} classes; raise --calib_num")
    say(f"calibration: {len(paths)} images from {index.root}, {covered}/{classes} classes (round-robin)")
    spec = common.preprocess_spec(cfg, model=fp32)
    batches = common.image_batches(paths, spec, fp32.batch or 16, cfg.num_parallel_workers)
    quantize_file(source, target, batches, cfg.per_channel)
    int8 = common.ExportedModel(target, cfg)
    report = {"fp32_file": str(source), "int8_file": str(target), "calibration_images": len(paths),
              "calibration_classes": f"{covered}/{classes}"}
    say(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB; float model {source.stat().st_size / 1e6:.2f} MB)")
    if common.given(cfg, "data_dir") or common.given(cfg, "eval_data_dir") or not cfg.calib_data_dir:
        for name, model in (("fp32", fp32), ("int8", int8)):
            counts = evaluate_model(recipe, cfg, model)
            tot = max(counts["tot"], 1)
            report[name] = {"top1": counts["top1"] / tot, "top5": counts["top5"] / tot, "tot": counts["tot"]}
            say(f"{name} ONNX: top1 {100 * counts['top1'] / tot:.2f}% ({counts['top1']}/{counts['tot']}), "
                f"top5 {100 * counts['top5'] / tot:.2f}%")
        report["top1_drop"] = report["fp32"]["top1"] - report["int8"]["top1"]
        say(f"int8 top-1 change: {round(-100 * report['top1_drop'], 2) + 0.0:+.2f} points")
    batch = fp32.batch or 1
    height, width = spec["image_size"]
    sample = np.random.default_rng(0).standard_normal((batch, 3, height, width)).astype(np.float32)
    for name, model in (("fp32", fp32), ("int8", int8)):
        report[f"{name}_ms_p50"] = float(np.percentile(latency_ms(model, sample, cfg.warmup, cfg.iters), 50))
    report["speedup"] = report["fp32_ms_p50"] / max(report["int8_ms_p50"], 1e-9)
    say(f"latency (batch {batch}, p50 of {int(cfg.iters)}): fp32 {report['fp32_ms_p50']:.2f} ms, "
        f"int8 {report['int8_ms_p50']:.2f} ms ({report['speedup']:.2f}x)")
    if cfg.output_json:
        Path(cfg.output_json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
