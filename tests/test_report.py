"""What a run leaves behind: metrics.csv, curves.png, summary.json; per-class eval files; the report command."""
import csv
import json
import re
from pathlib import Path

import pytest

from conftest import ROOT, TINY_VGG, VGG, finish, run_script, start_script

BASE = TINY_VGG + ["--lr=0.01", "--has_dropout=False"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def two_runs(tiny_folder, tiny_trained, scratch):
    """[(run folder, console)]: a 2-epoch run with --run_eval (trained here), then the session's tiny VGG run
    (1 epoch, no eval), both VGG11-BN on tiny_folder."""
    out = scratch("run2")
    proc = start_script(VGG / "train.py", *BASE, f"--data_dir={tiny_folder}", "--max_epoch=2", "--run_eval",
                        f"--ckpt_path={out}", cwd=VGG)
    other = tiny_trained("vgg19")["vgg19"]                                           # trains meanwhile if not yet
    result = finish(proc)
    assert result.returncode == 0, result.stderr[-2000:]
    return [(next(Path(out).iterdir()), result.stdout), (other.checkpoint.parents[1], other.result.stdout)]


def test_run_folder_has_csv_png_and_summary_matching_the_log(two_runs):
    run_dir, log = two_runs[0]
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"] and all(r["top1"] and r["top5"] for r in rows)
    picture = (run_dir / "curves.png").read_bytes()
    assert picture.startswith(PNG_MAGIC) and len(picture) > 5000
    summary = json.loads((run_dir / "summary.json").read_text())
    last_loss = float(re.findall(r"epoch: 2 step: 6, loss is ([\d.]+)", log)[-1])
    assert summary["last_loss"] == pytest.approx(last_loss, abs=1e-6)
    throughput = float(re.findall(r"throughput: ([\d.]+) imgs/sec", log)[-1])
    assert summary["imgs_per_sec"] == pytest.approx(throughput, abs=0.01)
    top1s = [float(v) for v in re.findall(r"top1 accuracy ([\d.]+)", log)]
    assert summary["last_top1"] == pytest.approx(top1s[-1], abs=1e-4)
    assert summary["best_top1"] == pytest.approx(max(top1s), abs=1e-4)
    assert summary["versions"]["mindspore"] == "2.10.0" and summary["device"] == "CPU"
    assert summary["config"]["arch"] == "vgg11_bn" and summary["epochs_run"] == 2
    assert all(Path(p).is_file() for p in summary["checkpoints"])


@pytest.mark.slow
def test_eval_per_class_files_sum_to_the_printed_counts(two_runs, tiny_folder, tmp_path):
    run_dir, _ = two_runs[0]
    checkpoint = next(run_dir.glob("ckpt_0/0-2_6.ckpt"))
    results = tmp_path / "results.json"
    result = run_script(VGG / "eval.py", *BASE, f"--data_dir={tiny_folder}", f"--pre_trained={checkpoint}",
                        "--eval_per_class", f"--eval_results_file={results}", f"--log_path={tmp_path}", cwd=VGG)
    assert result.returncode == 0, result.stderr[-2000:]
    top1 = int(re.search(r"top1_correct=(\d+), tot=9", result.stdout).group(1))
    eval_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    per_class = list(csv.DictReader(open(eval_dir / "per_class.csv")))
    assert [r["class_name"] for r in per_class] == ["class_00", "class_01", "class_02"]
    assert sum(int(r["correct"]) for r in per_class) == top1
    assert sum(int(r["total"]) for r in per_class) == 9
    matrix = list(csv.reader(open(eval_dir / "confusion_matrix.csv")))
    assert sum(int(matrix[i + 1][i + 1]) for i in range(3)) == top1
    assert (eval_dir / "confusion_matrix.png").read_bytes().startswith(PNG_MAGIC)
    record = json.loads(results.read_text())
    assert record["top1_correct"] == top1 and record["tot"] == 9


@pytest.mark.slow
def test_report_prints_both_runs_and_draws_them(two_runs, tmp_path):
    out = tmp_path / "both.png"
    result = run_script(ROOT / "model_zoo" / "report.py", *(str(r) for r, _ in two_runs), f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "arch", "device"]
    for run_dir, _ in two_runs:
        assert any(line.startswith(run_dir.name) and "vgg11_bn" in line for line in lines)
    assert out.read_bytes().startswith(PNG_MAGIC)
    default = run_script(ROOT / "model_zoo" / "report.py", *(str(r) for r, _ in two_runs), cwd=tmp_path)
    beside = two_runs[0][0].parent / "runs_curves.png"          # beside the runs, not in the working folder
    assert default.returncode == 0 and f"curves: {beside}" in default.stdout and beside.is_file()
    assert not (tmp_path / "runs_curves.png").exists()
    bad = run_script(ROOT / "model_zoo" / "report.py", str(tmp_path))
    assert bad.returncode == 2 and "has no metrics.csv" in bad.stderr


def test_report_legend_names_model_and_arch():
    from model_zoo.report import legend_labels

    runs = {"20261129_101010": ({"model": "vgg19", "arch": "vgg11_bn"}, []),
            "20261129_111111": ({"model": "densenet121", "arch": "densenet121"}, []),
            "20261129_121212": ({"model": "vgg19", "arch": "vgg16"}, []),
            "20261129_131313": ({"model": "vgg19", "arch": "vgg16"}, []),
            "old_run": ({}, [])}
    assert legend_labels(runs) == {"20261129_101010": "vgg19/vgg11_bn", "20261129_111111": "densenet121",
                                   "20261129_121212": "vgg19/vgg16 (20261129_121212)",
                                   "20261129_131313": "vgg19/vgg16 (20261129_131313)", "old_run": "old_run"}


def test_pictures_are_readable(tmp_path):
    """Counts on dark confusion cells are white; a run without --run_eval says so in the val panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from model_zoo.engine import plots

    assert [plots.count_color(v, 40) for v in (0, 20, 21, 40)] == ["black", "black", "white", "white"]
    rows = [{"epoch": 1.0, "mean_loss": 2.0, "lr": 0.1, "top1": None, "top5": None}]
    fig, axes = plt.subplots(1, 3)
    try:
        assert plots._draw_curves(fig, axes, {"vgg19/vgg11": rows}, tmp_path / "c.png").is_file()
        assert [t.get_text() for t in axes[2].texts] == [plots.NO_EVAL_NOTE] and not axes[2].lines
        assert axes[0].get_legend().get_texts()[0].get_text() == "vgg19/vgg11"
    finally:
        plt.close(fig)
