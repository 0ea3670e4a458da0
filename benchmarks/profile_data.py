#!/usr/bin/env python
"""Where the data pipeline's time goes: CPU milliseconds per image, per operation, for the zoo and torch.

    python benchmarks/profile_data.py --split train          # RandomCropDecodeResize path vs RandomResizedCrop
    python benchmarks/profile_data.py --split eval           # Decode + Resize + CenterCrop

Two measurements per framework, each in a fresh process (the parent imports neither framework), on the same
generated JPEG folder as ``bench.py`` (500x375, quality 90):

* **per operation**: every transform of the pipeline applied one at a time, in one thread, to each image
  (MindSpore's transforms called eagerly on numpy arrays; PIL + torchvision), median milliseconds per image;
* **pipeline**: the pipeline ``bench.py`` times (the zoo's ``image_pipeline`` / torch ``DataLoader``, 2 workers,
  batch 32), with the CPU seconds it used (own threads and reaped worker processes): images/s, cores busy, and CPU
  milliseconds per image.  The ratio of the two frameworks' CPU ms per image is the speed-up the pipeline can
  reach when both keep the same cores busy.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULT_TAG = "PROFILE_DATA "


def _cpu_s():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _per_op(stages, files, repeats):
    """``stages``: [(name, fn)] applied in order to the file path; median ms per image for each stage."""
    times = {name: [] for name, _ in stages}
    for _ in range(repeats):
        for path in files:
            value = path
            for name, fn in stages:
                start = time.perf_counter()
                value = fn(value)
                times[name].append((time.perf_counter() - start) * 1000.0)
    return [{"op": name, "ms": statistics.median(times[name])} for name, _ in stages]


def ms_stages(split):
    import numpy as np

    from model_zoo.engine import data as zdata  # importing model_zoo first sets the zoo's CPU environment
    import mindspore.dataset.vision as V

    ops = zdata.imagenet_train_ops((224, 224)) if split == "train" else zdata.imagenet_eval_ops((224, 224))
    stages = [("read file", lambda p: np.fromfile(p, dtype=np.uint8))]
    stages += [(getattr(op, "__name__", type(op).__name__), op) for op in ops]
    # for comparison, not part of the pipeline: MindSpore's own full decode, and Pillow's
    decoders = [("MindSpore Decode", V.Decode()), ("Pillow decode_rgb", zdata.decode_rgb)]
    return stages, decoders


def torch_stages(split):
    from PIL import Image
    from torchvision import transforms as T

    norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    if split == "train":
        tfs = [T.RandomResizedCrop((224, 224), scale=(0.08, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(), norm]
    else:
        tfs = [T.Resize((256, 256)), T.CenterCrop((224, 224)), T.ToTensor(), norm]

    def read(path):
        with open(path, "rb") as fh:
            return fh.read()

    def decode(raw):  # what torchvision's default loader does: PIL open + convert('RGB') (the decode happens here)
        import io

        return Image.open(io.BytesIO(raw)).convert("RGB")

    return [("read file", read), ("PIL decode", decode)] + [(type(t).__name__, t) for t in tfs]


def child(args):
    import workers

    decoders = []
    if args.framework == "torch":
        import torch

        torch.set_num_threads(1)
        stages = torch_stages(args.split)
    else:
        stages, decoders = ms_stages(args.split)
        import mindspore.dataset as ds

        ds.config.set_num_parallel_workers(1)
    files = sorted(str(p) for p in Path(args.root).rglob("*.JPEG"))[:args.images]
    ops = _per_op(stages, files, args.repeats)
    # each decoder alone on the raw bytes read by the first stage (a decode result is not fed to the next)
    reference = [_per_op([stages[0], decoder], files, args.repeats)[1] for decoder in decoders]
    spec = dict(root=args.root, split=args.split, batch=32, workers=args.workers, epochs=args.epochs,
                framework="torch" if args.framework == "torch" else "zoo")
    cpu0, wall0 = _cpu_s(), time.perf_counter()
    pipe = workers.work_data(spec)
    cpu, wall = _cpu_s() - cpu0, time.perf_counter() - wall0
    images = pipe["images_per_epoch"] * args.epochs
    out = {"framework": args.framework, "split": args.split, "ops": ops, "ops_ms": sum(o["ms"] for o in ops),
           "reference": reference,
           "imgs_per_s": pipe["imgs_per_s"], "cores_busy": cpu / wall, "cpu_ms_per_image": cpu / images * 1000.0}
    print(RESULT_TAG + json.dumps(out), flush=True)


def report(results):
    zoo, torch = results.get("zoo"), results.get("torch")
    lines = []
    for res in (zoo, torch):
        if not res:
            continue
        lines.append(f"{res['framework']} {res['split']}: per-operation total {res['ops_ms']:.2f} ms/image (1 thread)")
        for op in res["ops"]:
            lines.append(f"  {op['op']:<26} {op['ms']:7.2f} ms  {op['ms'] / res['ops_ms']:6.1%}")
        for op in res.get("reference", []):
            lines.append(f"  ({op['op']} alone, not in this pipeline: {op['ms']:.2f} ms)")
        lines.append(f"  pipeline: {res['imgs_per_s']:.0f} img/s, {res['cores_busy']:.2f} cores busy, "
                     f"{res['cpu_ms_per_image']:.2f} CPU ms/image")
    if zoo and torch:
        lines.append(f"torch / zoo CPU ms per image: per-operation {torch['ops_ms'] / zoo['ops_ms']:.2f}x, "
                     f"pipeline {torch['cpu_ms_per_image'] / zoo['cpu_ms_per_image']:.2f}x; "
                     f"measured zoo / torch img/s {zoo['imgs_per_s'] / torch['imgs_per_s']:.2f}x")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="train", choices=["train", "eval"])
    parser.add_argument("--root", default="", help="JPEG class folders (default: bench.py's generated folder)")
    parser.add_argument("--count", type=int, default=512, help="images to generate when --root is not given")
    parser.add_argument("--images", type=int, default=100, help="images for the per-operation timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--frameworks", nargs="+", default=["zoo", "torch"], choices=["zoo", "torch"])
    parser.add_argument("--json", help="write both results here")
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    import runner
    import workers

    root = args.root or str(workers.make_jpeg_folder(Path(os.environ.get("TMPDIR", "/tmp")) / "zoo_bench_jpegs",
                                                   args.count))
    results = runner.run_children(Path(__file__).resolve(), args.frameworks,
                                 ["--root", root, "--split", args.split, "--images", str(args.images),
                                  "--repeats", str(args.repeats), "--workers", str(args.workers),
                                  "--epochs", str(args.epochs)], RESULT_TAG)
    if results is None:
        return 1
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
