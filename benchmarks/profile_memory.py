#!/usr/bin/env python
"""Where training memory goes: resident memory after each phase of a training run, the zoo vs torch + timm.

    python benchmarks/profile_memory.py --model densenet121 --batch 8
    python benchmarks/profile_memory.py --model inception_v4 --batch 8 --frameworks zoo torch

Each framework runs in a fresh process (the parent imports neither) that reads its own ``VmRSS`` (resident now)
and ``VmHWM`` (peak so far) from ``/proc/self/status`` after: the framework import and set-up, building the
network, (MindSpore) compiling the training graph without running it, the first training step, and ``--steps``
more steps.  The same step as ``bench.py`` (Momentum 0.9, fixed loss scale 1 on MindSpore).  For torch it also sums
the tensors autograd saves for the backward pass (``saved_tensors_hooks``, unique storages): the activation memory
a training step must hold, which bounds what any framework needs.  For the zoo it adds MindSpore's own account
of its memory pool (``MS_DEV_RUNTIME_CONF=memory_statistics:True``, printed at exit): total allocated and peak
used, which shows how much of the resident memory is the pool (activations, workspaces) and how much is outside.
"""
import argparse
import json
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
RESULT_TAG = "PROFILE_MEMORY "


def _status_mb():
    values = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    return values["VmRSS"], values["VmHWM"]


def _rss_by_kind_mb():
    """Resident MB by mapping kind from /proc/self/smaps: malloc's ``[heap]``, other anonymous mappings (large
    mallocs, memory pools, thread stacks) and file-backed ones (the libraries)."""
    kinds, kind = {"heap": 0.0, "anon": 0.0, "files": 0.0}, "anon"
    with open("/proc/self/smaps") as fh:
        for line in fh:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):
                fields = line.split()
                name = fields[5] if len(fields) > 5 else ""
                kind = "heap" if name == "[heap]" else ("files" if name.startswith("/") else "anon")
            elif first == "Rss:":
                kinds[kind] += int(line.split()[1]) / 1024.0
    return kinds


class Phases:
    def __init__(self):
        self.rows = []

    def mark(self, name):
        rss, hwm = _status_mb()
        self.rows.append(dict({"phase": name, "rss_mb": rss, "peak_mb": hwm}, **_rss_by_kind_mb()))


def child(args):
    import workers

    phases = Phases()
    phases.mark("python + numpy")
    spec = dict(model=args.model, batch=args.batch, size=workers.MODELS[args.model]["size"], task="train",
                framework=args.framework)
    x_np, y_np = workers._inputs(spec)
    out = {"framework": args.framework, "model": args.model, "batch": args.batch}
    if args.framework == "torch":
        import timm
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        phases.mark("framework imported")
        net = timm.create_model(workers.MODELS[args.model]["timm"], pretrained=False, num_classes=1000)
        net.train()
        phases.mark("network built")
        x, y = torch.from_numpy(x_np), torch.from_numpy(y_np.astype("int64"))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        loss_fn = torch.nn.CrossEntropyLoss()
        saved = {}

        def pack(tensor):
            storage = tensor.untyped_storage()
            saved[storage.data_ptr()] = storage.nbytes()
            return tensor

        def step(measure=False):
            opt.zero_grad(set_to_none=True)
            if measure:
                with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                    loss = loss_fn(net(x), y)
            else:
                loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            return loss.item()

        step(measure=True)
        phases.mark("first step")
        out["saved_for_backward_mb"] = sum(saved.values()) / 2 ** 20
        params = sum(p.numel() for p in net.parameters())
    else:
        variant = {"memory": dict(item.split("=", 1) for item in args.memory)}
        if args.jit_level:
            variant["context"] = {"jit_config": {"jit_level": args.jit_level}}
        ms = workers._ms_setup(dict(spec, variant_spec=variant))
        from mindspore import nn
        from mindspore.train import FixedLossScaleManager, Model

        phases.mark("framework imported")
        net = workers._ms_network(spec)
        phases.mark("network built")
        model = Model(net, loss_fn=nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"),
                      optimizer=nn.Momentum(net.trainable_params(), 0.01, 0.9), amp_level="O0",
                      loss_scale_manager=FixedLossScaleManager(1.0, drop_overflow_update=False))
        train_net = model.train_network
        train_net.set_train(True)
        x, y = ms.Tensor(x_np), ms.Tensor(y_np)
        train_net.compile(x, y)
        phases.mark("graph compiled")

        def step():
            return train_net(x, y).asnumpy()

        step()
        phases.mark("first step")
        params = sum(p.size for p in net.get_parameters())
    for _ in range(args.steps):
        step()
    phases.mark(f"after {args.steps} more steps")
    out["phases"] = phases.rows
    out["param_mb"] = params * 4 / 2 ** 20
    print(RESULT_TAG + json.dumps(out), flush=True)


def report(results):
    lines = []
    for res in results.values():
        lines.append(f"{res['framework']} {res['model']} train batch {res['batch']}: parameters {res['param_mb']:.0f} MB"
                     + (f", saved for backward {res['saved_for_backward_mb']:.0f} MB"
                        if "saved_for_backward_mb" in res else "")
                     + (f", MindSpore memory pool: {res['pool_allocated_mb']:.0f} MB allocated, "
                        f"{res['pool_peak_used_mb']:.0f} MB peak used" if "pool_peak_used_mb" in res else ""))
        previous = None
        for row in res["phases"]:
            delta = f"{row['rss_mb'] - previous:+8.0f}" if previous is not None else " " * 8
            kinds = (f"   (malloc heap {row['heap']:.0f}, other anonymous {row['anon']:.0f}, files "
                     f"{row['files']:.0f})" if "heap" in row else "")
            lines.append(f"  {row['phase']:<24} RSS {row['rss_mb']:7.0f} MB {delta}   peak {row['peak_mb']:7.0f} MB"
                         + kinds)
            previous = row["rss_mb"]
    if len(results) == 2 and "zoo" in results:
        other = next(r for k, r in results.items() if k != "zoo")
        zoo = results["zoo"]
        lines.append(f"peak RSS zoo / {other['framework']}: "
                     f"{zoo['phases'][-1]['peak_mb'] / other['phases'][-1]['peak_mb']:.2f}")
    return "\n".join(lines)


def parse_pool(text):
    """MindSpore's exit-time pool statistics: {'pool_allocated_mb', 'pool_peak_used_mb'} (MB), or {}."""
    match = re.search(r"Common mem pool info: Total allocated mem:(\d+)M, peak used mem:(\d+)M", text)
    return {"pool_allocated_mb": float(match.group(1)), "pool_peak_used_mb": float(match.group(2))} if match else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="densenet121", choices=["vgg19", "densenet121", "inception_v4"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--frameworks", nargs="+", default=["zoo", "torch"], choices=["zoo", "mindcv", "torch"])
    parser.add_argument("--memory", nargs="*", default=[], metavar="KEY=VALUE",
                        help="mindspore.runtime.set_memory arguments for the zoo run, e.g. increase_size=0.125GB "
                             "(MindSpore takes sizes in GB only)")
    parser.add_argument("--jit_level", default="", choices=["", "O0", "O1"],
                        help="MindSpore jit_level for the zoo run (default: the recipe's CPU setting)")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--framework", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    import runner

    child_args = ["--model", args.model, "--batch", str(args.batch), "--steps", str(args.steps)]
    child_args += (["--memory"] + args.memory if args.memory else []) + (["--jit_level", args.jit_level]
                                                                         if args.jit_level else [])
    results = runner.run_children(  # MindSpore prints its pool statistics at exit
        Path(__file__).resolve(), args.frameworks, child_args, RESULT_TAG,
        env=lambda framework: runner.child_env(**({} if framework == "torch"
                                                 else {"MS_DEV_RUNTIME_CONF": "memory_statistics:True"})),
        finish=lambda result, output: result.update(parse_pool(output)))
    if results is None:
        return 1
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
