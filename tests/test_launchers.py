"""Launchers without running MindSpore: rank tables (hccl_tools / merge_hccl), the per-model shell scripts and the
dry runs of the shared launcher for Ascend (rank table), GPU (mpirun / msrun), CPU and multi-node msrun."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, per_proc, zoo_env
from model_zoo.engine import launcher
from model_zoo.engine.device import BACKENDS

MODELS = ("vgg19", "densenet121", "inceptionv4")
HCCL_TOOLS = ROOT / "scripts" / "hccl_tools.py"
MERGE_HCCL = ROOT / "scripts" / "merge_hccl.py"


def run(cmd, cwd=None, env=None):
    full = zoo_env(**{"MODEL_ZOO_DRY_RUN": None, **(env or {})})   # PATH, PYTHONPATH: nothing for the launcher to add
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def dry(script, *args, model="vgg19", env=None):
    """Dry run of model_zoo/<model>/scripts/<script> from the model folder, as upstream users run them."""
    folder = ROOT / "model_zoo" / model
    result = run(["bash", f"scripts/{script}", *args], cwd=folder, env=dict(env or {}, MODEL_ZOO_DRY_RUN="1"))
    assert result.returncode == 0, result.stderr
    return result.stdout


# ---------------------------------------------------------------------------------------------------------------
# rank tables
# ---------------------------------------------------------------------------------------------------------------

def check_rank_table(table):
    """The upstream rank-table schema: every value a string, ranks 0..P-1 in order, one entry per server."""
    assert set(table) == {"version", "server_count", "server_list", "status"}
    assert table["version"] == "1.0" and table["status"] == "completed"
    assert table["server_count"] == str(len(table["server_list"]))
    ranks = []
    for server in table["server_list"]:
        assert set(server) == {"server_id", "device", "host_nic_ip"} and server["host_nic_ip"] == "reserve"
        assert isinstance(server["server_id"], str) and server["device"]
        for device in server["device"]:
            assert set(device) == {"device_id", "device_ip", "rank_id"}
            assert all(isinstance(v, str) for v in device.values())
            assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", device["device_ip"])
            ranks.append(int(device["rank_id"]))
    assert ranks == list(range(len(ranks)))


@pytest.fixture()
def hccn_conf(tmp_path):
    path = tmp_path / "hccn.conf"
    path.write_text("".join(f"address_{i}=192.98.92.{100 + i}\nnetdetect_{i}=192.98.92.1\n" for i in range(8)))
    return path


def test_hccl_tools_writes_the_upstream_rank_table(tmp_path, hccn_conf):
    result = run([sys.executable, HCCL_TOOLS, "--device_num", "[0,8)", "--server_ip", "10.0.0.1",
                  "--hccn_conf", hccn_conf], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    path = tmp_path / "hccl_8p_01234567_10.0.0.1.json"
    table = json.loads(path.read_text())
    check_rank_table(table)
    devices = table["server_list"][0]["device"]
    assert [d["device_id"] for d in devices] == [str(i) for i in range(8)]
    assert [d["device_ip"] for d in devices] == [f"192.98.92.{100 + i}" for i in range(8)]
    assert table["server_list"][0]["server_id"] == "10.0.0.1"

    result = run([sys.executable, HCCL_TOOLS, "--device_num", "[4,8)", "--server_ip", "10.0.0.2",
                  "--device_ips", "4:1.2.3.4,5:1.2.3.5,6:1.2.3.6,7:1.2.3.7"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    table = json.loads((tmp_path / "hccl_4p_4567_10.0.0.2.json").read_text())
    check_rank_table(table)
    assert [(d["device_id"], d["rank_id"]) for d in table["server_list"][0]["device"]] == \
        [("4", "0"), ("5", "1"), ("6", "2"), ("7", "3")]


@pytest.mark.parametrize("bad", ["[2,6)", "[0,9)", "[3,3)", "0-8"])
def test_hccl_tools_enforces_the_upstream_ranges(tmp_path, hccn_conf, bad):
    result = run([sys.executable, HCCL_TOOLS, "--device_num", bad, "--hccn_conf", hccn_conf], cwd=tmp_path)
    assert result.returncode == 2 and "usage:" in result.stderr and "--device_num" in result.stderr
    assert not list(tmp_path.glob("hccl_*.json"))


def test_hccl_tools_names_missing_device_ips(tmp_path):
    result = run([sys.executable, HCCL_TOOLS, "--device_num", "[0,2)", "--hccn_conf", tmp_path / "none.conf"])
    assert result.returncode == 2 and "--device_ips" in result.stderr


def test_merge_hccl_renumbers_ranks_in_file_order(tmp_path, hccn_conf):
    for ip, rng in (("10.0.0.1", "[0,8)"), ("10.0.0.2", "[0,4)")):
        assert run([sys.executable, HCCL_TOOLS, "--device_num", rng, "--server_ip", ip, "--hccn_conf", hccn_conf],
                   cwd=tmp_path).returncode == 0
    result = run([sys.executable, MERGE_HCCL, "hccl_8p_01234567_10.0.0.1.json", "hccl_4p_0123_10.0.0.2.json"],
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    merged = json.loads((tmp_path / "hccl_2s_12p.json").read_text())
    check_rank_table(merged)
    assert merged["server_count"] == "2"
    assert [s["server_id"] for s in merged["server_list"]] == ["10.0.0.1", "10.0.0.2"]
    second = merged["server_list"][1]["device"]
    assert [(d["device_id"], d["rank_id"]) for d in second] == [("0", "8"), ("1", "9"), ("2", "10"), ("3", "11")]


# ---------------------------------------------------------------------------------------------------------------
# Ascend: rank table launcher
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture()
def rank_table(tmp_path, hccn_conf):
    assert run([sys.executable, HCCL_TOOLS, "--device_num", "[0,8)", "--server_ip", "10.0.0.1", "--hccn_conf",
                hccn_conf], cwd=tmp_path).returncode == 0
    return tmp_path / "hccl_8p_01234567_10.0.0.1.json"


def test_ascend_dry_run_prints_per_rank_environment_folders_and_commands(rank_table, tiny_folder):
    folder = ROOT / "model_zoo" / "vgg19"
    out = dry("run_distribute_train.sh", rank_table, tiny_folder / "train", "imagenet2012", "--max_epoch=2")
    assert out.startswith("launcher: rank_table (train vgg19 on Ascend, communication hccl, 8 rank(s))")
    procs = per_proc(out)
    assert list(procs) == [f"rank {i}" for i in range(8)]
    for i in range(8):
        proc = procs[f"rank {i}"]
        assert proc["env"] == {"HCCL_CONNECT_TIMEOUT": "600", "RANK_TABLE_FILE": str(rank_table), "RANK_SIZE": "8",
                               "DEVICE_ID": str(i), "RANK_ID": str(i)}
        assert proc["cwd"] == str(folder / f"train_parallel{i}")
        assert proc["log"] == str(folder / f"train_parallel{i}" / "log")
        assert any("env.log" in step for step in proc["prepare"])
        assert any("train.py" in step and "src" in step for step in proc["prepare"])
        cmd = proc["cmd"]
        script = cmd.index("train.py")
        assert cmd[script - 1] == sys.executable
        assert cmd[script + 1:] == [f"--config_path={folder / 'imagenet2012_config.yaml'}", "--device_target=Ascend",
                                    "--is_distributed=1", f"--data_dir={tiny_folder / 'train'}",
                                    "--dataset=imagenet2012", "--max_epoch=2"]
        binding = launcher.core_ranges(8)[i]
        if binding and shutil.which("taskset"):
            assert cmd[:3] == [shutil.which("taskset"), "-c", binding]
    assert not (folder / "train_parallel0").exists()           # a dry run creates nothing


def test_taskset_binding_is_computed_as_upstream():
    assert launcher.core_ranges(8, cpus=96) == [f"{12 * i}-{12 * i + 11}" for i in range(8)]
    assert launcher.core_ranges(2, cpus=2) == ["0-0", "1-1"]
    assert launcher.core_ranges(8, cpus=2) == [None] * 8           # fewer cores than ranks: no binding


def test_ascend_second_server_of_a_merged_table_and_eval(tmp_path, hccn_conf, tiny_folder):
    for ip, rng in (("10.0.0.1", "[0,8)"), ("10.0.0.2", "[0,2)")):
        run([sys.executable, HCCL_TOOLS, "--device_num", rng, "--server_ip", ip, "--hccn_conf", hccn_conf],
            cwd=tmp_path)
    run([sys.executable, MERGE_HCCL, "hccl_8p_01234567_10.0.0.1.json", "hccl_2p_01_10.0.0.2.json"], cwd=tmp_path)
    table = tmp_path / "hccl_2s_10p.json"
    ckpt = tmp_path / "w.ckpt"
    ckpt.write_bytes(b"x")
    out = dry("run_distribute_eval.sh", table, tiny_folder, ckpt, "--node_rank=1", model="inceptionv4")
    procs = per_proc(out)
    assert list(procs) == ["rank 8", "rank 9"]
    for local, rank in enumerate((8, 9)):
        proc = procs[f"rank {rank}"]
        assert proc["env"]["RANK_SIZE"] == "10" and proc["env"]["RANK_ID"] == str(rank)
        assert proc["env"]["DEVICE_ID"] == str(local)
        assert proc["cwd"].endswith(f"eval_parallel{local}")
        assert "eval.py" in proc["cmd"] and f"--pre_trained={ckpt}" in proc["cmd"]
        if shutil.which("taskset"):
            assert proc["cmd"][1:3] == ["-c", launcher.core_ranges(2)[local]]


# ---------------------------------------------------------------------------------------------------------------
# GPU: mpirun as upstream, msrun where mpirun is absent or asked for
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("mpirun"), reason="OpenMPI not installed")
def test_gpu_dry_run_is_the_upstream_mpirun_command(tiny_folder):
    folder = ROOT / "model_zoo" / "vgg19"
    out = dry("run_distribute_train_gpu.sh", tiny_folder / "train")
    assert out.startswith("launcher: mpirun (train vgg19 on GPU, communication nccl, 8 rank(s))")
    proc = per_proc(out)["mpirun"]
    cmd = proc["cmd"]
    assert cmd[:7] == [shutil.which("mpirun"), "--allow-run-as-root", "-n", "8", "--output-filename", "log_output",
                       "--merge-stderr-to-stdout"]
    exports = cmd[7:cmd.index(sys.executable)]                 # only '-x NAME' pairs (PATH / PYTHONPATH if set)
    assert exports[::2] == ["-x"] * (len(exports) // 2) and set(exports[1::2]) <= {"PATH", "PYTHONPATH"}
    tail = cmd[cmd.index(str(folder / "train.py")):]
    assert tail == [str(folder / "train.py"), f"--config_path={folder / 'imagenet2012_config.yaml'}",
                    "--device_target=GPU", "--is_distributed=1", f"--data_dir={tiny_folder / 'train'}"]
    assert proc["log"] == str(folder / "output.train.log") and proc["cwd"] == str(folder)
    for rank in range(8):
        assert f"OMPI_COMM_WORLD_RANK={rank} -> RANK_ID={rank}" in out
    out = dry("run_distribute_train_gpu.sh", tiny_folder / "train", "--visible_devices=0,1,2,3")
    proc = per_proc(out)["mpirun"]
    assert proc["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3" and proc["cmd"][2:4] == ["-n", "4"]


def test_gpu_falls_back_to_msrun_without_mpirun_or_when_asked(tiny_folder, monkeypatch, capsys):
    out = dry("run_distribute_train_gpu.sh", tiny_folder / "train", env={"MODEL_ZOO_LAUNCHER": "msrun"})
    cmd = per_proc(out)["msrun"]["cmd"]
    assert cmd[1:7] == ["--worker_num=8", "--local_worker_num=8", "--master_addr=127.0.0.1", "--master_port=8118",
                        "--node_rank=0", f"--log_dir={ROOT / 'model_zoo' / 'vgg19' / 'msrun_log'}"]
    assert "--device_target=GPU" in cmd and "--is_distributed=1" in cmd
    for rank in range(8):
        assert f"rank {rank} (set by msrun): MS_ROLE=MS_WORKER MS_NODE_ID={rank} MS_WORKER_NUM=8" in out

    import model_zoo.engine.device as device

    real_which = shutil.which
    monkeypatch.setattr(device.shutil, "which", lambda name, *a, **k: None if name == "mpirun" else real_which(name))
    code = launcher.main(["train", "--model", "densenet121", "--device", "GPU", "--data", str(tiny_folder),
                          "--dry_run"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("launcher: msrun (train densenet121 on GPU")


def test_multi_node_msrun_dry_run(tiny_folder):
    out = dry("run_distribute_train_gpu.sh", "8", "0,1,2,3,4,5,6,7", "densenet121", "imagenet", tiny_folder,
              "--launcher=msrun", "--nnodes=2", "--node_rank=1", "--master_addr=192.168.1.10", "--master_port=9000",
              model="densenet121")
    cmd = per_proc(out)["msrun"]["cmd"]
    assert cmd[1:6] == ["--worker_num=16", "--local_worker_num=8", "--master_addr=192.168.1.10",
                        "--master_port=9000", "--node_rank=1"]
    assert "scheduler" not in out                       # node 1 joins the scheduler of node 0
    assert [int(r) for r in re.findall(r"rank (\d+) \(set by msrun\)", out)] == list(range(8, 16))


# ---------------------------------------------------------------------------------------------------------------
# CPU
# ---------------------------------------------------------------------------------------------------------------

def test_cpu_mpirun_spawns_a_scheduler_and_dynamic_cluster_workers(tiny_folder):
    out = dry("run_distribute_train_cpu.sh", tiny_folder, "2", "--launcher=mpirun", "--master_port=9100",
              model="inceptionv4")
    cmd = per_proc(out)["mpirun"]["cmd"]
    contexts = " ".join(cmd).split(" : ")
    assert len(contexts) == 3
    assert "MS_ROLE=MS_SCHED" in contexts[0] and "MS_NODE_ID" not in contexts[0]
    for rank in range(2):
        ctx = contexts[rank + 1].split()
        for item in ("MS_ROLE=MS_WORKER", f"MS_NODE_ID={rank}", "MS_WORKER_NUM=2", "MS_SCHED_HOST=127.0.0.1",
                     "MS_SCHED_PORT=9100", f"RANK_ID={rank}", "RANK_SIZE=2", "-u", "OMPI_COMM_WORLD_RANK"):
            assert item in ctx
        assert f"--config_path={ROOT / 'model_zoo' / 'inceptionv4' / 'default_config_cpu.yaml'}" in ctx


def sample_value(arg, form, model, values):
    """A valid value for one positional argument of a script form (kind: what it sets)."""
    if arg.choices:
        return arg.choices[0]
    if arg.kind == "nproc":                                   # the test rank table has one device
        return "1" if form.launcher == "rank_table" else "2"
    if arg.kind == "config":
        return sorted((ROOT / "model_zoo" / model).glob("*config*.yaml"))[0].name
    return {"data": values["data"], "ckpt": values["ckpt"], "rank_table": values["rank_table"], "device_id": "0",
            "visible_devices": "0,1", "device": "CPU", "flag": "x"}[arg.kind]


@pytest.mark.parametrize("model", MODELS)
def test_every_script_of_every_model_dry_runs(model, tiny_folder, tmp_path):
    ckpt = tmp_path / "w.ckpt"
    ckpt.write_bytes(b"x")
    table = tmp_path / "rank_table.json"
    table.write_text(json.dumps({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "10.0.0.1", "host_nic_ip": "reserve",
         "device": [{"device_id": "0", "device_ip": "1.1.1.1", "rank_id": "0"}]}]}))
    values = {"data": tiny_folder, "rank_table": table, "ckpt": ckpt}
    forms = launcher.script_forms(model)
    expected = set(forms) - ({"run_distribute_train_ascend"} if model != "inceptionv4" else set())
    scripts = sorted(ROOT / "model_zoo" / model / "scripts" / f"{name}.sh" for name in expected)
    assert all(script.is_file() for script in scripts)             # (other scripts, e.g. inference, may exist)
    for script in scripts:
        spec = forms[script.stem]
        args = [sample_value(arg, spec, model, values) for arg in spec.args if not arg.optional]
        out = dry(script.name, *args, model=model)
        device = spec.device or "CPU"
        assert out.startswith("launcher: ") and f"{spec.task} {model} on {device}" in out.splitlines()[0]
        assert f"{spec.task}.py" in out and "does not exist" not in out
        assert f"--data_dir={tiny_folder}" in out
        assert (f"--pre_trained={ckpt}" in out) == (spec.task == "eval")
        assert ("--is_distributed=0" in out) == (spec.launcher == "single")
    for script in scripts:                                 # thin: the logic lives in the shared launcher
        assert len(script.read_text().splitlines()) <= 4


def test_standalone_scripts_set_the_device_id(tiny_folder):
    out = dry("run_standalone_train_ascend.sh", "3", tiny_folder, model="inceptionv4")   # upstream: DEVICE_ID first
    proc = per_proc(out)["process"]
    assert proc["env"]["DEVICE_ID"] == "3" and proc["env"]["RANK_SIZE"] == "1"
    assert "--is_distributed=0" in proc["cmd"] and "--device_target=Ascend" in proc["cmd"]
    out = dry("run_standalone_train_gpu.sh", tiny_folder, "2")                # generic form: DATA_PATH [DEVICE_ID]
    assert per_proc(out)["process"]["env"]["DEVICE_ID"] == "2"


# ---------------------------------------------------------------------------------------------------------------
# argument errors
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ([], "missing DATA_PATH"),
    (["/no/such/folder"], "DATA_PATH /no/such/folder is not a directory"),
    (["{data}", "extra"], "unexpected argument 'extra'"),
])
def test_scripts_print_usage_and_exit_1(args, message, tiny_folder):
    args = [a.replace("{data}", str(tiny_folder)) for a in args]
    result = run(["bash", "scripts/run_distribute_train_gpu.sh", *args], cwd=ROOT / "model_zoo" / "vgg19")
    assert result.returncode == 1
    usage = "usage: bash scripts/run_distribute_train_gpu.sh DATA_PATH [--key=value ...]"
    assert result.stderr.splitlines()[0] == usage
    assert message in result.stderr


def test_rank_table_script_checks_its_file(tiny_folder):
    result = run(["bash", "scripts/run_distribute_train.sh", "/no/table.json", tiny_folder],
                 cwd=ROOT / "model_zoo" / "vgg19")
    assert result.returncode == 1 and "RANK_TABLE_FILE /no/table.json is not a file" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train"], "--model"),
    (["fit", "--model", "vgg19"], "invalid choice"),
    (["train", "--model", "resnet"], "not a model folder"),
    (["train", "--model", "vgg19", "--nproc", "0"], "--nproc must be at least 1"),
    (["train", "--model", "vgg19", "--device", "TPU"], "unknown --device_target"),
    (["train", "--model", "vgg19", "--launcher", "rank_table"], "not supported on CPU"),
    (["train", "--model", "vgg19", "--device", "Ascend", "--launcher", "rank_table"], "needs --rank_table"),
    (["train", "--model", "vgg19", "--launcher", "msrun", "--nnodes", "2", "--node_rank", "2"], "--node_rank 2"),
    (["train", "--model", "vgg19", "--data", "/no/such"], "--data /no/such"),
])
def test_launcher_argument_errors_exit_2_with_usage(args, message, capsys):
    assert launcher.main(args + ["--dry_run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m model_zoo.engine.launcher") and message in err


def test_device_entries_own_the_launch_choices():
    assert BACKENDS["CPU"].mpirun_init is False and BACKENDS["GPU"].mpirun_init is True
    assert BACKENDS["GPU"].visible_devices_env == "CUDA_VISIBLE_DEVICES"
    assert BACKENDS["CPU"].default_nproc == 2 and BACKENDS["Ascend"].default_nproc == 8
    for module in Path(launcher.__file__).parent.glob("launcher*.py"):  # the launcher and its parts
        assert not re.search(r"==\s*[\"'](CPU|GPU|Ascend)[\"']", module.read_text()), module.name


def test_rank_table_launch_prepares_folders_env_log_and_per_rank_logs(rank_table, tiny_folder, tmp_path,
                                                                      monkeypatch, capsys):
    """Really start the 8 rank-table processes (a stand-in script instead of train.py: no Ascend here)."""
    probe = tmp_path / "probe.py"
    probe.write_text("import os, sys\nprint('rank', os.environ['RANK_ID'], 'device', os.environ['DEVICE_ID'], "
                     "'size', os.environ['RANK_SIZE'], 'args', ' '.join(sys.argv[1:]))\n")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code = launcher.main(["train", "--model", "vgg19", "--device", "Ascend", "--rank_table", str(rank_table),
                          "--data", str(tiny_folder), "--script", str(probe), "--", "--max_epoch=1"])
    assert code == 0, capsys.readouterr().err
    for i in range(8):
        folder = work / f"train_parallel{i}"
        assert (folder / "train.py").is_file() and (folder / "src").is_dir()
        env_log = (folder / "env.log").read_text()
        assert f"RANK_TABLE_FILE={rank_table}\n" in env_log and f"RANK_ID={i}\n" in env_log
        log = (folder / "log").read_text()
        assert log.startswith(f"rank {i} device {i} size 8 args --device_target=Ascend --is_distributed=1 "
                              f"--data_dir={tiny_folder} --max_epoch=1")
