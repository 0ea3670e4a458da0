"""Runs that cannot clobber, poison or silently differ (issue 15), as real processes where it matters:

* two runs started together into one ckpt_path get separate, intact folders;
* InceptionV4's upstream head (dropout 0.8) trains to identical weights from the same seed; so does a 2-rank msrun
  job, also after SIGKILL and --resume auto (the 1-process VGG cases are in test_faults.py);
* a full or read-only file system stops training / export before any work, naming the folder, with no temp files;
* label files are never unpickled; rank-table tools, ModelArts and the launcher check their inputs;
* every misleading message of the issue's list 7 is now one line naming the flag or the limit.
"""
import json
import os
import pickle
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, TINY_VGG, VGG, finish, run_script, start_script, zoo_env
from model_zoo.engine import checkpoint as ckpt_io

DENSENET = ROOT / "model_zoo" / "densenet121"
INCEPTION = ROOT / "model_zoo" / "inceptionv4"
VGG_ARGS = TINY_VGG + ["--lr=0.01"]


def _weights(path):
    return {k: v.asnumpy() for k, v in ckpt_io.network_params(ckpt_io.read(path)).items()}


def _identical(a, b):
    want, got = _weights(a), _weights(b)
    assert want.keys() == got.keys()
    return [k for k in want if not np.array_equal(want[k], got[k])]


def _errors(stderr):
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# ---------------------------------------------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_runs_started_together_get_separate_intact_folders(tiny_folder, tmp_path):
    """Both runs get the same stamp (as two runs started in the same second): one folder each, nothing shared."""
    procs = [subprocess.Popen([sys.executable, str(VGG / "train.py"), *VGG_ARGS, f"--data_dir={tiny_folder}",
                               "--max_epoch=1", f"--ckpt_path={tmp_path}", f"--seed={seed}"], cwd=VGG,
                              env=zoo_env(MODEL_ZOO_RUN_STAMP="same_second"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
    folders = sorted(p.name for p in tmp_path.iterdir())
    assert folders == ["same_second", "same_second_1"]
    seeds = set()
    for name in folders:
        run_dir = tmp_path / name
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["output_dir"] == str(run_dir) and summary["status"] == "completed"
        seeds.add(summary["config"]["seed"])
        assert f"seed: {summary['config']['seed']}" in (run_dir / "config.yaml").read_text()
        rows = (run_dir / "metrics.csv").read_text().splitlines()
        assert len(rows) == 2                                        # header + this run's one epoch
        assert [p.name for p in run_dir.glob("*.log")] == [f"{name}_rank_0.log"]
        assert "step_num" in ckpt_io.read(run_dir / "ckpt_0" / "0-1_6.ckpt")   # intact (CRC checked)
    assert seeds == {1, 2}


# ---------------------------------------------------------------------------------------------------------------
# reproducible dropout
# ---------------------------------------------------------------------------------------------------------------

def test_seeded_dropout_keeps_the_semantics_and_the_parameter_names():
    import mindspore as ms
    from mindspore import nn

    from model_zoo.engine import rng

    net = nn.SequentialCell([nn.Dense(64, 64), nn.Dropout(p=0.8), nn.Dense(64, 4), nn.Dropout(p=0.0)])
    names = [p.name for p in net.get_parameters()]
    cells = rng.seed_dropout(net, seed=7)
    assert len(cells) == 1 and [p.name for p in net.get_parameters()] == names     # p=0: left as it was
    dropout = net[1]
    assert dropout is cells[0] and dropout.p == 0.8
    x = ms.Tensor(np.ones((1000, 100), np.float32))
    dropout.set_train(True)
    first, second = dropout(x).asnumpy(), dropout(x).asnumpy()
    assert set(np.unique(first)) == {0.0, np.float32(1 / 0.2)}                     # kept values scaled by 1/(1-p)
    assert abs(float((first == 0).mean()) - 0.8) < 0.005 and not np.array_equal(first, second)
    assert json.loads(rng.state(cells)) == {"dropout_calls": [2]}
    rng.restore(cells, {rng.STATE_KEY: json.dumps({"dropout_calls": [1]})}, 0)
    assert np.array_equal(dropout(x).asnumpy(), second)                             # the counter is the whole state
    dropout.set_train(False)
    assert np.array_equal(dropout(x).asnumpy(), x.asnumpy())                        # identity in eval / export
    other_rank = rng.seed_dropout(nn.SequentialCell([nn.Dropout(p=0.8)]), seed=7, rank=1)[0]
    other_rank.set_train(True)
    assert not np.array_equal(other_rank(x).asnumpy(), first)


@pytest.mark.slow
def test_inceptionv4_upstream_head_trains_to_identical_weights(tmp_path):
    from model_zoo.engine.demo_data import synthetic_folder

    data = synthetic_folder(tmp_path / "data", classes=2, per_class=4, val_per_class=1, size=80)  # 2 steps of 4
    args = ["--config_path=default_config_cpu.yaml", "--image_size=75,75", "--num_classes=2", "--batch_size=4",
            "--epoch_size=1", "--lr_max=0.001", "--head=upstream", f"--dataset_path={data}"]
    runs = {name: start_script(INCEPTION / "train.py", *args, f"--ckpt_path={tmp_path / name}", cwd=INCEPTION)
            for name in ("a", "b")}                                                  # both at once
    finals = []
    for name, proc in runs.items():
        result = finish(proc)
        assert result.returncode == 0, result.stderr[-2000:]
        finals.append(tmp_path / name / "ckpts_rank_0" / "inceptionV4-train-rank0-1_2.ckpt")
    assert json.loads(ckpt_io.read(finals[0])["zoo_rng_state"]) == {"dropout_calls": [2]}   # the head's Dropout(0.8)
    assert _identical(*finals) == []


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _two_ranks(tiny_folder, work, out, *extra):
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["bash", str(VGG / "scripts" / "run_distribute_train_cpu.sh"), str(tiny_folder), "2",
           f"--master_port={_free_port()}", "--arch=vgg11", "--image_size=32,32", "--num_classes=3",
           "--batch_size=4", "--lr=0.01", "--max_epoch=2", f"--ckpt_path={out}", *extra]
    log = open(work / "console.txt", "w")       # a file, not a pipe: nobody reads while the test waits
    proc = subprocess.Popen(cmd, cwd=work, env=zoo_env(), stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    proc.console = work / "console.txt"
    return proc


def _process_tree(pid):
    """``pid`` and all its descendants (msrun starts its workers in sessions of their own)."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


@pytest.mark.slow
def test_two_ranks_sigkill_and_resume_auto_match_the_uninterrupted_job(tiny_folder, tmp_path):
    """2 ranks (msrun), dropout on: the uninterrupted job and a job killed (SIGKILL, all its processes) after a
    recovery checkpoint, then resumed with --resume auto, end with identical weights."""
    whole = _two_ranks(tiny_folder, tmp_path / "w1", tmp_path / "whole")
    killed = _two_ranks(tiny_folder, tmp_path / "w2", tmp_path / "killed", "--recovery_interval=1")
    deadline = time.time() + 600
    while not list((tmp_path / "killed").glob("*/ckpt_0/recovery.ckpt")):
        assert killed.poll() is None and time.time() < deadline, killed.console.read_text()[-3000:]
        time.sleep(0.05)
    for pid in _process_tree(killed.pid):   # the launcher, msrun, its scheduler and both workers, at once
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    killed.wait()
    assert whole.wait(timeout=600) == 0, whole.console.read_text()[-3000:]
    assert not list((tmp_path / "killed").glob("*/ckpt_0/0-2_3.ckpt"))          # it died before the end
    resumed = _two_ranks(tiny_folder, tmp_path / "w3", tmp_path / "killed", "--resume=auto")
    assert resumed.wait(timeout=600) == 0, resumed.console.read_text()[-3000:]
    out = resumed.console.read_text()
    assert re.search(r"resumed from \S+recovery\.ckpt: epoch \d step \d \(global step [1-5] of 6\)", out)
    final = sorted((tmp_path / "killed").glob("*/ckpt_0/0-2_3.ckpt"))[-1]
    reference = next((tmp_path / "whole").glob("*/ckpt_0/0-2_3.ckpt"))
    assert json.loads(ckpt_io.read(reference)["zoo_rng_state"]) == {"dropout_calls": [6, 6]}
    assert _identical(reference, final) == []
    assert [p.name for p in (tmp_path / "whole").iterdir()] == [reference.parents[1].name]  # one folder, 2 ranks
    assert len(list(reference.parents[1].glob("*_rank_*.log"))) == 2


# ---------------------------------------------------------------------------------------------------------------
# full and read-only file systems
# ---------------------------------------------------------------------------------------------------------------

def _mount_prefix(folder, options):
    """A command prefix that runs its command with a fresh tmpfs (``options``: size=..., ro) on ``folder``, in a
    private mount namespace (``unshare -rm``: no root needed); None where this system does not allow it."""
    unshare = shutil.which("unshare")
    if not unshare:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run([unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o {options} tmpfs '{folder}'"],
                           capture_output=True)
    if probe.returncode != 0:
        return None
    return [unshare, "-rm", "sh", "-c", f"mount -t tmpfs -o {options} tmpfs '{folder}' && exec \"$@\"", "sh"]


# Where no tmpfs can be mounted, the same processes run with a test double at the file-system calls: 20 MiB free in
# the folder, or (read-only) EROFS from creating a file there.
_DOUBLE = """
import errno, os, runpy, shutil, sys, tempfile
folder, mode = os.environ["ZOO_FS_DOUBLE"], os.environ["ZOO_FS_MODE"]
real_usage, real_temp = shutil.disk_usage, tempfile.NamedTemporaryFile
def usage(path):
    if str(path).startswith(folder):
        return shutil._ntuple_diskusage(20 << 20, 0, 20 << 20)
    return real_usage(path)
def temp(*args, **kwargs):
    if mode == "ro" and str(kwargs.get("dir", "")).startswith(folder):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))
    return real_temp(*args, **kwargs)
shutil.disk_usage = usage
tempfile.NamedTemporaryFile = temp
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# Runs a command, then lists the files left in a folder (inside the mount namespace, where the tmpfs lives).
_LISTER = """
import pathlib, subprocess, sys
code = subprocess.call(sys.argv[2:])
print("LEFT", sorted(str(p.relative_to(sys.argv[1])) for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file()))
raise SystemExit(code)
"""


def _run_on(folder, options, script, *args, cwd):
    """``python script args`` with ``folder`` on a small (``size=...``) or read-only (``ro``) file system; prints
    the files it left there as ``LEFT [...]``.  Returns (CompletedProcess, whether a real tmpfs was used)."""
    prefix = _mount_prefix(folder, options)
    env = zoo_env()
    inner = [sys.executable, str(script), *map(str, args)]
    if prefix is None:
        double = folder.parent / f"fs_double_{folder.name}.py"
        double.write_text(_DOUBLE)
        inner = [sys.executable, str(double)] + inner[1:]
        env.update(ZOO_FS_DOUBLE=str(folder), ZOO_FS_MODE="ro" if "ro" in options.split(",") else "full")
        prefix = []
    lister = folder.parent / "fs_lister.py"
    lister.write_text(_LISTER)
    result = subprocess.run(prefix + [sys.executable, str(lister), str(folder)] + inner, cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=600)
    return result, bool(prefix)


def _left(result):
    return eval(result.stdout.split("LEFT ", 1)[1].splitlines()[0])  # noqa: S307 (a list of strings it printed)


def test_full_file_system_stops_training_before_the_first_step(tiny_folder, tmp_path):
    disk = tmp_path / "small_disk"
    result, real = _run_on(disk, "size=20m", VGG / "train.py", *VGG_ARGS, f"--data_dir={tiny_folder}",
                           "--max_epoch=1", f"--ckpt_path={disk}", cwd=VGG)
    errors = _errors(result.stderr)
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert re.fullmatch(rf"error: {re.escape(str(disk))}/\S+/ckpt_0 has [\d.]+ MiB free, but a checkpoint of this "
                        rf"run and its temporary copy need [\d.]+ MiB; free space there or pass another --ckpt_path",
                        errors[0]), errors[0]
    assert "start network train" not in result.stdout and not re.search(r"^epoch", result.stdout, re.M)  # no step
    left = _left(result)
    assert not [name for name in left if ".partial" in name or ".zoo_write_check" in name], left
    assert any(name.endswith("summary.json") for name in left)                         # the failed run's record
    print(f"full file system: {'tmpfs' if real else 'test double'}; left {left}")


def test_checkpoint_write_that_runs_out_of_space_names_the_path_and_leaves_no_temp(tmp_path, monkeypatch):
    import errno

    import mindspore as ms

    def full_disk(cell, path, **kwargs):
        with open(path, "wb") as handle:           # part of the file, then the disk is full
            handle.write(b"\0" * 1000)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ms, "save_checkpoint", full_disk)
    target = tmp_path / "ckpt" / "0-1_6.ckpt"
    with pytest.raises(ckpt_io.CheckpointError) as info:
        ckpt_io.save([{"name": "w", "data": ms.Tensor(np.zeros(4, np.float32))}], target)
    assert str(info.value) == f"cannot write {target}: No space left on device (errno ENOSPC)"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["ckpt"]                # no temp file, no .partial


def test_leftover_temp_files_of_dead_writers_are_removed(tmp_path):
    partial = tmp_path / ckpt_io.PARTIAL_DIR
    partial.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname().split(".")[0]
    names = {"dead": f"{dead.stdout.strip()}@{host}_0-1_6.ckpt", "old_format": f"{dead.stdout.strip()}_0-2_6.ckpt",
             "live": f"{os.getppid()}@{host}_0-3_6.ckpt", "other_host_recent": "1@elsewhere_0-4_6.ckpt",
             "other_host_old": "2@elsewhere_0-5_6.ckpt", "mine": f"{os.getpid()}@{host}_0-6_6.ckpt"}
    for name in names.values():
        (partial / name).write_bytes(b"x")
    old = time.time() - 2 * ckpt_io.STALE_PARTIAL_SECONDS
    os.utime(partial / names["other_host_old"], (old, old))
    removed = {p.name for p in ckpt_io.clean_partial(tmp_path)}
    assert removed == {names["dead"], names["old_format"], names["other_host_old"]}
    assert {p.name for p in ckpt_io.clean_partial(tmp_path, own_only=True)} == {names["mine"]}
    assert sorted(p.name for p in partial.iterdir()) == sorted([names["live"], names["other_host_recent"]])


def test_export_to_a_read_only_or_full_folder_names_the_cause(tmp_path, tiny_folder):
    from model_zoo.engine.registry import create_model

    net = create_model("vgg11_bn", num_classes=3, image_size=(32, 32))
    weights = tmp_path / "weights.ckpt"
    ckpt_io.save(net, weights)
    for options, cause in (("ro", r"cannot write to {d}: Read-only file system \(errno EROFS\); pass a writable "
                                  r"--file_name"),
                           ("size=20m", r"{d} has [\d.]+ MiB free, but the exported model needs [\d.]+ MiB; free "
                                        r"space there or pass another --file_name")):
        disk = tmp_path / options.replace("=", "_")
        result, _ = _run_on(disk, options, VGG / "export.py", "--config_path=imagenet2012_config.yaml",
                            "--arch=vgg11_bn", "--image_size=32,32", "--num_classes=3", f"--ckpt_file={weights}",
                            "--file_format=ONNX", f"--file_name={disk / 'net'}", cwd=VGG)
        errors = _errors(result.stderr)
        assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
        assert re.fullmatch("error: " + cause.format(d=re.escape(str(disk))), errors[0]), errors[0]


# ---------------------------------------------------------------------------------------------------------------
# label files are never unpickled
# ---------------------------------------------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path(self.marker).write_text, ("the label file ran code",))


def test_pickled_label_file_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "cifar10_label_ids.npy"
    np.save(evil, np.array([_Payload(str(marker)), 1], dtype=object), allow_pickle=True)
    raw = tmp_path / "raw_pickle.npy"
    raw.write_bytes(pickle.dumps(_Payload(str(marker))))
    (tmp_path / "result_Files").mkdir()
    for label_file in (evil, raw):
        result = run_script(VGG / "postprocess.py", "--config_path=cifar10_config.yaml", "--device_target=CPU",
                            f"--result_dir={tmp_path / 'result_Files'}", f"--label_dir={label_file}", cwd=tmp_path)
        errors = _errors(result.stderr)
        assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
        assert errors[0].startswith(f"error: label file {label_file} holds pickled Python objects, which are never "
                                    f"loaded")
        assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_numeric_label_files_of_every_legacy_form_are_read(tmp_path):
    from model_zoo.engine.deploy.chain import read_numeric_labels

    batches = np.arange(12, dtype=np.int32).reshape(3, 4) % 10
    np.save(tmp_path / "upstream.npy", batches)                     # upstream preprocess: one row per batch
    (tmp_path / "labels.json").write_text(json.dumps([[1, 2], [3]]))
    (tmp_path / "labels.txt").write_text("1 2\n3,4\n")
    assert read_numeric_labels(tmp_path / "upstream.npy").tolist() == batches.tolist()
    assert read_numeric_labels(tmp_path / "labels.json").tolist() == [1, 2, 3]
    assert read_numeric_labels(tmp_path / "labels.txt").tolist() == [1, 2, 3, 4]


# ---------------------------------------------------------------------------------------------------------------
# list 7: one line naming the flag or the limit
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("case, folder, args, message", [
    ("batch_size", VGG, VGG_ARGS[:-2] + ["--batch_size", "-1", "--max_epoch=1"],
     "error: --batch_size must be at least 1, got -1"),
    ("per_batch_size", DENSENET, ["--image_size=32,32", "--num_classes=3", "--per_batch_size=64", "--max_epoch=1",
                                  "--device_target=CPU"],
     "error: only 24 training images for batch_size 64 x 1 rank(s); lower --per_batch_size"),
    ("per_batch_size_cifar10", DENSENET, ["--per_batch_size=20000", "--max_epoch=1", "--device_target=CPU"],
     "error: only 10000 training images for batch_size 20000 x 1 rank(s); lower --per_batch_size"),
    ("inception_size", INCEPTION, ["--config_path=default_config_cpu.yaml", "--image_size=64,64", "--num_classes=3",
                                   "--batch_size=4", "--epoch_size=1"],
     "error: InceptionV4 needs inputs of at least 75x75, got 64x64; raise --height/--width (or --image_size)"),
    ("max_epoch", VGG, VGG_ARGS + ["--max_epoch", "0"], "error: --max_epoch must be at least 1, got 0"),
    ("epoch_size", INCEPTION, ["--config_path=default_config_cpu.yaml", "--image_size=75,75", "--num_classes=3",
                               "--epoch_size=0"], "error: --epoch_size / --max_epoch must be at least 1, got 0"),
    ("yaml_choices", VGG, ["--max_epoch=1"],
     "error: unknown key 'bacth_size' in the choices (3rd document) of {yaml}; did you mean 'batch_size'?; remove "
     "it or fix its spelling"),
])
def test_list_seven_messages(case, folder, args, message, tiny_folder, cifar_root, tmp_path):
    yaml = tmp_path / "user.yaml"
    if case == "yaml_choices":
        yaml.write_text("batch_size: 4\n---\nbatch_size: 'batch'\n---\nbacth_size: [4, 8]\n")
        args = [f"--config_path={yaml}"] + VGG_ARGS[1:] + args
    data_flag = {"densenet121": "--train_data_dir", "inceptionv4": "--dataset_path"}.get(folder.name, "--data_dir")
    data = cifar_root if case.endswith("cifar10") else tiny_folder
    start = time.time()
    result = run_script(folder / "train.py", *args, f"{data_flag}={data}", f"--ckpt_path={tmp_path / 'out'}",
                        cwd=folder)
    errors = _errors(result.stderr)
    assert result.returncode == 2 and errors == [message.format(yaml=yaml)], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "epoch: " not in result.stdout
    print(f"{case}: {time.time() - start:.1f} s")


def test_gpu_script_without_a_gpu_stops_before_spawning(tiny_folder, tmp_path):
    result = subprocess.run(["bash", str(VGG / "scripts" / "run_distribute_train_gpu.sh"), str(tiny_folder)],
                            cwd=tmp_path, env=zoo_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --device_target GPU: MindSpore cannot use GPU on this machine (it needs a CUDA GPU, its driver and the "
        "CUDA 11.x libraries); use --device_target CPU (or auto) here")
    assert "started" not in result.stderr and not list(tmp_path.iterdir())        # nothing spawned, no log folder


@pytest.mark.slow
def test_failed_worker_is_the_last_line_without_msrun_traceback(tiny_folder, tmp_path):
    result = subprocess.run(["bash", str(VGG / "scripts" / "run_distribute_train_cpu.sh"), str(tiny_folder), "2",
                             f"--master_port={_free_port()}", "--num_classes=3", "--batch_size=64", "--max_epoch=1",
                             f"--ckpt_path={tmp_path / 'out'}"], cwd=tmp_path,
                            env=zoo_env(MS_NODE_TIMEOUT="6"),   # msrun's scheduler gives up on the dead workers sooner
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    assert re.fullmatch(r"rank [01]: error: only 24 training images for batch_size 64 x 2 rank\(s\); lower "
                        r"--batch_size", result.stderr.strip().splitlines()[-1]), result.stderr[-2000:]
    assert "Traceback" not in result.stdout + result.stderr
    assert "Traceback" in (tmp_path / "msrun_log" / "msrun.log").read_text()     # msrun's own trace: in its log


def test_launcher_refuses_bad_flags_once_before_spawning(tiny_folder, tmp_path):
    result = subprocess.run(["bash", str(VGG / "scripts" / "run_distribute_train_cpu.sh"), str(tiny_folder), "2",
                             "--bacth_size=3"], cwd=tmp_path, env=zoo_env(), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["error: unknown flag --bacth_size; did you mean 'batch_size'?; "
                                                  "run with --help to list the flags"]
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------------------------
# rank-table tools
# ---------------------------------------------------------------------------------------------------------------

TOOLS = ROOT / "scripts"


def _tool(name, *args, cwd):
    result = subprocess.run([sys.executable, str(TOOLS / name), *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=60)
    return result.returncode, result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""


@pytest.mark.parametrize("args, message", [
    (["--server_ip", "10.0.0.1/24"], "--server_ip '10.0.0.1/24' is not an IP address"),
    (["--server_ip", "10.0.0.1", "--device_ips", "0:192.98.92.100,1:192.98.92.300"],
     "--device_ips: device 1: '192.98.92.300' is not an IPv4 address"),
    (["--server_ip", "10.0.0.1", "--device_ips", "192.98.92.100,192.98.92.100"],
     "--device_ips: 192.98.92.100 is the IP of more than one device"),
    (["--server_ip", "10.0.0.1", "--device_ips", "0:192.98.92.100,0:192.98.92.101"],
     "--device_ips: device 0 is given more than once"),
    (["--server_ip", "10.0.0.1", "--visible_devices", "0,0,1,2", "--device_ips", "1.1.1.1,1.1.1.2"],
     "--visible_devices '0,0,1,2' lists device 0 more than once"),
])
def test_hccl_tools_validates_its_inputs(args, message, tmp_path):
    code, last = _tool("hccl_tools.py", "--device_num", "[0,2)", *args, cwd=tmp_path)
    assert code == 2 and last == f"hccl_tools.py: error: {message}" + (
        " (the server_id of the rank table, e.g. 10.0.0.1)" if "server_ip" in message else "")
    assert not list(tmp_path.glob("*.json"))


def test_merge_hccl_validates_schema_and_duplicates(tmp_path):
    def table(server, ips):
        return {"version": "1.0", "server_count": "1", "status": "completed",
                "server_list": [{"server_id": server, "host_nic_ip": "reserve", "device": [
                    {"device_id": str(i), "device_ip": ip, "rank_id": str(i)} for i, ip in enumerate(ips)]}]}

    files = {"a.json": table("10.0.0.1", ["192.98.92.100", "192.98.92.101"]),
             "twice.json": table("10.0.0.2", ["192.98.92.100", "192.98.92.100"]),
             "bad_ip.json": table("10.0.0.3", ["192.98.92"]),
             "no_device.json": {"server_count": "1", "server_list": [{"server_id": "10.0.0.4", "device": [{}]}]},
             "not_table.json": [1, 2]}
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    cases = [(["a.json", "a.json"], "server 10.0.0.1 is in a.json and in a.json; give each server's rank table once"),
             (["a.json", "twice.json"], "twice.json: not a valid rank table: server 10.0.0.2 lists device_ip "
                                        "192.98.92.100 more than once"),
             (["bad_ip.json"], "bad_ip.json: not a valid rank table: server 10.0.0.3: device_ip '192.98.92' is not an "
                               "IPv4 address"),
             (["no_device.json"], "no_device.json: not a valid rank table: server 10.0.0.4: a device entry lacks "
                                  "device_id / device_ip / rank_id"),
             (["not_table.json"], "not_table.json: not a valid rank table: no server_list")]
    for names, message in cases:
        code, last = _tool("merge_hccl.py", *names, cwd=tmp_path)
        assert (code, last) == (2, f"merge_hccl.py: error: {message}")
    assert not list(tmp_path.glob("hccl_*.json"))


# ---------------------------------------------------------------------------------------------------------------
# ModelArts
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_modelarts_job_keeps_outputs_under_output_path_and_syncs_them_on_sigterm(tiny_folder, tmp_path):
    bucket, cache = tmp_path / "obs", tmp_path / "cache"
    outside = tmp_path / "elsewhere"
    args = VGG_ARGS + ["--enable_modelarts=True", f"--data_url={tiny_folder}", f"--train_url={bucket / 'train'}",
                       f"--data_path={cache / 'data'}", f"--output_path={cache / 'train'}", f"--ckpt_path={outside}",
                       "--need_modelarts_dataset_unzip=False", "--max_epoch=3", "--log_interval=1"]
    proc = subprocess.Popen([sys.executable, str(VGG / "train.py"), *args], cwd=VGG, env=zoo_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = ""
    for line in proc.stdout:
        out += line
        if line.startswith("epoch 1/3 step 2/6"):
            break
    proc.send_signal(signal.SIGTERM)                    # how ModelArts preempts a job
    rest, err = proc.communicate(timeout=300)
    out += rest
    assert proc.returncode == 143, err[-2000:]
    assert not outside.exists()                         # an absolute ckpt_path is moved under output_path
    moved = cache / "train" / str(outside).lstrip("/")
    assert f"ModelArts: --ckpt_path {outside} is outside output_path" in out
    synced = list((bucket / "train").rglob("recovery.ckpt"))
    assert len(synced) == 1 and synced[0].relative_to(bucket / "train") == \
        next(moved.glob("*/ckpt_0/recovery.ckpt")).relative_to(cache / "train")
    assert "step_num" in ckpt_io.read(synced[0])
    assert json.loads(next((bucket / "train").rglob("summary.json")).read_text())["status"] == "stopped"


def _lock_waiter(lock_dir, queue, job_id):
    os.environ.update(DEVICE_ID="1", RANK_SIZE="2")
    if job_id:
        os.environ["JOB_ID"] = job_id
    else:
        os.environ.pop("JOB_ID", None)
    from model_zoo.engine import modelarts
    from model_zoo.engine.errors import DataError

    lines = []
    start = time.time()
    try:
        modelarts.once_per_node("unzip_sync", lambda: None, lock_dir, timeout=3, poll=0.05, log=lines.append)
        queue.put(("returned", time.time() - start, lines))
    except DataError as exc:
        queue.put((str(exc), time.time() - start, lines))


def test_modelarts_locks_name_their_job_and_stale_ones_are_not_trusted(tmp_path, monkeypatch):
    import multiprocessing

    from model_zoo.engine import modelarts

    lock = tmp_path / ".unzip_sync.lock"
    context = multiprocessing.get_context("spawn")

    def wait(job_id=None):
        queue = context.Queue()
        proc = context.Process(target=_lock_waiter, args=(tmp_path, queue, job_id))
        proc.start()
        result = queue.get(timeout=60)
        proc.join(timeout=30)
        return result

    # an earlier job's finished lock, JOB_ID unset: not this job's, so the waiter does not take it for done
    lock.write_text(json.dumps({"token": "launcher otherhost:1:1", "state": "done", "pid": 1, "host": "otherhost"}))
    message, seconds, lines = wait()
    assert message.startswith("timed out after 3s waiting for the first device to finish unzip_sync") and seconds >= 3
    assert lines == [f"ModelArts: ignoring {lock} of another job (launcher otherhost:1:1); waiting for this job's "
                     f"first device"]
    # this job's lock (same JOB_ID), its process gone: stale, detected at once
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.write_text(json.dumps({"token": "job J1", "state": "running", "pid": int(dead.stdout),
                                "host": socket.gethostname()}))
    message, seconds, _ = wait("J1")
    assert message.startswith(f"the first device of this node (pid {int(dead.stdout)}) died during unzip_sync")
    assert seconds < 3
    # the first device writes a lock that names the job and itself
    monkeypatch.setenv("DEVICE_ID", "0")
    monkeypatch.setenv("JOB_ID", "J2")
    assert modelarts.once_per_node("unzip_sync", lambda: "ran", tmp_path) == "ran"
    entry = json.loads(lock.read_text())
    assert entry["token"] == "job J2" and entry["state"] == "done" and entry["pid"] == os.getpid()


def test_readme_resume_claims_name_tests_that_exist():
    """Every part of the README's resume guarantee names the test that backs it; those tests exist."""
    import ast

    readme = (ROOT / "README.md").read_text()
    claim = readme[readme.index("**Resuming: what is guaranteed.**"):readme.index("*Dropout.*")]
    named = re.findall(r"`tests/(test_\w+\.py)(?:::(\w+))?`|`::(\w+)`", claim)
    assert len(named) >= 7
    module = None
    for path, test, continued in named:
        module = path or module
        if test or continued:
            tree = ast.parse((ROOT / "tests" / module).read_text())
            assert (test or continued) in {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_runs_sharing_a_checkpoint_folder_never_write_each_others_files(tmp_path):
    """The upstream DenseNet / InceptionV4 layouts write checkpoints into ckpt_path itself: as MindSpore's
    ModelCheckpoint, a second run there gets the prefix <prefix>_1, taken atomically; a resumed run keeps its own."""
    from model_zoo.engine.trainer import checkpoint_names

    shared = tmp_path / "ckpt"
    first = checkpoint_names(shared, "0", tmp_path / "run_a")
    second = checkpoint_names(shared, "0", tmp_path / "run_b")             # started together: claim taken
    assert first[:2] == ("0", "recovery.ckpt") and second[:2] == ("0_1", "recovery_1.ckpt")
    assert first[2].read_text() == str(tmp_path / "run_a")
    (shared / "0-1_6.ckpt").write_bytes(b"run a's")
    first[2].unlink()                                                       # run a ended; its checkpoints stay
    assert checkpoint_names(shared, "0", tmp_path / "run_c")[:2] == ("0_2", "recovery_2.ckpt")
    resumed = checkpoint_names(shared, "0", tmp_path / "run_d", resume_path=shared / "0-1_6.ckpt")
    assert resumed[:2] == ("0", "recovery.ckpt")                            # continues run a's files
    assert checkpoint_names(shared, "0", tmp_path / "run_e", resume_path=shared / "recovery_1.ckpt")[:2] == \
        ("0_1", "recovery_1.ckpt")
    own = tmp_path / "run_f" / "ckpt_0"                                     # inside the run's own folder: as is
    assert checkpoint_names(own, "0", tmp_path / "run_f") == ("0", "recovery.ckpt", None)
