#!/usr/bin/env python
"""Every convolution of the three networks, timed alone: forward, backward-data, backward-weights, per implementation.

    python benchmarks/conv_shapes.py                        # batch 8, all networks, writes RESULTS.md's table
    python benchmarks/conv_shapes.py --models densenet121 --impls native fast --no-write

Implementations (one fresh process each, the shapes in the same order):

* ``native``: MindSpore 2.10's own Conv2D, as the zoo ran it before the fast kernels (``MODEL_ZOO_FAST_CONV=0``,
  oneDNN capped at AVX2: im2col + JIT sgemm on NCHW);
* ``fast``: the zoo's AOT Custom operators (``model_zoo.engine.kernels``): oneDNN's blocked-layout direct
  convolutions, uncapped ISA, NCHW <-> blocked reorders included;
* ``fast_plain``: the same operators with the activations left NCHW (oneDNN's ncsp kernels, no reorders); 1x1 only
  (on 3x3 and larger oneDNN's ncsp path is its reference kernel);
* ``uncapped``: MindSpore's own Conv2D without the AVX2 cap (option (b) of issue 16): 1x1 convolutions become
  oneDNN's ncsp matmul; larger ones fall to the reference kernel, so only 1x1 is timed (their im2col + GEMM
  formulation is the ``native`` row);
* ``torch``: PyTorch's ``conv2d`` (oneDNN ``any`` formats, as in the model benchmark).

MindSpore runs in GRAPH mode.  Each shape is timed as ``f = sum(conv(x) * dy)`` (forward), its value and gradient
for ``x`` only (forward + backward-data) and for the weights only (forward + backward-weights); backward = that
minus the forward.
Median of ``--reps``.  Shapes come from the zoo's networks (``model_zoo.engine.flops.conv_calls``) at the benchmark
input sizes.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import lscpu_model, write_results  # noqa: E402
from runner import child_env, tagged_result  # noqa: E402
from workers import MODELS, _timed_loop  # noqa: E402

TAG = "CONV_SHAPES "
IMPLS = {
    "native": {"MODEL_ZOO_FAST_CONV": "0"},
    "fast": {},
    "fast_plain": {"MODEL_ZOO_FAST_CONV_LAYOUT": "plain"},
    "uncapped": {"MODEL_ZOO_FAST_CONV": "0", "ONEDNN_MAX_CPU_ISA": "ALL"},
    "torch": {},
}
POINTWISE_ONLY = ("fast_plain", "uncapped")
CHUNK = 20


def collect(models, batch):
    """[{key, models: {model: calls}, settings, input}] for every distinct convolution of ``models``."""
    import model_zoo  # noqa: F401
    import mindspore as ms

    from model_zoo.engine.flops import conv_calls
    from model_zoo.engine.registry import create_model

    ms.set_device("CPU")
    shapes = {}
    for model in models:
        info = MODELS[model]
        name, kwargs = info["zoo"]
        kwargs = dict(kwargs)
        if info.get("zoo_size_kw"):
            kwargs["image_size"] = (info["size"], info["size"])
        net = create_model(name, num_classes=1000, **kwargs)
        for cell, shape in conv_calls(net, (info["size"], info["size"])):
            padding = cell.padding if isinstance(cell.padding, (tuple, list)) else (cell.padding,) * 4
            settings = dict(in_channels=cell.in_channels, out_channels=cell.out_channels,
                            kernel_size=list(cell.kernel_size), stride=list(cell.stride), pad_mode=cell.pad_mode,
                            padding=list(padding), dilation=list(cell.dilation), group=cell.group)
            key = json.dumps([settings, shape[1:]])
            entry = shapes.setdefault(key, {"key": key, "models": {}, "settings": settings,
                                            "input": [batch] + list(shape[1:])})
            entry["models"][model] = entry["models"].get(model, 0) + 1
    return list(shapes.values())


def _median_time(fn, reps, budget=1.5):
    """Median milliseconds of ``fn`` (one untimed call first; at least 2 timed calls, at most ``reps``)."""
    return _timed_loop(fn, reps, 0, budget, min(2, reps))["median_s"] * 1000.0


def _pads(settings, height, width):
    mode = settings["pad_mode"]
    if mode == "pad":
        return settings["padding"]
    if mode == "valid":
        return [0, 0, 0, 0]
    pads = []
    for size, k, s, d in ((height, settings["kernel_size"][0], settings["stride"][0], settings["dilation"][0]),
                          (width, settings["kernel_size"][1], settings["stride"][1], settings["dilation"][1])):
        out = -(-size // s)
        need = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        pads += [need // 2, need - need // 2]
    return pads


def time_mindspore(shapes, reps, pointwise_only):
    import model_zoo  # noqa: F401
    import mindspore as ms
    import numpy as np
    from mindspore import nn

    from model_zoo.engine.device import get_backend

    get_backend("CPU").setup_context("GRAPH")
    status = None
    if os.environ.get("MODEL_ZOO_FAST_CONV", "1") != "0":
        from model_zoo.engine.kernels import fastconv

        status = fastconv.enable()

    class Loss(nn.Cell):
        def __init__(self, conv, dy):
            super().__init__()
            self.conv, self.dy = conv, dy

        def construct(self, x):
            return (self.conv(x) * self.dy).sum()

    rng = np.random.default_rng(0)
    out = {}
    for entry in shapes:
        settings = dict(entry["settings"])
        if pointwise_only and settings["kernel_size"] != [1, 1]:
            continue
        for name in ("padding", "kernel_size", "stride", "dilation"):
            settings[name] = tuple(settings[name])
        if settings["pad_mode"] != "pad":
            settings["padding"] = 0
        conv = nn.Conv2d(has_bias=False, **settings)
        x = ms.Tensor(rng.standard_normal(entry["input"]).astype(np.float32))
        y_shape = conv(x).shape
        dy = ms.Tensor(rng.standard_normal(y_shape).astype(np.float32))
        loss = Loss(conv, dy)
        forward = loss  # GRAPH mode: the Cell compiles on its first call
        # value_and_grad: the forward must run too (a bare gradient prunes it: a convolution's backward does not
        # read its output), as in training and as torch's autograd does
        grad_x = ms.jit(ms.value_and_grad(loss, grad_position=0))
        grad_w = ms.jit(ms.value_and_grad(loss, grad_position=None, weights=conv.trainable_params()))
        t_f = _median_time(lambda: forward(x).asnumpy(), reps)
        t_x = _median_time(lambda: grad_x(x)[1].asnumpy(), reps)
        t_w = _median_time(lambda: grad_w(x)[1][0].asnumpy(), reps)
        out[entry["key"]] = {"fwd": t_f, "bwd_data": max(0.0, t_x - t_f), "bwd_weights": max(0.0, t_w - t_f)}
    return out, status


def time_torch(shapes, reps):
    import numpy as np
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(len(os.sched_getaffinity(0)))
    rng = np.random.default_rng(0)
    out = {}
    for entry in shapes:
        s = entry["settings"]
        n, c, h, w = entry["input"]
        top, bottom, left, right = _pads(s, h, w)
        x = torch.from_numpy(rng.standard_normal(entry["input"]).astype(np.float32))
        weight = torch.from_numpy(rng.standard_normal((s["out_channels"], c // s["group"]) + tuple(s["kernel_size"]))
                                  .astype(np.float32) * 0.05)
        symmetric = top == bottom and left == right

        def conv(inp, wt):
            if not symmetric:
                inp = F.pad(inp, (left, right, top, bottom))
            return F.conv2d(inp, wt, None, tuple(s["stride"]), (top, left) if symmetric else 0,
                            tuple(s["dilation"]), s["group"])

        with torch.no_grad():
            dy = torch.from_numpy(rng.standard_normal(conv(x, weight).shape).astype(np.float32))

        def forward():
            with torch.no_grad():
                return (conv(x, weight) * dy).sum().item()

        def grad(which):
            xi = x.clone().requires_grad_(which == "x")
            wi = weight.clone().requires_grad_(which == "w")
            (conv(xi, wi) * dy).sum().backward()

        t_f = _median_time(forward, reps)
        t_x = _median_time(lambda: grad("x"), reps)
        t_w = _median_time(lambda: grad("w"), reps)
        out[entry["key"]] = {"fwd": t_f, "bwd_data": max(0.0, t_x - t_f), "bwd_weights": max(0.0, t_w - t_f)}
    return out, f"torch {torch.__version__}"


def child(args):
    shapes = json.loads(Path(args.shapes).read_text())
    if args.impl == "collect":
        result = collect(args.models, args.batch)
    elif args.impl == "torch":
        times, info = time_torch(shapes, args.reps)
        result = {"times": times, "info": info}
    else:
        times, info = time_mindspore(shapes, args.reps, args.impl in POINTWISE_ONLY)
        result = {"times": times, "info": info}
    sys.stdout.flush()
    print(TAG + json.dumps(result), flush=True)
    os._exit(0)


def run_child(impl, args, shapes_file):
    env = child_env(**IMPLS.get(impl, {}))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--impl", impl, "--shapes", str(shapes_file),
           "--batch", str(args.batch), "--reps", str(args.reps), "--models", *args.models]
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    result = tagged_result(proc.stdout, TAG)
    if result is None:
        print(f"{impl}: no result (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    else:
        print(f"[{time.strftime('%H:%M:%S')}] {impl}: {time.time() - start:.0f} s", flush=True)
    return result


def run_impl(impl, args, shapes, work):
    """All shapes for one implementation, ``CHUNK`` per fresh process (each shape compiles three graphs, which a
    MindSpore process keeps: all of them in one process ran out of memory)."""
    merged = {"times": {}, "info": None}
    for start in range(0, len(shapes), CHUNK):
        chunk_file = work / f"shapes_{impl}_{start}.json"
        chunk_file.write_text(json.dumps(shapes[start:start + CHUNK]))
        result = run_child(impl, args, chunk_file)
        if result is not None:
            merged["times"].update(result["times"])
            merged["info"] = merged["info"] or result.get("info")
    return merged if merged["times"] else None


def describe(entry):
    s, (_, c, h, w) = entry["settings"], entry["input"]
    kh, kw = s["kernel_size"]
    pad = {"pad": "p" + ",".join(str(p) for p in s["padding"]) if len(set(s["padding"])) > 1 else f"p{s['padding'][0]}",
           "same": "same", "valid": "valid"}[s["pad_mode"]]
    extra = (f" d{s['dilation'][0]}" if s["dilation"] != [1, 1] else "") + (f" g{s['group']}" if s["group"] > 1 else "")
    return f"{c}x{h}x{w} -> {s['out_channels']}, {kh}x{kw}/{s['stride'][0]} {pad}{extra}"


def markdown(shapes, results, args, started, finished, uptime):
    impls = [i for i in args.impls if i in results]
    lines = ["<!-- bench:conv_shapes:begin -->",
             f"## Convolutions of the three networks, one by one (batch {args.batch}, {started:%Y-%m-%d})", "",
             f"Command: `python benchmarks/conv_shapes.py {' '.join(args.argv)}`".rstrip() + "", "",
             f"Date {started:%Y-%m-%d %H:%M} – {finished:%H:%M} UTC; machine: {lscpu_model()}; load average at the "
             f"start {uptime}.  Milliseconds per call, median of {args.reps}; fwd = forward, bd = backward-data, "
             f"bw = backward-weights (gradient minus forward).  Implementations: "
             + "; ".join(f"`{i}` ({results[i].get('info') or 'MindSpore'})" for i in impls) + ".", ""]
    # per network: the sum over its convolutions (each counted as often as the network calls it)
    lines += ["| network | " + " | ".join(f"{i} fwd / bd / bw (sum)" for i in impls) + " | fast vs native | "
              "fast vs torch |", "|---|" + "---|" * (len(impls) + 2)]
    for model in args.models:
        sums = {}
        for impl in impls:
            parts = [0.0, 0.0, 0.0]
            complete = True
            for entry in shapes:
                calls = entry["models"].get(model, 0)
                t = results[impl]["times"].get(entry["key"])
                if not calls:
                    continue
                if t is None:
                    complete = False
                    continue
                parts = [a + calls * t[k] for a, k in zip(parts, ("fwd", "bwd_data", "bwd_weights"))]
            sums[impl] = (parts, complete)
        cells = []
        for impl in impls:
            parts, complete = sums[impl]
            cells.append(f"{parts[0]:.0f} / {parts[1]:.0f} / {parts[2]:.0f} ({sum(parts):.0f})"
                         + ("" if complete else ", 1x1 only"))

        def speedup(a, b):
            if a not in sums or b not in sums or not sums[a][1] or not sums[b][1]:
                return "—"
            return f"{sum(sums[b][0]) / max(sum(sums[a][0]), 1e-9):.2f}x"
        lines.append(f"| {model} | " + " | ".join(cells) + f" | {speedup('fast', 'native')} | "
                     f"{speedup('fast', 'torch')} |")
    lines += ["", "| convolution (input C x H x W -> C out, kernel/stride, padding) | calls (vgg19 / densenet121 / "
              "inception_v4) | " + " | ".join(f"{i} fwd / bd / bw" for i in impls) + " | fastest fwd+bd+bw |",
              "|---|---|" + "---|" * (len(impls) + 1)]
    for entry in shapes:
        calls = " / ".join(str(entry["models"].get(m, 0)) for m in MODELS)
        cells, totals = [], {}
        for impl in impls:
            t = results[impl]["times"].get(entry["key"])
            if t is None:
                cells.append("—")
                continue
            cells.append(f"{t['fwd']:.1f} / {t['bwd_data']:.1f} / {t['bwd_weights']:.1f}")
            totals[impl] = t["fwd"] + t["bwd_data"] + t["bwd_weights"]
        best = min(totals, key=totals.get) if totals else "—"
        lines.append(f"| {describe(entry)} | {calls} | " + " | ".join(cells) + f" | {best} |")
    lines += ["", "<!-- bench:conv_shapes:end -->"]
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--impls", nargs="+", default=list(IMPLS), choices=list(IMPLS))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--workdir", default="", help="keep the shape list and raw results here")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--impl", help=argparse.SUPPRESS)
    parser.add_argument("--shapes", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    args.argv = argv
    work = Path(args.workdir) if args.workdir else Path(os.environ.get("TMPDIR", "/tmp")) / "zoo_conv_shapes"
    work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    uptime = Path("/proc/loadavg").read_text().split()[:3]
    shapes_file = work / "shapes.json"
    shapes_file.write_text("[]")
    shapes = run_child("collect", args, shapes_file)
    if shapes is None:
        return 1
    shapes_file.write_text(json.dumps(shapes))
    results = {}
    for impl in args.impls:
        result = run_impl(impl, args, shapes, work)
        if result is not None:
            results[impl] = result
    (work / "results.json").write_text(json.dumps({"shapes": shapes, "results": results}, indent=1))
    finished = datetime.datetime.now(datetime.timezone.utc)
    text = markdown(shapes, results, args, started, finished, " ".join(uptime))
    print(text)
    if not args.no_write:
        write_results(text, args.results, "conv_shapes")
        print(f"written to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
