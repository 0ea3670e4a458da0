"""Inference benchmark: the same weights as a MindSpore network, MINDIR, ONNX and int8 ONNX.

    python -m model_zoo.benchmark_infer --model NAME --arch ARCH --batch_size 8 --threads 2 --warmup 3 \
        --iters 20 [--ckpt_file X.ckpt] [--data_dir DIGITS --num_classes 10 --image_size 32,32]

Without a checkpoint the network keeps its initial weights (latency only).  The MINDIR and ONNX files are exported
with the engine's verified export (each reloaded and compared with the network); the int8 file is calibrated on
``--calib_num`` images of ``--data_dir`` drawn round-robin over the classes, or, without data, on random inputs (its
accuracy is then meaningless, its speed is not).  With ``--data_dir`` every format is also evaluated (top-1 /
top-5 on the eval split).  ``--threads N`` restricts the process to N cores (MindSpore's and onnxruntime's
thread pools follow).  Latency is per batch (p50 / p90 over ``--iters`` runs after ``--warmup`` runs);
throughput = batch x 1000 / mean latency.
"""
import json
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from model_zoo.engine.config import parse_image_size
from model_zoo.engine.console import note, say
from model_zoo.engine.deploy import common
from model_zoo.engine.deploy.onnx_eval import evaluate_model
from model_zoo.engine.deploy.quantize import calibration_paths, latency_ms, quantize_file
from model_zoo.engine.errors import ConfigError

FORMATS = {"ms": "MindSpore", "mindir": "MINDIR", "onnx": "ONNX", "int8": "int8 ONNX"}


def restrict_cores(threads):
    """Pin the process to ``threads`` cores (before MindSpore sizes its thread pool); returns the core count."""
    from model_zoo.engine.cpu_env import usable_cores

    threads = int(threads)
    if threads > 0 and hasattr(os, "sched_setaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        if threads < len(cores):
            os.sched_setaffinity(0, cores[:threads])
        elif threads > len(cores):
            note(f"WARNING: --threads {threads} but only {len(cores)} core(s) are available; using {len(cores)}")
    return usable_cores()


def _formats(text):
    chosen = [f.strip().lower() for f in str(text).split(",") if f.strip()]
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ConfigError(f"--bench_formats: unknown {', '.join(unknown) or '(empty)'}; use a subset of "
                          f"{','.join(FORMATS)}")
    return chosen


def _has_data(cfg):
    return bool(common.given(cfg, "data_dir") or common.given(cfg, "eval_data_dir"))


def _calibration_batches(cfg, spec, batch, shape):
    """Image batches for int8 calibration: round-robin over the classes of the data, or random inputs."""
    if _has_data(cfg) or cfg.calib_data_dir:
        from model_zoo.engine.deploy.quantize import calibration_index

        index = calibration_index(cfg)
        paths, covered, classes = calibration_paths(index, int(cfg.calib_num), int(cfg.seed))
        say(f"int8 calibration: {len(paths)} images, {covered}/{classes} classes")
        return common.image_batches(paths, spec, batch, cfg.num_parallel_workers)
    say("int8 calibration: 8 random batches (no --data_dir: int8 speed is meaningful, its accuracy is not)")
    rng = np.random.default_rng(int(cfg.seed))
    return iter([(rng.standard_normal(shape).astype(np.float32), None) for _ in range(8)])


def benchmark(recipe, cfg):
    threads = restrict_cores(cfg.threads)
    backend = common.setup_device(cfg)
    import mindspore as ms

    formats = _formats(cfg.bench_formats)
    weights = common.given_checkpoint(cfg)  # it configured the network already (common.resolve)
    height, width = parse_image_size(cfg.image_size)
    batch = int(cfg.batch_size)
    if batch <= 0:
        raise ConfigError("--batch_size must be positive for the benchmark")
    shape = (batch, 3, height, width)
    net = common.checkpoint_network(recipe, cfg, weights)[0] if weights else recipe.network(cfg, "test")
    # every format gets these very weights (the checkpoint's, or the network's initial ones)
    params = {p.name: ms.Parameter(ms.Tensor(p.asnumpy()), name=p.name) for p in net.get_parameters()}
    net.set_train(False)
    arch = str(cfg.get("arch") or recipe.name)
    folder = Path(cfg.bench_dir) if cfg.bench_dir else Path(tempfile.mkdtemp(prefix="zoo_bench_"))
    folder.mkdir(parents=True, exist_ok=True)
    runners, notes = {}, {}
    if "ms" in formats:
        runners["ms"] = common.network_function(net)
    exported = {}
    from model_zoo.engine.exporter import export_network

    for fmt in ("mindir", "onnx"):
        if fmt in formats or (fmt == "onnx" and "int8" in formats):
            result = export_network(lambda: recipe.network(cfg, "test"), params, folder / arch, fmt.upper(), shape,
                                    backend, float(cfg.export_tolerance))
            exported[fmt] = result["file"]
            notes[fmt] = f"max abs diff vs network {result['max_abs_diff']:.2g}"
            if fmt in formats:
                runners[fmt] = common.ExportedModel(result["file"], cfg, threads)
    if "int8" in formats:
        spec = common.preprocess_spec(cfg)
        spec["image_size"] = [height, width]
        target = folder / f"{arch}_int8.onnx"
        quantize_file(exported["onnx"], target, _calibration_batches(cfg, spec, batch, shape), cfg.per_channel)
        runners["int8"] = common.ExportedModel(target, cfg, threads)
    sample = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    rows = []
    for fmt in formats:
        times = np.array(latency_ms(runners[fmt], sample, cfg.warmup, cfg.iters))
        row = {"format": FORMATS[fmt], "p50_ms": float(np.percentile(times, 50)),
               "p90_ms": float(np.percentile(times, 90)), "mean_ms": float(times.mean()),
               "throughput": batch * 1000.0 / float(times.mean()), "note": notes.get(fmt, "")}
        if _has_data(cfg):
            counts = evaluate_model(recipe, cfg, runners[fmt])
            tot = max(counts["tot"], 1)
            row.update(top1=counts["top1"] / tot, top5=counts["top5"] / tot, tot=counts["tot"])
        rows.append(row)
    report = {"model": recipe.name, "arch": arch, "batch_size": batch, "input": f"3x{height}x{width}",
              "threads": threads, "warmup": int(cfg.warmup), "iters": int(cfg.iters),
              "weights": str(weights or "initial (no checkpoint)"), "files": str(folder),
              "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible",
              "rows": rows}
    print_report(report)
    if cfg.output_json:
        Path(cfg.output_json).write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def print_report(report):
    say(f"benchmark {report['arch']} ({report['model']}): batch {report['batch_size']}, input "
        f"{report['input']}, {report['threads']} thread(s), warm-up {report['warmup']}, {report['iters']} "
        f"iterations; weights: {report['weights']}; files in {report['files']}")
    accuracy = any("top1" in row for row in report["rows"])
    say("| format | latency p50 (ms/batch) | p90 | throughput (img/s) |" + (" top-1 | top-5 |" if accuracy else ""))
    say("|---|---|---|---|" + ("---|---|" if accuracy else ""))
    for row in report["rows"]:
        line = f"| {row['format']} | {row['p50_ms']:.2f} | {row['p90_ms']:.2f} | {row['throughput']:.1f} |"
        if accuracy:
            line += f" {100 * row['top1']:.2f}% | {100 * row['top5']:.2f}% |"
        say(line)
    for row in report["rows"]:
        if row["note"]:
            say(f"{row['format']}: {row['note']}")
