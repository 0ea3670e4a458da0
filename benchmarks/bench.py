#!/usr/bin/env python
"""CPU benchmark of the zoo's networks against PyTorch + timm and MindCV 0.3.0, in one run (issue 8).

    python benchmarks/bench.py --models vgg19 densenet121 inception_v4 --batch 8      # full, writes RESULTS.md
    python benchmarks/bench.py --quick                                                 # a few minutes, prints only

Every measurement runs in a fresh subprocess (``bench.py --worker SPEC``) so that compile caches, allocator state
and peak RSS never leak from one measurement into the next.  The parent process imports neither MindSpore nor
torch and does not import ``model_zoo``: each worker starts from the environment the user gave, and the zoo's own
CPU defaults (``model_zoo.engine.cpu_env``) are what the "default" configuration means.

Per model and batch size it measures: training and inference images/s (MindSpore GRAPH mode, the zoo's
``Model(...).train_network`` with Momentum; torch eager with SGD momentum), the first call and the compile time
estimate (first call - median step), the same with MindSpore's compile cache warm, peak RSS (``ru_maxrss``), the
fraction of the measured numpy sgemm peak reached (FLOPs per image = 2 x ``count_macs``, training = 3 x forward),
MindCV's networks on the same path as ours, and the zoo default against configuration variants ("best-tuned").
It also measures the data pipelines (the zoo's ``mindspore.dataset`` pipeline vs torch DataLoader + torchvision,
2 workers) on a generated JPEG folder.  While each subprocess runs, the parent samples ``/proc/stat`` and
records how many cores *other* processes used (foreign load).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE_ENV = dict(os.environ)  # before anything here touches the environment
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT_TAG = "BENCH_RESULT "
COMPILE_PHASES = ("compile_graph", "compile_backend_graph", "OptimizeGraph", "CreateKernel", "CompileSubGraph",
                  "GraphScheduler", "ConstructKernelGraph")

# model -> full input size, quick input size, zoo builder (name, kwargs), timm name, mindcv name, mindcv min input
MODELS = {
    "vgg19": dict(recipe="vgg19", size=224, quick_size=64, zoo=("vgg19", {}), timm="vgg19", mindcv="vgg19",
                  mindcv_min=224, zoo_size_kw=True),
    "densenet121": dict(recipe="densenet121", size=224, quick_size=64, zoo=("densenet121", {"transition_pool": "avg"}),
                        timm="densenet121", mindcv="densenet121", mindcv_min=32),
    "inception_v4": dict(recipe="inceptionv4", size=299, quick_size=75, zoo=("inception_v4", {"head": "reference"}),
                         timm="inception_v4", mindcv="inception_v4", mindcv_min=75),
}

# Configuration variants tried against the zoo default ("best-tuned" = the fastest of default and these).
#   env: environment of the worker (set before MindSpore loads); context: ms.set_context(**) after the zoo's
#   setup_context; memory: ms.runtime.set_memory(**); threads: CPU kernel threads instead of the zoo's choice.
#   dispatch: ms.runtime.dispatch_threads_num; tasks: the tasks a variant applies to.
VARIANTS = {
    "default": {},
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


# ----------------------------------------------------------------------------------------------------------------
# worker side (runs in a fresh process)
# ----------------------------------------------------------------------------------------------------------------

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


def work_ms_model(spec):
    ms = _ms_setup(spec)
    from mindspore import nn
    from mindspore.train import FixedLossScaleManager, Model

    net = _ms_network(spec)
    x_np, y_np = _inputs(spec)
    x, y = ms.Tensor(x_np), ms.Tensor(y_np)
    if spec["task"] == "train":
        loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
        opt = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
        # the trainer's path: Model with amp O0 and a fixed loss scale of 1 (drop_overflow_update=False) on CPU
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


# ----------------------------------------------------------------------------------------------------------------
# parent side
# ----------------------------------------------------------------------------------------------------------------

def _proc_stat():
    with open("/proc/stat", encoding="ascii") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq, steal


def foreign_load(seconds=2.0):
    """Cores busy over ``seconds`` (nothing of ours runs meanwhile)."""
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = _proc_stat()
    time.sleep(seconds)
    busy1, _ = _proc_stat()
    return (busy1 - busy0) / hz / seconds


def child_env(base=None, **extra):
    """Environment for a measuring child process: ``base`` (default: this process's environment) with this checkout
    first on PYTHONPATH, plus ``extra``."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def tagged_result(text, tag=RESULT_TAG):
    """The JSON a child printed after ``tag`` (its last such line), or None."""
    result = None
    for line in text.splitlines():
        if line.startswith(tag):
            result = json.loads(line[len(tag):])
    return result


def run_children(script, frameworks, child_args, tag, env=None, finish=None):
    """``script --child --framework F child_args`` in a fresh process per framework: {framework: its tagged result};
    ``env(framework)`` gives each child's environment (default :func:`child_env`), ``finish(result, output)`` may add
    to a result from the child's whole stdout + stderr.  None (after printing the child's stderr) when one fails."""
    results = {}
    for framework in frameworks:
        proc = subprocess.run([sys.executable, str(script), "--child", "--framework", framework] + list(child_args),
                              env=env(framework) if env else child_env(), capture_output=True, text=True,
                              check=False)
        result = tagged_result(proc.stdout, tag)
        if result is None:
            print(f"{framework}: no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
            return None
        if finish:
            finish(result, proc.stdout + proc.stderr)
        results[framework] = result
    return results


def run_worker(spec, env_extra=None, timeout=3600, log_dir=None, label=""):
    """Run one measurement in a fresh process; returns its result dict with wall time and foreign load."""
    env = child_env(BASE_ENV, PYTHONUNBUFFERED="1")
    env.update(env_extra or {})
    hz = os.sysconf("SC_CLK_TCK")
    spec = dict(spec, root_path=str(ROOT))
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy0, steal0 = _proc_stat()
        start = time.time()
        proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                                env=env, stdout=out, stderr=err, cwd=str(log_dir or tempfile.gettempdir()),
                                start_new_session=True)
        rusage = None
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.time() - start > timeout:
                os.killpg(proc.pid, 9)
                _, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - start
        busy1, steal1 = _proc_stat()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    own_cpu = rusage.ru_utime + rusage.ru_stime
    result = tagged_result(stdout)
    prof = {}
    for line in (stdout + "\n" + stderr).splitlines():  # MS_DEV_RUNTIME_CONF=compile_statistics:True phase times
        if line.startswith("[PROF]") and " costs " in line:
            name, _, cost = line[6:].partition(" costs ")
            try:
                prof[name] = prof.get(name, 0.0) + float(cost.split()[0]) / 1000.0
            except ValueError:
                pass
    if result is None:
        tail = (stderr.strip().splitlines() or ["no output"])[-1][:200]
        result = {"ok": False, "error": f"worker exit {proc.returncode} after {wall:.0f}s: {tail}"}
    if prof:
        result["compile_phases_s"] = {k: round(v, 3) for k, v in prof.items() if k in COMPILE_PHASES}
    result.update(t_start=start, wall_s=wall, own_cores=own_cpu / max(wall, 1e-6),
                  foreign_cores=max(0.0, ((busy1 - busy0) / hz - own_cpu) / max(wall, 1e-6)),
                  steal_cores=(steal1 - steal0) / hz / max(wall, 1e-6), label=label, spec=spec)
    if log_dir:
        safe = label.replace("/", "_").replace(" ", "_")
        (Path(log_dir) / f"{safe}.log").write_text(stdout + "\n--- stderr ---\n" + stderr, encoding="utf-8")
    return result


class Bench:
    def __init__(self, args):
        self.args = args
        self.records = []
        self.work = Path(args.workdir or tempfile.mkdtemp(prefix="zoo_bench_"))
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / "logs").mkdir(exist_ok=True)
        self.jsonl = Path(args.jsonl) if args.jsonl else self.work / "results.jsonl"
        self.quick = args.quick

    # one measurement ------------------------------------------------------------------------------------------
    def run(self, label, spec, env=None, timeout=None):
        self._wait_quiet()
        result = run_worker(spec, env, timeout or self.args.timeout, self.work / "logs", label)
        self.records.append(result)
        with self.jsonl.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(result) + "\n")
        shown = {k: result.get(k) for k in ("imgs_per_s", "median_s", "first_call_s", "compile_est_s", "peak_rss_mb",
                                            "gflops", "macs") if result.get(k) is not None}
        text = " ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
        status = "ok" if result.get("ok") else f"FAILED: {result.get('error')}"
        print(f"[{time.strftime('%H:%M:%S')}] {label:<44} {status} {text} (wall {result['wall_s']:.0f}s, "
              f"foreign load {result['foreign_cores']:.2f} cores)", flush=True)
        return result

    def _wait_quiet(self):
        if self.args.max_wait <= 0:
            return
        deadline = time.time() + self.args.max_wait
        while time.time() < deadline:
            if foreign_load(2.0) < self.args.quiet_below:
                return
        print(f"  (machine still busy after {self.args.max_wait:.0f}s of waiting; measuring anyway)", flush=True)

    def iters(self):
        if self.quick:
            return dict(iters=2, warmup=0, min_iters=1, budget=30.0)
        return dict(iters=self.args.iters, warmup=self.args.warmup, min_iters=min(3, self.args.iters),
                    budget=self.args.budget)

    # measurement groups --------------------------------------------------------------------------------------
    def model_runs(self, model, batch):
        info = MODELS[model]
        size = info["quick_size"] if self.quick else info["size"]
        base = dict(model=model, batch=batch, size=size, **self.iters())
        key = f"{model}/b{batch}"
        if "infer" not in self.args.tasks:
            self.run(f"{key}/macs", dict(kind="macs", model=model, size=size))
        for task in self.args.tasks:
            zspec = dict(base, kind="ms_model", framework="zoo", task=task, variant="default")
            if task == "infer":
                zspec["count_macs"] = True
            cache = self.work / "compile_cache" / f"{model}_b{batch}_{task}"
            shutil.rmtree(cache, ignore_errors=True)
            cache_env = {"MS_COMPILER_CACHE_ENABLE": "1", "MS_COMPILER_CACHE_PATH": str(cache),
                         "MS_DEV_RUNTIME_CONF": "compile_statistics:True"}  # [PROF] phase times in the log
            # quick mode saves a process: its default run also writes the compile cache (full mode keeps the
            # default run exactly the zoo default and fills the cache in a separate first-call-only run)
            fill_in_default = self.quick and not self.args.no_cache
            self.run(f"{key}/{task}/zoo/default", zspec, cache_env if fill_in_default else None)
            if not self.args.no_cache:
                if not fill_in_default:
                    self.run(f"{key}/{task}/zoo/cache_fill", dict(zspec, variant="cache_fill", count_macs=False,
                                                                  iters=1, warmup=0, min_iters=1), cache_env)
                self.run(f"{key}/{task}/zoo/cache_warm", dict(zspec, variant="cache_warm", count_macs=False,
                                                              iters=2, warmup=0, min_iters=2), cache_env)
            if "torch" in self.args.peers:
                self.run(f"{key}/{task}/torch", dict(base, kind="torch_model", framework="torch", task=task))
            if "mindcv" in self.args.peers:
                if size < info["mindcv_min"]:
                    self.records.append({"ok": False, "label": f"{key}/{task}/mindcv", "spec": dict(
                        base, framework="mindcv", task=task), "error": f"skipped: MindCV's {model} needs "
                                        f"{info['mindcv_min']}x{info['mindcv_min']} inputs (quick size {size})",
                        "foreign_cores": 0.0, "wall_s": 0.0})
                else:
                    self.run(f"{key}/{task}/mindcv", dict(base, kind="ms_model", framework="mindcv", task=task,
                                                          variant="default"))
            for rep in range(self.args.repeat):  # variants interleaved with repeats of the default
                for name in self.args.variants:
                    if name == "default" and rep == 0:
                        continue
                    variant = VARIANTS[name]
                    if task not in variant.get("tasks", ("train", "infer")):
                        continue
                    self.run(f"{key}/{task}/zoo/{name}", dict(zspec, variant=name, variant_spec=variant,
                                                              count_macs=False), variant.get("env"))

    def data_runs(self):
        count = 64 if self.quick else self.args.data_images
        epochs = 2 if self.quick else 4
        root = make_jpeg_folder(self.work / f"jpegs_{count}", count)
        frameworks = ["zoo", "ms_imagefolder"] + (["torch"] if "torch" in self.args.peers else [])
        for split in ("train", "eval"):
            runs = []
            for framework in frameworks:
                runs.append((f"data/{split}/{framework}", dict(kind="data", framework=framework, split=split,
                                                               root=str(root), batch=32,
                                                               workers=self.args.data_workers, epochs=epochs)))
            # the zoo's pipeline with one change each: MindSpore's own Decode for eval (what the zoo used before
            # Pillow's), and other prefetch sizes
            variants = [("ms_decode", {"ms_decode": True})] if split == "eval" else []
            variants += [(f"prefetch{prefetch}", {"prefetch": prefetch}) for prefetch in self.args.data_prefetch]
            for name, variant_spec in variants:
                runs.append((f"data/{split}/zoo/{name}",
                             dict(kind="data", framework="zoo", split=split, root=str(root), batch=32,
                                  workers=self.args.data_workers, epochs=epochs, variant=name,
                                  variant_spec=variant_spec)))
            # with --repeat N: N rounds, each in a rotated order, so that no pipeline is always the first one
            # measured (the first after the JPEGs are written ran up to 30% slower in one round)
            for rep in range(self.args.repeat):
                shift = rep % len(runs)
                for label, spec in runs[shift:] + runs[:shift]:
                    self.run(label, spec)

    def all(self, command=""):
        print(f"work folder: {self.work} (raw results: {self.jsonl}, worker logs: {self.work / 'logs'})", flush=True)
        meta = {"ok": True, "label": "meta", "command": command, "t_start": time.time(), "wall_s": 0.0,
                "foreign_cores": 0.0}
        self.records.append(meta)
        with self.jsonl.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(meta) + "\n")
        self.run("versions", dict(kind="versions"))
        self.run("peak/numpy_sgemm", dict(kind="peak", n=2048 if self.quick else 4096, reps=3 if self.quick else 5))
        if not self.args.skip_data:
            self.data_runs()
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                self.model_runs(model, batch)
        self.run("peak/numpy_sgemm_end", dict(kind="peak", n=2048 if self.quick else 4096,
                                              reps=3 if self.quick else 5))


# ----------------------------------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------------------------------

def _fmt(value, digits=2):
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


def _ratio(a, b):
    return a / b if a and b else None


def lscpu_model():
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    model = fields.get("Model name", "?").strip()
    family, mod = fields.get("CPU family", "").strip(), fields.get("Model", "").strip()
    hyper = fields.get("Hypervisor vendor", "").strip()
    flags = fields.get("Flags", "")
    isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
    return (f"{model} (family {family} model {mod}), {len(os.sched_getaffinity(0))} usable cores of "
            f"{os.cpu_count()}, {isa}{', under ' + hyper if hyper else ''}")


def mem_total_gib():
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            kib = int(handle.readline().split()[1])
        return kib / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return None


class Report:
    def __init__(self, records, args, command, started, finished):
        self.records = records
        self.by_label, self.groups = {}, {}
        for record in records:
            self.groups.setdefault(record["label"], []).append(record)
        for label, group in self.groups.items():
            ok = [r for r in group if r.get("ok")]
            if ok and all(r.get("median_s") for r in ok):  # repeated measurement: the run with the median speed
                ok.sort(key=lambda r: r["median_s"])
                self.by_label[label] = ok[(len(ok) - 1) // 2]
            elif ok and all(r.get("imgs_per_s") for r in ok):  # repeated data-pipeline run: the median one
                ok.sort(key=lambda r: r["imgs_per_s"])
                self.by_label[label] = ok[(len(ok) - 1) // 2]
            else:
                self.by_label[label] = ok[-1] if ok else group[-1]
        self.args, self.command, self.started, self.finished = args, command, started, finished
        peaks = [r["gflops"] for r in records if r["label"].startswith("peak/") and r.get("ok")]
        self.peak = max(peaks) if peaks else None
        self.peaks = peaks

    def get(self, label, key=None):
        record = self.by_label.get(label)
        if record is None or not record.get("ok"):
            return None
        return record if key is None else record.get(key)

    def ips(self, label):
        record = self.get(label)
        if not record:
            return None
        return record["spec"]["batch"] / record["median_s"]

    def runs(self, label):
        return len([r for r in self.groups.get(label, []) if r.get("ok")])

    def gflops(self, key, task, label):
        macs = self.get(f"{key}/macs", "macs") or self.get(f"{key}/infer/zoo/default", "macs")
        ips = self.ips(label)
        if not macs or not ips:
            return None
        return ips * 2 * macs * (3 if task == "train" else 1) / 1e9

    def error(self, label):
        record = self.by_label.get(label)
        if record is None:
            return "not run"
        return None if record.get("ok") else record.get("error", "failed")

    def markdown(self):
        args = self.args
        versions = self.get("versions") or {}
        loads = [r["foreign_cores"] for r in self.records if r.get("wall_s")]
        mode = section_name(args)
        lines = [f"<!-- bench:{mode}:begin -->",
                 f"## CPU benchmark vs PyTorch and MindCV (issue 8, {mode} run, {self.started:%Y-%m-%d})", "",
                 f"Command: `{self.command}`", "",
                 "| item | value |", "|---|---|",
                 f"| date | {self.started:%Y-%m-%d %H:%M} – {self.finished:%H:%M} UTC |",
                 f"| machine | {lscpu_model()}, {_fmt(mem_total_gib(), 1)} GiB RAM |"]
        for name in ("python", "mindspore", "numpy", "torch", "torchvision", "timm", "mindcv"):
            lines.append(f"| {name} | {versions.get(name, '?')} |")
        lines.append(f"| zoo CPU env (default) | {versions.get('cpu_env', '?')} |")
        if loads:
            lines.append(f"| foreign load (cores used by other processes while measuring) | mean "
                         f"{statistics.mean(loads):.2f}, max {max(loads):.2f} over {len(loads)} runs; per run "
                         f"in the tables |")
        lines.append(f"| matmul peak (numpy 4096^3 sgemm, same run) | "
                     f"{', '.join(_fmt(p, 1) for p in self.peaks)} GFLOP/s; the best, {_fmt(self.peak, 1)}, is the "
                     f"peak used below |")
        lines.append("")
        if not getattr(args, "data_only", False):
            lines += self.model_tables()
            lines += self.compile_table()
            lines += self.tuning_table()
        lines += self.data_table()
        lines += self.targets_table()
        lines.append(f"<!-- bench:{mode}:end -->")
        return "\n".join(lines) + "\n"

    def model_tables(self):
        out = []
        for task in self.args.tasks:
            out += [f"### {'Training step (fwd + bwd + Momentum 0.9)' if task == 'train' else 'Inference'}", "",
                    "| model | batch | input | ours img/s | torch img/s | MindCV img/s | ours/torch | ours/MindCV "
                    "| ours GFLOP/s (% peak) | torch % peak | ours first call s (compile est.) | warm-cache first "
                    "call s (compile est.) | torch first call s | peak RSS MB ours / torch / MindCV | foreign load "
                    "ours / torch / MindCV |", "|" + "---|" * 15]
            for batch in self.args.batch:
                for model in self.args.models:
                    key = f"{model}/b{batch}"
                    zoo, torch_, mcv = (f"{key}/{task}/zoo/default", f"{key}/{task}/torch", f"{key}/{task}/mindcv")
                    warm = f"{key}/{task}/zoo/cache_warm"
                    zr = self.get(zoo)
                    size = zr["spec"]["size"] if zr else "?"
                    gz, gt = self.gflops(key, task, zoo), self.gflops(key, task, torch_)

                    def pct(g):
                        return f"{g / self.peak * 100:.0f}%" if g and self.peak else "—"

                    def first(label):
                        r = self.get(label)
                        return f"{r['first_call_s']:.1f} ({r['compile_est_s']:.1f})" if r else "—"

                    def rss(label):
                        return _fmt(self.get(label, "peak_rss_mb"), 0)

                    def load(label):
                        r = self.by_label.get(label)
                        return _fmt(r["foreign_cores"]) if r and r.get("wall_s") else "—"

                    out.append(
                        f"| {model} | {batch} | {size} | {_fmt(self.ips(zoo))} | {_fmt(self.ips(torch_))} | "
                        f"{_fmt(self.ips(mcv))} | {_fmt(_ratio(self.ips(zoo), self.ips(torch_)))} | "
                        f"{_fmt(_ratio(self.ips(zoo), self.ips(mcv)))} | {_fmt(gz, 1)} ({pct(gz)}) | {pct(gt)} | "
                        f"{first(zoo)} | {first(warm)} | {_fmt(self.get(torch_, 'first_call_s'), 1)} | "
                        f"{rss(zoo)} / {rss(torch_)} / {rss(mcv)} | {load(zoo)} / {load(torch_)} / {load(mcv)} |")
            out.append("")
            errors = [(label, self.error(label)) for label in self.by_label if f"/{task}/" in label
                      and self.error(label)]
            for label, err in errors:
                out.append(f"* `{label}`: {err}")
            if errors:
                out.append("")
        return out

    def compile_table(self):
        """Cold vs warm compile, with MindSpore's own phase times (MS_DEV_RUNTIME_CONF=compile_statistics:True)."""
        if self.args.no_cache:
            return []
        out = ["### Graph compile: cold vs warm compile cache (s)", "",
               "compile est. = first call - median step. Phases: MindSpore's `[PROF]` totals of the run "
               "(`compile_graph` = whole graph compile; `compile_backend_graph` = its backend part, of which "
               "`CreateKernel` builds the CPU kernels).", "",
               "| model | batch | task | cold first call (compile est.) | cold compile_graph / backend / CreateKernel "
               "| warm first call (compile est.) | warm compile_graph / backend / CreateKernel |",
               "|---|---|---|---|---|---|---|"]

        def phases(label):
            record = self.get(label) or {}
            ph = record.get("compile_phases_s") or {}
            if not ph:
                return "—"
            return " / ".join(_fmt(ph.get(k), 2) for k in ("compile_graph", "compile_backend_graph", "CreateKernel"))

        def first(label):
            record = self.get(label)
            return f"{record['first_call_s']:.1f} ({record['compile_est_s']:.1f})" if record else "—"

        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                for task in self.args.tasks:
                    base = f"{model}/b{batch}/{task}/zoo"
                    cold = f"{base}/cache_fill" if f"{base}/cache_fill" in self.by_label else f"{base}/default"
                    out.append(f"| {model} | {batch} | {task} | {first(f'{base}/default')} | {phases(cold)} | "
                               f"{first(f'{base}/cache_warm')} | {phases(f'{base}/cache_warm')} |")
        out.append("")
        return out

    def tuning_rows(self):
        rows = []
        names = ["default"] + [v for v in self.args.variants if v != "default"]
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                for task in self.args.tasks:
                    base = f"{model}/b{batch}/{task}/zoo"
                    values = {name: self.ips(f"{base}/{name}") for name in names}
                    rss = {name: self.get(f"{base}/{name}", "peak_rss_mb") for name in names}
                    measured = {k: v for k, v in values.items() if v}
                    best = max(measured, key=measured.get) if measured else None
                    rows.append((model, batch, task, values, rss, best))
        return names, rows

    def tuning_table(self):
        names, rows = self.tuning_rows()
        if len(names) < 2:
            return []
        out = ["### Zoo default vs configuration variants (img/s; peak RSS MB in brackets)", "",
               f"Each cell is the median of {self.args.repeat} run(s), run interleaved with the other variants.", "",
               "Variants: " + "; ".join(f"`{n}` = {json.dumps(VARIANTS[n])}" for n in names if n != "default"), "",
               "| model | batch | task | " + " | ".join(names) + " | best | default / best |",
               "|" + "---|" * (len(names) + 5)]
        for model, batch, task, values, rss, best in rows:
            cells = [f"{_fmt(values[n])} ({_fmt(rss[n], 0)})" if values[n] else "—" for n in names]
            ratio = _ratio(values.get("default"), values.get(best)) if best else None
            out.append(f"| {model} | {batch} | {task} | " + " | ".join(cells) + f" | {best or '—'} | "
                       f"{_fmt(ratio)} |")
        out.append("")
        return out

    def data_table(self):
        if self.args.skip_data:
            return []
        out = ["### Data pipeline (generated JPEGs 500x375 q90, 8 classes, batch 32, "
               f"{self.args.data_workers} workers, 224x224 ImageNet transforms; steady = median of epochs 2..N"
               + (f"; each row the median of {self.args.repeat} runs in rotated order" if self.args.repeat > 1
                  else "") + ")", "",
               "| split | pipeline | steady img/s | epoch-1 img/s | / torch | peak RSS MB | foreign load |",
               "|---|---|---|---|---|---|---|"]
        names = {"zoo": "zoo `image_pipeline` (GeneratorDataset + C++ map ops)",
                 "ms_imagefolder": "MindSpore ImageFolderDataset + the zoo's ops",
                 "torch": "torch DataLoader + torchvision ImageFolder (PIL)",
                 "zoo/ms_decode": "zoo with MindSpore's `Decode` (the eval decode before Pillow's)"}
        for split in ("train", "eval"):
            torch_ips = self.get(f"data/{split}/torch", "imgs_per_s")
            labels = [f"data/{split}/{f}" for f in names] + [f"data/{split}/zoo/prefetch{p}"
                                                           for p in self.args.data_prefetch]
            for label in labels:
                record = self.by_label.get(label)
                if record is None:
                    continue
                name = names.get(label.split("/", 2)[2], label.split("/", 2)[2].replace("zoo/", "zoo, "))
                if not record.get("ok"):
                    out.append(f"| {split} | {name} | failed: {record.get('error')} | | | | |")
                    continue
                out.append(f"| {split} | {name} | {record['imgs_per_s']:.0f} | {record['epoch1_imgs_per_s']:.0f} | "
                           f"{_fmt(_ratio(record['imgs_per_s'], torch_ips))} | {record['peak_rss_mb']:.0f} | "
                           f"{record['foreign_cores']:.2f} |")
        out.append("")
        return out

    def targets_table(self):
        out = ["### Targets (issue 8)", "", "| target | measured | met |", "|---|---|---|"]

        def row(name, value, ok):
            out.append(f"| {name} | {value} | {'yes' if ok else ('no' if ok is not None else 'not measured')} |")

        _, rows = self.tuning_rows()
        for model, batch, task, values, _, best in rows:
            if len(self.args.variants) < 2:
                break
            ratio = _ratio(values.get("default"), values.get(best)) if best else None
            row(f"{model} b{batch} {task}: default / best-tuned >= 0.95", _fmt(ratio),
                None if ratio is None else ratio >= 0.95)
        for batch in ([] if self.args.data_only else self.args.batch):
            for model in self.args.models:
                key = f"{model}/b{batch}"
                for task, need in (("train", 1.2), ("infer", 1.2)):
                    if task not in self.args.tasks:
                        continue
                    r = _ratio(self.ips(f"{key}/{task}/zoo/default"), self.ips(f"{key}/{task}/torch"))
                    row(f"{model} b{batch} {task}: ours / torch >= {need}", _fmt(r), None if r is None else r >= need)
                if "train" in self.args.tasks:
                    r = _ratio(self.ips(f"{key}/train/zoo/default"), self.ips(f"{key}/train/mindcv"))
                    row(f"{model} b{batch} train: ours / MindCV >= 1.0", _fmt(r), None if r is None else r >= 1.0)
                    g = self.gflops(key, "train", f"{key}/train/zoo/default")
                    need = 0.70 if model == "vgg19" else 0.60
                    frac = g / self.peak if g and self.peak else None
                    row(f"{model} b{batch} train: >= {need:.0%} of matmul peak",
                        f"{frac:.0%}" if frac else "—", None if frac is None else frac >= need)
                    ours, torch_rss = (self.get(f"{key}/train/zoo/default", "peak_rss_mb"),
                                       self.get(f"{key}/train/torch", "peak_rss_mb"))
                    r = _ratio(ours, torch_rss)
                    row(f"{model} b{batch} train: peak RSS ours / torch <= 1.0", _fmt(r), None if r is None else
                        r <= 1.0)
                for task in self.args.tasks:
                    warm = self.get(f"{key}/{task}/zoo/cache_warm", "compile_est_s")
                    row(f"{model} b{batch} {task}: warm-cache compile <= 2 s", _fmt(warm, 1),
                        None if warm is None else warm <= 2.0)
        if not self.args.skip_data:
            for split in ("train", "eval"):
                r = _ratio(self.get(f"data/{split}/zoo", "imgs_per_s"), self.get(f"data/{split}/torch", "imgs_per_s"))
                row(f"data pipeline {split}: zoo / torch >= 2.5", _fmt(r), None if r is None else r >= 2.5)
        out.append("")
        return out


def section_name(args):
    """The RESULTS.md section a run writes: ``--section`` or quick/full."""
    return args.section or ("quick" if args.quick else "full")


def write_results(markdown, path, mode):
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmark and demo results\n"
    begin, end = f"<!-- bench:{mode}:begin -->", f"<!-- bench:{mode}:end -->"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + markdown.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + markdown
    path.write_text(text, encoding="utf-8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", nargs="+", type=int, default=None, help="batch sizes (default 8; quick: 2)")
    parser.add_argument("--tasks", nargs="+", default=["train", "infer"], choices=["train", "infer"])
    parser.add_argument("--peers", nargs="*", default=["torch", "mindcv"], choices=["torch", "mindcv"],
                        help="reference frameworks to measure (each is skipped with a note when it does not import)")
    parser.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS),
                        help="configuration variants tried against the zoo default (default: all; quick: default only)")
    parser.add_argument("--quick", action="store_true", help="batch 2, small inputs, 2 iterations: a few minutes")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run the default and each variant this many times, interleaved (medians are reported)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per measurement (full mode)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first call (full mode)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of timed loop per measurement (>= 3 iters)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds before a measurement is killed")
    parser.add_argument("--no-cache", action="store_true", help="skip the compile-cache cold/warm measurements")
    parser.add_argument("--skip-data", action="store_true", help="skip the data-pipeline measurements")
    parser.add_argument("--data-only", action="store_true", help="only the data-pipeline measurements (no models)")
    parser.add_argument("--data-images", type=int, default=512)
    parser.add_argument("--data-workers", type=int, default=2)
    parser.add_argument("--data-prefetch", nargs="*", type=int, default=None,
                        help="prefetch sizes tried on the zoo pipeline (ds.config.set_prefetch_size; default 2 32)")
    parser.add_argument("--max-wait", type=float, default=None,
                        help="seconds to wait before each measurement for the machine to go quiet (default 60; "
                             "quick: 0)")
    parser.add_argument("--quiet-below", type=float, default=0.3, help="foreign cores that count as quiet")
    parser.add_argument("--workdir", help="folder for the JPEGs, compile caches, logs (default: a new temp folder)")
    parser.add_argument("--jsonl", help="append raw per-run records here (default: WORKDIR/results.jsonl)")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file the section goes into")
    parser.add_argument("--write", action="store_true", help="write the section also in --quick mode")
    parser.add_argument("--section", help="name of the RESULTS.md section to write (default: quick or full); a "
                                          "focused re-measurement keeps the full run's section")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    parser.add_argument("--report-only", help="rebuild the report from a results.jsonl instead of measuring")
    parser.add_argument("--command", help="with --report-only: the measuring command to show (when the records "
                                          "do not name it)")
    args = parser.parse_args(argv)
    if args.batch is None:
        args.batch = [2] if args.quick else [8]
    if args.variants is None:
        args.variants = ["default"] if args.quick else list(VARIANTS)
    if "default" not in args.variants:
        args.variants = ["default"] + args.variants
    if args.data_prefetch is None:
        args.data_prefetch = [] if args.quick else [2, 32]
    if args.max_wait is None:
        args.max_wait = 0.0 if args.quick else 60.0
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker_main(argv[1])
        return 0
    args = parse_args(argv)
    command = "python benchmarks/bench.py " + " ".join(argv)
    started = datetime.datetime.now(datetime.timezone.utc)
    if args.report_only:
        records = [json.loads(line) for line in Path(args.report_only).read_text().splitlines() if line.strip()]
        command = next((r["command"] for r in records if r.get("label") == "meta" and r.get("command")),
                       args.command or command)
        stamps = [r["t_start"] for r in records if r.get("t_start")]
        if stamps:
            started = datetime.datetime.fromtimestamp(min(stamps), datetime.timezone.utc)
        finished = datetime.datetime.fromtimestamp(max(r["t_start"] + r["wall_s"] for r in records if r.get("t_start")),
                                                   datetime.timezone.utc) if stamps else started
    else:
        bench = Bench(args)
        bench.all(command)
        records = bench.records
        finished = datetime.datetime.now(datetime.timezone.utc)
    markdown = Report(records, args, command, started, finished).markdown()
    print()
    print(markdown)
    if not args.no_write and (args.write or not args.quick):
        write_results(markdown, args.results, section_name(args))
        print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
