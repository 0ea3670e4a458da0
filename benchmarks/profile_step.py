#!/usr/bin/env python
"""Where one training (or inference) step spends its time, from oneDNN's own per-primitive timings.

    python benchmarks/profile_step.py --model densenet121 --task train --batch 8            # the zoo, MindSpore
    python benchmarks/profile_step.py --model densenet121 --task train --batch 8 --framework torch

Runs the step in a fresh process with ``ONEDNN_VERBOSE=profile_exec`` (one line per executed oneDNN primitive:
kind, implementation, propagation, shape, milliseconds), skips the first call (compile + first run) and warm-up,
and sums ``--steps`` steps by (kind, implementation, propagation).  Time outside oneDNN (MindSpore's own CPU
kernels: concat, element-wise ops, optimizer, runtime overhead; or torch's ATen kernels) is the step time minus
the oneDNN sum.  The parent imports neither framework.
"""
import argparse
import collections
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
MARK = "PROFILE_MARK "


def child(args):
    import ctypes
    import time

    import workers

    libc = ctypes.CDLL(None)

    def mark(text):
        libc.fflush(None)  # oneDNN prints through C stdio: flush it before our marker goes out
        sys.stdout.flush()
        os.write(1, (MARK + text + "\n").encode())

    spec = dict(model=args.model, batch=args.batch, size=args.size or workers.MODELS[args.model]["size"],
                task=args.task, framework=args.framework if args.framework != "torch" else "torch")
    if args.framework == "torch":
        import timm
        import torch

        torch.set_num_threads(len(os.sched_getaffinity(0)))
        net = timm.create_model(workers.MODELS[args.model]["timm"], pretrained=False, num_classes=1000)
        step = workers.torch_step(torch, net, spec)
    else:
        ms = workers._ms_setup(dict(spec, variant_spec={}))
        step = workers.ms_step(ms, workers._ms_network(spec), spec)
    step()
    step()
    for index in range(args.steps):
        mark(f"begin {index}")
        start = time.perf_counter()
        step()
        mark(f"end {index} {time.perf_counter() - start:.6f}")
    libc.fflush(None)


def summarize(text, steps):
    """Sum oneDNN exec lines between step markers: {(kind, impl, prop): [ms, count]}, step seconds."""
    inside, totals, step_s = False, collections.defaultdict(lambda: [0.0, 0]), []
    shapes = collections.defaultdict(float)
    for line in text.splitlines():
        if line.startswith(MARK):
            parts = line[len(MARK):].split()
            inside = parts[0] == "begin"
            if parts[0] == "end":
                step_s.append(float(parts[2]))
            continue
        if not inside or not line.startswith(("onednn_verbose", "dnnl_verbose")) or ",exec," not in line:
            continue
        fields = line.split(",")
        try:
            position = fields.index("exec")
            kind, impl, prop = fields[position + 2], fields[position + 3], fields[position + 4]
            millis = float(fields[-1])
        except (ValueError, IndexError):
            continue
        totals[(kind, impl, prop)][0] += millis
        totals[(kind, impl, prop)][1] += 1
        shapes[(kind, prop, fields[-2])] += millis
    return totals, step_s, shapes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="densenet121", choices=["vgg19", "densenet121", "inception_v4"])
    parser.add_argument("--task", default="train", choices=["train", "infer"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=0, help="input size (default: the model's)")
    parser.add_argument("--framework", default="zoo", choices=["zoo", "mindcv", "torch"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=12, help="also list the N most expensive primitive shapes")
    parser.add_argument("--json", help="write the summary here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return 0
    import runner

    env = runner.child_env(ONEDNN_VERBOSE="profile_exec", DNNL_VERBOSE="profile_exec", PYTHONUNBUFFERED="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child"] + [a for a in (argv or sys.argv[1:])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    totals, step_s, shapes = summarize(proc.stdout, args.steps)
    if not step_s:
        print(proc.stderr[-3000:])
        return 1
    per_step = sum(step_s) / len(step_s)
    onednn = sum(v[0] for v in totals.values()) / 1000.0 / len(step_s)
    isa = next((line.split("isa:", 1)[1] for line in proc.stdout.splitlines() if ",info,cpu,isa:" in line), "?")
    print(f"{args.framework} {args.model} {args.task} batch {args.batch}: {per_step:.3f} s/step over {len(step_s)} "
          f"steps; oneDNN primitives {onednn:.3f} s ({onednn / per_step:.0%}); outside oneDNN {per_step - onednn:.3f} s"
          f" ({1 - onednn / per_step:.0%}); oneDNN ISA: {isa}")
    print(f"{'primitive':<22} {'implementation':<42} {'propagation':<18} {'ms/step':>9} {'share':>6} {'calls':>6}")
    rows = sorted(totals.items(), key=lambda kv: -kv[1][0])
    for (kind, impl, prop), (millis, count) in rows:
        millis /= len(step_s)
        print(f"{kind:<22} {impl:<42} {prop:<18} {millis:9.1f} {millis / 1000 / per_step:6.1%} "
              f"{count // len(step_s):6d}")
    if args.top:
        print("most expensive shapes (ms/step):")
        for (kind, prop, shape), millis in sorted(shapes.items(), key=lambda kv: -kv[1])[:args.top]:
            print(f"  {millis / len(step_s):8.1f}  {kind} {prop} {shape}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "framework": args.framework, "model": args.model, "task": args.task, "batch": args.batch,
            "step_s": per_step, "onednn_s": onednn, "isa": isa,
            "rows": [{"kind": k, "impl": i, "prop": p, "ms_per_step": v[0] / len(step_s),
                      "calls_per_step": v[1] // len(step_s)} for (k, i, p), v in rows]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
