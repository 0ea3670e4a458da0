"""Compare training runs: ``python -m model_zoo.report RUN_DIR [RUN_DIR ...] [--out curves.png]``.

Prints one row per run (model, arch, device, epochs, last loss, last/best top-1, images/s, wall time) from each
run's summary.json and metrics.csv, and draws all runs' curves on one PNG (default: ``runs_curves.png`` beside
the first run folder, never the working folder), labelled ``model/arch`` (plus the run folder where two runs share
one).
"""
import argparse
import json
import sys
from pathlib import Path

from model_zoo.engine.plots import failure, plot_curves, read_metrics

COLUMNS = ("run", "arch", "device", "epochs", "last_loss", "last_top1", "best_top1", "imgs_per_sec", "wall_time_s")


def load_run(run_dir):
    run_dir = Path(run_dir)
    summary_path, metrics_path = run_dir / "summary.json", run_dir / "metrics.csv"
    if not metrics_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no metrics.csv; pass a training output folder")
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    return summary, read_metrics(metrics_path)


def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(runs):
    rows = []
    for name, (summary, metrics) in runs.items():
        last = metrics[-1] if metrics else {}
        rows.append([name, summary.get("arch"), summary.get("device"), summary.get("epochs_run", len(metrics)),
                     last.get("loss"), summary.get("last_top1"), summary.get("best_top1"),
                     summary.get("imgs_per_sec", last.get("imgs_per_sec")), summary.get("wall_time_s")])
    cells = [list(COLUMNS)] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells)


def legend_labels(runs):
    """{run name: legend label}: ``model/arch`` from each summary.json, the run folder added where labels repeat."""
    labels = {}
    for name, (summary, _) in runs.items():
        parts = [str(summary[k]) for k in ("model", "arch") if summary.get(k)]
        labels[name] = "/".join(dict.fromkeys(parts)) or name
    repeated = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    return {name: f"{label} ({name})" if label in repeated and label != name else label
            for name, label in labels.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m model_zoo.report", description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="training output folders (holding metrics.csv, summary.json)")
    parser.add_argument("--out", default=None,
                        help="PNG with every run's curves (default: runs_curves.png beside the first run folder)")
    args = parser.parse_args(argv)
    runs = {}
    try:
        for run_dir in args.runs:
            name = Path(run_dir).resolve().name
            while name in runs:
                name += "'"
            runs[name] = load_run(run_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(runs))
    out = args.out or Path(args.runs[0]).resolve().parent / "runs_curves.png"
    labels = legend_labels(runs)
    why = "matplotlib unavailable"
    try:
        picture = plot_curves({labels[name]: metrics for name, (_, metrics) in runs.items()}, out)
    except Exception as exc:  # the table is the result; a failing picture only earns a warning
        print(failure(out, exc), file=sys.stderr)
        picture, why = None, "plotting failed"
    print(f"curves: {picture}" if picture else f"curves: not drawn ({why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
