"""Each model's launcher scripts take the positional forms its upstream README shows (dry runs, nothing started).

The forms are declared by the model folders (``model_zoo/<model>/script_forms.py``); the shared launcher turns each
positional into a launcher option or a train.py / eval.py flag.  These tests read the printed plan: device, number
of processes, data path, checkpoint, config flags, folders and logs.
"""
import json
import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, per_proc, zoo_env
from model_zoo.engine import launcher, registry

ZOO = ROOT / "model_zoo"
MODELS = ("vgg19", "densenet121", "inceptionv4")


def run(model, script, *args, env=None, cwd=None):
    folder = ZOO / model
    full = zoo_env(**{"MODEL_ZOO_DRY_RUN": "1", "MODEL_ZOO_LAUNCHER": None, **(env or {})})
    script_path = f"scripts/{script}" if cwd is None else script
    return subprocess.run(["bash", script_path, *map(str, args)], cwd=cwd or folder, env=full, capture_output=True,
                          text=True, timeout=120)


def dry(model, script, *args, env=None, cwd=None):
    result = run(model, script, *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def script_flags(cmd, script):
    """The train.py / eval.py flags of a command line."""
    return [a for a in cmd[[i for i, a in enumerate(cmd) if a.endswith(script)][0] + 1:]]


@pytest.fixture()
def table8(tmp_path):
    path = tmp_path / "hccl_8p.json"
    path.write_text(json.dumps({"version": "1.0", "server_count": "1", "status": "completed", "server_list": [
        {"server_id": "10.0.0.1", "host_nic_ip": "reserve",
         "device": [{"device_id": str(i), "device_ip": f"192.98.92.{100 + i}", "rank_id": str(i)} for i in range(8)]}]}))
    return path


@pytest.fixture()
def ckpt(tmp_path):
    path = tmp_path / "w.ckpt"
    path.write_bytes(b"x")
    return path


def expect_usage_error(model, script, args, usage, message):
    result = run(model, script, *args)
    assert result.returncode == 1, result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == f"usage: bash scripts/{script} {usage} [--key=value ...]"
    assert len(lines) == 2 and lines[1].startswith("error: ") and message in lines[1], result.stderr


# ---------------------------------------------------------------------------------------------------------------
# VGG19
# ---------------------------------------------------------------------------------------------------------------

VGG = ZOO / "vgg19"


@pytest.mark.parametrize("dataset", ["cifar10", "imagenet2012", None])
def test_vgg_rank_table_with_the_dataset_type(table8, tiny_folder, dataset):
    out = dry("vgg19", "run_distribute_train.sh", table8, tiny_folder, *([dataset] if dataset else []))
    assert out.startswith("launcher: rank_table (train vgg19 on Ascend, communication hccl, 8 rank(s))")
    procs = per_proc(out)
    assert list(procs) == [f"rank {i}" for i in range(8)]
    for i in range(8):
        proc = procs[f"rank {i}"]
        assert proc["env"]["DEVICE_ID"] == str(i) and proc["env"]["RANK_SIZE"] == "8"
        assert proc["cwd"] == str(VGG / f"train_parallel{i}") and proc["log"] == str(VGG / f"train_parallel{i}/log")
        flags = script_flags(proc["cmd"], "train.py")
        assert flags == [f"--config_path={VGG / ((dataset or 'cifar10') + '_config.yaml')}",  # upstream default
                         "--device_target=Ascend", "--is_distributed=1", f"--data_dir={tiny_folder}",
                         f"--dataset={dataset or 'cifar10'}"]


def test_vgg_gpu_data_path_only(tiny_folder):
    out = dry("vgg19", "run_distribute_train_gpu.sh", tiny_folder, env={"MODEL_ZOO_LAUNCHER": "msrun"})
    cmd = per_proc(out)["msrun"]["cmd"]
    assert "--worker_num=8" in cmd and "--local_worker_num=8" in cmd
    assert script_flags(cmd, "train.py") == [f"--config_path={VGG / 'imagenet2012_config.yaml'}",
                                             "--device_target=GPU", "--is_distributed=1", f"--data_dir={tiny_folder}"]


def test_vgg_standalone_ascend_takes_the_yaml(tiny_folder):
    out = dry("vgg19", "run_standalone_train_ascend.sh", "cifar10_config.yaml", tiny_folder)
    assert out.startswith("launcher: single (train vgg19 on Ascend")
    proc = per_proc(out)["process"]
    assert proc["env"]["DEVICE_ID"] == "0" and proc["env"]["RANK_SIZE"] == "1"     # upstream: device 0
    assert script_flags(proc["cmd"], "train.py") == [f"--config_path={VGG / 'cifar10_config.yaml'}",
                                                     "--device_target=Ascend", "--is_distributed=0",
                                                     f"--data_dir={tiny_folder}"]
    assert proc["log"] == str(VGG / "log.txt")
    # upstream runs it from scripts/ with a path relative to there; the log lands there too
    out = dry("vgg19", "run_standalone_train_ascend.sh", "../imagenet2012_config.yaml", tiny_folder,
              cwd=VGG / "scripts")
    proc = per_proc(out)["process"]
    assert f"--config_path={VGG / 'imagenet2012_config.yaml'}" in proc["cmd"]
    assert proc["log"] == str(VGG / "scripts" / "log.txt")


@pytest.mark.parametrize("dataset, device", [("cifar10", "CPU"), ("imagenet2012", "GPU"), ("cifar10", "Ascend")])
def test_vgg_run_eval_picks_yaml_dataset_and_device(tiny_folder, ckpt, dataset, device):
    out = dry("vgg19", "run_eval.sh", tiny_folder, dataset, device, ckpt)
    assert out.startswith(f"launcher: single (eval vgg19 on {device}, ")
    proc = per_proc(out)["process"]
    assert script_flags(proc["cmd"], "eval.py") == [
        f"--config_path={VGG / f'{dataset}_config.yaml'}", f"--device_target={device}", "--is_distributed=0",
        f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}", f"--dataset={dataset}"]
    assert proc["log"] == str(VGG / "output.eval.log")


def test_vgg_usage_errors(table8, tiny_folder, ckpt):
    expect_usage_error("vgg19", "run_eval.sh", [tiny_folder, "cifar10", "TPU", ckpt],
                       "DATA_PATH DATASET_TYPE DEVICE_TYPE CHECKPOINT_PATH", "DEVICE_TYPE: unknown --device_target")
    expect_usage_error("vgg19", "run_eval.sh", [tiny_folder, "mnist", "CPU", ckpt],
                       "DATA_PATH DATASET_TYPE DEVICE_TYPE CHECKPOINT_PATH",
                       "DATASET_TYPE 'mnist' is not one of cifar10, imagenet2012")
    expect_usage_error("vgg19", "run_eval.sh", [tiny_folder, "cifar10", "CPU"],
                       "DATA_PATH DATASET_TYPE DEVICE_TYPE CHECKPOINT_PATH", "missing CHECKPOINT_PATH")
    expect_usage_error("vgg19", "run_distribute_train.sh", [table8, tiny_folder, "imagenet"],
                       "RANK_TABLE_FILE DATA_PATH [cifar10|imagenet2012]", "'imagenet' is not one of")
    expect_usage_error("vgg19", "run_standalone_train_ascend.sh", [tiny_folder, tiny_folder],
                       "YAML_CONFIG_PATH DATA_PATH", "YAML_CONFIG_PATH")


# ---------------------------------------------------------------------------------------------------------------
# DenseNet
# ---------------------------------------------------------------------------------------------------------------

DENSENET = ZOO / "densenet121"


@pytest.mark.parametrize("task, script", [("train", "run_distribute_train.sh"), ("eval", "run_distribute_eval.sh")])
def test_densenet_rank_table(table8, tiny_folder, ckpt, task, script):
    out = dry("densenet121", script, 8, table8, "densenet121", "imagenet", tiny_folder, ckpt)
    assert out.startswith(f"launcher: rank_table ({task} densenet121 on Ascend, communication hccl, 8 rank(s))")
    procs = per_proc(out)
    assert list(procs) == [f"rank {i}" for i in range(8)]
    for i in range(8):
        proc = procs[f"rank {i}"]
        assert proc["env"]["RANK_TABLE_FILE"] == str(table8) and proc["env"]["DEVICE_ID"] == str(i)
        assert proc["cwd"] == str(DENSENET / f"{task}_{i}")                      # upstream folders, log.txt
        assert proc["log"] == str(DENSENET / f"{task}_{i}" / "log.txt")
        assert proc["cmd"][0] == sys.executable                                 # no taskset upstream
        assert script_flags(proc["cmd"], f"{task}.py") == [
            "--device_target=Ascend", "--is_distributed=1", f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}",
            "--net=densenet121", "--dataset=imagenet"]


def test_densenet_rank_table_checkpoint_is_optional_for_training(table8, tiny_folder):
    out = dry("densenet121", "run_distribute_train.sh", 8, table8, "densenet121", "imagenet", tiny_folder)
    assert "--pre_trained" not in out and "--net=densenet121" in out


def test_densenet_device_num_must_match_the_rank_table(table8, tiny_folder):
    result = run("densenet121", "run_distribute_train.sh", 4, table8, "densenet121", "imagenet", tiny_folder)
    assert result.returncode == 1 and "the rank table gives this server 8 device(s)" in result.stderr


@pytest.mark.parametrize("task, script", [("train", "run_distribute_train_gpu.sh"),
                                          ("eval", "run_distribute_eval_gpu.sh")])
def test_densenet_gpu_device_num_and_visible_devices(tiny_folder, ckpt, task, script):
    extra = [ckpt] if task == "eval" else []
    out = dry("densenet121", script, 4, "0,1,2,3", "densenet100", "cifar10", tiny_folder, *extra,
              env={"MODEL_ZOO_LAUNCHER": "msrun"})
    assert out.startswith(f"launcher: msrun ({task} densenet121 on GPU, communication nccl, 4 rank(s))")
    proc = per_proc(out)["msrun"]
    assert proc["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3"
    assert "--worker_num=4" in proc["cmd"] and "--local_worker_num=4" in proc["cmd"]
    assert script_flags(proc["cmd"], f"{task}.py") == [
        f"--config_path={DENSENET / 'densenet100_config.yaml'}", "--device_target=GPU", "--is_distributed=1",
        f"--data_dir={tiny_folder}"] + [f"--pre_trained={c}" for c in extra] + ["--net=densenet100",
                                                                                "--dataset=cifar10"]
    assert proc["log"] == str(DENSENET / task / f"{task}.log")                  # upstream ../train, ../eval


@pytest.mark.skipif(not shutil.which("mpirun"), reason="OpenMPI not installed")
def test_densenet_gpu_uses_mpirun_as_upstream(tiny_folder, ckpt):
    out = dry("densenet121", "run_distribute_train_gpu.sh", 8, "0,1,2,3,4,5,6,7", "densenet121", "imagenet",
              tiny_folder, ckpt)
    proc = per_proc(out)["mpirun"]
    assert proc["cmd"][2:4] == ["-n", "8"] and proc["env"]["CUDA_VISIBLE_DEVICES"] == "0,1,2,3,4,5,6,7"
    assert script_flags(proc["cmd"], "train.py") == [
        "--device_target=GPU", "--is_distributed=1", f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}",
        "--net=densenet121", "--dataset=imagenet"]


def test_densenet_gpu_one_device_is_one_process(tiny_folder):
    out = dry("densenet121", "run_distribute_train_gpu.sh", 1, "5", "densenet121", "imagenet", tiny_folder)
    assert out.startswith("launcher: single (train densenet121 on GPU")
    proc = per_proc(out)["process"]
    assert proc["env"]["CUDA_VISIBLE_DEVICES"] == "5" and "--is_distributed=0" in proc["cmd"]


@pytest.mark.parametrize("task, script", [("train", "run_train_cpu.sh"), ("eval", "run_eval_cpu.sh")])
def test_densenet_cpu_scripts(tiny_folder, ckpt, task, script):
    out = dry("densenet121", script, "densenet121", "imagenet", tiny_folder, ckpt)
    assert out.startswith(f"launcher: single ({task} densenet121 on CPU")
    proc = per_proc(out)["process"]
    assert script_flags(proc["cmd"], f"{task}.py") == [
        "--device_target=CPU", "--is_distributed=0", f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}",
        "--net=densenet121", "--dataset=imagenet"]
    assert proc["log"] == str(DENSENET / task / f"{task}.log")
    if task == "train":                                                 # PRETRAINED is optional
        out = dry("densenet121", script, "densenet100", "cifar10", tiny_folder)
        assert f"--config_path={DENSENET / 'densenet100_config.yaml'}" in out and "--pre_trained" not in out


def test_densenet_usage_errors(tiny_folder, ckpt):
    usage = "DEVICE_NUM VISIBLE_DEVICES NET_NAME DATASET_NAME DATASET_PATH [PRE_TRAINED]"
    expect_usage_error("densenet121", "run_distribute_train_gpu.sh", [tiny_folder], usage,
                       "missing VISIBLE_DEVICES NET_NAME DATASET_NAME DATASET_PATH")
    expect_usage_error("densenet121", "run_distribute_train_gpu.sh", ["x", "0", "densenet121", "imagenet", tiny_folder],
                       usage, "DEVICE_NUM must be a positive integer, got 'x'")
    expect_usage_error("densenet121", "run_distribute_train_gpu.sh", [2, "0;1", "densenet121", "imagenet", tiny_folder],
                       usage, "VISIBLE_DEVICES must list device ids")
    expect_usage_error("densenet121", "run_distribute_train_gpu.sh", [8, "0,1", "densenet121", "imagenet", tiny_folder],
                       usage, "--nproc 8 is more than the 2 device(s)")
    expect_usage_error("densenet121", "run_eval_cpu.sh", ["resnet50", "imagenet", tiny_folder, ckpt],
                       "NET DATASET PATH CKPT", "NET 'resnet50' is not one of densenet121")
    expect_usage_error("densenet121", "run_train_cpu.sh", ["densenet121", "imagenet", tiny_folder, ckpt, "more"],
                       "NET DATASET PATH [PRETRAINED]", "unexpected argument 'more'")


# ---------------------------------------------------------------------------------------------------------------
# InceptionV4
# ---------------------------------------------------------------------------------------------------------------

INCEPTION = ZOO / "inceptionv4"


def test_inception_standalone_device_id_first(tiny_folder):
    for script, device, config in (("run_standalone_train_ascend.sh", "Ascend", None),
                                   ("run_standalone_train_gpu.sh", "GPU", "default_config_gpu.yaml")):
        out = dry("inceptionv4", script, 3, tiny_folder)
        assert out.startswith(f"launcher: single (train inceptionv4 on {device}")
        proc = per_proc(out)["process"]
        assert proc["env"]["DEVICE_ID"] == "3" and proc["env"]["RANK_SIZE"] == "1"
        assert script_flags(proc["cmd"], "train.py") == (
            [f"--config_path={INCEPTION / config}"] if config else []) + [
            f"--device_target={device}", "--is_distributed=0", f"--data_dir={tiny_folder}"]
        assert proc["log"] == str(INCEPTION / "train_standalone" / "log.txt")
    out = dry("inceptionv4", "run_standalone_train_cpu.sh", tiny_folder)
    assert f"--config_path={INCEPTION / 'default_config_cpu.yaml'}" in out and "--device_target=CPU" in out


def test_inception_eval_ascend_device_data_checkpoint(tiny_folder, ckpt):
    out = dry("inceptionv4", "run_eval_ascend.sh", 1, tiny_folder, ckpt)
    assert out.startswith("launcher: single (eval inceptionv4 on Ascend")
    proc = per_proc(out)["process"]
    assert proc["env"]["DEVICE_ID"] == "1"
    assert script_flags(proc["cmd"], "eval.py") == ["--device_target=Ascend", "--is_distributed=0",
                                                    f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}"]
    assert proc["log"] == str(INCEPTION / "evaluation_ascend" / "eval.log")


@pytest.mark.parametrize("device", ["GPU", "CPU"])
def test_inception_eval_gpu_cpu(tiny_folder, ckpt, device):
    out = dry("inceptionv4", f"run_eval_{device.lower()}.sh", tiny_folder, ckpt)
    proc = per_proc(out)["process"]
    assert script_flags(proc["cmd"], "eval.py") == [
        f"--config_path={INCEPTION / f'default_config_{device.lower()}.yaml'}", f"--device_target={device}",
        "--is_distributed=0", f"--data_dir={tiny_folder}", f"--pre_trained={ckpt}"]


def test_inception_distribute_ascend_and_gpu(table8, tiny_folder):
    out = dry("inceptionv4", "run_distribute_train_ascend.sh", table8, tiny_folder)
    procs = per_proc(out)
    assert list(procs) == [f"rank {i}" for i in range(8)]
    for i in range(8):
        assert procs[f"rank {i}"]["log"] == str(INCEPTION / f"train_parallel{i}" / "log.txt")
        assert script_flags(procs[f"rank {i}"]["cmd"], "train.py") == [
            "--device_target=Ascend", "--is_distributed=1", f"--data_dir={tiny_folder}"]
    out = dry("inceptionv4", "run_distribute_train_gpu.sh", tiny_folder, env={"MODEL_ZOO_LAUNCHER": "msrun"})
    assert out.startswith("launcher: msrun (train inceptionv4 on GPU, communication nccl, 8 rank(s))")
    proc = per_proc(out)["msrun"]
    assert script_flags(proc["cmd"], "train.py") == [
        f"--config_path={INCEPTION / 'default_config_gpu.yaml'}", "--device_target=GPU", "--is_distributed=1",
        f"--data_dir={tiny_folder}"]
    assert proc["log"] == str(INCEPTION / "train.log")


def test_inception_usage_errors(tiny_folder, ckpt):
    expect_usage_error("inceptionv4", "run_standalone_train_ascend.sh", [tiny_folder], "DEVICE_ID DATA_DIR",
                       "missing DATA_DIR")
    expect_usage_error("inceptionv4", "run_eval_ascend.sh", [tiny_folder, tiny_folder, ckpt],
                       "DEVICE_ID DATA_DIR CHECKPOINT_PATH", "DEVICE_ID must be a non-negative integer")


# ---------------------------------------------------------------------------------------------------------------
# declarations, stubs and READMEs
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_declared_forms_have_thin_scripts_and_are_documented(model):
    forms = registry.script_forms(model)
    assert forms, f"{model} declares no upstream script forms"
    readme = (ZOO / model / "README.md").read_text()
    for name, form in forms.items():
        script = ZOO / model / "scripts" / f"{name}.sh"
        lines = script.read_text().splitlines()
        assert len(lines) <= 4 and "model_script.sh" in lines[-1]
        usage = form.usage(script.name)
        assert lines[1] == "# " + usage[len("usage: "):]                    # the stub's comment is its usage
        assert launcher.script_form(model, script) is form
        documented = usage[len("usage: "):-len(" [--key=value ...]")]
        assert documented in readme, f"{model} README lacks `{documented}`"


def test_the_engine_reads_declarations_without_the_model_packages():
    code = ("import sys, model_zoo; from model_zoo.engine import launcher; "
            "f = launcher.script_form('densenet121', 'run_train_cpu.sh'); "
            "print(f.task, f.device, [a.name for a in f.args], 'mindspore' in sys.modules, "
            "'model_zoo.densenet121' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                            env=zoo_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "train CPU ['NET', 'DATASET', 'PATH', 'PRETRAINED'] False False"


# ---------------------------------------------------------------------------------------------------------------
# run_infer_310.sh: every upstream positional form (dry runs)
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, args, form, device, device_id, preprocess", [
    ("vgg19", ["{m}", "imagenet2012", "{d}", "y", "GPU", "3"], "zoo", "GPU", "3", True),
    ("vgg19", ["{m}", "imagenet2012", "{d}", "y"], "zoo", "CPU", "0", True),
    ("vgg19", ["{m}", "imagenet2012", "{d}", "n", "2"], "r1-device-id", "Ascend", "2", False),   # r1.x: DEVICE_ID 5th
    ("densenet121", ["{m}", "ImageNet", "{d}", "{l}", "1"], "r1-label-file", "Ascend", "1", False),
    ("inceptionv4", ["{m}", "{d}", "{l}", "4"], "r1-images-labels", "Ascend", "4", False),
    ("inceptionv4", ["{m}", "{d}", "{l}"], "r1-images-labels", "CPU", "0", False),
])
def test_infer_310_takes_every_upstream_form(tiny_folder, tmp_path, model, args, form, device, device_id, preprocess):
    mindir, labels = tmp_path / "net.mindir", tmp_path / "labels.txt"
    mindir.write_bytes(b"x")
    labels.write_text("img_0_000:0\n")
    values = [a.format(m=mindir, d=tiny_folder, l=labels) for a in args]
    out = dry(model, ZOO / model / "scripts" / "run_infer_310.sh", *values, "--image_size=32,32", cwd=tmp_path)
    assert f"launcher: infer310 (infer {model} on {device}, form {form})" in out
    assert f"device id: {device_id}" in out
    steps = re.findall(r"^(\w+): cmd ", out, re.M)
    assert steps == (["preprocess"] if preprocess else []) + ["infer", "postprocess"], out
    infer = re.search(r"^infer: cmd (.*)$", out, re.M).group(1).split()
    assert f"--model_file={mindir}" in infer and f"--device_id={device_id}" in infer and "--image_size=32,32" in infer
    post = re.search(r"^postprocess: cmd (.*)$", out, re.M).group(1)
    assert (f"--label_dir={labels}" in post) == ("{l}" in args)
    assert re.search(rf"^postprocess: log {re.escape(str(tmp_path / 'acc.log'))}$", out, re.M)


def test_infer_310_errors_are_one_line(tiny_folder, tmp_path):
    mindir = tmp_path / "net.mindir"
    mindir.write_bytes(b"x")
    for args, message in (([mindir, "imagenet2012", tiny_folder, "maybe"], "NEED_PREPROCESS must be y or n"),
                          ([mindir, "imagenet2012", tiny_folder, "y", "TPU"], "DEVICE_TARGET must be one of"),
                          ([mindir, "cifar10", tiny_folder, mindir], "the LABEL_FILE form reads ImageNet images"),
                          ([tmp_path / "none.mindir", tiny_folder, mindir], "model file")):
        result = run("vgg19", VGG / "scripts" / "run_infer_310.sh", *args, cwd=tmp_path)
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert result.returncode == 1 and len(errors) == 1 and message in errors[0], result.stderr
