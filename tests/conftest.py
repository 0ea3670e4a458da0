"""Shared test fixtures.  ``import model_zoo`` first: it puts MindSpore on the fast CPU path before it loads."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import model_zoo  # noqa: F401
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("GLOG_v", "3")


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


def run_script(script, *args, cwd=None, timeout=900, env=None):
    """Run a zoo script in a fresh Python process; returns CompletedProcess (text)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(script), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory):
    """ImageNet layout: 3 classes, 8 train and 3 val images each (9 val images: not divisible by 2 or 4)."""
    from model_zoo.engine.demo_data import synthetic_folder

    root = tmp_path_factory.mktemp("tiny")
    return synthetic_folder(root, classes=3, per_class=8, val_per_class=3, size=40)


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
