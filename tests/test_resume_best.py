"""best.ckpt with --run_eval / --eval_interval, resume across it, keep_checkpoint_max across a resume, fsynced
checkpoint writes, summary.json listing only checkpoints that exist, and plots that never fail a run."""
import csv
import json
import os
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from conftest import TINY_VGG, VGG, run_script
from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import CheckpointError

BASE = TINY_VGG + ["--lr=0.01", "--has_dropout=False"]
# 4 epochs of 6 steps; evaluated at epochs 2 and 4; a checkpoint every epoch, 2 kept
EVAL_ARGS = ["--run_eval", "--eval_interval=2", "--ckpt_interval=1", "--keep_checkpoint_max=2"]
STAMP = "evalrun"


def _top1s(log):
    return [float(v) for v in re.findall(r"top1 accuracy ([\d.]+)", log)]


@pytest.fixture(scope="module")
def eval_run(tiny_folder, scratch):
    out = scratch("evalrun")
    result = run_script(VGG / "train.py", *BASE, *EVAL_ARGS, f"--data_dir={tiny_folder}", "--max_epoch=4",
                        f"--ckpt_path={out}", cwd=VGG, env={"MODEL_ZOO_RUN_STAMP": STAMP})
    assert result.returncode == 0, result.stderr[-2000:]
    return out, out / STAMP, result.stdout


@pytest.mark.slow
def test_best_ckpt_is_weights_only_with_metadata_and_score(eval_run):
    _, run_dir, log = eval_run
    top1s = _top1s(log)
    assert len(top1s) == 2                                         # --eval_interval=2: epochs 2 and 4
    best = run_dir / "ckpt_0" / "best.ckpt"
    params = ckpt_io.read(best)
    assert "step_num" not in params and not ckpt_io.has_optimizer_state(params)
    meta = ckpt_io.metadata(params)
    assert meta["arch"] == "vgg11_bn" and meta["recipe"] == "vgg19"
    assert meta["classes"] == ["class_00", "class_01", "class_02"]
    assert meta["preprocess"]["image_size"] == [32, 32]
    assert meta["best_top1"] == pytest.approx(max(top1s), abs=1e-4)
    assert meta["best_epoch"] in (2, 4) and meta["best_step"] == 6 * meta["best_epoch"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["best_checkpoint"] == str(best) and summary["best_top1"] == pytest.approx(max(top1s), abs=1e-4)


@pytest.mark.slow
def test_summary_lists_only_checkpoints_that_still_exist(eval_run):
    _, run_dir, _ = eval_run
    summary = json.loads((run_dir / "summary.json").read_text())
    names = [Path(p).name for p in summary["checkpoints"]]
    assert names == ["0-3_6.ckpt", "0-4_6.ckpt"]                  # 0-1_6, 0-2_6 were written, then removed
    assert all(Path(p).is_file() for p in summary["checkpoints"])
    assert not (run_dir / "ckpt_0" / "0-1_6.ckpt").exists()


@pytest.mark.slow
def test_eval_configures_itself_from_best_ckpt(eval_run, tiny_folder, tmp_path):
    _, run_dir, _ = eval_run
    # no --arch / --num_classes / --image_size: they come from best.ckpt's zoo_* entries
    result = run_script(VGG / "eval.py", "--config_path=imagenet2012_config.yaml", "--device_target=CPU",
                        f"--data_dir={tiny_folder}", f"--pre_trained={run_dir / 'ckpt_0' / 'best.ckpt'}",
                        "--batch_size=4", f"--log_path={tmp_path}", cwd=VGG)
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"top1_correct=\d+, tot=9", result.stdout)


@pytest.mark.slow
def test_resume_auto_never_picks_best_ckpt(eval_run, tmp_path):
    from model_zoo.engine import trainer
    from model_zoo.engine.config import Config

    out, _, _ = eval_run
    runs = tmp_path / "runs"
    shutil.copytree(out, runs)
    best = runs / STAMP / "ckpt_0" / "best.ckpt"
    later = time.time() + 60
    os.utime(best, (later, later))                                # best.ckpt is the newest file
    legacy = runs / STAMP / "ckpt_0" / "weights-9_9.ckpt"         # weights + step_num, no optimizer state
    params = ckpt_io.read(best)
    ckpt_io.save([{"name": k, "data": v} for k, v in ckpt_io.network_params(params).items()], legacy,
                 append_dict={"epoch_num": 9, "step_num": 54})
    os.utime(legacy, (later + 1, later + 1))
    lines = []
    cfg = Config(resume="auto", ckpt_path=str(runs))
    chosen = trainer.find_resume_checkpoint(cfg, SimpleNamespace(info=lines.append))
    assert chosen == runs / STAMP / "ckpt_0" / "0-4_6.ckpt"
    assert any("weights-9_9.ckpt" in line and "weights only" in line for line in lines)
    for path in (best, legacy):                                   # named explicitly: refused in one line
        with pytest.raises(CheckpointError, match="holds no training state.*--pre_trained"):
            trainer.restore(None, path)


@pytest.mark.slow
def test_resume_keeps_best_score_and_checkpoint_limit(eval_run, tiny_folder, tmp_path):
    out, _, log = eval_run
    runs = tmp_path / "runs"
    shutil.copytree(out, runs)
    ckpts = runs / STAMP / "ckpt_0"
    (ckpts / "0-4_6.ckpt").unlink()                               # as if killed before the last checkpoint
    best = ckpts / "best.ckpt"
    before = ckpt_io.metadata(best)
    later = time.time() + 60
    os.utime(best, (later, later))                                # and best.ckpt is the newest file
    # same stamp: the resumed run writes into the folder of the run it continues; the limit now 1
    args = [a.replace("--keep_checkpoint_max=2", "--keep_checkpoint_max=1") for a in EVAL_ARGS]
    result = run_script(VGG / "train.py", *BASE, *args, f"--data_dir={tiny_folder}", "--max_epoch=4",
                        f"--ckpt_path={runs}", "--resume=auto", cwd=VGG, env={"MODEL_ZOO_RUN_STAMP": STAMP})
    assert result.returncode == 0, result.stderr[-2000:]
    assert re.search(r"resumed from \S+0-3_6\.ckpt: epoch 4 step 0", result.stdout)
    if before["best_epoch"] <= 3:                                 # found before the resume point: carried over
        assert f"resume: best top1 so far {before['best_top1']:.4f}" in result.stdout
    else:                                                         # found in epoch 4, which is redone
        assert "is past the resume point; ignored" in result.stdout
    epoch4 = _top1s(result.stdout)
    assert epoch4 == [_top1s(log)[-1]]                            # the same epoch 4 as the uninterrupted run
    after = ckpt_io.metadata(best)
    assert after["best_top1"] == pytest.approx(before["best_top1"], abs=1e-9)
    assert after["best_epoch"] == before["best_epoch"]            # the replayed epoch 4 scores the same
    # keep_checkpoint_max counts the checkpoint the interrupted run left: 0-3_6 goes when 0-4_6 comes
    assert sorted(p.name for p in ckpts.glob("*.ckpt")) == ["0-4_6.ckpt", "best.ckpt"]
    summary = json.loads((runs / STAMP / "summary.json").read_text())
    assert summary["best_top1"] == pytest.approx(max(_top1s(log)), abs=1e-4)
    assert summary["best_checkpoint"] == str(best) and summary["resumed_from"].endswith("0-3_6.ckpt")


class _Hook:
    """An EvalDuringTraining whose evaluation returns the given top-1 counts (of 10 images)."""

    def __init__(self, best_path):
        from mindspore import nn

        from model_zoo.engine import trainer

        self.lines = []
        cfg = SimpleNamespace(eval_interval=1, eval_batch_size=2, batch_size=2)
        ctx = SimpleNamespace(rank=0, group_size=1, logger=SimpleNamespace(info=self.lines.append))
        recipe = SimpleNamespace(dataset=lambda *a: None)
        self.hook = trainer.EvalDuringTraining(recipe, cfg, ctx, nn.Dense(2, 2), best_path,
                                               meta={"zoo_arch": "tiny"})
        self.scores = []
        self.hook.evaluate = SimpleNamespace(
            network_predictor=lambda net: None, all_reduce_counts=lambda counts, size: counts,
            count_topk=lambda predict, dataset, batch: {"top1": self.scores.pop(0), "top5": 10, "tot": 10})

    def epoch(self, epoch, correct):
        self.scores.append(correct)
        return self.hook(SimpleNamespace(epoch=epoch, max_epoch=9, global_step=6 * epoch))


def test_resumed_best_is_not_replaced_by_a_worse_epoch(tmp_path):
    first = _Hook(tmp_path / "a" / "best.ckpt")
    first.epoch(1, 5)
    first.epoch(2, 8)
    first.epoch(3, 7)
    assert ckpt_io.metadata(tmp_path / "a" / "best.ckpt")["best_top1"] == 0.8
    # resumed (into another folder) at the end of epoch 3: continues from 0.8, copies best.ckpt over
    second = _Hook(tmp_path / "b" / "best.ckpt")
    second.hook.resume_best(tmp_path / "a" / "0-3_6.ckpt", 18)
    assert second.hook.best == 0.8 and second.hook.best_epoch == 2
    assert ckpt_io.metadata(tmp_path / "b" / "best.ckpt")["best_top1"] == 0.8
    second.epoch(4, 6)                                             # worse: best.ckpt stays the epoch-2 one
    meta = ckpt_io.metadata(tmp_path / "b" / "best.ckpt")
    assert meta["best_top1"] == 0.8 and meta["best_epoch"] == 2 and meta["arch"] == "tiny"
    second.epoch(5, 9)                                             # better: replaced
    assert ckpt_io.metadata(tmp_path / "b" / "best.ckpt")["best_epoch"] == 5
    # resumed from before the best was found (epoch 1): that best belongs to epochs being redone
    third = _Hook(tmp_path / "a" / "best.ckpt")
    third.hook.resume_best(tmp_path / "a" / "0-1_6.ckpt", 6)
    assert third.hook.best == -1.0 and any("past the resume point" in line for line in third.lines)


def test_keeper_counts_existing_checkpoints_of_its_prefix(tmp_path):
    import mindspore as ms

    from model_zoo.engine.callbacks import CheckpointSaver, TrainState

    def write(name, stamp):
        path = ckpt_io.save([{"name": "w", "data": ms.Tensor(np.zeros(2, np.float32))}], tmp_path / name)
        os.utime(path, (stamp, stamp))
        return path

    now = time.time() - 100
    write("0-2_6.ckpt", now + 2)
    write("0-1_6.ckpt", now + 1)                                   # oldest: pruned first
    for name in ("best.ckpt", "recovery.ckpt", "1-1_6.ckpt"):
        write(name, now)                                           # other files: never counted nor removed
    (tmp_path / "0-1_6.ckpt.bak").write_bytes(b"copy")
    saver = CheckpointSaver(tmp_path, "0", TrainState(6, 4), 1, "epoch", 2)
    assert [p.name for p in saver.keeper.written] == ["0-1_6.ckpt", "0-2_6.ckpt"]
    saver.keeper.add(write("0-3_6.ckpt", now + 3))
    assert sorted(p.name for p in tmp_path.glob("0-*")) == ["0-1_6.ckpt.bak", "0-2_6.ckpt", "0-3_6.ckpt"]
    saver.keeper.add(write("0-3_6.ckpt", now + 4))                 # re-written: counted once
    assert sorted(p.name for p in tmp_path.glob("0-*.ckpt")) == ["0-2_6.ckpt", "0-3_6.ckpt"]
    assert {"best.ckpt", "recovery.ckpt", "1-1_6.ckpt"} <= {p.name for p in tmp_path.iterdir()}


def test_checkpoint_save_fsyncs_file_and_folder(tmp_path, monkeypatch):
    import mindspore as ms

    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        return real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    target = tmp_path / "ckpt" / "0-1_1.ckpt"
    folder = os.path.realpath(target.parent)
    ckpt_io.save([{"name": "w", "data": ms.Tensor(np.ones(2, np.float32))}], target)
    temp = [i for i, p in enumerate(synced) if "/.partial/" in p and p.endswith("0-1_1.ckpt")]
    assert temp and folder in synced                              # the temp file (before the rename), the folder
    assert synced.index(folder) > temp[0]

    def no_folder_fsync(fd):
        if os.path.isdir(os.readlink(f"/proc/self/fd/{fd}")):
            raise OSError(22, "Invalid argument")
        return real(fd)

    monkeypatch.setattr(os, "fsync", no_folder_fsync)
    ckpt_io.save([{"name": "w", "data": ms.Tensor(np.full(2, 2, np.float32))}], target)  # folder: best effort
    assert float(ckpt_io.read(target)["w"].asnumpy()[0]) == 2.0


def test_confusion_plot_failure_is_a_warning(tmp_path, monkeypatch, capsys):
    from model_zoo.engine import evaluate, plots

    def broken(*args, **kwargs):
        raise RuntimeError("no display\nsecond line")

    monkeypatch.setattr(plots, "plot_confusion", broken)
    written = evaluate.write_per_class(np.array([[2, 1], [0, 3]]), ["a", "b"], tmp_path)
    assert [p.name for p in written] == ["per_class.csv", "confusion_matrix.csv"]
    assert capsys.readouterr().err.splitlines() == ["WARNING: confusion_matrix.png not drawn: RuntimeError: no display"]
    warnings = []                                                 # eval.py passes its logger
    evaluate.write_per_class(np.array([[2, 1], [0, 3]]), ["a", "b"], tmp_path, "_x", warn=warnings.append)
    assert warnings == ["WARNING: confusion_matrix_x.png not drawn: RuntimeError: no display"]
    rows = list(csv.DictReader(open(tmp_path / "per_class.csv")))
    assert [int(r["correct"]) for r in rows] == [2, 3]


def test_report_plot_failure_is_a_warning(tmp_path, monkeypatch, capsys):
    from model_zoo import report
    from model_zoo.engine.callbacks import CSV_FIELDS

    run = tmp_path / "run1"
    run.mkdir()
    with open(run / "metrics.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_FIELDS)
        writer.writerow([1, 6, 1.0, 1.1, 0.01, 2.0, 12.0, 0.5, 1.0])

    def broken(*args, **kwargs):
        raise ValueError("bad figure")

    monkeypatch.setattr(report, "plot_curves", broken)
    assert report.main([str(run), f"--out={tmp_path / 'x.png'}"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1].startswith("run1")
    assert "curves: not drawn (plotting failed)" in captured.out
    assert captured.err.strip().splitlines() == [f"WARNING: {tmp_path / 'x.png'} not drawn: ValueError: bad figure"]
