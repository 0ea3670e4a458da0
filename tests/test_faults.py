"""Runs that survive faults: kill + resume, checkpoint integrity, bad data, clear errors, ModelArts sync.

The VGG runs use the ImageNet YAML as it is, dropout on: the same seed gives bit-identical weights, and a run stopped
by SIGKILL (resumed with --resume auto) or SIGTERM (resumed from the recovery checkpoint it names) ends with exactly
the weights of the uninterrupted run."""
import json
import multiprocessing
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import TINY_VGG, VGG, finish, run_script, start_script, zoo_env
from model_zoo.engine import checkpoint as ckpt_io
from model_zoo.engine.errors import CheckpointError

BASE = TINY_VGG + ["--lr=0.01"]  # the YAML's dropout (0.5, two layers) stays on


def _net_params(path):
    params = ckpt_io.network_params(ckpt_io.read(path))
    return {k: v.asnumpy() for k, v in params.items()}


@pytest.fixture(scope="module")
def reference_runs(tiny_folder, scratch):
    """(flags, [final checkpoint of each]): the uninterrupted run, twice at once from the same flags and seed."""
    args = BASE + [f"--data_dir={tiny_folder}", "--max_epoch=3", "--ckpt_interval=100", "--recovery_interval=4"]
    outs = [scratch("uninterrupted"), scratch("uninterrupted_again")]
    for proc in [start_script(VGG / "train.py", *args, f"--ckpt_path={out}", cwd=VGG) for out in outs]:
        result = finish(proc)
        assert result.returncode == 0, result.stderr[-2000:]
    return args, [next(Path(out).glob("*/ckpt_0/0-3_6.ckpt")) for out in outs]


@pytest.fixture(scope="module")
def reference_run(reference_runs):
    """(flags, final checkpoint) of the uninterrupted run."""
    args, finals = reference_runs
    return args, finals[0]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_gives_the_same_weights(reference_run, tmp_path):
    args, reference = reference_run
    proc = subprocess.Popen([sys.executable, str(VGG / "train.py"), *args, f"--ckpt_path={tmp_path}"], cwd=VGG,
                            env=zoo_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list(tmp_path.glob("*/ckpt_0/recovery.ckpt")):
        assert proc.poll() is None and time.time() < deadline, "training ended before a recovery checkpoint"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not list(tmp_path.glob("*/ckpt_0/0-3_6.ckpt"))          # it really died before the end
    result = run_script(VGG / "train.py", *args, f"--ckpt_path={tmp_path}", "--resume=auto", cwd=VGG)
    assert result.returncode == 0, result.stderr[-2000:]
    match = re.search(r"resumed from \S+recovery\.ckpt: epoch (\d+) step (\d+) \(global step (\d+) of 18\)",
                      result.stdout)
    assert match and 0 < int(match.group(2)) < 6                    # mid-epoch
    resumed = sorted(tmp_path.glob("*/ckpt_0/0-3_6.ckpt"))[-1]
    assert_same_weights(reference, resumed)


def assert_same_weights(want_path, got_path):
    """Bit-identical network weights (np.array_equal on every tensor), dropout state included."""
    want, got = _net_params(want_path), _net_params(got_path)
    assert want.keys() == got.keys()
    different = [k for k in want if not np.array_equal(want[k], got[k])]
    assert not different, f"{len(different)} tensor(s) differ, e.g. {different[:3]}"
    assert ckpt_io.read(want_path)["zoo_rng_state"] == ckpt_io.read(got_path)["zoo_rng_state"]


@pytest.mark.slow
def test_same_seed_and_dropout_give_identical_weights(reference_runs):
    _, (reference, again) = reference_runs
    assert json.loads(ckpt_io.read(reference)["zoo_rng_state"]) == {"dropout_calls": [18, 18]}  # 2 layers, 18 steps
    assert_same_weights(reference, again)


def _start(args, out, extra=(), env=None):
    """train.py in its own process, its output read line by line (step lines every step: --log_interval=1)."""
    return subprocess.Popen([sys.executable, str(VGG / "train.py"), *args, f"--ckpt_path={out}", "--log_interval=1",
                             *extra], cwd=VGG, env=zoo_env(**(env or {})),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(proc, pattern, timeout=300):
    deadline = time.time() + timeout
    for line in proc.stdout:
        if re.search(pattern, line):
            return line
        assert time.time() < deadline, f"no {pattern!r} within {timeout} s"
    raise AssertionError(f"the run ended before {pattern!r}: {proc.wait()} {proc.stderr.read()[-2000:]}")


@pytest.mark.slow
def test_sigterm_mid_epoch_writes_recovery_and_its_resume_is_bit_equal(reference_run, tmp_path):
    args, reference = reference_run
    proc = _start(args, tmp_path)
    _wait_for(proc, r"^epoch 2/3 step 2/6 ")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err[-2000:]
    last = err.strip().splitlines()[-1]
    match = re.fullmatch(r"stopped: SIGTERM at epoch 2 step (\d) \(global step (\d+) of 18\): saved (\S+recovery\.ckpt); "
                         r"resume with: (python .*)", last)
    assert match and "Traceback" not in err, err[-2000:]
    recovery = Path(match.group(3))
    assert int(match.group(2)) == 6 + int(match.group(1)) and 2 <= int(match.group(1)) < 6
    assert ckpt_io.read(recovery)["step_num"].asnumpy() == int(match.group(2))
    assert not list(tmp_path.rglob(".partial")) and not list(tmp_path.glob("*/ckpt_0/0-3_6.ckpt"))
    run_dir = recovery.parents[1]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["signal"] == "SIGTERM"
    assert summary["recovery_checkpoint"] == str(recovery)
    assert last in next(run_dir.glob("*_rank_0.log")).read_text()             # the run log ends with the same line
    command = shlex.split(match.group(4))
    assert command[:2] == ["python", str(VGG / "train.py")] and command[-1] == f"--resume={recovery}"
    assert command[2:-1] == [*args, f"--ckpt_path={tmp_path}", "--log_interval=1"]  # the user's flags, as given
    result = run_script(command[1], *command[2:], cwd=VGG)                       # the command, as printed
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resumed from {recovery}: epoch 2 step {match.group(1)}" in result.stdout
    assert_same_weights(reference, sorted(tmp_path.glob("*/ckpt_0/0-3_6.ckpt"))[-1])


@pytest.mark.slow
def test_second_signal_exits_at_once_and_ctrl_c_while_loading_is_quiet(tiny_folder, tmp_path):
    args = BASE + [f"--data_dir={tiny_folder}", "--max_epoch=3"]
    proc = _start(args, tmp_path / "twice")
    _wait_for(proc, r"^start network train")        # the first step compiles the graph for seconds
    proc.send_signal(signal.SIGTERM)                 # graceful: would end after this step, with recovery.ckpt
    time.sleep(0.5)
    start = time.time()
    proc.send_signal(signal.SIGTERM)                 # a second one: out now, in the middle of MindSpore's work
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert err.strip().splitlines()[-1] == "stopped: second SIGTERM: exiting at once (the current step is not saved)"
    assert "Traceback" not in err and not list((tmp_path / "twice").rglob("*.ckpt"))
    print(f"second SIGTERM: exit {time.time() - start:.2f} s after it was sent")
    loading = subprocess.Popen([sys.executable, str(VGG / "train.py"), *args, f"--ckpt_path={tmp_path / 'early'}"],
                               cwd=VGG, env=zoo_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)                                                              # MindSpore is still loading
    loading.send_signal(signal.SIGINT)
    _, err = loading.communicate(timeout=120)
    assert loading.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "stopped: SIGINT before training started; nothing to save"
    assert "Traceback" not in err


def test_diverged_run_writes_no_nan_checkpoint_and_names_the_step(tiny_folder, tmp_path):
    result = run_script(VGG / "train.py", *BASE, f"--data_dir={tiny_folder}", "--max_epoch=2", "--lr=nan",
                        "--ckpt_interval=1", "--ckpt_interval_unit=step", "--recovery_interval=1",
                        f"--ckpt_path={tmp_path}", cwd=VGG)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert re.fullmatch(r"error: training diverged: the loss became nan at epoch 1 step (\d) \(global step \1\); "
                        r"checkpoints holding NaN/inf were not written; lower --lr \(now nan\), or check the data "
                        r"\(log in \S+\)", errors[0]), errors[0]
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob(".partial"))  # step 1's weights: NaN too
    run_dir = next(tmp_path.iterdir())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["error"] == errors[0][len("error: "):]
    log = next(run_dir.glob("*_rank_0.log")).read_text()
    assert errors[0] in log and "not saving: " in log


@pytest.mark.slow
def test_resume_auto_skips_non_finite_checkpoints(reference_run, tmp_path):
    from types import SimpleNamespace

    import mindspore as ms

    from model_zoo.engine import trainer
    from model_zoo.engine.config import Config

    _, reference = reference_run
    good = tmp_path / "run" / "ckpt_0" / "0-3_6.ckpt"
    ckpt_io.copy(reference, good)
    params = ckpt_io.read(reference)
    poisoned = [{"name": k, "data": ms.Tensor(np.full(v.shape, np.nan, np.float32)) if k.endswith("weight") else v}
                for k, v in params.items() if hasattr(v, "asnumpy")]
    newer = tmp_path / "run" / "ckpt_0" / "0-4_6.ckpt"                       # written after a divergence elsewhere
    ms.save_checkpoint(poisoned, str(newer), append_dict={"epoch_num": 4, "step_num": 24})
    later = time.time() + 60
    os.utime(newer, (later, later))
    lines = []
    chosen = trainer.find_resume_checkpoint(Config(resume="auto", ckpt_path=str(tmp_path)),
                                            SimpleNamespace(info=lines.append))
    assert chosen == good
    assert any(re.search(r"resume: skipping \S+0-4_6\.ckpt: \d+ tensor\(s\) hold NaN/inf", line) for line in lines)


@pytest.mark.slow
def test_resume_from_a_weights_only_checkpoint_starts_from_its_weights(reference_run, tmp_path, tiny_folder):
    args, reference = reference_run
    weights = tmp_path / "weights.ckpt"
    import mindspore as ms

    ms.save_checkpoint([{"name": k, "data": ms.Tensor(v)} for k, v in _net_params(reference).items()], str(weights))
    result = run_script(VGG / "train.py", *args, "--max_epoch=1", f"--ckpt_path={tmp_path}", f"--resume={weights}",
                        cwd=VGG)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"note: --resume {weights} is not a zoo training state" in result.stdout
    assert "starting from its weights at epoch 1" in result.stdout and "epoch: 1 step: 6" in result.stdout


@pytest.mark.slow
def test_corrupt_checkpoints_are_refused(reference_run, tmp_path):
    _, reference = reference_run
    data = reference.read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.ckpt"
    middle = bytearray(data)
    middle[len(data) // 2] ^= 0xFF
    flipped.write_bytes(bytes(middle))
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    for path in (truncated, flipped):
        with pytest.raises(CheckpointError, match="corrupt or truncated"):
            ckpt_io.read(path)
    with pytest.raises(CheckpointError, match="empty"):
        ckpt_io.read(empty)


def test_checkpoint_writes_are_atomic_and_keep_the_newest(tmp_path):
    import mindspore as ms

    keeper = ckpt_io.CheckpointKeeper(2)
    for i in range(4):
        path = ckpt_io.save([{"name": "w", "data": ms.Tensor(np.full(3, i, np.float32))}], tmp_path / f"0-{i}_1.ckpt")
        keeper.add(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0-2_1.ckpt", "0-3_1.ckpt"]  # no temp files left
    assert float(ckpt_io.read(tmp_path / "0-3_1.ckpt")["w"].asnumpy()[0]) == 3.0


@pytest.fixture(scope="module")
def messy_folder(scratch):
    from model_zoo.engine.demo_data import synthetic_folder

    root = synthetic_folder(scratch("messy"), classes=2, per_class=6, val_per_class=2, size=40)
    folder = root / "train" / "class_00"
    good = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(good[..., 0]).save(folder / "gray.JPEG")                         # grayscale JPEG
    Image.fromarray(good).convert("CMYK").save(folder / "cmyk.JPEG")                  # CMYK JPEG
    Image.fromarray(good).save(folder / "png_inside.JPEG", format="PNG")              # PNG under a .JPEG name
    Image.fromarray(good).save(folder / "real.png")                                   # PNG
    whole = (folder / "gray.JPEG").read_bytes()
    (folder / "truncated.JPEG").write_bytes(whole[: len(whole) // 3])                 # truncated JPEG
    (folder / "notes.JPEG").write_text("this is not an image")                        # text named .JPEG
    (folder / ".hidden").write_text("hidden")                                         # hidden file
    return root


@pytest.mark.slow
def test_bad_files_fail_by_default_naming_them(messy_folder, tmp_path):
    result = run_script(VGG / "train.py", *BASE, f"--data_dir={messy_folder}", "--max_epoch=1",
                        f"--ckpt_path={tmp_path}", cwd=VGG)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1
    assert re.search(r"error: 2 unusable file\(s\) in .*notes\.JPEG \(not a decodable image.*truncated\.JPEG "
                     r"\(truncated JPEG.*--bad_file_policy=skip", errors[0])
    run_dir = next(tmp_path.iterdir())                                  # the failed run's folder keeps its error
    assert errors[0] in next(run_dir.glob("*_rank_0.log")).read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "error: " + summary["error"] == errors[0]


@pytest.mark.slow
def test_bad_files_are_skipped_and_counted_once_per_run(messy_folder, tmp_path):
    result = run_script(VGG / "train.py", *BASE, f"--data_dir={messy_folder}", "--max_epoch=2", "--run_eval",
                        "--num_classes=2", "--bad_file_policy=skip", f"--ckpt_path={tmp_path}",
                        cwd=VGG)  # 2 class folders
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stderr.count("WARNING: skipping 2 unusable file(s)") == 1      # not once per epoch's pipeline
    assert re.search(r"epoch: 1 step: 4, loss is", result.stdout)       # 16 usable images / batch 4
    assert len(re.findall(r"top1 accuracy", result.stdout)) == 2
    run_dir = next(tmp_path.iterdir())
    assert next(run_dir.glob("*_rank_0.log")).read_text().count("WARNING: skipping 2 unusable file(s)") == 1
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["skipped_files"]["count"] == 2
    assert sorted(Path(f["path"]).name for f in summary["skipped_files"]["files"]) == ["notes.JPEG", "truncated.JPEG"]


@pytest.mark.slow
@pytest.mark.parametrize("case, code, pattern", [
    ("no_images", 2, r"class folder\(s\) with no images"),
    ("wrong_arch", 2, r"holds a vgg11_bn network \(8 convs, BatchNorm\), but --arch=vgg13_bn was given: pass "
                      r"--arch=vgg11_bn or leave it out"),
    ("num_classes", 2, r"has 3 classes \(classifier.6 is 3x4096\), but --num_classes=5 was given: pass "
                       r"--num_classes=3"),
    ("truncated", 2, r"is corrupt or truncated"),
    ("missing_ckpt", 2, r"checkpoint .*nope.ckpt not found"),
    ("unknown_key", 2, r"unknown key 'bacth_size' in .*; did you mean 'batch_size'\?"),
    ("bad_format", 2, r"--file_format=.?PNG.? is not one of"),
])
def test_bad_input_one_line_errors(case, code, pattern, reference_run, tiny_folder, tmp_path):
    _, reference = reference_run
    eval_args = BASE + [f"--data_dir={tiny_folder}", f"--log_path={tmp_path}"]
    script, args = VGG / "eval.py", eval_args + [f"--pre_trained={reference}"]
    if case == "no_images":
        (tmp_path / "data" / "val" / "empty_class").mkdir(parents=True)
        args = BASE + [f"--data_dir={tmp_path / 'data'}", f"--pre_trained={reference}", f"--log_path={tmp_path}"]
    elif case == "wrong_arch":
        args = [a.replace("vgg11_bn", "vgg13_bn") for a in args]
    elif case == "num_classes":
        args = [a.replace("--num_classes=3", "--num_classes=5") for a in args]
    elif case == "truncated":
        bad = tmp_path / "half.ckpt"
        bad.write_bytes(reference.read_bytes()[:5000])
        args = eval_args + [f"--pre_trained={bad}"]
    elif case == "missing_ckpt":
        args = eval_args + [f"--pre_trained={tmp_path / 'nope.ckpt'}"]
    elif case == "unknown_key":
        user = tmp_path / "user.yaml"
        user.write_text("bacth_size: 3\n")
        args = [f"--config_path={user}"] + eval_args[1:]
    elif case == "bad_format":
        script, args = VGG / "export.py", BASE + [f"--ckpt_file={reference}", "--file_format=PNG"]
    result = run_script(script, *args, cwd=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code, result.stderr[-1500:]
    assert len(errors) == 1 and re.search(pattern, errors[0]), result.stderr[-1500:]
    assert "Traceback" not in result.stderr


def _modelarts_worker(device_id, cfg_values, queue):
    os.environ.update(DEVICE_ID=str(device_id), RANK_SIZE="2", JOB_ID="test-job")
    from model_zoo.engine import modelarts
    from model_zoo.engine.config import Config

    cfg = Config(cfg_values)
    lines = []
    modelarts.pre_process(cfg, log=lines.append)
    queue.put((device_id, cfg.data_dir, cfg.ckpt_path, cfg.pre_trained, lines))


def test_modelarts_sync_and_unzip_once_with_two_devices(tmp_path, monkeypatch):
    bucket = tmp_path / "obs"
    (bucket / "data").mkdir(parents=True)
    with zipfile.ZipFile(bucket / "data" / "ImageNet.zip", "w") as archive:
        for i in range(12):
            archive.writestr(f"ImageNet/train/c{i % 2}/img{i}.JPEG", b"x" * 10)
    (bucket / "ckpt").mkdir()
    (bucket / "ckpt" / "start.ckpt").write_bytes(b"weights")
    values = dict(enable_modelarts=True, data_url=str(bucket / "data"), checkpoint_url=str(bucket / "ckpt"),
                  train_url=str(bucket / "out"), data_path=str(tmp_path / "cache" / "data"),
                  load_path=str(tmp_path / "cache" / "ckpt"), output_path=str(tmp_path / "cache" / "train"),
                  need_modelarts_dataset_unzip=True, modelarts_dataset_unzip_name="ImageNet",
                  ckpt_path="outputs/", log_path="outputs/", pre_trained="start.ckpt", file_name="vgg19")
    queue = multiprocessing.get_context("spawn").Queue()
    procs = [multiprocessing.get_context("spawn").Process(target=_modelarts_worker, args=(d, values, queue))
             for d in (1, 0)]
    for proc in procs:
        proc.start()
    results = dict((r[0], r[1:]) for r in (queue.get(timeout=120) for _ in procs))
    for proc in procs:
        proc.join(timeout=60)
    extracted = tmp_path / "cache" / "data" / "ImageNet"
    assert len(list(extracted.rglob("*.JPEG"))) == 12
    assert results[0][3][0] == "Extract Start..." and "unzip file num: 12" in results[0][3]
    assert results[0][3][-1] == "Extract Done."
    assert results[1][3] == []                                  # device 1 waited, did not extract
    for data_dir, ckpt_path, pre_trained, _ in results.values():
        assert data_dir == str(extracted)
        assert ckpt_path == str(tmp_path / "cache" / "train" / "outputs")
        assert Path(pre_trained).read_bytes() == b"weights"
    from model_zoo.engine import modelarts
    from model_zoo.engine.config import Config

    (tmp_path / "cache" / "train" / "result.txt").write_text("done")
    monkeypatch.setenv("DEVICE_ID", "0")  # not os.environ.update: the later tests would inherit RANK_SIZE=2
    monkeypatch.setenv("RANK_SIZE", "2")
    modelarts.post_process(Config(values))
    assert (bucket / "out" / "result.txt").read_text() == "done"


def test_file_check_is_cached_and_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    from model_zoo.engine import verify

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "a"
    folder.mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "ok.JPEG")
    (folder / "bad.JPEG").write_text("nope")
    paths = sorted(str(p) for p in folder.iterdir())
    assert [why for _, why in verify.bad_files(paths, tmp_path / "data")] == ["not a decodable image (UnidentifiedImageError)"]
    assert (tmp_path / "data" / verify.CACHE_NAME).is_file()
    calls = []
    monkeypatch.setattr(verify, "check_file", lambda p: calls.append(p))
    assert len(verify.bad_files(paths, tmp_path / "data")) == 1 and calls == []      # served from the cache
    (tmp_path / "data" / verify.CACHE_NAME).unlink()
    monkeypatch.undo()
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where the data folder's cache would need a directory")
    user_cache = tmp_path / "cache" / "index.json"
    monkeypatch.setattr(verify, "_cache_paths", lambda root: [blocker / "sub" / verify.CACHE_NAME, user_cache])
    assert len(verify.bad_files(paths, tmp_path / "data")) == 1
    assert user_cache.is_file() and len(json.loads(user_cache.read_text())) == 2


def test_resume_with_another_schedule_length_says_so():
    """A checkpoint whose LR schedule has another length: one line naming the schedule, not --arch/--num_classes."""
    import mindspore as ms
    import numpy as np

    from model_zoo.engine.checkpoint import check_shapes
    from model_zoo.engine.errors import CheckpointError

    class Optimizer(ms.nn.Cell):
        def __init__(self):
            super().__init__()
            self.learning_rate = ms.Parameter(ms.Tensor(np.zeros(24, np.float32)), name="learning_rate")

    params = {"learning_rate": ms.Parameter(ms.Tensor(np.zeros(18, np.float32)), name="learning_rate")}
    with pytest.raises(CheckpointError) as info:
        check_shapes(Optimizer(), params, "checkpoint 0-3_6.ckpt")
    message = str(info.value)
    assert "18-step learning-rate schedule" in message and "24 steps" in message and "--max_epoch" in message
    assert "\n" not in message and "--num_classes" not in message


def test_a_run_started_from_python_names_the_model_folders_script_to_resume():
    """The demo runs training through cli.run with its own flags: the resume command is the model folder's
    train.py with those flags (python -m model_zoo.demo has no --resume)."""
    from model_zoo.engine.cli import command_line
    from model_zoo.engine.config import Config
    from model_zoo.engine.registry import get_recipe
    from model_zoo.engine.trainer import resume_command

    cfg = Config()
    object.__setattr__(cfg, "command", command_line(get_recipe("vgg19"), "train",
                                                    ["--data_dir=/my data", "--resume", "auto", "--max_epoch=2"]))
    assert shlex.split(resume_command(cfg, "/runs/x/recovery.ckpt")) == [
        "python", str(VGG / "train.py"), "--data_dir=/my data", "--max_epoch=2", "--resume=/runs/x/recovery.ckpt"]
