"""Data parallelism and distributed evaluation on CPU, for real, through the shared launcher.

* 2 workers on loopback through msrun: after the steps of one epoch both ranks hold identical parameters, equal to
  single-process training on the union of both ranks' batches from the same start (``tests/dp_driver.py`` runs the
  engine's own ``trainer.train`` with the vgg19 recipe and records the batches and parameters);
* two msrun "nodes" on this machine (node_rank 0 and 1, one worker each) give the same result;
* mpirun (where OpenMPI is installed) gives the same result;
* ``run_distribute_eval_cpu.sh`` (2 ranks, real eval.py under msrun) prints exactly the counts of
  ``run_eval_cpu.sh`` (1 process) on 9 val images (not divisible by 2).
"""
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, VGG, zoo_env

DRIVER = ROOT / "tests" / "dp_driver.py"
NET = ["--arch=vgg11", "--image_size=32,32", "--num_classes=3"]
TRAIN = NET + ["--batch_size=4", "--max_epoch=1", "--lr=0.2", "--has_dropout=False"]
TOLERANCE = 1e-5


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launcher_cmd(*args):
    return [sys.executable, "-m", "model_zoo.engine.launcher", *map(str, args)]


def dp_train_cmd(dump, data, *launcher_args):
    """The launcher running tests/dp_driver.py as the training script of the vgg19 recipe."""
    return launcher_cmd("train", "--model", "vgg19", "--device", "CPU", "--script", DRIVER, "--data", data,
                        "--config_path", "imagenet2012_config.yaml", *launcher_args, "--",
                        *TRAIN, f"--ckpt_path={dump / 'ckpt'}", f"--dump_dir={dump}")


def check(result):
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-3000:])
    return result


def load(dump, name):
    return dict(np.load(Path(dump) / name))


def max_diff(a, b):
    assert set(a) == set(b)
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.fixture(scope="module")
def msrun_dp(tiny_folder, scratch):
    dump = scratch("dp_msrun")
    check(subprocess.run(dp_train_cmd(dump, tiny_folder, "--nproc", 2, "--master_port", free_port()), cwd=dump,
                         env=zoo_env(), capture_output=True, text=True, timeout=300))
    return dump


@pytest.fixture(scope="module")
def union(msrun_dp, tiny_folder):
    """One process, from rank 0's starting weights, step k on rank 0's + rank 1's step-k batches (batch 8)."""
    cmd = [sys.executable, DRIVER, f"--config_path={VGG / 'imagenet2012_config.yaml'}", "--device_target=CPU",
           "--is_distributed=0", f"--data_dir={tiny_folder}", *TRAIN, "--batch_size=8",
           f"--ckpt_path={msrun_dp / 'ckpt_union'}", f"--dump_dir={msrun_dp}", "--union=1"]
    check(subprocess.run(list(map(str, cmd)), cwd=msrun_dp, env=zoo_env(), capture_output=True, text=True,
                         timeout=300))
    return load(msrun_dp, "final_union.npz")


@pytest.mark.slow
def test_data_parallel_equals_training_on_the_union_batch(msrun_dp, union):
    init0, init1 = load(msrun_dp, "init_rank0.npz"), load(msrun_dp, "init_rank1.npz")
    final0, final1 = load(msrun_dp, "final_rank0.npz"), load(msrun_dp, "final_rank1.npz")
    assert max_diff(init0, init1) == 0.0                              # same seed: same start on every rank
    assert max_diff(final0, final1) < TOLERANCE                       # gradients averaged: ranks stay identical
    assert max_diff(final0, union) < TOLERANCE                        # ... and equal to big-batch training
    assert max_diff(final0, init0) > 1e-3                             # (the weights really moved)

    shards = [np.load(msrun_dp / f"batches_rank{r}.npz") for r in (0, 1)]
    assert [s["images"].shape for s in shards] == [(3, 4, 3, 32, 32)] * 2    # 24 images / (2 ranks x 4) = 3 steps
    seen = [img.tobytes() for s in shards for img in s["images"].reshape(-1, 3, 32, 32)]
    assert len(set(seen)) == 24                                       # sharded: no image on both ranks

    assert [p.name for p in (msrun_dp / "ckpt").glob("*/ckpt_*")] == ["ckpt_0"]   # is_save_on_master
    worker0 = (msrun_dp / "msrun_log" / "worker_0.log").read_text()
    match = re.search(r"per step time: ([\d.]+) ms, lr: [\d.e-]+, throughput: ([\d.]+) imgs/sec", worker0)
    assert match and float(match.group(2)) == pytest.approx(8 * 1000 / float(match.group(1)), rel=0.02)  # global


@pytest.mark.slow
def test_two_msrun_nodes_match_two_workers(msrun_dp, tiny_folder, tmp_path):
    port = free_port()
    procs = []
    # node 1 names the master 0.0.0.0: it reaches this machine's scheduler, but msrun does not take it for a
    # local address and so starts no second scheduler (on two real servers: the master's IP on both)
    for node, addr in ((0, "127.0.0.1"), (1, "0.0.0.0")):
        cmd = dp_train_cmd(tmp_path, tiny_folder, "--nnodes", 2, "--node_rank", node, "--nproc", 1,
                           "--master_addr", addr, "--master_port", port, "--log_dir", tmp_path / f"node{node}_log")
        procs.append(subprocess.Popen(cmd, cwd=tmp_path, env=zoo_env(), stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out[-3000:]
    assert (tmp_path / "node0_log" / "worker_0.log").is_file() and (tmp_path / "node1_log" / "worker_1.log").is_file()
    for rank in (0, 1):
        assert max_diff(load(tmp_path, f"final_rank{rank}.npz"), load(msrun_dp, f"final_rank{rank}.npz")) < TOLERANCE
        assert max_diff(load(tmp_path, f"batches_rank{rank}.npz"), load(msrun_dp, f"batches_rank{rank}.npz")) == 0


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("mpirun"), reason="OpenMPI is not installed (.ci/run installs it)")
def test_mpirun_spawned_ranks_match_msrun(msrun_dp, tiny_folder, tmp_path):
    result = None
    for _ in range(2):  # MindSpore 2.10 once segfaulted (exit 139) in its teardown after all ranks had finished
        cmd = dp_train_cmd(tmp_path, tiny_folder, "--nproc", 2, "--launcher", "mpirun", "--master_port", free_port())
        result = subprocess.run(cmd, cwd=tmp_path, env=zoo_env(), capture_output=True, text=True, timeout=300)
        if result.returncode != 139:
            break
    check(result)
    assert (tmp_path / "output.train.log").is_file() and (tmp_path / "log_output").is_dir()
    final0, final1 = load(tmp_path, "final_rank0.npz"), load(tmp_path, "final_rank1.npz")
    assert max_diff(final0, final1) < TOLERANCE
    assert max_diff(final0, load(msrun_dp, "final_rank0.npz")) < TOLERANCE


EVAL_LINE = re.compile(r"after allreduce eval: top([15])_correct=(\d+), tot=(\d+),acc=([\d.]+)%")


@pytest.mark.slow
def test_two_rank_eval_counts_exactly_what_one_process_counts(msrun_dp, tiny_folder, tmp_path):
    checkpoint = next((msrun_dp / "ckpt").glob("*/ckpt_0/*.ckpt"))
    flags = NET + ["--batch_size=4"]
    results = {}
    for ranks, script, extra in ((2, "run_distribute_eval_cpu.sh", ["2", f"--master_port={free_port()}"]),
                                 (1, "run_eval_cpu.sh", [])):
        work = tmp_path / f"eval{ranks}"
        work.mkdir()
        result = check(subprocess.run(["bash", str(VGG / "scripts" / script), str(tiny_folder), str(checkpoint),
                                       *extra, *flags, f"--log_path={work / 'logs'}"], cwd=work, env=zoo_env(),
                                      capture_output=True, text=True, timeout=300))
        results[ranks] = sorted(set(EVAL_LINE.findall(result.stdout)))
        assert len(results[ranks]) == 2, result.stdout[-3000:]
    assert results[2] == results[1]
    assert all(tot == "9" for _, _, tot, _ in results[2])
    local = {}                                                        # each rank counted its own share only
    for log in (tmp_path / "eval2" / "logs").glob("*/*_rank_*.log"):
        match = re.search(r"before results=\[\[(\d+)\], \[(\d+)\], \[(\d+)\]\]", log.read_text())
        local[log.stem[-1]] = tuple(int(v) for v in match.groups())
    assert sorted(local) == ["0", "1"] and local["0"][2] == 5 and local["1"][2] == 4
    top1 = dict((k, int(c)) for k, c, _, _ in results[2])["1"]
    assert local["0"][0] + local["1"][0] == top1
