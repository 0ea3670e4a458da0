#!/usr/bin/env python
"""CPU benchmark of the zoo's networks against PyTorch + timm and MindCV 0.3.0, in one run: the command line.

    python benchmarks/bench.py --models vgg19 densenet121 inception_v4 --batch 8      # full, writes RESULTS.md
    python benchmarks/bench.py --quick                                                 # a few minutes, prints only

Every measurement runs in a fresh subprocess (``workers.py``) so that compile caches, allocator state and peak RSS
never leak from one measurement into the next; ``runner.py`` plans and runs them and records how many cores
*other* processes used meanwhile (foreign load); ``report.py`` turns the records into the RESULTS.md section.
This process imports neither MindSpore nor torch nor ``model_zoo``.

Per model and batch size it measures: training and inference images/s (MindSpore GRAPH mode, the zoo's
``Model(...).train_network`` with Momentum; torch eager with SGD momentum), the first call and the compile time
estimate (first call - median step), the same with MindSpore's compile cache warm, peak RSS (``ru_maxrss``), the
fraction of the measured numpy sgemm peak reached (FLOPs per image = 2 x ``count_macs``, training = 3 x forward),
MindCV's networks on MindSpore's own kernels, and the zoo default against configuration variants ("best-tuned").
It also measures the data pipelines (the zoo's ``mindspore.dataset`` pipeline vs torch DataLoader + torchvision,
2 workers) on a generated JPEG folder.
"""
import argparse
import datetime
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from report import Report, section_name, write_results  # noqa: E402
from runner import Bench, child_env, run_children, run_worker, tagged_result  # noqa: E402,F401
from workers import MODELS, RESULT_TAG, VARIANTS, make_jpeg_folder  # noqa: E402,F401


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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
