"""Shared test helpers and fixtures.  ``import model_zoo`` first: it puts MindSpore on the fast CPU path.

Quick loop while editing: ``python -m pytest -q -m "not slow" tests`` (CI and README run everything: no ``-m``).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import model_zoo  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parents[1]
VGG = ROOT / "model_zoo" / "vgg19"
os.environ.setdefault("GLOG_v", "3")

# The tiny VGG of the tests: VGG11-BN at 32x32 on tiny_folder's 3 classes (6 steps of batch 4 per epoch), the ImageNet
# YAML otherwise as it is (dropout on).  Tests add --lr, --has_dropout, --max_epoch, ... to it.
TINY_VGG = ["--config_path=imagenet2012_config.yaml", "--arch=vgg11_bn", "--image_size=32,32", "--num_classes=3",
            "--device_target=CPU", "--batch_size=4"]

# One tiny training run per recipe through its upstream train.py command line, on tiny_folder (6 steps of batch 4):
# the flags, the data/output flag names and the checkpoint the run writes.
TINY_RUNS = {
    "vgg19": dict(train=TINY_VGG + ["--max_epoch=1", "--lr=0.01"], data_flag="--data_dir", out_flag="--ckpt_path",
                  ckpt="*/ckpt_0/0-1_6.ckpt"),
    "densenet121": dict(train=["--image_size=32,32", "--num_classes=3", "--per_batch_size=4", "--max_epoch=1",
                               "--lr=0.001", "--device_target=CPU"],
                        data_flag="--train_data_dir", out_flag="--save_ckpt_path", ckpt="0-1_6.ckpt"),
    "inceptionv4": dict(train=["--config_path=default_config_cpu.yaml", "--image_size=75,75", "--num_classes=3",
                               "--batch_size=4", "--epoch_size=1", "--lr_max=0.001", "--head=reference"],
                        data_flag="--dataset_path", out_flag="--ckpt_path",
                        ckpt="ckpts_rank_0/inceptionV4-train-rank0-1_6.ckpt"),
}


def zoo_env(**extra):
    """The environment of every zoo subprocess a test starts: this checkout first on PYTHONPATH, this venv's ``bin``
    first on PATH and in PYTHON (the bash launchers run ``$PYTHON``), MindSpore's C++ log quiet (GLOG_v=3, the tests
    read stderr line by line), then ``extra``: a value None removes the variable, others are turned into strings."""
    env = dict(os.environ, GLOG_v="3", PYTHON=sys.executable,
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")])))
    for key, value in extra.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def per_proc(output):
    """{label: {'cwd':.., 'env': {..}, 'cmd': [..], 'log':.., 'prepare': [..]}} from a dry run."""
    procs = {}
    for line in output.splitlines():
        match = re.match(r"^(rank \d+|mpirun|msrun|process): (cwd|env|cmd|log|prepare) ?(.*)$", line)
        if not match:
            continue
        label, kind, rest = match.groups()
        entry = procs.setdefault(label, {"prepare": []})
        if kind == "env":
            entry["env"] = dict(item.split("=", 1) for item in rest.split()) if rest != "(inherited)" else {}
        elif kind == "cmd":
            entry["cmd"] = rest.split()
        elif kind == "prepare":
            entry["prepare"].append(rest)
        else:
            entry[kind] = rest
    return procs


def start_script(script, *args, cwd=None, env=None):
    """Start a zoo script in a fresh Python process (zoo_env plus ``env``, text pipes); ``finish`` waits for it.
    Independent runs started together share the 2 cores better than one after the other."""
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=zoo_env(**(env or {})))


def finish(process, timeout=900):
    """The CompletedProcess (text) of a started process; killed if it outlives ``timeout`` seconds."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def run_script(script, *args, cwd=None, timeout=900, env=None):
    """Run a zoo script in a fresh Python process; returns CompletedProcess (text)."""
    return finish(start_script(script, *args, cwd=cwd, env=env), timeout)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """ImageNet layout: 3 classes, 8 train and 3 val images each (9 val images: not divisible by 2 or 4)."""
    from model_zoo.engine.demo_data import synthetic_folder

    root = tmp_path_factory.mktemp("tiny")
    return synthetic_folder(root, classes=3, per_class=8, val_per_class=3, size=40)


def shared_folder(tmp_path_factory, name):
    """A folder every pytest-xdist worker of this run sees (the run's base folder; the session's own without xdist),
    removed at the end of the run (``pytest_sessionfinish``)."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "shared" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def pytest_sessionfinish(session):
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # the only process, or xdist's controller once its workers are done
        factory = getattr(session.config, "_tmp_path_factory", None)
        if factory is not None:
            shutil.rmtree(factory.getbasetemp() / "shared", ignore_errors=True)


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (pytest.ini): one worker per core, at most 4 (each test's MindSpore processes use the cores too)."""
    return max(1, min(len(os.sched_getaffinity(0)), 4))


@pytest.fixture(scope="session")
def tiny_trained(tiny_folder, tmp_path_factory):
    """``tiny_trained(*models)`` -> {model: run}: the TINY_RUNS training of each model, run once per test run at its
    first use (several at once in parallel; the xdist workers share them: the first trains, the others wait for it)
    and shared by every test that needs "some trained checkpoint of this recipe".  ``run`` has ``checkpoint``, ``out``
    (the output folder), ``folder`` (the model folder), ``result`` (train.py's CompletedProcess) and ``train`` (its
    flags).  A test that needs its own run (resume, signals, other flags) trains it itself."""
    import fcntl
    import json

    shared, runs = shared_folder(tmp_path_factory, "tiny_trained"), {}

    def load(name):
        out, record = shared / name, json.loads((shared / f"{name}.json").read_text())
        (checkpoint,) = out.glob(TINY_RUNS[name]["ckpt"])
        runs[name] = SimpleNamespace(checkpoint=checkpoint, out=out, folder=ROOT / "model_zoo" / name,
                                     result=subprocess.CompletedProcess(*record), train=TINY_RUNS[name]["train"])

    def get(*models):
        wanted = sorted(set(models) - set(runs))
        locks = [open(shared / f"{name}.lock", "w") for name in wanted]
        try:
            for lock in locks:  # in name order: two workers never wait for each other in a circle
                fcntl.flock(lock, fcntl.LOCK_EX)
            started = {}
            for name in wanted:
                if (shared / f"{name}.json").is_file():
                    continue  # another worker trained it
                case, folder = TINY_RUNS[name], ROOT / "model_zoo" / name
                shutil.rmtree(shared / name, ignore_errors=True)  # what a failed attempt left
                (shared / name).mkdir()
                started[name] = start_script(folder / "train.py", *case["train"], f"{case['data_flag']}={tiny_folder}",
                                             f"{case['out_flag']}={shared / name}", cwd=folder)
            for name, proc in started.items():
                result = finish(proc)
                assert result.returncode == 0, f"{name}: {result.stderr[-2000:]}"
                (shared / f"{name}.json").write_text(json.dumps([result.args, result.returncode, result.stdout,
                                                                 result.stderr]))
            for name in wanted:
                load(name)
        finally:
            for lock in locks:
                lock.close()
        return {name: runs[name] for name in models}

    return get


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory):
    from model_zoo.engine.demo_data import cifar10_binary

    return cifar10_binary(tmp_path_factory.mktemp("cifar"))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """``scratch(name)`` makes a folder that lives as long as the test module, then is deleted.

    Module-wide runs write checkpoints of 100-500 MB each; kept until the end of the session they add up to 10 GB
    and filled CI's disk.  Per-test ``tmp_path`` folders go as soon as their test passes (pytest.ini's retention
    policy), so a whole run needs about as much disk as its largest module.
    """
    made = []

    def make(name):
        made.append(tmp_path_factory.mktemp(name))
        return made[-1]

    yield make
    for path in made:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(autouse=True)
def pynative_after_each_test():
    """Every test starts in MindSpore's default PyNative mode, whatever the test before it (or the engine code it
    ran in this process) set: a network test left in graph mode compiles a graph per call, 20-40 s for InceptionV4."""
    yield
    mindspore = sys.modules.get("mindspore")
    if mindspore is not None and mindspore.get_context("mode") != mindspore.PYNATIVE_MODE:
        mindspore.set_context(mode=mindspore.PYNATIVE_MODE)


@pytest.fixture(scope="session", autouse=True)
def mindspore_debug_files(tmp_path_factory):
    """MindSpore writes ``rank_0/om/analyze_fail.ir`` into the working folder when a graph fails to compile (the
    tests that feed wrong shapes); MS_OM_PATH sends it into the session's temporary folder instead of the checkout."""
    previous = os.environ.get("MS_OM_PATH")
    os.environ["MS_OM_PATH"] = str(tmp_path_factory.mktemp("ms_om"))
    yield
    if previous is None:
        os.environ.pop("MS_OM_PATH", None)
    else:
        os.environ["MS_OM_PATH"] = previous
