#!/usr/bin/env python
"""What one benchmark measurement does, in its own fresh process: a model step, a data pipeline, the sgemm peak.

    python benchmarks/workers.py SPEC_JSON      (started by runner.run_worker; prints BENCH_RESULT {json})

``MODELS`` and ``VARIANTS`` name what ``bench.py`` can measure.  Each worker starts from the environment the user
gave; ``import model_zoo`` and ``DeviceBackend.setup_context`` (the zoo's own CPU set-up) are what "default" means.
"""
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

RESULT_TAG = "BENCH_RESULT "

# model -> full input size, quick input size, zoo builder (name, kwargs), timm name, mindcv name, mindcv min input
MODELS = {
    "vgg19": dict(recipe="vgg19", size=224, quick_size=64, zoo=("vgg19", {}), timm="vgg19", mindcv="vgg19",
                  mindcv_min=224, zoo_size_kw=True),
    "densenet121": dict(recipe="densenet121", size=224, quick_size=64,  # timm's numerics (avg transitions, padding)
                        zoo=("densenet121", {"transition_pool": "avg", "stem_pool": "symmetric"}), timm="densenet121",
                        mindcv="densenet121", mindcv_min=32),
    "inception_v4": dict(recipe="inceptionv4", size=299, quick_size=75, zoo=("inception_v4", {"head": "reference"}),
                         timm="inception_v4", mindcv="inception_v4", mindcv_min=75),
}

# Configuration variants tried against the zoo default ("best-tuned" = the fastest of default and these).
#   env: environment of the worker (set before MindSpore loads); context: ms.set_context(**) after the zoo's
#   setup_context; memory: ms.runtime.set_memory(**); threads: CPU kernel threads instead of the zoo's choice.
#   dispatch: ms.runtime.dispatch_threads_num; tasks: the tasks a variant applies to.
VARIANTS = {
    "default": {},
    "native_kernels": {"env": {"MODEL_ZOO_FAST_CONV": "0"}},  # MindSpore's own Conv2D / BatchNorm kernels
    "jit_O0": {"context": {"jit_config": {"jit_level": "O0"}}},
    "jit_O1": {"context": {"jit_config": {"jit_level": "O1"}}},
    "infer_boost": {"context": {"jit_config": {"jit_level": "O0", "infer_boost": "on"}}, "tasks": ("infer",)},
    "mem_O1": {"memory": {"optimize_level": "O1"}},
    "dispatch1": {"dispatch": 1},
    "no_pipeline": {"env": {"MS_DEV_RUNTIME_CONF": "pipeline:False"}},
    "omp1": {"env": {"OMP_NUM_THREADS": "1"}},
    "malloc_arena2": {"env": {"MALLOC_ARENA_MAX": "2"}},
    "isa_sse41": {"env": {"ONEDNN_MAX_CPU_ISA": "SSE41"}},
}


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed_loop(step, iters, warmup, budget, min_iters):
    """First call timed alone, then ``warmup`` untimed calls, then up to ``iters`` timed ones within ``budget`` s."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    rss_first = _maxrss_mb()
    for _ in range(warmup):
        step()
    times = []
    loop_start = time.perf_counter()
    while len(times) < iters:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
        if len(times) >= min_iters and time.perf_counter() - loop_start + statistics.median(times) > budget:
            break
    median = statistics.median(times)
    return {"first_call_s": first, "median_s": median, "times_s": times, "n": len(times),
            "compile_est_s": max(0.0, first - median), "rss_after_first_mb": rss_first}


def _inputs(spec):
    import numpy as np

    rng = np.random.default_rng(0)
    size = spec["size"]
    x = rng.standard_normal((spec["batch"], 3, size, size)).astype(np.float32)
    y = rng.integers(0, 1000, spec["batch"]).astype(np.int32)
    return x, y


def _ms_setup(spec):
    """The zoo's CPU set-up (import model_zoo first, then DeviceBackend.setup_context), plus the variant."""
    import model_zoo  # noqa: F401  (applies the zoo's CPU environment before MindSpore loads)
    import mindspore as ms

    variant = spec.get("variant_spec", {})
    if variant.get("memory"):
        ms.runtime.set_memory(**variant["memory"])
    if variant.get("dispatch"):
        ms.runtime.dispatch_threads_num(int(variant["dispatch"]))
    if variant.get("threads"):
        ms.set_context(mode=ms.GRAPH_MODE)
        ms.set_device("CPU")
        ms.device_context.cpu.op_tuning.threads_num(int(variant["threads"]))
    else:
        from model_zoo.engine.device import get_backend

        jit_level = ""
        if spec.get("framework") == "zoo":  # the recipe's own CPU setting (InceptionV4: O1), as train.py would use
            from model_zoo.engine.cli import resolve

            jit_level = resolve("train", MODELS[spec["model"]]["recipe"], ["--device_target=CPU"])[1].jit_level
        get_backend("CPU").setup_context("GRAPH", 0, jit_level)
    if variant.get("context"):
        ms.set_context(**variant["context"])
    ms.set_seed(0)
    return ms


def _ms_network(spec):
    if spec["framework"] == "mindcv":
        import mindcv

        return mindcv.models.create_model(MODELS[spec["model"]]["mindcv"], num_classes=1000)
    from model_zoo.engine.registry import create_model

    info = MODELS[spec["model"]]
    name, kwargs = info["zoo"]
    kwargs = dict(kwargs)
    if info.get("zoo_size_kw"):
        kwargs["image_size"] = (spec["size"], spec["size"])
    return create_model(name, num_classes=1000, **kwargs)


def ms_step(ms, net, spec):
    """One training step (the trainer's path: ``Model`` with amp O0 and a fixed loss scale of 1,
    drop_overflow_update=False, on CPU; Momentum 0.9) or one inference, on the benchmark inputs."""
    from mindspore import nn
    from mindspore.train import FixedLossScaleManager, Model

    x_np, y_np = _inputs(spec)
    x, y = ms.Tensor(x_np), ms.Tensor(y_np)
    if spec["task"] == "train":
        loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        opt = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
        model = Model(net, loss_fn=loss, optimizer=opt, amp_level="O0",
                      loss_scale_manager=FixedLossScaleManager(1.0, drop_overflow_update=False))
        train_net = model.train_network
        train_net.set_train(True)

        def step():
            return train_net(x, y).asnumpy()
    else:
        net.set_train(False)

        def step():
            return net(x).asnumpy()
    return step


def torch_step(torch, net, spec):
    """The same for torch: cross entropy, ``backward()``, SGD momentum 0.9; inference under ``inference_mode``."""
    x_np, y_np = _inputs(spec)
    x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype("int64"))
    if spec["task"] == "train":
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            return loss.item()
    else:
        net.eval()

        def step():
            with torch.inference_mode():
                return net(x).numpy()
    return step


def work_ms_model(spec):
    ms = _ms_setup(spec)
    net = _ms_network(spec)
    step = ms_step(ms, net, spec)
    result = _timed_loop(step, spec["iters"], spec["warmup"], spec["budget"], spec["min_iters"])
    result["params"] = int(sum(p.size for p in net.trainable_params()))
    result["peak_rss_mb"] = _maxrss_mb()
    if spec.get("count_macs"):  # after the measurement (PyNative hooks on a batch-1 forward; RSS already read)
        from model_zoo.engine.flops import count_macs

        result["macs"] = int(count_macs(net, (spec["size"], spec["size"])))
    return result


def work_torch_model(spec):
    import torch
    import timm

    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    torch.manual_seed(0)
    net = timm.create_model(MODELS[spec["model"]]["timm"], pretrained=False, num_classes=1000)
    step = torch_step(torch, net, spec)
    result = _timed_loop(step, spec["iters"], spec["warmup"], spec["budget"], spec["min_iters"])
    result["params"] = int(sum(p.numel() for p in net.parameters() if p.requires_grad))
    result["peak_rss_mb"] = _maxrss_mb()
    result["threads"] = torch.get_num_threads()
    return result


def work_macs(spec):
    _ms_setup(spec)
    from model_zoo.engine.flops import count_macs

    net = _ms_network(dict(spec, framework="zoo"))
    return {"macs": int(count_macs(net, (spec["size"], spec["size"])))}


def work_peak(spec):
    import numpy as np

    n = spec["n"]
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a @ b
    times = []
    for _ in range(spec["reps"]):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    flop = 2.0 * n ** 3
    return {"gflops": flop / statistics.median(times) / 1e9, "gflops_best": flop / min(times) / 1e9,
            "n": n, "times_s": times, "numpy": np.__version__}


def make_jpeg_folder(root, count, classes=8, size=(500, 375), quality=90):
    """``count`` photo-like JPEGs (smooth random fields + noise) in ``classes`` class folders."""
    import numpy as np
    from PIL import Image

    root = Path(root)
    if (root / "done").is_file():
        return root
    rng = np.random.default_rng(0)
    width, height = size
    for i in range(count):
        folder = root / f"class_{i % classes:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.integers(0, 256, (height // 25 + 2, width // 25 + 2, 3)).astype(np.uint8)
        img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        arr = np.asarray(img).astype(np.int16) + rng.integers(-12, 13, (height, width, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(folder / f"img_{i:05d}.JPEG", quality=quality)
    (root / "done").write_text("ok")
    return root


def _epochs(make_iter, epochs):
    rates, counts = [], []
    for _ in range(epochs):
        start = time.perf_counter()
        count = 0
        for batch in make_iter():
            count += int(batch[0].shape[0])
        rates.append(count / (time.perf_counter() - start))
        counts.append(count)
    steady = statistics.median(rates[1:]) if len(rates) > 1 else rates[0]
    return {"imgs_per_s": steady, "epoch1_imgs_per_s": rates[0], "epoch_rates": rates, "images_per_epoch": counts[0]}


def work_data(spec):
    root, split, batch, workers = spec["root"], spec["split"], spec["batch"], spec["workers"]
    size = (224, 224)
    if spec["framework"] == "torch":
        import torch
        import torchvision
        from torchvision import transforms as T

        torch.set_num_threads(1)
        norm = T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
        if split == "train":
            tf = T.Compose([T.RandomResizedCrop(size, scale=(0.08, 1.0)), T.RandomHorizontalFlip(), T.ToTensor(),
                            norm])
        else:
            tf = T.Compose([T.Resize((256, 256)), T.CenterCrop(size), T.ToTensor(), norm])
        data = torchvision.datasets.ImageFolder(root, transform=tf)
        loader = torch.utils.data.DataLoader(data, batch_size=batch, shuffle=split == "train", num_workers=workers,
                                             drop_last=split == "train")
        result = _epochs(lambda: iter(loader), spec["epochs"])
    else:
        import model_zoo  # noqa: F401
        import mindspore.dataset as ds
        from model_zoo.engine import data as zdata

        variant = spec.get("variant_spec", {})
        if variant.get("prefetch"):
            ds.config.set_prefetch_size(int(variant["prefetch"]))
        ops = zdata.imagenet_train_ops(size) if split == "train" else zdata.imagenet_eval_ops(size)
        if variant.get("ms_decode") and split == "eval":  # MindSpore's own Decode instead of the zoo's Pillow one
            import mindspore.dataset.vision as V

            ops[0] = V.Decode()
        if spec["framework"] == "ms_imagefolder":  # MindSpore's C++ folder reader instead of the zoo's generator
            import mindspore as ms
            import mindspore.dataset.transforms as TT

            def build():
                d = ds.ImageFolderDataset(root, shuffle=split == "train", num_parallel_workers=workers, decode=False)
                d = d.map(operations=ops, input_columns="image", num_parallel_workers=workers)
                d = d.map(operations=TT.TypeCast(ms.int32), input_columns="label")
                return d.batch(batch, drop_remainder=split == "train")
        else:
            index = zdata.scan_class_folders(root)

            def build():
                return zdata.image_pipeline(index, ops, batch, split == "train", num_workers=workers)
        result = _epochs(lambda: build().create_tuple_iterator(num_epochs=1, output_numpy=True), spec["epochs"])
    result["peak_rss_mb"] = _maxrss_mb()
    return result


def work_versions(spec):
    out = {"python": platform.python_version()}
    try:
        import model_zoo  # first, as every entry point: its CPU environment is set before MindSpore loads

        out["cpu_env"] = model_zoo.CPU_ENV_SUMMARY
    except Exception as exc:  # noqa: BLE001
        out["cpu_env"] = f"unavailable ({exc})"
    for name in ("mindspore", "numpy", "PIL", "torch", "torchvision", "timm", "mindcv"):
        try:
            module = __import__(name)
            out[name] = getattr(module, "__version__", "?")
        except Exception as exc:  # noqa: BLE001 - record why a peer is missing
            out[name] = f"unavailable ({exc.__class__.__name__}: {str(exc)[:80]})"
    return out


WORKERS = {"ms_model": work_ms_model, "torch_model": work_torch_model, "macs": work_macs, "peak": work_peak,
           "data": work_data, "versions": work_versions}


def worker_main(spec_json):
    spec = json.loads(spec_json)
    if spec.get("root_path"):
        sys.path.insert(0, spec["root_path"])
    try:
        result = WORKERS[spec["kind"]](spec)
        result["ok"] = True
    except Exception as exc:  # noqa: BLE001 - the parent records the failure
        import traceback

        traceback.print_exc()
        result = {"ok": False, "error": f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    sys.stdout.flush()
    print(RESULT_TAG + json.dumps(result), flush=True)
    os._exit(0)  # skip interpreter teardown (MindSpore's Cell.__del__ noise, slow thread-pool shutdown)


if __name__ == "__main__":
    worker_main(sys.argv[1])
